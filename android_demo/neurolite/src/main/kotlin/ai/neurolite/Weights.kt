package ai.neurolite

import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.security.MessageDigest
import java.util.Locale
import java.util.zip.DataFormatException
import java.util.zip.Inflater

/** Where one coded weight's float32 bytes sit in the rebuilt file, and how the converter stored them. */
internal class Region(val offset: Long, val tensor: String, val rows: Long, val transpose: Boolean, val scale: Float?)

/** One model file to rebuild: its path, its shell, its size and SHA-256, and the coded regions inside it. */
internal class RestoredFile(val path: String, val shell: String, val compression: String, val bytes: Long,
                            val sha256: String, val regions: List<Region>)

/** The manifest's `weights` section (schema 2): the codes file and the files rebuilt from it. */
internal class LoadTimeWeights(val codes: String, val files: List<RestoredFile>)

/** One coded tensor of the codes file, `[rows, columns]`; [codes] index into [data] from [codesAt]. */
private class CodedTensor(val scheme: String, val rows: Int, val columns: Int, val data: ByteArray, val codesAt: Int,
                          val scale: FloatArray, val offset: FloatArray?, val table: FloatArray?)

/**
 * orbital8 decoded at load (manifest schema 2, docs/orbital8.md "Two forms"), as runtime/weights.py does it: a
 * bundle exported with `--quantize orbital8` (default `--orbital8-decode load`) ships each model file cut in
 * two, a zlib *shell* (every byte but the coded weights') and one safetensors file of codes, tables, scales
 * and offsets; the manifest's `weights` section says where each decoded weight's float32 bytes go back:
 *
 *     {"decode": "load", "codes": "weights.orbital8.safetensors",
 *      "files": [{"path": "model.tflite", "shell": "model.tflite.shell", "compression": "zlib",
 *                 "bytes": 4017314, "sha256": "...",
 *                 "regions": [{"offset": 10172, "tensor": "...", "rows": 64, "transpose": true, "scale": null}]}]}
 *
 * A region holds `W[:rows]` of the decoded weight `W` (`[out, n]`), transposed when `transpose`, times
 * float32(`scale`) when it is not null. orbital8 decodes as `T[code]·scale (+ offset)` in float32 (int8 as
 * `code·scale`): Kotlin's Float arithmetic is IEEE single precision, the same as numpy's, so the rebuilt file is
 * the exported one byte for byte, which its recorded size and SHA-256 prove before anything uses it.
 *
 * The runtimes open model files by path (LiteRT, ONNX Runtime, ExecuTorch's mmap), so the rebuilt file is
 * written once under the rebuild directory as `<sha256>/<path>`: built and checked in memory, written to a
 * temporary directory, synced and renamed into place (a killed write leaves no file that looks rebuilt).
 * A later read reuses it after checking its size and SHA-256 again, and rebuilds it when they differ.
 */
internal object Weights {
    const val KEY = "weights"
    private val COMPRESSIONS = listOf("zlib", "none")
    private const val QUANT_METADATA_KEY = "neurolite.quantization"
    private const val QUANT_FORMAT = "neurolite-quant/1"
    private const val MAX_HEADER = 16L shl 20
    private const val TABLE_SIZE = 256
    private const val FLOAT32 = 4L
    private val DTYPE_BYTES = mapOf("U8" to 1, "I8" to 1, "F32" to 4, "I32" to 4)

    /** The `weights` section, every field checked; a [BundleException] names the first that is wrong. */
    fun parse(doc: Any?, manifestWhere: String): LoadTimeWeights {
        val where = "$manifestWhere: $KEY"
        val obj = Fields.obj(doc) ?: throw problem("$where: expected an object")
        if (obj["decode"] != "load") throw problem("$where: decode: expected 'load', got ${Json.write(obj["decode"])}")
        val codes = get(obj, "codes", "str", where) as String
        val entries = get(obj, "files", "list", where) as List<*>
        if (entries.isEmpty()) throw problem("$where: files: empty")
        val files = entries.mapIndexed { i, item ->
            val here = "$where.files[$i]"
            val entry = Fields.obj(item) ?: throw problem("$here: expected an object")
            val compression = get(entry, "compression", "str", here) as String
            if (compression !in COMPRESSIONS) {
                throw problem("$here: compression: '$compression' is not one of ${COMPRESSIONS.joinToString(", ")}")
            }
            val size = get(entry, "bytes", "int", here) as Long
            val digest = get(entry, "sha256", "str", here) as String
            if (size < 0 || digest.length != 64) throw problem("$here: bytes must be >= 0 and sha256 64 hex digits")
            val regions = (get(entry, "regions", "list", here) as List<*>).mapIndexed { j, value ->
                val at = "$here.regions[$j]"
                val region = Fields.obj(value) ?: throw problem("$at: expected an object")
                val scale = region["scale"]
                if (scale != null && !((scale is Long) || (scale is Double && !scale.isNaN() && !scale.isInfinite()))) {
                    throw problem("$at: scale: expected a finite number or null, got ${Json.write(scale)}")
                }
                val transpose = if (region.containsKey("transpose")) region["transpose"] else false
                if (transpose !is Boolean) throw problem("$at: transpose: expected true or false")
                Region(get(region, "offset", "int", at) as Long, get(region, "tensor", "str", at) as String,
                       get(region, "rows", "int", at) as Long, transpose, (scale as Number?)?.toFloat())
            }
            RestoredFile(get(entry, "path", "str", here) as String, get(entry, "shell", "str", here) as String,
                         compression, size, digest, regions)
        }
        val paths = files.map { it.path }
        if (paths.toSet().size != paths.size) throw problem("$where: files: a path appears twice (${pyList(paths)})")
        return LoadTimeWeights(codes, files)
    }

    /**
     * Each coded file rebuilt from its shell and the codes under [rebuildDir] (or found there, already rebuilt
     * and unchanged): path in the bundle -> file. [listed] are the manifest's files, already verified in [root].
     */
    fun restore(weights: LoadTimeWeights, root: File, listed: Set<String>, rebuildDir: File,
                where: String): Map<String, File> {
        for (name in listOf(weights.codes) + weights.files.map { it.shell }) {
            if (name !in listed) throw problem("$where: $KEY: '$name' is not among the bundle's files")
        }
        val taken = weights.files.map { it.path }.filter { it in listed }
        if (taken.isNotEmpty()) throw problem("$where: $KEY: ${pyList(taken)} would be rebuilt over a file the bundle lists")
        val out = LinkedHashMap<String, File>()
        var coded: Map<String, CodedTensor>? = null  // read only when a file must be rebuilt
        val decoded = HashMap<String, FloatArray>()
        for (entry in weights.files) {
            val target = File(File(rebuildDir, entry.sha256), entry.path)
            if (!(target.isFile && target.length() == entry.bytes && BundleReader.sha256(target) == entry.sha256)) {
                val codes = coded ?: readCodes(File(root, weights.codes).readBytes(), "$where: ${weights.codes}")
                coded = codes
                val data = rebuild(entry, File(root, entry.shell).readBytes(), codes, decoded, "$where: ${entry.path}")
                write(data, rebuildDir, entry, "$where: ${entry.path}")
            }
            out[entry.path] = target
        }
        return out
    }

    /** The file's bytes from its shell and the codes; [BundleException] when anything does not fit. */
    private fun rebuild(entry: RestoredFile, stored: ByteArray, coded: Map<String, CodedTensor>,
                        decoded: MutableMap<String, FloatArray>, where: String): ByteArray {
        val regions = entry.regions.sortedBy { it.offset }
        var end = 0L
        var valueBytes = 0L
        for (region in regions) {  // every region placed and sized before anything is allocated or decoded
            val tensor = coded[region.tensor]
                ?: throw problem("$where: region at ${region.offset}: '${region.tensor}' is not a coded tensor of the codes file")
            if (region.rows < 1 || region.rows > tensor.rows) {
                throw problem("$where: region at ${region.offset}: rows ${region.rows} outside 1..${tensor.rows}")
            }
            if (region.offset < end) {
                throw problem("$where: region at ${region.offset} (${region.tensor}) overlaps the one before it")
            }
            end = region.offset + region.rows * tensor.columns * FLOAT32
            valueBytes += region.rows * tensor.columns * FLOAT32
        }
        val shellBytes = entry.bytes - valueBytes
        if (end > entry.bytes || shellBytes < 0) {
            throw problem("$where: its regions do not fit the file's ${grouped(entry.bytes)} bytes")
        }
        if (entry.bytes > Int.MAX_VALUE - 8) throw problem("$where: ${grouped(entry.bytes)} bytes, too large to rebuild here")
        val shell = shell(entry, stored, shellBytes.toInt(), where)
        val out = ByteArray(entry.bytes.toInt())
        val buffer = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN)
        var cursor = 0  // position in the rebuilt file
        var taken = 0  // position in the shell
        for (region in regions) {
            val tensor = coded.getValue(region.tensor)
            val weight = decoded.getOrPut(region.tensor) { decodeRows(tensor) }
            val gap = region.offset.toInt() - cursor
            System.arraycopy(shell, taken, out, cursor, gap)
            taken += gap
            val rows = region.rows.toInt()
            val columns = tensor.columns
            val factor = region.scale
            var at = region.offset.toInt()
            for (i in 0 until rows * columns) {
                // stored index i: W[i] row-major, or (transposed) W[i % rows, i / rows]
                var value = if (region.transpose) weight[(i % rows) * columns + i / rows] else weight[i]
                if (factor != null) value *= factor
                buffer.putFloat(at, value)
                at += 4
            }
            cursor = at
        }
        System.arraycopy(shell, taken, out, cursor, shell.size - taken)
        if (hex(MessageDigest.getInstance("SHA-256").digest(out)) != entry.sha256) {
            throw problem("$where: rebuilt from its shell and codes, it differs from the file the manifest records " +
                "(SHA-256); the codes or the regions were modified after export")
        }
        return out
    }

    /** The shell's bytes, which must be exactly [size] (inflated no further than one byte past it). */
    private fun shell(entry: RestoredFile, stored: ByteArray, size: Int, where: String): ByteArray {
        var shell = stored
        if (entry.compression == "zlib") {
            val limit = size + 1
            val out = ByteArray(limit)
            var filled = 0
            val inflater = Inflater()  // zlib: the 2-byte header and the Adler-32 trailer, as Python's zlib writes
            try {
                inflater.setInput(stored)
                while (filled < limit) {
                    val n = inflater.inflate(out, filled, limit - filled)
                    filled += n
                    if (n == 0 && (inflater.finished() || inflater.needsInput() || inflater.needsDictionary())) break
                }
            } catch (e: DataFormatException) {
                throw problem("$where: its shell '${entry.shell}' does not decompress (${e.message})")
            } finally {
                inflater.end()
            }
            shell = if (filled == limit) out else out.copyOf(filled)
        }
        if (shell.size != size) {
            throw problem("$where: its shell '${entry.shell}' holds ${grouped(shell.size.toLong())} bytes or more, the " +
                "manifest's size and regions leave ${grouped(size.toLong())}")
        }
        return shell
    }

    /** A coded tensor's float32 weight as `[rows, columns]`, row-major: `T[code]·scale (+ offset)`, or `code·scale`. */
    private fun decodeRows(tensor: CodedTensor): FloatArray {
        val rows = tensor.rows
        val columns = tensor.columns
        val out = FloatArray(rows * columns)
        val data = tensor.data
        val table = tensor.table
        val offset = tensor.offset
        for (c in 0 until rows) {
            val scale = tensor.scale[c]
            val base = c * columns
            var at = tensor.codesAt + base
            for (j in 0 until columns) {
                val code = data[at++].toInt()
                out[base + j] = if (table == null) code.toFloat() * scale else {
                    val value = table[code and 0xFF] * scale
                    if (offset == null) value else value + offset[c]
                }
            }
        }
        return out
    }

    /**
     * The coded tensors of a safetensors file written from pack_state (quantization/layout.py), checked as
     * unpack_state and the tensors' validate() check them. Arrays its metadata does not describe are kept
     * floats, not coded tensors.
     */
    private fun readCodes(data: ByteArray, where: String): Map<String, CodedTensor> {
        if (data.size < 8) throw problem("$where: ${data.size} bytes, too short for a safetensors file")
        val size = ByteBuffer.wrap(data, 0, 8).order(ByteOrder.LITTLE_ENDIAN).long
        if (size < 0 || size > minOf(MAX_HEADER, data.size - 8L)) {
            throw problem("$where: header of ${java.lang.Long.toUnsignedString(size)} bytes does not fit the file")
        }
        val header = try {
            Fields.obj(Json.parse(String(data, 8, size.toInt(), Charsets.UTF_8)))
        } catch (e: JsonException) {
            throw problem("$where: the safetensors header is not JSON (${e.message})")
        } ?: throw problem("$where: the safetensors header is not an object")
        val metadata = Fields.obj(header["__metadata__"] ?: emptyMap<String, Any?>())
        if (metadata == null || !metadata.values.all { it is String }) {
            throw problem("$where: __metadata__ is not an object of strings")
        }
        val body = 8 + size.toInt()
        val arrays = HashMap<String, Triple<String, List<Long>, Int>>()  // name -> (dtype, shape, start in data)
        for ((name, value) in header) {
            if (name == "__metadata__") continue
            val info = Fields.obj(value)
            val item = DTYPE_BYTES[info?.get("dtype")]
            val shape = info?.get("shape") as? List<*>
            val offsets = info?.get("data_offsets") as? List<*>
            val ok = item != null && shape != null && shape.all { it is Long && it >= 0 } && offsets != null &&
                offsets.size == 2 && offsets.all { it is Long && it >= 0 } && run {
                    val start = offsets[0] as Long
                    val stop = offsets[1] as Long
                    val count = shape.fold(1L) { a, d -> if (a > Int.MAX_VALUE) a else a * (d as Long) }
                    start <= stop && stop <= data.size - body && stop - start == count * item
                }
            if (!ok) throw problem("$where: tensor '$name': malformed entry ${Json.write(value)}")
            arrays[name] = Triple(info!!["dtype"] as String, shape!!.map { it as Long }, body + (offsets!![0] as Long).toInt())
        }
        val quant = try {
            Fields.obj(Json.parse(metadata[QUANT_METADATA_KEY] as? String ?: throw JsonException("absent", 0, 0)))
        } catch (e: JsonException) {
            throw problem("$where: $QUANT_METADATA_KEY: missing or not JSON in the metadata (${e.message})")
        }
        if (quant == null || quant["format"] != QUANT_FORMAT) {
            throw problem("$where: $QUANT_METADATA_KEY: format ${Json.write(quant?.get("format"))}, expected '$QUANT_FORMAT'")
        }
        val coded = LinkedHashMap<String, CodedTensor>()
        for ((name, value) in Fields.obj(quant["tensors"]) ?: emptyMap<String, Any?>()) {
            val at = "$where: $name"
            val entry = Fields.obj(value)
            val shape = entry?.get("shape") as? List<*>
            if (entry == null || shape == null || shape.size < 2 || !shape.all { it is Long && it >= 1 && it <= Int.MAX_VALUE }) {
                throw problem("$at: malformed entry in $QUANT_METADATA_KEY (shape ${Json.write(shape)})")
            }
            val rows = shape[0] as Long
            val columns = shape.drop(1).fold(1L) { a, d -> a * (d as Long) }
            if (rows * columns > Int.MAX_VALUE) throw problem("$at: shape ${Json.write(shape)} too large to decode here")
            val scheme = entry["scheme"]
            fun part(suffix: String, dtype: String, dims: List<Long>): Int {
                val array = arrays[name + suffix] ?: throw problem("$at: array '${name + suffix}' is missing")
                if (array.first != dtype || array.second != dims) {
                    throw problem("$at: ${suffix.drop(1)}: expected $dtype $dims for $scheme of shape $shape, got " +
                        "${array.first} ${array.second}")
                }
                return array.third
            }
            fun floats(suffix: String, dims: List<Long>): FloatArray {
                val start = part(suffix, "F32", dims)
                val count = dims.fold(1L) { a, d -> a * d }.toInt()
                val buffer = ByteBuffer.wrap(data, start, count * 4).order(ByteOrder.LITTLE_ENDIAN)
                return FloatArray(count) { buffer.float }
            }
            coded[name] = when (scheme) {
                "orbital8" -> CodedTensor("orbital8", rows.toInt(), columns.toInt(), data,
                    part(".codes", "U8", listOf(rows, columns)), floats(".scale", listOf(rows)),
                    if (entry["offset"] == true) floats(".offset", listOf(rows)) else null,
                    floats(".tables", listOf(1L, TABLE_SIZE.toLong())))
                "int8" -> CodedTensor("int8", rows.toInt(), columns.toInt(), data,
                    part(".codes", "I8", listOf(rows, columns)), floats(".scale", listOf(rows)), null, null)
                else -> throw problem("$at: scheme: unknown scheme ${Json.write(scheme)}; expected orbital8 or int8")
            }
        }
        return coded
    }

    /** [data] as rebuildDir/<sha256>/<path>: written to a temporary directory, synced, renamed into place. */
    private fun write(data: ByteArray, rebuildDir: File, entry: RestoredFile, where: String) {
        val staging = File(rebuildDir, ".${entry.sha256}.partial-${System.nanoTime()}")
        val final = File(rebuildDir, entry.sha256)
        try {
            val file = File(staging, entry.path)
            val parent = file.parentFile
            if (!parent.isDirectory && !parent.mkdirs()) throw IOException("cannot create $parent")
            val stream = FileOutputStream(file)
            try {
                stream.write(data)
                stream.fd.sync()
            } finally {
                stream.close()
            }
            if (final.exists()) final.deleteRecursively()
            if (!staging.renameTo(final)) throw IOException("cannot rename $staging to $final")
        } catch (e: IOException) {
            throw BundleException(BundleProblem.WEIGHTS, "$where: the rebuilt file cannot be written under $rebuildDir " +
                "(${e.message}); give BundleReader.read a writable rebuild directory")
        } finally {
            if (staging.exists()) staging.deleteRecursively()
        }
    }

    private fun problem(message: String) = BundleException(BundleProblem.WEIGHTS, message)

    private fun get(doc: Map<String, Any?>, key: String, kind: String, where: String): Any {
        val value = doc[key]
        val ok = when (kind) {
            "str" -> value is String
            "int" -> value is Long
            "list" -> value is List<*>
            else -> false
        }
        if (!ok) throw problem("$where: $key: expected $kind, got ${Fields.typeName(value)}")
        return value!!
    }

    private fun pyList(items: List<String>): String = items.joinToString(", ", "[", "]") { "'$it'" }

    private fun grouped(value: Long): String = String.format(Locale.ROOT, "%,d", value)

    private fun hex(bytes: ByteArray): String = bytes.joinToString("") { String.format(Locale.ROOT, "%02x", it) }
}
