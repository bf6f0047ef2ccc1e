package ai.neurolite.android

import ai.neurolite.Bundle
import ai.neurolite.BuildConfig
import ai.neurolite.ModelRunException
import ai.neurolite.ModelRunner
import ai.neurolite.RunnerFactory
import ai.neurolite.Signature
import ai.neurolite.Tensor
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.TensorBuffer

/** `.tflite` bundles on LiteRT's CompiledModel API (CPU, XNNPACK), by named signature. */
class LiteRtRunnerFactory : RunnerFactory {
    override val format: String = "tflite"
    override val runtime: String = "litert ${BuildConfig.LITERT_VERSION}"

    override fun open(bundle: Bundle, threads: Int): ModelRunner = LiteRtRunner(bundle, threads, runtime)
}

/**
 * The TFLite export holds static signatures (b1_l16, b8_l64, ...) sharing one copy of the weights; the
 * planner picks one per step and pads to it. Input and output buffers are created once per signature
 * and reused. Not thread-safe (one runner per thread).
 */
class LiteRtRunner(bundle: Bundle, threads: Int, override val runtime: String) : ModelRunner {
    private val model: CompiledModel
    private val inputBuffers = HashMap<String, Map<String, TensorBuffer>>()
    private val outputBuffers = HashMap<String, Map<String, TensorBuffer>>()

    init {
        val options = CompiledModel.Options(Accelerator.CPU)
        options.cpuOptions = CompiledModel.CpuOptions(numThreads = threads)
        model = try {
            CompiledModel.create(bundle.entry.absolutePath, options, null)
        } catch (e: Exception) {
            throw ModelRunException("$runtime: cannot load ${bundle.entry}: ${e.message}", e)
        }
        // Compile every signature's buffers now, so that the cold load includes them.
        for (signature in bundle.signatures) buffers(signature)
    }

    private fun buffers(signature: Signature): Pair<Map<String, TensorBuffer>, Map<String, TensorBuffer>> {
        val inputs = inputBuffers.getOrPut(signature.name) {
            signature.inputs.associate { it.name to model.createInputBuffer(it.name, signature.name) }
        }
        val outputs = outputBuffers.getOrPut(signature.name) {
            signature.outputs.associate { it.name to model.createOutputBuffer(it.name, signature.name) }
        }
        return Pair(inputs, outputs)
    }

    override fun run(signature: Signature, inputs: Map<String, Tensor>): Map<String, Tensor> {
        val (ins, outs) = buffers(signature)
        try {
            for (spec in signature.inputs) {
                val value = inputs.getValue(spec.name)
                val buffer = ins.getValue(spec.name)
                if (value.ints != null) buffer.writeInt(value.ints) else buffer.writeFloat(value.floats!!)
            }
            model.run(ins, outs, signature.name)
            return signature.outputs.associate { spec ->
                spec.name to checkedOutput(spec, outs.getValue(spec.name).readFloat(), outputShape(spec, inputs, signature), runtime)
            }
        } catch (e: ModelRunException) {
            throw e
        } catch (e: Exception) {
            throw ModelRunException("$runtime: signature '${signature.name}': ${e.message}", e)
        }
    }

    override fun close() {
        for (buffers in inputBuffers.values + outputBuffers.values) for (buffer in buffers.values) buffer.close()
        inputBuffers.clear()
        outputBuffers.clear()
        model.close()
    }
}
