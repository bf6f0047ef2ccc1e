package ai.neurolite

/**
 * The graph inputs of a batch (docs/featurizer.md section 0): features int32 [batch, length, k]
 * row-major, mask float32 [batch, length], and per text the kept token count and whether it was cut.
 * Built by the JNI layer (its constructor signature is part of the binding: (III[I[F[I[Z)V).
 */
class FeatureBatch(
    val batch: Int,
    val length: Int,
    val k: Int,
    val features: IntArray,
    val mask: FloatArray,
    val lengths: IntArray,
    val truncated: BooleanArray
) {
    /** Row [b] as [length][k] (for comparisons and tests). */
    fun row(b: Int): List<List<Int>> = (0 until length).map { l ->
        (0 until k).map { features[(b * length + l) * k + it] }
    }

    fun maskRow(b: Int): List<Float> = (0 until length).map { mask[b * length + it] }
}

/** The featurizer spec's parameters (docs/featurizer.md section 1), as the C core parsed them. */
data class FeaturizerParams(
    val numBuckets: Long,
    val numHashes: Int,
    val wordHashes: Int,
    val ngramMin: Int,
    val ngramMax: Int,
    val maxLength: Int,
    val seed: Long
)

/** The JNI entry points (neurolite/src/main/cpp/neurolite_jni.c). Internal: use [Featurizer]. */
internal object NativeCore {
    const val LIBRARY = "neurolite_jni"

    init {
        System.loadLibrary(LIBRARY)
    }

    @JvmStatic external fun nativeVersion(): String
    @JvmStatic external fun nativeCreate(config: ByteArray): Long
    @JvmStatic external fun nativeFree(handle: Long)
    @JvmStatic external fun nativeParams(handle: Long): LongArray
    @JvmStatic external fun nativeDigest(handle: Long): String
    @JvmStatic external fun nativeCanonicalJson(handle: Long): String
    @JvmStatic external fun nativeScratchCreate(handle: Long, cacheEntries: Int): Long
    @JvmStatic external fun nativeScratchFree(scratch: Long)
    @JvmStatic external fun nativeFeaturizeStrings(handle: Long, scratch: Long, texts: Array<String>, maxLength: Int,
                                                   padTo: Int): FeatureBatch
    @JvmStatic external fun nativeFeaturizeUtf8(handle: Long, scratch: Long, texts: Array<ByteArray>, maxLength: Int,
                                                padTo: Int): FeatureBatch
    @JvmStatic external fun nativeTokenize(scratch: Long, text: String): ByteArray
}

/**
 * The featurizer of one bundle, on the portable C core through JNI: the same integers as the Python
 * runtime and every other platform, by construction (one implementation, DESIGN.md decision 10).
 *
 * Thread-safe: the core's featurizer is immutable and the one scratch buffer is used under this
 * object's lock (a featurize call takes microseconds; a server app that featurizes on many
 * threads at once opens one Featurizer per thread). [close] frees the native memory; a closed
 * featurizer throws IllegalStateException.
 */
class Featurizer private constructor(private var handle: Long, private var scratch: Long) : java.io.Closeable {
    val params: FeaturizerParams
    /** Lowercase hex SHA-256 of the canonical JSON (docs/featurizer.md section 7), computed by the core. */
    val digest: String
    val canonicalJson: String

    init {
        val p = NativeCore.nativeParams(handle)
        params = FeaturizerParams(p[0], p[1].toInt(), p[2].toInt(), p[3].toInt(), p[4].toInt(), p[5].toInt(), p[6])
        digest = NativeCore.nativeDigest(handle)
        canonicalJson = NativeCore.nativeCanonicalJson(handle)
    }

    companion object {
        /** Token cache slots per featurizer (about (K*4 + 48) bytes each: ~330 KB at K = 8). */
        const val DEFAULT_CACHE_ENTRIES = 4096

        /** The core's version line, e.g. "neurolite-featurizer 1.0.0 (spec 1.0, Unicode 14.0.0)". */
        val version: String
            get() = NativeCore.nativeVersion()

        /**
         * From a featurizer config JSON object (a bundle manifest's featurizer.spec or a checkpoint's
         * featurizer.json). Throws [FeaturizerException] naming the field that is wrong.
         */
        @JvmStatic
        @JvmOverloads
        fun create(configJson: String, cacheEntries: Int = DEFAULT_CACHE_ENTRIES): Featurizer {
            val handle = NativeCore.nativeCreate(configJson.toByteArray(Charsets.UTF_8))
            val scratch = try {
                NativeCore.nativeScratchCreate(handle, cacheEntries)
            } catch (e: Throwable) {
                NativeCore.nativeFree(handle)
                throw e
            }
            return Featurizer(handle, scratch)
        }
    }

    /**
     * Featurize [texts] (spec section 6): each text alone, truncated to [maxLength] tokens (0: the
     * config's), rows padded to [padTo] (0: the longest kept length, at least 1).
     */
    @JvmOverloads
    fun featurize(texts: List<String>, maxLength: Int = 0, padTo: Int = 0): FeatureBatch {
        if (texts.isEmpty()) throw PredictionInputException("texts: empty list; give at least one text")
        synchronized(this) {
            check(handle != 0L) { "featurizer is closed" }
            return NativeCore.nativeFeaturizeStrings(handle, scratch, texts.toTypedArray(), maxLength, padTo)
        }
    }

    /** As [featurize], on UTF-8 bytes (invalid sequences become U+FFFD, spec section 0). */
    @JvmOverloads
    fun featurizeUtf8(texts: List<ByteArray>, maxLength: Int = 0, padTo: Int = 0): FeatureBatch {
        if (texts.isEmpty()) throw PredictionInputException("texts: empty list; give at least one text")
        synchronized(this) {
            check(handle != 0L) { "featurizer is closed" }
            return NativeCore.nativeFeaturizeUtf8(handle, scratch, texts.toTypedArray(), maxLength, padTo)
        }
    }

    /** All tokens of [text] after normalization (spec sections 2-3), without truncation. */
    fun tokenize(text: String): List<String> {
        val bytes = synchronized(this) {
            check(handle != 0L) { "featurizer is closed" }
            NativeCore.nativeTokenize(scratch, text)
        }
        val tokens = ArrayList<String>()
        var start = 0
        for (i in bytes.indices) {
            if (bytes[i].toInt() == 0) {
                tokens.add(String(bytes, start, i - start, Charsets.UTF_8))
                start = i + 1
            }
        }
        return tokens
    }

    override fun close() {
        synchronized(this) {
            if (handle == 0L) return
            NativeCore.nativeScratchFree(scratch)
            NativeCore.nativeFree(handle)
            handle = 0L
            scratch = 0L
        }
    }
}
