package ai.neurolite

import java.io.File
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.charset.CharacterCodingException
import java.nio.charset.CodingErrorAction
import java.security.MessageDigest
import java.util.Locale

/** Sizes a signature accepts along one axis; [max] null means unbounded. */
data class DimRange(val min: Int, val max: Int?) {
    val isStatic: Boolean get() = max == min
    operator fun contains(size: Int): Boolean = size >= min && (max == null || size <= max)
    /** [max] or Int.MAX_VALUE when unbounded (the planner's "infinity"). */
    val upper: Int get() = max ?: Int.MAX_VALUE
    fun toList(): List<Int?> = listOf(min, max)
}

/**
 * One named graph input or output. A dimension is a fixed size (Int) or an axis name (String):
 * "batch" (every tensor has one) and "length" (the token axis) take their sizes from the signature.
 */
data class TensorSpec(val name: String, val dtype: String, val shape: List<Any>) {
    fun axis(name: String): Int = shape.indexOf(name)
}

/** One entry point of the model file (ONNX graph, .pte method, TFLite signature, Core ML model). */
data class Signature(
    val name: String,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val batch: DimRange,
    val length: DimRange
)

/** A verified bundle: where it is, what it holds, and the parsed parts a runtime needs. */
class Bundle internal constructor(
    val dir: File,
    val manifest: Map<String, Any?>,
    val format: String,
    val entry: File,
    val signatures: List<Signature>,
    val labels: List<String>,
    /** The manifest's featurizer.spec, checked: version 1.0, accepted by the core, digest matching. */
    val featurizerSpec: Map<String, Any?>,
    val featurizerDigest: String,
    val reasoning: Map<String, String>,
    /**
     * Model files rebuilt from orbital8 codes (a schema 2 `weights` section): path in the bundle -> the
     * verified fp32 file the runtimes open (under the rebuild directory); empty for other bundles.
     */
    val rebuilt: Map<String, File> = emptyMap()
) {
    /** The featurizer spec as the JSON object the C core parses. */
    val featurizerSpecJson: String get() = Json.write(featurizerSpec)

    /** The model name benchmark rows use: the exported checkpoint's directory name (as `neurolite bench`). */
    val modelName: String
        get() {
            val checkpoint = Fields.obj(manifest["export"])?.get("checkpoint") as? String
            return if (checkpoint.isNullOrEmpty()) dir.name else File(checkpoint).name
        }

    val quantize: String get() = Fields.obj(manifest["export"])?.get("quantize") as? String ?: "none"
    val maxLength: Int get() = (featurizerSpec["max_length"] as Long).toInt()
    val sizeBytes: Long
        get() = (manifest["files"] as Map<*, *>).values.fold(0L) { sum, record ->
            sum + ((record as Map<*, *>)["bytes"] as Long)
        }
    val testVectors: String? get() = manifest["test_vectors"] as? String

    fun signature(name: String): Signature = signatures.firstOrNull { it.name == name }
        ?: throw BundleException(BundleProblem.FIELD, "$dir: no signature named '$name' (it has: " +
            signatures.joinToString(", ") { it.name } + ")")
}

/**
 * Reads and verifies a bundle directory with the checks of the Python runtime's read_bundle
 * (runtime/bundle.py), in the same order and with the same words: the directory and manifest.json
 * exist, the manifest is JSON with a schema version this library reads; every listed file exists
 * with its recorded size and SHA-256; the entry is listed; the signatures are well formed; the labels
 * are at least two strings and as many as the logits every signature returns; the featurizer spec
 * is version 1.0, accepted by the C core, and its digest matches. [BundleException.problem] says which
 * check refused the bundle.
 *
 * Schema 2 adds the `weights` section (orbital8 decoded at load, the default of `neurolite export --quantize
 * orbital8`): after the listed files are verified, each model file is rebuilt from its zlib shell and the
 * codes file, checked against the size and SHA-256 the manifest records, and written once under the rebuild
 * directory ([Weights]); [Bundle.entry] is then that fp32 file, so the runtime loads and runs it at fp32 speed.
 */
object BundleReader {
    /** The newest manifest schema this library reads; 2 adds the `weights` section. */
    const val SCHEMA_VERSION = 2L
    const val WEIGHTS_SCHEMA_VERSION = 2L
    /** Where rebuilt model files go unless [read] is given a directory: inside the bundle, ignored by its checks. */
    const val REBUILT_DIR = ".neurolite-rebuilt"
    const val MANIFEST_NAME = "manifest.json"
    const val FEATURIZER_VERSION = "1.0"
    const val BATCH = "batch"
    const val LENGTH = "length"
    const val LOGITS = "logits"
    private val REASONING_KEYS = listOf("network", "rules")

    /**
     * Read and verify the bundle at [dir]. [rebuildDir] is where model files rebuilt from orbital8 codes are
     * written (default: [REBUILT_DIR] inside the bundle; pass a writable directory when the bundle's is not).
     */
    @JvmStatic
    @JvmOverloads
    fun read(dir: File, rebuildDir: File? = null): Bundle {
        if (!dir.exists()) throw BundleException(BundleProblem.NOT_A_BUNDLE, "$dir: no such bundle directory")
        if (!dir.isDirectory) {
            throw BundleException(BundleProblem.NOT_A_BUNDLE, "$dir: not a bundle directory (a bundle is the " +
                "directory holding $MANIFEST_NAME)")
        }
        val manifestFile = File(dir, MANIFEST_NAME)
        if (!manifestFile.isFile) {
            throw BundleException(BundleProblem.MANIFEST_MISSING, "$manifestFile: missing; $dir is not a NeuroLite " +
                "bundle (or its export did not finish)")
        }
        val manifest = readManifest(manifestFile)
        val where = manifestFile.path
        val format = field(manifest, "format", "str", where) as String
        val files = Fields.obj(field(manifest, "files", "dict", where))!!
        verifyFiles(dir, files, where)
        var available: Set<String> = files.keys
        var rebuilt: Map<String, File> = emptyMap()
        if (manifest.containsKey(Weights.KEY)) {  // coded weights: rebuild the model file(s) before any runtime sees them
            val version = manifest["schema_version"] as Long
            if (version < WEIGHTS_SCHEMA_VERSION) {
                throw BundleException(BundleProblem.WEIGHTS, "$where: ${Weights.KEY}: needs schema_version " +
                    "$WEIGHTS_SCHEMA_VERSION, the manifest says $version")
            }
            val weights = Weights.parse(manifest[Weights.KEY], where)
            for (target in weights.files) relativePath(target.path, "$where: ${Weights.KEY}: path")
            rebuilt = Weights.restore(weights, dir, files.keys, rebuildDir ?: File(dir, REBUILT_DIR), where)
            val dropped = weights.files.map { it.shell }.toSet() + weights.codes
            available = files.keys.filter { it !in dropped }.toSet() + rebuilt.keys
        }
        val entry = relativePath(field(manifest, "entry", "str", where) as String, "$where: entry")
        if (available.none { it == entry || it.startsWith("$entry/") }) {
            throw BundleException(BundleProblem.FIELD, "$where: entry '$entry' is not among the bundle's files")
        }
        val signatures = (field(manifest, "signatures", "list", where) as List<*>).mapIndexed { i, doc ->
            signature(doc, "$where: signatures[$i]")
        }
        if (signatures.isEmpty()) {
            throw BundleException(BundleProblem.FIELD, "$where: signatures: empty; the bundle declares no entry point")
        }
        val labels = field(manifest, "labels", "list", where) as List<*>
        if (labels.size < 2 || !labels.all { it is String }) {
            throw BundleException(BundleProblem.FIELD, "$where: labels: must be a list of at least two strings")
        }
        checkLabels(labels.size, signatures, where)
        val (spec, digest) = featurizer(manifest, where)
        return Bundle(dir, manifest, format, rebuilt[entry] ?: File(dir, entry), signatures, labels.map { it as String },
                      spec, digest, reasoning(manifest, files, where), rebuilt)
    }

    /** Every signature's "logits" output must score exactly one class per label. */
    private fun checkLabels(count: Int, signatures: List<Signature>, where: String) {
        for (signature in signatures) {
            val logits = signature.outputs.firstOrNull { it.name == LOGITS } ?: continue
            val classes = logits.shape.lastOrNull()
            if (classes is Int && classes != count) {
                throw BundleException(BundleProblem.LABELS, "$where: labels: $count labels, but signature " +
                    "'${signature.name}' returns $classes logits; the manifest's labels do not belong to this model")
            }
        }
    }

    private fun readManifest(file: File): Map<String, Any?> {
        val text = try {
            Charsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(file.readBytes())).toString()
        } catch (e: CharacterCodingException) {
            throw BundleException(BundleProblem.MANIFEST_INVALID, "$file: not valid UTF-8")
        }
        val manifest = try {
            Json.parse(text)
        } catch (e: JsonException) {
            throw BundleException(BundleProblem.MANIFEST_INVALID, "$file: invalid JSON: ${e.message}")
        }
        val doc = Fields.obj(manifest) ?: throw BundleException(BundleProblem.MANIFEST_INVALID,
            "$file: expected a JSON object, got ${Fields.typeName(manifest)}")
        val version = doc["schema_version"]
        if (version !is Long || version < 1) {
            throw BundleException(BundleProblem.FIELD, "$file: schema_version: expected a positive integer, got " +
                Json.write(version))
        }
        if (version > SCHEMA_VERSION) {
            throw BundleException(BundleProblem.SCHEMA_NEWER, "$file: schema_version $version is newer than this " +
                "library reads ($SCHEMA_VERSION); upgrade the NeuroLite Android library to load this bundle")
        }
        return doc
    }

    private fun verifyFiles(root: File, files: Map<String, Any?>, where: String) {
        if (files.isEmpty()) throw BundleException(BundleProblem.FIELD, "$where: files: empty; the bundle lists no model file")
        for ((name, record) in files) {
            val relative = relativePath(name, "$where: files")
            val doc = Fields.obj(record) ?: throw BundleException(BundleProblem.FIELD,
                "$where: files['$name']: expected an object with bytes and sha256")
            val size = field(doc, "bytes", "int", "$where: files['$name']") as Long
            val expected = field(doc, "sha256", "str", "$where: files['$name']") as String
            val file = File(root, relative)
            if (!file.isFile) {
                throw BundleException(BundleProblem.FILE_MISSING, "$file: listed in $MANIFEST_NAME but missing from the bundle")
            }
            val actual = file.length()
            if (actual < size) {
                throw BundleException(BundleProblem.FILE_TRUNCATED, "$file: truncated: ${grouped(actual)} bytes, " +
                    "$MANIFEST_NAME records ${grouped(size)}")
            }
            if (actual != size) {
                throw BundleException(BundleProblem.FILE_SIZE, "$file: ${grouped(actual)} bytes, $MANIFEST_NAME records " +
                    "${grouped(size)}; the file was replaced or modified after export")
            }
            if (sha256(file) != expected) {
                throw BundleException(BundleProblem.CHECKSUM, "$file: SHA-256 does not match $MANIFEST_NAME; the file is " +
                    "corrupted or was modified after export")
            }
        }
    }

    private fun featurizer(manifest: Map<String, Any?>, where: String): Pair<Map<String, Any?>, String> {
        val doc = Fields.obj(field(manifest, "featurizer", "dict", where))!!
        val spec = Fields.obj(field(doc, "spec", "dict", "$where: featurizer"))!!
        val digest = field(doc, "digest", "str", "$where: featurizer") as String
        val version = spec["version"]
        if (version != FEATURIZER_VERSION) {
            throw BundleException(BundleProblem.FEATURIZER, "$where: featurizer: the bundle was exported with " +
                "featurizer spec ${Json.write(version)}, this library implements '$FEATURIZER_VERSION'; re-export the " +
                "model or use the library release that implements ${Json.write(version)}")
        }
        val computed = try {
            val featurizer = Featurizer.create(Json.write(spec), 0)
            try {
                featurizer.digest
            } finally {
                featurizer.close()
            }
        } catch (e: FeaturizerException) {
            throw BundleException(BundleProblem.FEATURIZER, "$where: featurizer.spec: ${e.message}")
        }
        if (computed != digest) {
            throw BundleException(BundleProblem.FEATURIZER, "$where: featurizer.digest does not match featurizer.spec " +
                "(this library computes ${computed.take(12)}..., the manifest says ${digest.take(12)}...); the " +
                "manifest was edited")
        }
        return Pair(spec, digest)
    }

    private fun reasoning(manifest: Map<String, Any?>, files: Map<String, Any?>, where: String): Map<String, String> {
        if (!manifest.containsKey("reasoning")) return emptyMap()
        val doc = Fields.obj(field(manifest, "reasoning", "dict", where))!!
        val unknown = doc.keys.filter { it !in REASONING_KEYS }.sorted()
        if (unknown.isNotEmpty()) {
            throw BundleException(BundleProblem.FIELD, "$where: reasoning: unknown key(s) $unknown; expected $REASONING_KEYS")
        }
        val out = LinkedHashMap<String, String>()
        for ((key, name) in doc) {
            if (name !is String || relativePath(name, "$where: reasoning.$key") !in files) {
                throw BundleException(BundleProblem.FIELD, "$where: reasoning.$key: ${Json.write(name)} is not among " +
                    "the bundle's files")
            }
            out[key] = name
        }
        return out
    }

    private fun signature(doc: Any?, where: String): Signature {
        val obj = Fields.obj(doc) ?: throw BundleException(BundleProblem.FIELD, "$where: expected an object")
        return Signature(
            field(obj, "name", "str", where) as String,
            (field(obj, "inputs", "list", where) as List<*>).mapIndexed { i, t -> tensor(t, "$where.inputs[$i]") },
            (field(obj, "outputs", "list", where) as List<*>).mapIndexed { i, t -> tensor(t, "$where.outputs[$i]") },
            range(obj["batch"], "$where.batch"),
            range(obj["length"], "$where.length")
        )
    }

    private fun tensor(doc: Any?, where: String): TensorSpec {
        val obj = Fields.obj(doc) ?: throw BundleException(BundleProblem.FIELD, "$where: expected an object")
        val shape = field(obj, "shape", "list", where) as List<*>
        if (!shape.all { it is String || (it is Long && it >= 0 && it <= Int.MAX_VALUE) }) {
            throw BundleException(BundleProblem.FIELD, "$where.shape: each dimension must be a size or a dimension " +
                "name, got ${Json.write(shape)}")
        }
        if (BATCH !in shape) {
            throw BundleException(BundleProblem.FIELD, "$where.shape: every tensor needs a 'batch' axis, got " +
                Json.write(shape))
        }
        return TensorSpec(field(obj, "name", "str", where) as String, field(obj, "dtype", "str", where) as String,
                          shape.map { if (it is Long) it.toInt() else it as String })
    }

    private fun range(value: Any?, where: String): DimRange {
        fun size(v: Any?): Boolean = v is Long && v >= 1 && v <= Int.MAX_VALUE
        val list = value as? List<*>
        if (list == null || list.size != 2 || !size(list[0]) ||
            !(list[1] == null || (size(list[1]) && (list[1] as Long) >= (list[0] as Long)))) {
            throw BundleException(BundleProblem.FIELD, "$where: expected [min, max] with 1 <= min <= max (max null " +
                "for unbounded), got ${Json.write(value)}")
        }
        return DimRange((list[0] as Long).toInt(), (list[1] as Long?)?.toInt())
    }

    /** [doc][key], which must be of the JSON kind [kind] (Python's names: str, int, list, dict). */
    internal fun field(doc: Map<String, Any?>, key: String, kind: String, where: String): Any {
        if (!doc.containsKey(key)) throw BundleException(BundleProblem.FIELD, "$where: missing field '$key'")
        val value = doc[key]
        val ok = when (kind) {
            "str" -> value is String
            "int" -> value is Long
            "list" -> value is List<*>
            "dict" -> value is Map<*, *>
            else -> false
        }
        if (!ok) throw BundleException(BundleProblem.FIELD, "$where: $key: expected $kind, got ${Fields.typeName(value)}")
        return value!!
    }

    private fun relativePath(name: String, where: String): String {
        val parts = name.split('/')
        if (name == "" || name.startsWith("/") || ".." in parts) {
            throw BundleException(BundleProblem.FIELD, "$where: '$name' is not a path inside the bundle")
        }
        return name
    }

    private fun grouped(value: Long): String = String.format(Locale.ROOT, "%,d", value)

    /** Lowercase hex SHA-256 of a file, read in 1 MiB chunks. */
    @JvmStatic
    fun sha256(file: File): String {
        val digest = MessageDigest.getInstance("SHA-256")
        val buffer = ByteArray(1 shl 20)
        val input = FileInputStream(file)
        try {
            while (true) {
                val n = input.read(buffer)
                if (n < 0) break
                digest.update(buffer, 0, n)
            }
        } finally {
            input.close()
        }
        return digest.digest().joinToString("") { String.format(Locale.ROOT, "%02x", it) }
    }
}
