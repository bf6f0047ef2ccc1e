package ai.neurolite

import java.io.File

/**
 * One format's runtime, opened on a verified bundle: runs one signature on inputs of exactly its
 * shapes (the planner pads them) and returns every output by name. Implementations: LiteRtRunner,
 * OnnxRunner and ExecuTorchRunner in ai.neurolite.android.
 */
interface ModelRunner : java.io.Closeable {
    /** The runtime and its version, e.g. "onnxruntime-android 1.32.0" (recorded in benchmark results). */
    val runtime: String

    fun run(signature: Signature, inputs: Map<String, Tensor>): Map<String, Tensor>
}

/** Opens a [ModelRunner] for bundles of one [format]. */
interface RunnerFactory {
    val format: String

    /** The runtime's name and version, for reports (without loading a model). */
    val runtime: String

    fun open(bundle: Bundle, threads: Int): ModelRunner
}

/**
 * The runtimes an app ships, by bundle format. A bundle of another format is refused before any
 * model byte is loaded, with the message the Python runtime gives for a format it has no backend for.
 */
class RunnerRegistry(factories: List<RunnerFactory>) {
    private val byFormat = factories.associateBy { it.format }

    val formats: List<String> get() = byFormat.keys.sorted()

    fun factory(bundle: Bundle): RunnerFactory = byFormat[bundle.format] ?: throw BundleException(BundleProblem.FORMAT,
        "${File(bundle.dir, BundleReader.MANIFEST_NAME)}: format '${bundle.format}': this app has no runtime for it " +
            "(it runs: ${formats.joinToString(", ")}); export the model to one of those with " +
            "`neurolite export --format FORMAT`")

    fun open(bundle: Bundle, threads: Int): ModelRunner = factory(bundle).open(bundle, threads)
}

/** One text's result, as the Python runtime's Prediction (without the post-processors' fields). */
data class Prediction(
    val label: String,
    val score: Double,
    /** label -> probability, in the bundle's label order. */
    val probabilities: Map<String, Double>,
    /** The text had more tokens than the model reads (the first max_length were used). */
    val truncated: Boolean
)

/** Milliseconds spent in each stage of one predict call (what the demo app shows). */
data class StageTimes(val featurizeMs: Double, val graphMs: Double, val postMs: Double) {
    val totalMs: Double get() = featurizeMs + graphMs + postMs
}

class PredictResult(val predictions: List<Prediction>, val times: StageTimes)

/**
 * Texts in, labels out, for one bundle: featurizer (C core, JNI) -> planner -> runtime -> softmax.
 * The rule engine and Bayesian network post-processors are Python-only for now (docs/mobile.md).
 *
 *     val predictor = Predictor.open(BundleReader.read(dir), registry, threads = 2)
 *     val result = predictor.predict(listOf("a gorgeous , witty , seductive movie ."))
 *
 * Not thread-safe as a whole (runtimes are not): use one Predictor per thread. [close] releases the
 * runtime and the featurizer.
 */
class Predictor(val bundle: Bundle, val runner: ModelRunner, val featurizer: Featurizer) : java.io.Closeable {
    init {
        if (featurizer.digest != bundle.featurizerDigest) {
            throw BundleException(BundleProblem.FEATURIZER, "${bundle.dir}: the featurizer core computes digest " +
                "${featurizer.digest.take(12)}..., the manifest says ${bundle.featurizerDigest.take(12)}...")
        }
    }

    val labels: List<String> get() = bundle.labels

    companion object {
        /** Verify nothing more (the [bundle] is already verified): create the featurizer and open the runtime. */
        @JvmStatic
        fun open(bundle: Bundle, registry: RunnerRegistry, threads: Int): Predictor {
            val factory = registry.factory(bundle)  // refuse an unknown format before loading anything
            val featurizer = try {
                Featurizer.create(bundle.featurizerSpecJson)
            } catch (e: FeaturizerException) {
                throw BundleException(BundleProblem.FEATURIZER, "${bundle.dir}: featurizer.spec: ${e.message}")
            }
            val runner = try {
                factory.open(bundle, threads)
            } catch (e: Exception) {
                featurizer.close()
                throw e
            }
            return Predictor(bundle, runner, featurizer)
        }
    }

    /** The graph inputs for [texts] (truncated to [maxLength], default the model's). */
    @JvmOverloads
    fun featurize(texts: List<String>, maxLength: Int = 0): FeatureBatch = featurizer.featurize(texts, maxLength)

    /** Named inputs of any batch and length -> named outputs, padded and split to fit the bundle. */
    fun run(inputs: Map<String, Tensor>): Map<String, Tensor> {
        val (batch, length) = Planner.requestShape(bundle.signatures[0], inputs)
        if (batch == 0) throw PredictionInputException("inputs: empty batch")
        return Planner.runPlan(runner, Planner.plan(bundle.signatures, batch, length), inputs)
    }

    /** The plan [featurize]d texts would run with (for the benchmark's graph-only timing). */
    fun plan(batch: FeatureBatch): List<Step> = Planner.plan(bundle.signatures, batch.batch, batch.length)

    fun inputs(batch: FeatureBatch): Map<String, Tensor> = linkedMapOf(
        "features" to Tensor.ofInts(intArrayOf(batch.batch, batch.length, batch.k), batch.features),
        "mask" to Tensor.ofFloats(intArrayOf(batch.batch, batch.length), batch.mask)
    )

    /** Logits [texts.size][labels.size]. */
    fun logits(texts: List<String>): Array<FloatArray> = logitsOf(featurize(texts))

    private fun logitsOf(batch: FeatureBatch): Array<FloatArray> {
        val logits = run(inputs(batch))[BundleReader.LOGITS]
            ?: throw ModelRunException("${runner.runtime}: the graph returned no 'logits'")
        val classes = logits.shape[logits.shape.size - 1]
        if (classes != labels.size) {
            throw BundleException(BundleProblem.LABELS, "${File(bundle.dir, BundleReader.MANIFEST_NAME)}: labels: " +
                "${labels.size} labels, the graph scores $classes")
        }
        val values = logits.toFloats()
        return Array(batch.batch) { b -> values.copyOfRange(b * classes, (b + 1) * classes) }
    }

    fun predict(texts: List<String>): List<Prediction> = predictTimed(texts).predictions

    /** [predict] with the time of each stage. */
    fun predictTimed(texts: List<String>): PredictResult {
        val t0 = System.nanoTime()
        val batch = featurize(texts)
        val t1 = System.nanoTime()
        val logits = logitsOf(batch)
        val t2 = System.nanoTime()
        val predictions = logits.mapIndexed { i, row -> toPrediction(row, batch.truncated[i]) }
        val t3 = System.nanoTime()
        return PredictResult(predictions, StageTimes((t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6))
    }

    private fun toPrediction(row: FloatArray, truncated: Boolean): Prediction {
        var best = 0
        for (i in row.indices) if (row[i] > row[best]) best = i
        val top = row[best].toDouble()
        val shifted = DoubleArray(row.size) { Math.exp(row[it] - top) }
        val total = shifted.sum()
        val probabilities = LinkedHashMap<String, Double>()
        for (i in row.indices) probabilities[labels[i]] = shifted[i] / total
        return Prediction(labels[best], shifted[best] / total, probabilities, truncated)
    }

    override fun close() {
        try {
            runner.close()
        } finally {
            featurizer.close()
        }
    }
}
