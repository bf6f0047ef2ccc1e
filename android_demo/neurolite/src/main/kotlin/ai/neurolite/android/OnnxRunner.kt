package ai.neurolite.android

import ai.neurolite.Bundle
import ai.neurolite.BuildConfig
import ai.neurolite.ModelRunException
import ai.neurolite.ModelRunner
import ai.neurolite.RunnerFactory
import ai.neurolite.Signature
import ai.neurolite.Tensor
import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtSession
import java.nio.FloatBuffer
import java.nio.IntBuffer

/** `.onnx` bundles on ONNX Runtime Android (CPU execution provider). */
class OnnxRunnerFactory : RunnerFactory {
    override val format: String = "onnx"
    override val runtime: String = "onnxruntime-android ${BuildConfig.ONNXRUNTIME_VERSION}"

    override fun open(bundle: Bundle, threads: Int): ModelRunner = OnnxRunner(bundle, threads, runtime)
}

/**
 * The ONNX export has one signature, dynamic in batch and length; the planner sends the request as it
 * is. Threads as the host runtime sets them: [threads] intra-op, one inter-op, and the workers stop
 * spinning when a call returns (`session.force_spinning_stop`), so the CPU is free between predictions.
 */
class OnnxRunner(bundle: Bundle, threads: Int, override val runtime: String) : ModelRunner {
    private val env: OrtEnvironment = OrtEnvironment.getEnvironment()
    private val session: OrtSession

    init {
        val options = OrtSession.SessionOptions()
        options.setIntraOpNumThreads(threads)
        options.setInterOpNumThreads(1)
        options.addConfigEntry("session.force_spinning_stop", "1")
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT)
        session = try {
            env.createSession(bundle.entry.absolutePath, options)
        } catch (e: Exception) {
            throw ModelRunException("$runtime: cannot load ${bundle.entry}: ${e.message}", e)
        } finally {
            options.close()
        }
    }

    override fun run(signature: Signature, inputs: Map<String, Tensor>): Map<String, Tensor> {
        val feed = LinkedHashMap<String, OnnxTensor>()
        try {
            for (spec in signature.inputs) {
                val value = inputs.getValue(spec.name)
                val shape = LongArray(value.shape.size) { value.shape[it].toLong() }
                feed[spec.name] = if (value.ints != null) OnnxTensor.createTensor(env, IntBuffer.wrap(value.ints), shape)
                else OnnxTensor.createTensor(env, FloatBuffer.wrap(value.floats!!), shape)
            }
            val result = session.run(feed)
            try {
                return signature.outputs.associate { spec ->
                    val output = result.get(spec.name).orElseThrow {
                        ModelRunException("$runtime: the graph returned no '${spec.name}'")
                    } as OnnxTensor
                    val buffer = output.floatBuffer
                    val values = FloatArray(buffer.remaining())
                    buffer.get(values)
                    val shape = output.info.shape
                    spec.name to checkedOutput(spec, values, IntArray(shape.size) { shape[it].toInt() }, runtime)
                }
            } finally {
                result.close()
            }
        } catch (e: ModelRunException) {
            throw e
        } catch (e: Exception) {
            throw ModelRunException("$runtime: ${e.message}", e)
        } finally {
            for (tensor in feed.values) tensor.close()
        }
    }

    override fun close() {
        session.close()
    }
}
