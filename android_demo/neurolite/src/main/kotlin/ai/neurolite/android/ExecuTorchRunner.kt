package ai.neurolite.android

import ai.neurolite.Bundle
import ai.neurolite.BuildConfig
import ai.neurolite.ModelRunException
import ai.neurolite.ModelRunner
import ai.neurolite.RunnerFactory
import ai.neurolite.Signature
import ai.neurolite.Tensor
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module

/** `.pte` bundles on ExecuTorch Android (XNNPACK delegate, portable kernels for the input gather). */
class ExecuTorchRunnerFactory : RunnerFactory {
    override val format: String = "executorch"
    override val runtime: String = "executorch-android ${BuildConfig.EXECUTORCH_VERSION}"

    override fun open(bundle: Bundle, threads: Int): ModelRunner = ExecuTorchRunner(bundle, threads, runtime)
}

/**
 * The ExecuTorch export holds static methods (forward at max_length, forward_l{n} at a quarter of it),
 * batch 1; a method's inputs are positional, in the signature's order (features, mask). Every method is
 * loaded at open, so the cold load includes it. The module is memory-mapped.
 */
class ExecuTorchRunner(bundle: Bundle, threads: Int, override val runtime: String) : ModelRunner {
    private val module: Module = try {
        Module.load(bundle.entry.absolutePath, Module.LOAD_MODE_MMAP, threads)
    } catch (e: Exception) {
        throw ModelRunException("$runtime: cannot load ${bundle.entry}: ${e.message}", e)
    }

    init {
        for (signature in bundle.signatures) {
            val error = module.loadMethod(signature.name)
            if (error != 0) {
                throw ModelRunException("$runtime: ${bundle.entry}: method '${signature.name}' failed to load " +
                    "(error 0x${Integer.toHexString(error)})")
            }
        }
    }

    override fun run(signature: Signature, inputs: Map<String, Tensor>): Map<String, Tensor> {
        val args = signature.inputs.map { spec ->
            val value = inputs.getValue(spec.name)
            val shape = LongArray(value.shape.size) { value.shape[it].toLong() }
            EValue.from(if (value.ints != null) org.pytorch.executorch.Tensor.fromBlob(value.ints, shape)
                        else org.pytorch.executorch.Tensor.fromBlob(value.floats!!, shape))
        }
        val outputs = try {
            module.execute(signature.name, *args.toTypedArray())
        } catch (e: Exception) {
            throw ModelRunException("$runtime: method '${signature.name}': ${e.message}", e)
        }
        if (outputs.size < signature.outputs.size) {
            throw ModelRunException("$runtime: method '${signature.name}' returned ${outputs.size} values, the " +
                "manifest names ${signature.outputs.size}")
        }
        return signature.outputs.withIndex().associate { (i, spec) ->
            val tensor = outputs[i].toTensor()
            val shape = tensor.shape()
            spec.name to checkedOutput(spec, tensor.dataAsFloatArray, IntArray(shape.size) { shape[it].toInt() }, runtime)
        }
    }

    override fun close() {
        module.destroy()
    }
}
