package ai.neurolite.demo

import ai.neurolite.BenchmarkOptions
import ai.neurolite.DeviceBenchmark
import ai.neurolite.Json
import ai.neurolite.ProcStatusMemory
import ai.neurolite.android.AndroidRuntimes
import ai.neurolite.android.DeviceInfo
import ai.neurolite.android.NeuroLite
import android.os.Bundle
import android.util.Log
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import java.io.File
import kotlin.concurrent.thread

/**
 * The on-device benchmark, started with adb (docs/mobile.md):
 *
 *     adb shell am start -S -W -n ai.neurolite.demo/.BenchmarkActivity \
 *         --es bundles sst2-tflite --ei runs 50 --ei warmup 10 --ei threads 2 --es out tflite.json
 *
 * Extras: `bundles` (comma-separated names under assets/bundles/, or absolute directories on the device;
 * default: every bundle in the APK), `runs`, `warmup`, `threads`, `throughput_batch`, `out` (file name).
 * For each bundle it measures cold load, self-test, graph and end-to-end latency (p10/median/p90),
 * throughput and the peak memory increase (DeviceBenchmark), and writes the results JSON in the schema of
 * `neurolite bench` plus the device record to the app's external files directory:
 * /sdcard/Android/data/ai.neurolite.demo/files/OUT. When done it logs `NEUROLITE_BENCH_DONE <path>` (tag
 * NeuroLiteBench) and closes. A bundle that is refused or whose format has no runtime gives a failed or
 * skipped row with the message; the benchmark still writes its file.
 *
 * `am start -S` stops the app first, so the first bundle of each launch loads into a fresh process: give one
 * bundle per launch for cold-load and memory figures that belong to that bundle alone.
 */
class BenchmarkActivity : ComponentActivity() {
    companion object {
        const val TAG = "NeuroLiteBench"
    }

    private var status by mutableStateOf("starting")

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent { MaterialTheme { Text(status, modifier = Modifier.fillMaxSize().padding(24.dp)) } }
        val extras = intent
        val options = BenchmarkOptions(runs = extras.getIntExtra("runs", 50), warmup = extras.getIntExtra("warmup", 10),
                                       threads = extras.getIntExtra("threads", 2),
                                       throughputBatch = extras.getIntExtra("throughput_batch", 16))
        val names = extras.getStringExtra("bundles")?.split(",")?.map { it.trim() }?.filter { it.isNotEmpty() }
            ?: NeuroLite.assetBundles(this).map { it.removePrefix("bundles/") }
        val out = extras.getStringExtra("out") ?: "neurolite-bench-${System.currentTimeMillis()}.json"
        val command = "adb shell am start -n ai.neurolite.demo/.BenchmarkActivity --es bundles ${names.joinToString(",")} " +
            "--ei runs ${options.runs} --ei warmup ${options.warmup} --ei threads ${options.threads} --es out $out"
        thread(name = "neurolite-benchmark") { run(names, options, out, command) }
    }

    private fun run(names: List<String>, options: BenchmarkOptions, out: String, command: String) {
        val started = System.nanoTime()
        // A bundle pushed with adb (/data/local/tmp/...) is not writable by the app: orbital8 load-form bundles are
        // rebuilt into the app's own no-backup storage instead.
        val benchmark = DeviceBenchmark(AndroidRuntimes.registry(), options, ProcStatusMemory(),
                                        File(noBackupFilesDir, "neurolite-rebuilt"))
        val rows = names.map { name ->
            show("measuring $name")
            val dir = try {
                if (name.startsWith("/")) File(name) else NeuroLite.install(this, "bundles/$name")
            } catch (e: Exception) {
                Log.w(TAG, "bundle $name: ${e.message}")
                File(File(filesDir, "neurolite/not-installed"), name)  // measured as missing: a failed row
            }
            benchmark.measure(dir).also { Log.i(TAG, "${it["id"]}: ${it["status"]} ${it["reason"] ?: ""}") }
        }
        val document = DeviceBenchmark.document(rows, DeviceInfo.record(), options, command,
                                                (System.nanoTime() - started) / 1e9,
                                                rows.fold(1) { m, r -> maxOf(m, r["length"] as Int) })
        val folder = getExternalFilesDir(null) ?: filesDir
        val file = File(folder, out)
        val partial = File(folder, ".$out.partial")
        partial.writeText(Json.write(document, 1) + "\n")
        if (!partial.renameTo(file)) Log.e(TAG, "cannot write $file")
        Log.i(TAG, "NEUROLITE_BENCH_DONE ${file.absolutePath}")
        show("done: ${rows.count { it["status"] == "ok" }} of ${rows.size} measured\n${file.absolutePath}")
        runOnUiThread { finish() }
    }

    private fun show(text: String) = runOnUiThread { status = text }
}
