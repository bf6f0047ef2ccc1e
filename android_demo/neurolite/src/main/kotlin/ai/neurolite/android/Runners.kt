package ai.neurolite.android

import ai.neurolite.Bundle
import ai.neurolite.BundleReader
import ai.neurolite.ModelRunException
import ai.neurolite.ModelRunner
import ai.neurolite.PredictionInputException
import ai.neurolite.RunnerFactory
import ai.neurolite.RunnerRegistry
import ai.neurolite.Signature
import ai.neurolite.Tensor
import ai.neurolite.TensorSpec

/**
 * The runtimes this app process can run, by bundle format. The library declares the runtimes
 * compileOnly, so only those the app depends on are on the classpath; a factory is offered only when
 * its runtime's classes are present. A bundle of another format is refused (BundleProblem.FORMAT)
 * with a message naming the formats this app runs.
 */
object AndroidRuntimes {
    private val all: List<Pair<String, () -> RunnerFactory>> = listOf(
        "com.google.ai.edge.litert.CompiledModel" to { LiteRtRunnerFactory() as RunnerFactory },
        "ai.onnxruntime.OrtSession" to { OnnxRunnerFactory() as RunnerFactory },
        "org.pytorch.executorch.Module" to { ExecuTorchRunnerFactory() as RunnerFactory }
    )

    /** The factories whose runtime is linked into this app. */
    @JvmStatic
    fun available(): List<RunnerFactory> = all.filter { (className, _) -> present(className) }.map { it.second() }

    @JvmStatic
    fun registry(): RunnerRegistry = RunnerRegistry(available())

    /** Runtime name -> version, for the benchmark's device record. */
    @JvmStatic
    fun versions(): Map<String, String> = available().associate { factory ->
        val parts = factory.runtime.split(" ")
        parts[0] to parts.drop(1).joinToString(" ")
    }

    private fun present(className: String): Boolean = try {
        Class.forName(className, false, AndroidRuntimes::class.java.classLoader)
        true
    } catch (e: ClassNotFoundException) {
        false
    } catch (e: LinkageError) {
        false
    }
}

/** An output's shape for a step: "batch" is the step's batch, "length" its token count, sizes as they are. */
internal fun outputShape(spec: TensorSpec, inputs: Map<String, Tensor>, signature: Signature): IntArray {
    val first = signature.inputs.first { it.axis(BundleReader.LENGTH) >= 0 }
    val feed = inputs[first.name] ?: throw PredictionInputException("inputs: missing '${first.name}'")
    val batch = feed.shape[first.axis(BundleReader.BATCH)]
    val length = feed.shape[first.axis(BundleReader.LENGTH)]
    return IntArray(spec.shape.size) { i ->
        when (val dim = spec.shape[i]) {
            BundleReader.BATCH -> batch
            BundleReader.LENGTH -> length
            is Int -> dim
            else -> throw ModelRunException("output '${spec.name}': unknown dimension '$dim'")
        }
    }
}

internal fun checkedOutput(spec: TensorSpec, values: FloatArray, shape: IntArray, runtime: String): Tensor {
    val expected = shape.fold(1) { a, b -> a * b }
    if (values.size != expected) {
        throw ModelRunException("$runtime: output '${spec.name}' has ${values.size} values, shape ${shape.toList()} " +
            "needs $expected")
    }
    return Tensor.ofFloats(shape, values)
}
