package ai.neurolite

/** A dense row-major tensor of int32 or float32, the two dtypes the graphs take and return. */
class Tensor private constructor(val dtype: String, val shape: IntArray, val ints: IntArray?, val floats: FloatArray?) {
    val size: Int get() = shape.fold(1) { a, b -> a * b }

    companion object {
        const val INT32 = "int32"
        const val FLOAT32 = "float32"

        @JvmStatic
        fun ofInts(shape: IntArray, data: IntArray): Tensor = Tensor(INT32, shape.copyOf(), data, null).also { it.checkSize(data.size) }

        @JvmStatic
        fun ofFloats(shape: IntArray, data: FloatArray): Tensor = Tensor(FLOAT32, shape.copyOf(), null, data).also { it.checkSize(data.size) }

        @JvmStatic
        fun zeros(dtype: String, shape: IntArray): Tensor {
            val n = shape.fold(1) { a, b -> a * b }
            return if (dtype == INT32) ofInts(shape, IntArray(n)) else ofFloats(shape, FloatArray(n))
        }
    }

    private fun checkSize(n: Int) {
        require(n == size) { "tensor data has $n elements, shape ${shape.toList()} needs $size" }
    }

    /** The float values (an int32 tensor is converted). */
    fun toFloats(): FloatArray = floats ?: FloatArray(ints!!.size) { ints[it].toFloat() }

    override fun toString(): String = "Tensor($dtype, ${shape.toList()})"
}

/** Run rows [start, stop) of the request through [signature], padded to ([batch], [length]). */
data class Step(val signature: Signature, val start: Int, val stop: Int, val batch: Int, val length: Int)

/**
 * Fit a request to the shapes a bundle supports: a port of runtime/planner.py, step for step, so that a
 * phone pads and splits exactly as the Python runtime does (the host tests compare their plans).
 *
 * The graph is padding-invariant (padded tokens and rows never change the outputs of real rows), so
 * padding a request up to a supported shape and dropping the padded rows gives the same numbers.
 */
object Planner {
    /**
     * Cover [batch] rows of [length] tokens with as few padded rows and tokens as the signatures
     * allow: the shortest signature length that fits serves the whole request; rows are taken in the
     * largest chunks a signature accepts without padding, and only a remainder smaller than every
     * accepted batch is padded.
     */
    @JvmStatic
    fun plan(signatures: List<Signature>, batch: Int, length: Int): List<Step> {
        val fits = signatures.filter { it.length.upper >= length }
        if (fits.isEmpty()) {
            val longest = signatures.fold(0) { m, s -> maxOf(m, s.length.upper) }
            throw PredictionInputException("length: $length tokens, but the bundle's longest signature takes $longest")
        }
        val shortest = fits.fold(Int.MAX_VALUE) { m, s -> minOf(m, s.length.upper) }
        val options = fits.filter { it.length.upper == shortest }
        val steps = ArrayList<Step>()
        var start = 0
        while (start < batch) {
            val remaining = batch - start
            var chosen: Signature? = null
            var take = 0
            for (s in options) {  // the first signature with the largest unpadded chunk (Python's max)
                if (s.batch.min <= remaining) {
                    val chunk = minOf(remaining, s.batch.upper)
                    if (chosen == null || chunk > take) {
                        chosen = s
                        take = chunk
                    }
                }
            }
            val padded: Int
            if (chosen != null) {
                padded = take
            } else {
                for (s in options) if (chosen == null || s.batch.min < chosen.batch.min) chosen = s
                take = remaining
                padded = chosen!!.batch.min
            }
            steps.add(Step(chosen, start, start + take, padded, maxOf(length, chosen.length.min)))
            start += take
        }
        return steps
    }

    /** (batch, length) of a request, read from the first input with a token axis. */
    @JvmStatic
    fun requestShape(signature: Signature, inputs: Map<String, Tensor>): Pair<Int, Int> {
        for (spec in signature.inputs) {
            val lengthAxis = spec.axis(BundleReader.LENGTH)
            if (lengthAxis >= 0) {
                val value = input(inputs, spec)
                return Pair(value.shape[spec.axis(BundleReader.BATCH)], value.shape[lengthAxis])
            }
        }
        throw PredictionInputException("signature '${signature.name}': no input has a token ('length') axis")
    }

    /** Run every step with padded inputs; the outputs of the real rows, in request order. */
    @JvmStatic
    fun runPlan(runner: ModelRunner, steps: List<Step>, inputs: Map<String, Tensor>): Map<String, Tensor> {
        val pieces = LinkedHashMap<String, MutableList<Tensor>>()
        for (step in steps) {
            val feed = LinkedHashMap<String, Tensor>()
            for (spec in step.signature.inputs) feed[spec.name] = pad(input(inputs, spec), spec, step)
            val outputs = runner.run(step.signature, feed)
            for (spec in step.signature.outputs) {
                val value = outputs[spec.name] ?: throw ModelRunException("${runner.runtime}: signature " +
                    "'${step.signature.name}' returned no output '${spec.name}'")
                val rows = slice(value, spec.axis(BundleReader.BATCH), 0, step.stop - step.start, null)
                pieces.getOrPut(spec.name) { ArrayList() }.add(rows)
            }
        }
        val out = LinkedHashMap<String, Tensor>()
        for (spec in steps[0].signature.outputs) out[spec.name] = concat(pieces[spec.name]!!, spec.axis(BundleReader.BATCH))
        return out
    }

    private fun input(inputs: Map<String, Tensor>, spec: TensorSpec): Tensor {
        val value = inputs[spec.name] ?: throw PredictionInputException("inputs: missing '${spec.name}'")
        if (value.dtype != spec.dtype) {
            throw PredictionInputException("inputs['${spec.name}']: dtype ${value.dtype}, expected ${spec.dtype}")
        }
        if (value.shape.size != spec.shape.size) {
            throw PredictionInputException("inputs['${spec.name}']: shape ${value.shape.toList()}, expected " +
                "${spec.shape.size} dimensions ${spec.shape}")
        }
        for ((axis, dim) in spec.shape.withIndex()) {
            if (dim is Int && value.shape[axis] != dim) {
                throw PredictionInputException("inputs['${spec.name}']: axis $axis has size ${value.shape[axis]}, " +
                    "expected [$dim, $dim]")
            }
        }
        return value
    }

    /** Rows [start, stop) of [value] along its batch axis, zero-padded along batch and length to the step's sizes. */
    private fun pad(value: Tensor, spec: TensorSpec, step: Step): Tensor {
        val target = IntArray(spec.shape.size) { axis ->
            when (spec.shape[axis]) {
                BundleReader.BATCH -> step.batch
                BundleReader.LENGTH -> step.length
                else -> value.shape[axis]
            }
        }
        return slice(value, spec.axis(BundleReader.BATCH), step.start, step.stop, target)
    }

    /**
     * Rows [start, stop) along [axis]; with [target], the result has that shape, zero-filled beyond
     * the source (every other axis is copied up to the smaller of the two sizes).
     */
    private fun slice(value: Tensor, axis: Int, start: Int, stop: Int, target: IntArray?): Tensor {
        val source = value.shape
        val shape = target ?: IntArray(source.size) { if (it == axis) stop - start else source[it] }
        val out = Tensor.zeros(value.dtype, shape)
        val srcStrides = strides(source)
        val dstStrides = strides(shape)
        fun copy(dim: Int, src: Int, dst: Int) {
            val offset = if (dim == axis) start else 0
            val available = if (dim == axis) stop - start else source[dim]
            val n = minOf(available, shape[dim])
            if (dim == shape.size - 1) {
                if (value.ints != null) System.arraycopy(value.ints, src + offset, out.ints!!, dst, n)
                else System.arraycopy(value.floats!!, src + offset, out.floats!!, dst, n)
                return
            }
            for (i in 0 until n) copy(dim + 1, src + (i + offset) * srcStrides[dim], dst + i * dstStrides[dim])
        }
        if (shape.all { it > 0 }) copy(0, 0, 0)
        return out
    }

    private fun concat(parts: List<Tensor>, axis: Int): Tensor {
        if (parts.size == 1) return parts[0]
        val first = parts[0]
        val shape = first.shape.copyOf()
        shape[axis] = parts.fold(0) { n, t -> n + t.shape[axis] }
        val out = Tensor.zeros(first.dtype, shape)
        val outer = shape.take(axis).fold(1) { a, b -> a * b }
        val inner = shape.drop(axis + 1).fold(1) { a, b -> a * b }
        var offset = 0
        for (part in parts) {
            val block = part.shape[axis] * inner
            for (o in 0 until outer) {
                val dst = o * shape[axis] * inner + offset * inner
                if (part.ints != null) System.arraycopy(part.ints, o * block, out.ints!!, dst, block)
                else System.arraycopy(part.floats!!, o * block, out.floats!!, dst, block)
            }
            offset += part.shape[axis]
        }
        return out
    }

    private fun strides(shape: IntArray): IntArray {
        val out = IntArray(shape.size)
        var stride = 1
        for (i in shape.indices.reversed()) {
            out[i] = stride
            stride *= shape[i]
        }
        return out
    }
}
