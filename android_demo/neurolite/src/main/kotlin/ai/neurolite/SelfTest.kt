package ai.neurolite

import java.io.File
import java.util.Locale

/** passed when every case's features, mask and label match and every logit is within tolerance. */
class SelfTestReport(val cases: Int, val maxAbsLogit: Double, val tolerance: Double, val failures: List<String>) {
    val passed: Boolean get() = failures.isEmpty()

    fun toMap(): Map<String, Any?> = linkedMapOf("passed" to passed, "cases" to cases, "max_abs_logit" to maxAbsLogit,
                                                 "tolerance" to tolerance, "failures" to failures)
}

/**
 * The bundle's end-to-end vectors (test_vectors.json, docs/bundle.md): texts with the exact features
 * they must become and the logits the exported file gave on the export machine. The same check as the
 * Python runtime's runtime/selftest.py: it proves on the device that this featurizer build gives the
 * same integers and this runtime build the same numbers.
 */
object SelfTest {
    const val TEST_VECTORS_NAME = "test_vectors.json"
    const val TEST_VECTORS_FORMAT = "neurolite-test-vectors/1"

    /** The vectors document, checked for shape; [BundleException] (TEST_VECTORS) names what is wrong. */
    @JvmStatic
    fun readVectors(bundle: Bundle): Map<String, Any?> {
        val name = bundle.testVectors
        val where = "${bundle.dir}/$TEST_VECTORS_NAME"
        if (name == null) {
            throw BundleException(BundleProblem.TEST_VECTORS, "${bundle.dir}: the bundle carries no test vectors " +
                "(exported before they existed); export it again")
        }
        val files = bundle.manifest["files"] as Map<*, *>
        if (name != TEST_VECTORS_NAME || !files.containsKey(name)) {
            throw BundleException(BundleProblem.TEST_VECTORS, "${bundle.dir}: manifest test_vectors '$name' is not a listed file")
        }
        val document = try {
            Fields.obj(Json.parse(File(bundle.dir, name).readText(Charsets.UTF_8)))
        } catch (e: Exception) {
            throw BundleException(BundleProblem.TEST_VECTORS, "$where: unreadable (${e.message})")
        }
        if (document == null || document["format"] != TEST_VECTORS_FORMAT) {
            throw BundleException(BundleProblem.TEST_VECTORS, "$where: format is not '$TEST_VECTORS_FORMAT'")
        }
        if (document["featurizer_digest"] != bundle.featurizerDigest) {
            throw BundleException(BundleProblem.TEST_VECTORS, "$where: featurizer_digest differs from the manifest's featurizer")
        }
        val cases = document["cases"] as? List<*>
        if (cases == null || cases.isEmpty()) throw BundleException(BundleProblem.TEST_VECTORS, "$where: cases: expected a non-empty list")
        for ((i, case) in cases.withIndex()) {
            val doc = Fields.obj(case)
            if (doc == null || !listOf("text", "features", "mask", "logits", "label").all { doc.containsKey(it) }) {
                throw BundleException(BundleProblem.TEST_VECTORS, "$where: cases[$i]: needs text, features, mask, logits and label")
            }
        }
        return document
    }

    @Suppress("UNCHECKED_CAST")
    @JvmStatic
    fun cases(document: Map<String, Any?>): List<Map<String, Any?>> = document["cases"] as List<Map<String, Any?>>

    @JvmStatic
    fun tolerance(document: Map<String, Any?>): Double =
        (Fields.obj(document["tolerance"])?.get("max_abs_logit") as? Number)?.toDouble() ?: 1e-4

    /** Featurize every case alone and compare features and mask exactly; one message per differing case. */
    @JvmStatic
    fun featureFailures(featurizer: Featurizer, document: Map<String, Any?>): List<String> {
        val failures = ArrayList<String>()
        for ((i, case) in cases(document).withIndex()) {
            val text = case["text"] as String
            val alone = featurizer.featurize(listOf(text))
            val features = (case["features"] as List<*>).map { row -> (row as List<*>).map { (it as Long).toInt() } }
            val mask = (case["mask"] as List<*>).map { (it as Number).toFloat() }
            if (alone.row(0) != features || alone.maskRow(0) != mask) {
                failures.add("cases[$i] ${quote(text)}: features differ from the bundle's vectors")
            }
        }
        return failures
    }

    /** Featurize and run every case through [predictor]; report every mismatch. */
    @JvmStatic
    fun run(predictor: Predictor): SelfTestReport {
        val document = readVectors(predictor.bundle)
        val tolerance = tolerance(document)
        val cases = cases(document)
        val failures = ArrayList(featureFailures(predictor.featurizer, document))
        val logits = predictor.logits(cases.map { it["text"] as String })
        var worst = 0.0
        for ((i, case) in cases.withIndex()) {
            val expected = (case["logits"] as List<*>).map { (it as Number).toDouble() }
            val row = logits[i]
            if (row.size != expected.size) {
                failures.add("cases[$i]: ${row.size} logits, the vectors have ${expected.size}")
                worst = Double.POSITIVE_INFINITY
                continue
            }
            var delta = 0.0
            var best = 0
            for (j in row.indices) {
                delta = maxOf(delta, Math.abs(row[j] - expected[j]))
                if (row[j] > row[best]) best = j
            }
            worst = maxOf(worst, delta)
            val text = case["text"] as String
            if (delta > tolerance) {
                failures.add("cases[$i] ${quote(text)}: max |delta logit| ${String.format(Locale.ROOT, "%.3g", delta)} > $tolerance")
            }
            if (predictor.labels[best] != case["label"]) {
                failures.add("cases[$i] ${quote(text)}: label '${predictor.labels[best]}', expected '${case["label"]}'")
            }
        }
        return SelfTestReport(cases.size, worst, tolerance, failures)
    }

    private fun quote(text: String): String = "'" + text.take(40) + "'"
}
