package ai.neurolite.host

import ai.neurolite.Bundle
import ai.neurolite.BundleException
import ai.neurolite.BundleReader
import ai.neurolite.BenchmarkOptions
import ai.neurolite.DeviceBenchmark
import ai.neurolite.FeatureBatch
import ai.neurolite.Featurizer
import ai.neurolite.Json
import ai.neurolite.ModelRunner
import ai.neurolite.Planner
import ai.neurolite.Predictor
import ai.neurolite.ProcStatusMemory
import ai.neurolite.RunnerFactory
import ai.neurolite.RunnerRegistry
import ai.neurolite.SelfTest
import ai.neurolite.Signature
import ai.neurolite.Tensor
import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.io.OutputStreamWriter
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.security.MessageDigest

/**
 * The Android library's host-JVM test program (no JUnit: run by tests/test_android_host.py with
 * kotlinc and java). It exercises the library's non-Android code on the host build of the same C core:
 *
 * - every golden case, bytes case and batch of tests/golden/featurizer_v1.json through JNI: tokens,
 *   features, mask, lengths, truncation, the all-tokens SHA-256, the config digest;
 * - bundles exported by the Python test fixture: read and verified by BundleReader, their test-vector
 *   features equal, the planner's plans equal to runtime/planner.py's for many (batch, length);
 * - orbital8 bundles in the load form (schema 2): the model file BundleReader rebuilds from the shell and
 *   codes equal byte for byte to the Python runtime's rebuild, written once and reused, a damaged cached
 *   copy rebuilt again, nothing else left in the rebuild directory;
 * - with a runner command (a Python process serving the bundle's own runtime, as a phone's runtime
 *   would): Predictor end to end, the self-test against the vectors' logits, and the benchmark JSON;
 * - corrupted bundles refused with the same kind of problem as the Python runtime.
 *
 * Usage: java -Djava.library.path=DIR -jar host.jar SPEC.json RESULT.json. Prints one line per check
 * and ends with "N passed, N failed".
 */
private var passed = 0
private var failed = 0
private val results = LinkedHashMap<String, Any?>()

private fun check(name: String, ok: Boolean, detail: String = "") {
    if (ok) passed++ else failed++
    println((if (ok) "ok   " else "FAIL ") + name + (if (detail.isEmpty()) "" else ": $detail"))
}

@Suppress("UNCHECKED_CAST")
private fun obj(value: Any?): Map<String, Any?> = value as Map<String, Any?>

@Suppress("UNCHECKED_CAST")
private fun list(value: Any?): List<Any?> = value as List<Any?>

private fun ints(value: Any?): List<Int> = list(value).map { (it as Long).toInt() }

fun main(args: Array<String>) {
    require(args.size == 2) { "usage: HostMain SPEC.json RESULT.json" }
    val spec = obj(Json.parse(File(args[0]).readText()))
    println("featurizer core: ${Featurizer.version}")
    try {
        goldens(File(spec["golden"] as String))
        val runner = spec["runner"] as List<*>?
        val registry = RunnerRegistry(listOf("onnx", "tflite", "executorch").map {
            ProcessRunnerFactory(it, runner?.map { part -> part as String })
        })
        for (bundle in list(spec["bundles"])) bundleChecks(obj(bundle), registry, runner != null)
        for (case in list(spec["refusals"])) refusal(obj(case), registry)
        val bench = spec["benchmark"]
        if (bench != null && runner != null) benchmark(obj(bench), registry)
    } catch (e: Throwable) {
        check("harness", false, "${e.javaClass.name}: ${e.message}")
        e.printStackTrace()
    }
    File(args[1]).writeText(Json.write(results, 1))
    println("$passed passed, $failed failed")
    System.exit(if (failed == 0) 0 else 1)
}

// ------------------------------------------------------------------------------------------ goldens
private fun specJson(config: Map<String, Any?>): String {
    val keys = listOf("num_buckets", "num_hashes", "word_hashes", "ngram_min", "ngram_max", "max_length", "seed", "version")
    return Json.write(keys.associateWith { config[it] })
}

private fun goldens(file: File) {
    val golden = obj(Json.parse(file.readText(Charsets.UTF_8)))
    val featurizers = LinkedHashMap<String, Featurizer>()
    for ((name, config) in obj(golden["configs"])) {
        val featurizer = Featurizer.create(specJson(obj(config)))
        featurizers[name] = featurizer
        check("golden config $name: digest and canonical JSON",
              featurizer.digest == obj(config)["digest"] && featurizer.canonicalJson == obj(config)["canonical_json"],
              "${featurizer.digest} ${featurizer.canonicalJson}")
    }
    var cases = 0
    for (item in list(golden["cases"])) {
        val case = obj(item)
        val text = (case["text"] as String?) ?: recipe(obj(case["text_recipe"]))
        val featurizer = featurizers[case["config"] as String]!!
        val problems = compareCase(case, featurizer.featurize(listOf(text)), featurizer)
        val tokens = featurizer.tokenize(text)
        if (tokens != list(case["tokens"])) problems.add("tokens ${tokens.take(8)} != ${list(case["tokens"]).take(8)}")
        val all = allFeaturesSha(featurizer, featurizer.featurize(listOf(text), maxLength = maxOf(1, tokens.size)), tokens.size)
        if (all != case["all_features_sha256"]) problems.add("all_features_sha256 $all")
        check("golden case ${case["name"]} (${case["config"]})", problems.isEmpty(), problems.joinToString("; "))
        cases++
    }
    for (item in list(golden["bytes_cases"])) {
        val case = obj(item)
        val bytes = hex(case["hex"] as String)
        val featurizer = featurizers[case["config"] as String]!!
        val problems = compareCase(case, featurizer.featurizeUtf8(listOf(bytes)), featurizer)
        val n = (case["num_tokens"] as Long).toInt()
        val all = allFeaturesSha(featurizer, featurizer.featurizeUtf8(listOf(bytes), maxLength = maxOf(1, n)), n)
        if (all != case["all_features_sha256"]) problems.add("all_features_sha256 $all")
        check("golden bytes case ${case["name"]}", problems.isEmpty(), problems.joinToString("; "))
    }
    for (item in list(golden["batches"])) {
        val case = obj(item)
        val featurizer = featurizers[case["config"] as String]!!
        val texts = list(case["texts"]).map { it as String }
        val batch = featurizer.featurize(texts, ((case["max_length"] as Long?) ?: 0L).toInt(),
                                         ((case["pad_to"] as Long?) ?: 0L).toInt())
        val features = (0 until batch.batch).map { batch.row(it) }
        val mask = (0 until batch.batch).map { batch.maskRow(it) }
        val expectedFeatures = list(case["features"]).map { b -> list(b).map { ints(it) } }
        val expectedMask = list(case["mask"]).map { b -> list(b).map { (it as Number).toFloat() } }
        val ok = features == expectedFeatures && mask == expectedMask && batch.lengths.toList() == ints(case["lengths"]) &&
            batch.truncated.toList() == list(case["truncated"])
        check("golden batch ${case["name"]}", ok, if (ok) "" else "lengths ${batch.lengths.toList()} L=${batch.length}")
    }
    results["golden_cases"] = cases
    for (featurizer in featurizers.values) featurizer.close()
}

private fun recipe(doc: Map<String, Any?>): String {
    val repeat = doc["repeat"] as String
    val length = (doc["length"] as Long).toInt()
    val out = StringBuilder()
    var points = 0
    while (points < length) {
        var i = 0
        while (i < repeat.length && points < length) {
            val cp = repeat.codePointAt(i)
            out.appendCodePoint(cp)
            i += Character.charCount(cp)
            points++
        }
    }
    return out.toString()
}

private fun hex(text: String): ByteArray = ByteArray(text.length / 2) { text.substring(2 * it, 2 * it + 2).toInt(16).toByte() }

private fun compareCase(case: Map<String, Any?>, batch: FeatureBatch, featurizer: Featurizer): MutableList<String> {
    val problems = ArrayList<String>()
    if (batch.lengths[0] != (case["length"] as Long).toInt()) problems.add("length ${batch.lengths[0]}")
    if (batch.truncated[0] != case["truncated"]) problems.add("truncated ${batch.truncated[0]}")
    if (batch.maskRow(0) != list(case["mask"]).map { (it as Number).toFloat() }) problems.add("mask")
    if (batch.row(0) != list(case["features"]).map { ints(it) }) problems.add("features")
    if (batch.k != featurizer.params.numHashes) problems.add("k ${batch.k}")
    return problems
}

private fun allFeaturesSha(featurizer: Featurizer, batch: FeatureBatch, tokens: Int): String {
    val k = featurizer.params.numHashes
    val buffer = ByteBuffer.allocate(tokens * k * 4).order(ByteOrder.LITTLE_ENDIAN)
    for (i in 0 until tokens * k) buffer.putInt(batch.features[i])
    return MessageDigest.getInstance("SHA-256").digest(buffer.array()).joinToString("") { String.format("%02x", it) }
}

// ------------------------------------------------------------------------------------------ bundles
private fun bundleChecks(doc: Map<String, Any?>, registry: RunnerRegistry, canRun: Boolean) {
    val name = doc["name"] as String
    val rebuildDir = (doc["rebuild_dir"] as String?)?.let { File(it) }
    val bundle: Bundle
    try {
        bundle = BundleReader.read(File(doc["dir"] as String), rebuildDir)
    } catch (e: BundleException) {
        check("bundle $name: read and verified", false, e.message ?: "")
        return
    }
    check("bundle $name: read and verified (format ${bundle.format}, ${bundle.signatures.size} signatures)",
          bundle.format == doc["format"] && bundle.labels == list(doc["labels"]))
    val pythonRebuilt = doc["rebuilt"]
    if (pythonRebuilt != null && rebuildDir != null) rebuiltChecks(name, bundle, obj(pythonRebuilt), rebuildDir)
    val vectors = SelfTest.readVectors(bundle)
    val featurizer = Featurizer.create(bundle.featurizerSpecJson)
    val failures = SelfTest.featureFailures(featurizer, vectors)
    check("bundle $name: ${SelfTest.cases(vectors).size} test-vector cases, features and mask equal", failures.isEmpty(),
          failures.joinToString("; "))
    featurizer.close()
    var mismatches = 0
    var first = ""
    val requests = list(doc["plans"])
    for (item in requests) {
        val request = obj(item)
        val batch = (request["batch"] as Long).toInt()
        val length = (request["length"] as Long).toInt()
        val got: Any? = try {
            Planner.plan(bundle.signatures, batch, length).map { listOf(it.signature.name, it.start, it.stop, it.batch, it.length) }
        } catch (e: ai.neurolite.PredictionInputException) {
            "error"
        }
        val expected: Any? = if (request.containsKey("error")) "error" else list(request["steps"]).map { step ->
            list(step).map { if (it is Long) it.toInt() else it }
        }
        if (got != expected) {
            mismatches++
            if (first.isEmpty()) first = "batch $batch length $length: $got != $expected"
        }
    }
    check("bundle $name: planner equals runtime/planner.py on ${requests.size} requests", mismatches == 0,
          if (mismatches == 0) "" else "$mismatches differ; first $first")
    if (!canRun || doc["run"] == false || bundle.format !in listOf("onnx", "tflite")) return
    val predictor = Predictor.open(bundle, registry, 1)
    try {
        val report = SelfTest.run(predictor)
        check("bundle $name: self-test through ${predictor.runner.runtime} (max |delta logit| ${report.maxAbsLogit})",
              report.passed, report.failures.joinToString("; "))
        val texts = SelfTest.cases(vectors).map { it["text"] as String }
        val together = predictor.predict(texts)
        val alone = texts.map { predictor.predict(listOf(it))[0] }
        check("bundle $name: a batch of ${texts.size} (planned, padded, split) labels as each text alone",
              together.map { it.label } == alone.map { it.label } &&
                  together.zip(alone).all { (a, b) -> Math.abs(a.score - b.score) < 1e-5 })
    } finally {
        predictor.close()
    }
}

/**
 * A load-form bundle: every rebuilt file equals the Python runtime's rebuild ([expected]: path -> a file of its
 * bytes), the entry is the rebuilt file, the rebuild directory holds only `<sha256>/<path>`; a second read
 * reuses the file; a cached copy changed on disk is rebuilt, not used.
 */
private fun rebuiltChecks(name: String, bundle: Bundle, expected: Map<String, Any?>, rebuildDir: File) {
    val entryName = bundle.manifest["entry"] as String
    for ((path, file) in expected) {
        val want = File(file as String).readBytes()
        val got = bundle.rebuilt[path]
        check("bundle $name: $path rebuilt from the shell and codes, byte for byte the Python runtime's (${want.size} bytes)",
              got != null && got.readBytes().contentEquals(want), "got ${got?.length()} bytes at $got")
    }
    check("bundle $name: the entry is the rebuilt file", bundle.entry == bundle.rebuilt[entryName], "${bundle.entry}")
    val shas = list(obj(bundle.manifest["weights"])["files"]).map { obj(it)["sha256"] as String }.sorted()
    check("bundle $name: the rebuild directory holds the rebuilt files only",
          rebuildDir.list()!!.sorted() == shas, "${rebuildDir.list()!!.toList()}")
    val entry = bundle.entry
    val written = entry.lastModified()
    Thread.sleep(20)
    val again = BundleReader.read(bundle.dir, rebuildDir)
    check("bundle $name: a second read reuses the rebuilt file", again.entry == entry && entry.lastModified() == written)
    val bytes = entry.readBytes()
    val damaged = bytes.copyOf()
    damaged[damaged.size / 2] = (damaged[damaged.size / 2].toInt() xor 1).toByte()
    entry.writeBytes(damaged)
    val third = BundleReader.read(bundle.dir, rebuildDir)
    check("bundle $name: a cached copy changed on disk is rebuilt, not used",
          third.entry.readBytes().contentEquals(bytes) && rebuildDir.list()!!.sorted() == shas)
}

// ------------------------------------------------------------------------------------------ refusals
private fun refusal(doc: Map<String, Any?>, registry: RunnerRegistry) {
    val name = doc["name"] as String
    val dir = File(doc["dir"] as String)
    var kind = "accepted"
    var message = ""
    try {
        registry.factory(BundleReader.read(dir))
    } catch (e: BundleException) {
        kind = e.problem.name
        message = e.message ?: ""
    }
    results["refusal:$name"] = linkedMapOf("kind" to kind, "message" to message)
    val says = doc["says"] as String?
    check("refusal $name: $kind", kind == doc["kind"] && (says == null || message.contains(says)),
          "expected ${doc["kind"]}${if (says == null) "" else " saying '$says'"}; $message")
}

// ------------------------------------------------------------------------------------------ benchmark
private fun benchmark(doc: Map<String, Any?>, registry: RunnerRegistry) {
    val options = BenchmarkOptions(runs = 5, warmup = 1, threads = 1, throughputBatch = 4, throughputRuns = 2)
    val bench = DeviceBenchmark(registry, options, ProcStatusMemory())
    val started = System.nanoTime()
    val rows = list(doc["dirs"]).map { bench.measure(File(it as String)) }
    val device = linkedMapOf("name" to "host JVM (${System.getProperty("os.arch")})", "platform" to "jvm",
        "manufacturer" to System.getProperty("java.vendor"), "model" to "host test harness",
        "os" to System.getProperty("os.name"), "os_version" to System.getProperty("os.version"),
        "abi" to System.getProperty("os.arch"),
        "runtimes" to linkedMapOf("python-runner" to "the bundle's own Python runtime, over a pipe"))
    val document = DeviceBenchmark.document(rows, device, options, "HostMain (tests/test_android_host.py)",
                                            (System.nanoTime() - started) / 1e9, rows.fold(1) { m, r -> maxOf(m, r["length"] as Int) })
    File(doc["out"] as String).writeText(Json.write(document, 1))
    for (row in rows) println("bench ${row["id"]}: ${row["status"]} ${row["reason"] ?: ""}")
    check("benchmark: ${rows.size} rows written", rows.size == list(doc["dirs"]).size)
}

/**
 * A runtime for the host tests: a Python process that serves the bundle with its own runtime
 * (tests/android_host_runner.py), one JSON line per call. It stands where LiteRT, ONNX Runtime or
 * ExecuTorch stand on a phone, so the library's planning, padding, stitching and softmax run against
 * the real graph.
 */
private class ProcessRunnerFactory(override val format: String, private val command: List<String>?) : RunnerFactory {
    override val runtime: String get() = "python-runner ($format)"

    override fun open(bundle: Bundle, threads: Int): ModelRunner {
        if (command == null) throw IllegalStateException("no runner command given")
        return ProcessRunner(command + bundle.dir.path)
    }
}

private class ProcessRunner(command: List<String>) : ModelRunner {
    private val process = ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start()
    private val input = BufferedReader(InputStreamReader(process.inputStream, Charsets.UTF_8))
    private val output = OutputStreamWriter(process.outputStream, Charsets.UTF_8)
    override val runtime: String = input.readLine() ?: throw IllegalStateException("runner exited: ${process.waitFor()}")

    override fun run(signature: Signature, inputs: Map<String, Tensor>): Map<String, Tensor> {
        val request = linkedMapOf("signature" to signature.name, "inputs" to inputs.mapValues { (_, t) ->
            linkedMapOf("dtype" to t.dtype, "shape" to t.shape.toList(), "data" to (t.ints?.toList() ?: t.floats!!.toList()))
        })
        output.write(Json.write(request) + "\n")
        output.flush()
        val reply = obj(Json.parse(input.readLine() ?: throw IllegalStateException("runner closed")))
        if (reply.containsKey("error")) throw ai.neurolite.ModelRunException(reply["error"] as String)
        return obj(reply["outputs"]).mapValues { (_, value) ->
            val t = obj(value)
            val shape = ints(t["shape"]).toIntArray()
            if (t["dtype"] == Tensor.INT32) Tensor.ofInts(shape, ints(t["data"]).toIntArray())
            else Tensor.ofFloats(shape, list(t["data"]).map { (it as Number).toFloat() }.toFloatArray())
        }
    }

    override fun close() {
        output.close()
        process.waitFor()
    }
}
