package ai.neurolite.demo

import ai.neurolite.NeuroLiteException
import ai.neurolite.PredictResult
import ai.neurolite.Predictor
import ai.neurolite.SelfTest
import ai.neurolite.SelfTestReport
import ai.neurolite.android.NeuroLite
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.foundation.horizontalScroll
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.width
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.CardDefaults
import androidx.compose.material3.FilterChip
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.util.Locale
import java.util.concurrent.Executors

/** What the screen shows; every field is produced on the worker thread and shown on the main thread. */
data class ScreenState(
    val bundle: String? = null,
    val busy: Boolean = false,
    val loaded: Boolean = false,
    val info: String = "",
    val error: String? = null,
    val result: PredictResult? = null,
    val selfTest: SelfTestReport? = null
)

/**
 * The demo screen: pick a bundle shipped in assets/bundles/, type or paste text, see the label, every
 * label's probability and the time of each stage (featurizer, graph, post-processing). A bundle that is
 * refused (bad checksum, missing file, newer schema, a format without a runtime here, labels that disagree
 * with the model) shows its message instead of a result; nothing crashes the app.
 *
 * The predictor is used on one worker thread (runtimes are not thread-safe); the UI never blocks on it.
 */
class MainActivity : ComponentActivity() {
    private val worker = Executors.newSingleThreadExecutor()
    private val dispatcher = worker.asCoroutineDispatcher()
    private var predictor: Predictor? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val bundles = NeuroLite.assetBundles(this)
        setContent {
            MaterialTheme {
                Surface(modifier = Modifier.fillMaxSize()) { DemoScreen(bundles) }
            }
        }
    }

    override fun onDestroy() {
        worker.execute { predictor?.close() }
        worker.shutdown()
        super.onDestroy()
    }

    private suspend fun open(bundle: String): ScreenState = withContext(dispatcher) {
        predictor?.close()
        predictor = null
        guarded(ScreenState(bundle = bundle)) {
            val started = System.nanoTime()
            val opened = NeuroLite.open(this@MainActivity, bundle, threads = 2)
            predictor = opened
            val ms = (System.nanoTime() - started) / 1e6
            ScreenState(bundle = bundle, loaded = true, info = "${opened.bundle.format} on ${opened.runner.runtime}, " +
                "${opened.labels.size} labels, ${opened.bundle.maxLength} tokens; verified and loaded in ${format(ms)} ms")
        }
    }

    private suspend fun predict(state: ScreenState, text: String): ScreenState = withContext(dispatcher) {
        val current = predictor ?: return@withContext state.copy(error = "no bundle loaded")
        guarded(state) { state.copy(result = current.predictTimed(listOf(text)), error = null) }
    }

    private suspend fun selfTest(state: ScreenState): ScreenState = withContext(dispatcher) {
        val current = predictor ?: return@withContext state.copy(error = "no bundle loaded")
        guarded(state) { state.copy(selfTest = SelfTest.run(current), error = null) }
    }

    /** Runs [work]; a NeuroLite error (or a runtime's own) becomes the message on screen. */
    private fun guarded(state: ScreenState, work: () -> ScreenState): ScreenState = try {
        work()
    } catch (e: NeuroLiteException) {
        state.copy(error = e.message, result = null)
    } catch (e: Exception) {
        state.copy(error = "${e.javaClass.simpleName}: ${e.message}", result = null)
    } catch (e: LinkageError) {
        state.copy(error = "native library: ${e.message}", result = null)
    }

    @Composable
    private fun DemoScreen(bundles: List<String>) {
        var state by remember { mutableStateOf(ScreenState()) }
        var text by remember { mutableStateOf("a gorgeous , witty , seductive movie .") }
        val scope = rememberCoroutineScope()
        LaunchedEffect(bundles) {
            if (bundles.isNotEmpty()) {
                state = state.copy(busy = true, bundle = bundles[0])
                state = open(bundles[0])
            }
        }
        Column(modifier = Modifier.fillMaxSize().padding(16.dp).verticalScroll(rememberScrollState()),
               verticalArrangement = Arrangement.spacedBy(12.dp)) {
            Text("NeuroLite", style = MaterialTheme.typography.headlineMedium)
            if (bundles.isEmpty()) {
                ErrorCard("No bundle in assets/bundles/: copy one there (docs/mobile.md, step 2) and rebuild.")
                return@Column
            }
            Row(modifier = Modifier.horizontalScroll(rememberScrollState()), horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                for (bundle in bundles) {
                    FilterChip(selected = bundle == state.bundle, enabled = !state.busy, label = { Text(bundle.substringAfter('/')) },
                               onClick = {
                                   state = state.copy(busy = true, bundle = bundle)
                                   scope.launch { state = open(bundle) }
                               })
                }
            }
            if (state.info.isNotEmpty()) Text(state.info, style = MaterialTheme.typography.bodySmall)
            OutlinedTextField(value = text, onValueChange = { text = it }, label = { Text("Text") },
                              modifier = Modifier.fillMaxWidth(), minLines = 3)
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(enabled = !state.busy && state.loaded, onClick = {
                    val before = state.copy(busy = true)
                    state = before
                    scope.launch { state = predict(before, text).copy(busy = false) }
                }) { Text("Predict") }
                OutlinedButton(enabled = !state.busy && state.loaded, onClick = {
                    val before = state.copy(busy = true)
                    state = before
                    scope.launch { state = selfTest(before).copy(busy = false) }
                }) { Text("Self-test") }
            }
            state.error?.let { ErrorCard(it) }
            state.result?.let { ResultCard(it) }
            state.selfTest?.let { report ->
                Text(if (report.passed) "Self-test passed: ${report.cases} cases, max |Δlogit| ${"%.1e".format(report.maxAbsLogit)}"
                     else "Self-test FAILED: " + report.failures.joinToString("\n"),
                     color = if (report.passed) MaterialTheme.colorScheme.primary else MaterialTheme.colorScheme.error)
            }
        }
    }

    @Composable
    private fun ResultCard(result: PredictResult) {
        val prediction = result.predictions[0]
        Card(modifier = Modifier.fillMaxWidth()) {
            Column(modifier = Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
                Text("${prediction.label}  ${format(prediction.score * 100)} %", style = MaterialTheme.typography.titleLarge,
                     fontWeight = FontWeight.Bold)
                if (prediction.truncated) Text("The text is longer than the model reads: its first tokens were used.",
                                               style = MaterialTheme.typography.bodySmall)
                for ((label, p) in prediction.probabilities) {
                    Row {
                        Text(label, modifier = Modifier.width(96.dp))
                        LinearProgressIndicator(progress = { p.toFloat() }, modifier = Modifier.weight(1f).padding(top = 8.dp))
                        Spacer(Modifier.width(8.dp))
                        Text(format(p * 100) + " %", fontFamily = FontFamily.Monospace)
                    }
                }
                Spacer(Modifier.height(4.dp))
                val t = result.times
                Text("featurizer ${format(t.featurizeMs)} ms · graph ${format(t.graphMs)} ms · " +
                     "post ${format(t.postMs)} ms · total ${format(t.totalMs)} ms", fontFamily = FontFamily.Monospace,
                     style = MaterialTheme.typography.bodySmall)
            }
        }
    }

    @Composable
    private fun ErrorCard(message: String) {
        Card(colors = CardDefaults.cardColors(containerColor = MaterialTheme.colorScheme.errorContainer),
             modifier = Modifier.fillMaxWidth()) {
            Text(message, modifier = Modifier.padding(16.dp), color = MaterialTheme.colorScheme.onErrorContainer)
        }
    }

    private fun format(value: Double): String = String.format(Locale.ROOT, if (value < 10) "%.3f" else "%.1f", value)
}
