package ai.neurolite

import java.io.File
import java.time.Instant
import java.time.temporal.ChronoUnit

/** Resident memory of this process, read where the platform allows it. */
interface MemoryProbe {
    /** Reset the high-water mark to the current resident size if possible; says how the peak is read. */
    fun resetPeak(): String
    fun residentKib(): Long?
    fun peakKib(): Long?
}

/**
 * Linux's /proc/self/status (VmRSS, VmHWM), reset through /proc/self/clear_refs: the method of the
 * host benchmark worker (benchmarks/worker.py), and available to an Android app for its own process.
 */
class ProcStatusMemory : MemoryProbe {
    override fun resetPeak(): String = try {
        File("/proc/self/clear_refs").writeText("5")
        "VmHWM after reset (clear_refs 5)"
    } catch (e: Exception) {
        "VmHWM (not resettable here: includes everything the process did before the load)"
    }

    override fun residentKib(): Long? = status("VmRSS")
    override fun peakKib(): Long? = status("VmHWM")

    private fun status(field: String): Long? = try {
        File("/proc/self/status").readLines().firstOrNull { it.startsWith("$field:") }
            ?.split(Regex("\\s+"))?.get(1)?.toLong()
    } catch (e: Exception) {
        null
    }
}

/** How long and how often to measure; the defaults are `neurolite bench`'s. */
data class BenchmarkOptions(
    val runs: Int = 50,
    val warmup: Int = 10,
    val threads: Int = 2,
    val throughputBatch: Int = 16,
    val throughputRuns: Int = 10
)

/**
 * The on-device benchmark: for each bundle, the figures `neurolite bench` takes for a bundle on the
 * host (benchmarks/worker.py), written as rows of the same results schema (neurolite-bench/1,
 * benchmarks/schema.py) so that `neurolite bench --from-device FILE.json` and `neurolite report` read
 * them beside the host's rows:
 *
 * - cold load: verifying the bundle (SHA-256 of every file), creating the featurizer and loading the
 *   model into the runtime, in seconds (the first bundle of a launch loads into a fresh process);
 * - the self-test of the bundle's test vectors (features bit for bit, logits within tolerance);
 * - graph-only latency (the runtime on the featurized input, through the planner), p10/median/p90;
 * - end-to-end latency (text -> label: featurizer, planner, graph, softmax), p10/median/p90;
 * - throughput at [BenchmarkOptions.throughputBatch] texts per call;
 * - the peak resident memory increase over the load and every run.
 *
 * A bundle that is refused (bad checksum, missing file, newer schema, labels that disagree) gives a
 * `failed` row with the message; a format this app has no runtime for gives a `skipped` row. The
 * benchmark itself never throws for a bad bundle.
 */
class DeviceBenchmark(
    private val registry: RunnerRegistry,
    private val options: BenchmarkOptions,
    private val memory: MemoryProbe,
    /** Where orbital8 load-form bundles are rebuilt (BundleReader.read's rebuildDir); null: inside each bundle. */
    private val rebuildDir: File? = null
) {
    companion object {
        const val SCHEMA = "neurolite-bench/1"
        const val BUSY_SPREAD = 1.5
        const val TEXT_COUNT = 16

        /** numpy.percentile's default (linear interpolation between closest ranks). */
        @JvmStatic
        fun percentile(sorted: DoubleArray, q: Double): Double {
            val rank = q / 100.0 * (sorted.size - 1)
            val low = Math.floor(rank).toInt()
            val high = Math.ceil(rank).toInt()
            return sorted[low] + (sorted[high] - sorted[low]) * (rank - low)
        }

        /** The latency record of the results schema, from seconds per call. */
        @JvmStatic
        fun latencyStats(seconds: DoubleArray): Map<String, Any?> {
            val ms = seconds.map { it * 1e3 }.sorted().toDoubleArray()
            val p10 = percentile(ms, 10.0)
            val median = percentile(ms, 50.0)
            val p90 = percentile(ms, 90.0)
            return linkedMapOf("median_ms" to median, "p10_ms" to p10, "p90_ms" to p90, "mean_ms" to ms.average(),
                               "min_ms" to ms[0], "runs" to ms.size, "spread" to (if (p10 > 0) p90 / p10 else null),
                               "busy" to (p10 > 0 && p90 / p10 > BUSY_SPREAD))
        }

        @JvmStatic
        fun timed(warmup: Int, runs: Int, call: (Int) -> Unit): DoubleArray {
            for (i in 0 until warmup) call(i)
            val out = DoubleArray(runs)
            for (i in 0 until runs) {
                val start = System.nanoTime()
                call(i)
                out[i] = (System.nanoTime() - start) / 1e9
            }
            return out
        }

        /**
         * [count] benchmark texts of at least [length] tokens each: real texts (the bundle's test-vector
         * texts, which start with its eval data) joined in turn, as `neurolite bench` joins eval texts.
         */
        @JvmStatic
        fun benchmarkTexts(sources: List<String>, length: Int, featurizer: Featurizer, count: Int = TEXT_COUNT): List<String> {
            val usable = sources.filter { featurizer.tokenize(it).isNotEmpty() }
            require(usable.isNotEmpty()) { "no text with tokens to benchmark with" }
            val out = ArrayList<String>()
            var next = 0
            while (out.size < count) {
                val parts = ArrayList<String>()
                var tokens = 0
                while (tokens < length) {
                    val text = usable[next % usable.size]
                    next++
                    parts.add(text)
                    tokens += featurizer.tokenize(text).size
                }
                out.add(parts.joinToString(" "))
            }
            return out
        }

        /** The results document (`neurolite bench`'s schema) plus the device record. */
        @JvmStatic
        fun document(rows: List<Map<String, Any?>>, device: Map<String, Any?>, options: BenchmarkOptions,
                     command: String, wallSeconds: Double, length: Int): Map<String, Any?> {
            val versions = LinkedHashMap<String, Any?>()
            @Suppress("UNCHECKED_CAST")
            (device["runtimes"] as? Map<String, Any?>)?.let { versions.putAll(it) }
            versions["neurolite-featurizer"] = Featurizer.version
            return linkedMapOf(
                "schema" to SCHEMA,
                "created" to Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(),
                "command" to command,
                "machine" to linkedMapOf("cpu" to (device["soc"] ?: device["abi"] ?: "unknown"),
                                         "cores" to Runtime.getRuntime().availableProcessors(),
                                         "threads" to options.threads, "platform" to "${device["os"]} ${device["os_version"]}",
                                         "versions" to versions, "load_average" to loadAverage()),
                "settings" to linkedMapOf("threads" to options.threads, "length" to length, "runs" to options.runs,
                                          "warmup" to options.warmup, "quick" to false,
                                          "throughput_batch" to options.throughputBatch),
                "gemm" to linkedMapOf("status" to "skipped", "reason" to "the matrix-multiply peak is not measured on devices"),
                "rows" to rows,
                "wall_s" to wallSeconds,
                "device" to device
            )
        }

        private fun loadAverage(): List<Double> = try {
            File("/proc/loadavg").readText().trim().split(Regex("\\s+")).take(3).map { it.toDouble() }
        } catch (e: Exception) {
            emptyList()
        }
    }

    /** One results row for the bundle in [dir]; never throws for a bad bundle (the row says what is wrong). */
    fun measure(dir: File): Map<String, Any?> {
        val row = linkedMapOf<String, Any?>("id" to "checkpoint/${dir.name}/unknown/none/1", "group" to "checkpoint",
            "model" to dir.name, "family" to "neurolite", "backbone" to "unknown", "format" to "unknown",
            "quantize" to "none", "length" to 1, "weights" to "trained", "params" to null, "flops" to null,
            "size_bytes" to null, "status" to "failed", "reason" to null, "measurement" to null,
            "bundle" to dir.path)
        val before = memory.residentKib()
        val method = memory.resetPeak()
        val started = System.nanoTime()
        val bundle: Bundle
        try {
            bundle = BundleReader.read(dir, rebuildDir)
        } catch (e: NeuroLiteException) {
            row["reason"] = e.message
            return row
        }
        val config = Fields.obj(bundle.manifest["config"])
        row.putAll(linkedMapOf("id" to "checkpoint/${bundle.modelName}/${bundle.format}/${bundle.quantize}/${bundle.maxLength}",
            "model" to bundle.modelName, "backbone" to (config?.get("backbone") as? String ?: "unknown"),
            "format" to bundle.format, "quantize" to bundle.quantize, "length" to bundle.maxLength,
            "size_bytes" to bundle.sizeBytes))
        val predictor = try {
            Predictor.open(bundle, registry, options.threads)
        } catch (e: BundleException) {
            row["status"] = if (e.problem == BundleProblem.FORMAT) "skipped" else "failed"
            row["reason"] = e.message
            return row
        } catch (e: Exception) {
            row["reason"] = "load: ${e.javaClass.simpleName}: ${e.message}"
            return row
        }
        try {
            val loadSeconds = (System.nanoTime() - started) / 1e9
            val vectors = SelfTest.readVectors(bundle)
            val report = SelfTest.run(predictor)
            row["self_test"] = report.toMap()
            if (!report.passed) {
                row["reason"] = "self-test: ${report.failures.size} failure(s); first: ${report.failures[0]}"
                return row
            }
            val texts = benchmarkTexts(SelfTest.cases(vectors).map { it["text"] as String }, bundle.maxLength,
                                       predictor.featurizer)
            val first = predictor.featurize(listOf(texts[0]))
            val plan = predictor.plan(first)
            val inputs = predictor.inputs(first)
            val graph = timed(options.warmup, options.runs) { Planner.runPlan(predictor.runner, plan, inputs) }
            val endToEnd = timed(options.warmup, options.runs) { i -> predictor.predict(listOf(texts[i % texts.size])) }
            val many = predictor.featurize((0 until options.throughputBatch).map { texts[it % texts.size] })
            val manyPlan = predictor.plan(many)
            val manyInputs = predictor.inputs(many)
            val throughput = timed(1, options.throughputRuns) { Planner.runPlan(predictor.runner, manyPlan, manyInputs) }
            val throughputMs = latencyStats(throughput)["median_ms"] as Double
            val peak = memory.peakKib()
            row["status"] = "ok"
            row["measurement"] = linkedMapOf(
                "status" to "ok", "threads" to options.threads, "load_s" to loadSeconds,
                "signature" to plan[0].signature.name,
                "latency" to latencyStats(graph), "end_to_end" to latencyStats(endToEnd),
                "throughput" to linkedMapOf("batch" to options.throughputBatch, "median_ms" to throughputMs,
                                            "items_per_s" to options.throughputBatch / (throughputMs / 1e3)),
                "memory" to linkedMapOf("peak_increase_mb" to (if (before != null && peak != null) maxOf(0L, peak - before) / 1024.0 else null),
                                        "before_load_mb" to before?.let { it / 1024.0 }, "peak_mb" to peak?.let { it / 1024.0 },
                                        "method" to if (before != null && peak != null) method else "unavailable"),
                "versions" to linkedMapOf("runtime" to predictor.runner.runtime, "featurizer" to Featurizer.version),
                "self_test" to report.toMap())
        } catch (e: Exception) {
            row["status"] = "failed"
            row["measurement"] = null
            row["reason"] = "${e.javaClass.simpleName}: ${e.message}"
        } finally {
            predictor.close()
        }
        return row
    }
}
