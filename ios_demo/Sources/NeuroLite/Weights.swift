import Compression
import CryptoKit
import Foundation

/// Where one coded weight's float32 bytes sit in the rebuilt file, and how the converter stored them.
struct WeightRegion {
    let offset: Int, tensor: String, rows: Int, transpose: Bool, scale: Float?
}

/// One model file to rebuild: its path, its shell, its size and SHA-256, and the coded regions inside it.
struct RestoredFile {
    let path: String, shell: String, compression: String, bytes: Int, sha256: String, regions: [WeightRegion]
}

/// The manifest's `weights` section (schema 2): the codes file and the files rebuilt from it.
struct LoadTimeWeights {
    let codes: String, files: [RestoredFile]
}

/// One coded tensor of the codes file, `[rows, columns]`.
private struct CodedTensor {
    let scheme: String, rows: Int, columns: Int, codes: Data, scale: [Float], offset: [Float]?, table: [Float]?
}

/// orbital8 decoded at load (manifest schema 2, docs/orbital8.md "Two forms"), as runtime/weights.py and the
/// Android library's Weights.kt do it. A bundle exported with `--quantize orbital8` (default
/// `--orbital8-decode load`) ships each model file cut in two: a zlib *shell* (every byte but the coded
/// weights') and one safetensors file of codes, tables, scales and offsets. The manifest's `weights` section
/// says where each decoded weight's float32 bytes go back:
///
///     {"decode": "load", "codes": "weights.orbital8.safetensors",
///      "files": [{"path": "model.mlpackage/Data/com.apple.CoreML/weights/weight.bin",
///                 "shell": "model.mlpackage/Data/com.apple.CoreML/weights/weight.bin.shell",
///                 "compression": "zlib", "bytes": 3735296, "sha256": "...",
///                 "regions": [{"offset": 64, "tensor": "...", "rows": 4096, "transpose": false, "scale": null}]}]}
///
/// A region holds `W[:rows]` of the decoded weight `W` (`[out, n]`), transposed when `transpose`, times
/// Float(`scale`) when it is not null. orbital8 decodes as `T[code]·scale (+ offset)` in Float (int8 as
/// `code·scale`): Swift's Float is IEEE single precision, as numpy's float32, so the rebuilt file is the
/// exported one byte for byte, which its recorded size and SHA-256 prove before anything uses it.
///
/// Core ML compiles a whole `.mlpackage` directory and ExecuTorch maps a `.pte` file, so the rebuilt files are
/// written once under the rebuild directory, as `<key>/<path>` (`key`: the manifest's SHA-256), with a copy of
/// every other listed file of the same package directory (a `.mlpackage` holds `Manifest.json` and the model
/// spec beside `weight.bin`). They are built and checked in memory, written to a temporary directory and moved
/// into place, so a killed write never leaves a directory that looks rebuilt; a later read reuses the directory
/// after checking every file's size and SHA-256 again, and rebuilds it when one differs.
enum Weights {
    static let key = "weights"
    private static let compressions = ["zlib", "none"]
    private static let quantMetadataKey = "neurolite.quantization"
    private static let quantFormat = "neurolite-quant/1"
    private static let maxHeader = 16 << 20
    private static let tableSize = 256
    private static let dtypeBytes = ["U8": 1, "I8": 1, "F32": 4, "I32": 4]

    /// The rebuild directory used unless `BundleReader.read` is given one: Caches/NeuroLite/rebuilt.
    static func defaultDirectory() throws -> URL {
        try FileManager.default.url(for: .cachesDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            .appendingPathComponent("NeuroLite/rebuilt", isDirectory: true)
    }

    /// The `weights` section, every field checked; the error names the first that is wrong.
    static func parse(_ doc: Any?, _ manifestAt: String) throws -> LoadTimeWeights {
        let at = "\(manifestAt): \(key)"
        guard let obj = doc as? [String: Any] else { throw problem("\(at): expected an object") }
        guard obj["decode"] as? String == "load" else {
            throw problem("\(at): decode: expected 'load', got \(obj["decode"].map { "\($0)" } ?? "None")")
        }
        let codes: String = try get(obj, "codes", at)
        let entries: [Any] = try get(obj, "files", at)
        guard !entries.isEmpty else { throw problem("\(at): files: empty") }
        let files: [RestoredFile] = try entries.enumerated().map { i, item in
            let here = "\(at).files[\(i)]"
            guard let entry = item as? [String: Any] else { throw problem("\(here): expected an object") }
            let compression: String = try get(entry, "compression", here)
            guard compressions.contains(compression) else {
                throw problem("\(here): compression: '\(compression)' is not one of \(compressions.joined(separator: ", "))")
            }
            let size: Int = try get(entry, "bytes", here)
            let digest: String = try get(entry, "sha256", here)
            guard size >= 0, digest.count == 64 else { throw problem("\(here): bytes must be >= 0 and sha256 64 hex digits") }
            let list: [Any] = try get(entry, "regions", here)
            let regions: [WeightRegion] = try list.enumerated().map { j, value in
                let where_ = "\(here).regions[\(j)]"
                guard let region = value as? [String: Any] else { throw problem("\(where_): expected an object") }
                var scale: Float? = nil
                if let raw = region["scale"], !(raw is NSNull) {
                    guard let number = raw as? NSNumber, CFGetTypeID(number) != CFBooleanGetTypeID(), number.doubleValue.isFinite else {
                        throw problem("\(where_): scale: expected a finite number or null, got \(raw)")
                    }
                    scale = Float(number.doubleValue)  // round to nearest, as numpy's float32(scale)
                }
                var transpose = false
                if let raw = region["transpose"] {
                    guard let number = raw as? NSNumber, CFGetTypeID(number) == CFBooleanGetTypeID() else {
                        throw problem("\(where_): transpose: expected true or false")
                    }
                    transpose = number.boolValue
                }
                return WeightRegion(offset: try get(region, "offset", where_), tensor: try get(region, "tensor", where_),
                                    rows: try get(region, "rows", where_), transpose: transpose, scale: scale)
            }
            return RestoredFile(path: try get(entry, "path", here), shell: try get(entry, "shell", here),
                                compression: compression, bytes: size, sha256: digest, regions: regions)
        }
        let paths = files.map(\.path)
        guard Set(paths).count == paths.count else { throw problem("\(at): files: a path appears twice (\(pyList(paths)))") }
        return LoadTimeWeights(codes: codes, files: files)
    }

    /// Each coded file rebuilt (or found rebuilt and unchanged) under `directory/<key>/`, beside copies of the
    /// other listed files of its package directory. Returns the folder that stands for the bundle's root: the
    /// rebuilt paths (and their package directories) resolve there. `listed` are the verified files' records.
    static func restore(_ weights: LoadTimeWeights, root: URL, listed: [String: Any], directory: URL, key: String,
                        at: String) throws -> URL {
        for name in [weights.codes] + weights.files.map(\.shell) where listed[name] == nil {
            throw problem("\(at): \(Weights.key): '\(name)' is not among the bundle's files")
        }
        let taken = weights.files.map(\.path).filter { listed[$0] != nil }
        guard taken.isEmpty else { throw problem("\(at): \(Weights.key): \(pyList(taken)) would be rebuilt over a file the bundle lists") }
        // The other listed files of each rebuilt file's package directory (its first path component, when it has one).
        let skipped = Set([weights.codes] + weights.files.map(\.shell))
        let packages = Set(weights.files.compactMap { $0.path.contains("/") ? String($0.path.split(separator: "/")[0]) : nil })
        var copies: [String: (Int, String)] = [:]
        for (name, record) in listed where !skipped.contains(name) && packages.contains(where: { name.hasPrefix($0 + "/") }) {
            if let doc = record as? [String: Any], let size = JSON.integer(doc["bytes"]), let digest = doc["sha256"] as? String {
                copies[name] = (size, digest)
            }
        }
        var expected = copies
        for file in weights.files { expected[file.path] = (file.bytes, file.sha256) }
        let target = directory.appendingPathComponent(key, isDirectory: true)
        if try intact(target, expected) { return target }
        let coded = try readCodes(try Data(contentsOf: root.appendingPathComponent(weights.codes)), "\(at): \(weights.codes)")
        var decoded: [String: [Float]] = [:]
        var contents: [String: Data] = [:]
        for file in weights.files {
            let stored = try Data(contentsOf: root.appendingPathComponent(file.shell))
            contents[file.path] = try rebuild(file, stored, coded, &decoded, "\(at): \(file.path)")
        }
        for name in copies.keys { contents[name] = try Data(contentsOf: root.appendingPathComponent(name)) }
        try write(contents, to: target, at: at)
        return target
    }

    /// Every expected file under `folder` has its size and SHA-256.
    private static func intact(_ folder: URL, _ expected: [String: (Int, String)]) throws -> Bool {
        for (name, (size, digest)) in expected {
            let url = folder.appendingPathComponent(name)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
                  (attributes[.size] as? NSNumber)?.intValue == size, (try? BundleReader.sha256(url)) == digest else { return false }
        }
        return true
    }

    /// `contents` written under a temporary sibling of `target`, then moved into place.
    private static func write(_ contents: [String: Data], to target: URL, at: String) throws {
        let fm = FileManager.default
        let staging = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).partial-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: staging) }
        do {
            for (name, data) in contents {
                let url = staging.appendingPathComponent(name)
                try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: url, options: .atomic)
            }
            try? fm.removeItem(at: target)
            try fm.moveItem(at: staging, to: target)
        } catch {
            throw problem("\(at): \(Weights.key): the rebuilt files cannot be written under \(target.deletingLastPathComponent().path) (\(error.localizedDescription)); give BundleReader.read a writable rebuild directory")
        }
    }

    /// The file's bytes from its shell and the codes; the error names what does not fit.
    private static func rebuild(_ entry: RestoredFile, _ stored: Data, _ coded: [String: CodedTensor],
                                _ decoded: inout [String: [Float]], _ at: String) throws -> Data {
        let regions = entry.regions.sorted { $0.offset < $1.offset }
        var end = 0, valueBytes = 0
        for region in regions {  // every region placed and sized before anything is allocated or decoded
            guard let tensor = coded[region.tensor] else {
                throw problem("\(at): region at \(region.offset): '\(region.tensor)' is not a coded tensor of the codes file")
            }
            guard region.rows >= 1, region.rows <= tensor.rows else {
                throw problem("\(at): region at \(region.offset): rows \(region.rows) outside 1..\(tensor.rows)")
            }
            guard region.offset >= end else { throw problem("\(at): region at \(region.offset) (\(region.tensor)) overlaps the one before it") }
            end = region.offset + region.rows * tensor.columns * 4
            valueBytes += region.rows * tensor.columns * 4
        }
        let shellBytes = entry.bytes - valueBytes
        guard end <= entry.bytes, shellBytes >= 0 else {
            throw problem("\(at): its regions do not fit the file's \(grouped(entry.bytes)) bytes")
        }
        let shell = try self.shell(entry, stored, shellBytes, at)
        var out = [UInt8](repeating: 0, count: entry.bytes)
        var cursor = 0, taken = 0  // positions in the rebuilt file and in the shell
        try shell.withUnsafeBytes { (source: UnsafeRawBufferPointer) in
            for region in regions {
                let tensor = coded[region.tensor]!
                if decoded[region.tensor] == nil { decoded[region.tensor] = decodeRows(tensor) }
                let weight = decoded[region.tensor]!
                let gap = region.offset - cursor
                out.replaceSubrange(cursor..<region.offset, with: source[taken..<(taken + gap)])
                taken += gap
                let rows = region.rows, columns = tensor.columns
                var position = region.offset
                for i in 0..<(rows * columns) {
                    // stored index i: W[i] row-major, or (transposed) W[i % rows, i / rows]
                    var value = region.transpose ? weight[(i % rows) * columns + i / rows] : weight[i]
                    if let factor = region.scale { value *= factor }
                    let bits = value.bitPattern  // written low byte first: little-endian on any host
                    out[position] = UInt8(truncatingIfNeeded: bits)
                    out[position + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                    out[position + 2] = UInt8(truncatingIfNeeded: bits >> 16)
                    out[position + 3] = UInt8(truncatingIfNeeded: bits >> 24)
                    position += 4
                }
                cursor = position
            }
            guard shell.count - taken == entry.bytes - cursor else { throw problem("\(at): its regions do not fit its shell") }
            out.replaceSubrange(cursor..<entry.bytes, with: source[taken..<shell.count])
        }
        let data = Data(out)
        guard SHA256.hash(data: data).map({ String(format: "%02x", $0) }).joined() == entry.sha256 else {
            throw problem("\(at): rebuilt from its shell and codes, it differs from the file the manifest records (SHA-256); the codes or the regions were modified after export")
        }
        return data
    }

    /// The shell's bytes, which must be exactly `size` (inflated no further than one byte past it).
    private static func shell(_ entry: RestoredFile, _ stored: Data, _ size: Int, _ at: String) throws -> Data {
        var shell = stored
        if entry.compression == "zlib" { shell = try inflate(stored, limit: size + 1, "\(at): its shell '\(entry.shell)'") }
        guard shell.count == size else {
            throw problem("\(at): its shell '\(entry.shell)' holds \(grouped(shell.count)) bytes or more, the manifest's size and regions leave \(grouped(size))")
        }
        return shell
    }

    /// Up to `limit` bytes of a zlib stream (RFC 1950). The Compression framework's COMPRESSION_ZLIB decodes raw
    /// DEFLATE (RFC 1951), so the 2-byte zlib header is checked and removed here, and the 4-byte Adler-32
    /// trailer of a completely inflated stream is checked here, as zlib itself would.
    private static func inflate(_ stored: Data, limit: Int, _ at: String) throws -> Data {
        let bytes = [UInt8](stored)
        guard bytes.count > 6 else { throw problem("\(at) does not decompress (\(bytes.count) bytes, too short for a zlib stream)") }
        let cmf = bytes[0], flg = bytes[1]
        guard cmf & 0x0F == 8, cmf >> 4 <= 7, (UInt16(cmf) << 8 | UInt16(flg)) % 31 == 0, flg & 0x20 == 0 else {
            throw problem("\(at) does not decompress (incorrect header check)")
        }
        var out = [UInt8](repeating: 0, count: limit)
        let body = Array(bytes[2..<(bytes.count - 4)])
        let written = out.withUnsafeMutableBufferPointer { destination in
            body.withUnsafeBufferPointer { source in
                compression_decode_buffer(destination.baseAddress!, limit, source.baseAddress!, source.count, nil, COMPRESSION_ZLIB)
            }
        }
        guard written > 0 || limit == 1 else { throw problem("\(at) does not decompress (invalid DEFLATE data)") }
        if written < limit {  // the whole stream: its Adler-32 must match
            let trailer = bytes[(bytes.count - 4)...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard adler32(out[0..<written]) == trailer else { throw problem("\(at) does not decompress (incorrect data check)") }
        }
        return Data(out[0..<written])
    }

    private static func adler32(_ data: ArraySlice<UInt8>) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        var index = data.startIndex
        while index < data.endIndex {
            let stop = min(index + 5552, data.endIndex)  // the most bytes before the sums can overflow 32 bits
            for i in index..<stop {
                a += UInt32(data[i])
                b += a
            }
            a %= 65521
            b %= 65521
            index = stop
        }
        return b << 16 | a
    }

    /// A coded tensor's Float weight as `[rows, columns]`, row-major: `T[code]·scale (+ offset)`, or `code·scale`.
    private static func decodeRows(_ tensor: CodedTensor) -> [Float] {
        var out = [Float](repeating: 0, count: tensor.rows * tensor.columns)
        let codes = [UInt8](tensor.codes)
        for c in 0..<tensor.rows {
            let scale = tensor.scale[c], base = c * tensor.columns
            for j in 0..<tensor.columns {
                let code = codes[base + j]
                if let table = tensor.table {
                    let value = table[Int(code)] * scale
                    out[base + j] = tensor.offset.map { value + $0[c] } ?? value
                } else {
                    out[base + j] = Float(Int8(bitPattern: code)) * scale
                }
            }
        }
        return out
    }

    /// The coded tensors of a safetensors file written from pack_state (quantization/layout.py), checked as
    /// unpack_state and the tensors' validate() check them.
    private static func readCodes(_ data: Data, _ at: String) throws -> [String: CodedTensor] {
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw problem("\(at): \(bytes.count) bytes, too short for a safetensors file") }
        let size = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard size <= UInt64(min(maxHeader, bytes.count - 8)) else { throw problem("\(at): header of \(size) bytes does not fit the file") }
        let body = 8 + Int(size)
        guard var header = (try? JSONSerialization.jsonObject(with: Data(bytes[8..<body]))) as? [String: Any] else {
            throw problem("\(at): the safetensors header is not a JSON object")
        }
        let metadata = header.removeValue(forKey: "__metadata__") ?? [String: Any]()
        guard let strings = metadata as? [String: Any], strings.values.allSatisfy({ $0 is String }) else {
            throw problem("\(at): __metadata__ is not an object of strings")
        }
        var arrays: [String: (dtype: String, shape: [Int], start: Int, stop: Int)] = [:]
        for (name, value) in header {
            let info = value as? [String: Any]
            let dtype = info?["dtype"] as? String
            let shape = (info?["shape"] as? [Any])?.compactMap { JSON.integer($0) }
            let offsets = (info?["data_offsets"] as? [Any])?.compactMap { JSON.integer($0) }
            guard let dtype, let item = dtypeBytes[dtype], let shape, shape.count == (info?["shape"] as? [Any])?.count,
                  shape.allSatisfy({ $0 >= 0 }), let offsets, offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1],
                  offsets[1] <= bytes.count - body, offsets[1] - offsets[0] == shape.reduce(1, *) * item else {
                throw problem("\(at): tensor '\(name)': malformed entry")
            }
            arrays[name] = (dtype, shape, body + offsets[0], body + offsets[1])
        }
        guard let text = strings[quantMetadataKey] as? String,
              let quant = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw problem("\(at): \(quantMetadataKey): missing or not JSON in the metadata")
        }
        guard quant["format"] as? String == quantFormat else {
            throw problem("\(at): \(quantMetadataKey): format \(quant["format"] ?? "None"), expected '\(quantFormat)'")
        }
        var coded: [String: CodedTensor] = [:]
        for (name, value) in quant["tensors"] as? [String: Any] ?? [:] {
            let here = "\(at): \(name)"
            let entry = value as? [String: Any]
            let shape = (entry?["shape"] as? [Any])?.compactMap { JSON.integer($0) } ?? []
            guard let entry, shape.count >= 2, shape.count == (entry["shape"] as? [Any])?.count, shape.allSatisfy({ $0 >= 1 }) else {
                throw problem("\(here): malformed entry in \(quantMetadataKey)")
            }
            let rows = shape[0], columns = shape.dropFirst().reduce(1, *)
            let scheme = entry["scheme"] as? String ?? ""
            func part(_ suffix: String, _ dtype: String, _ dims: [Int]) throws -> Data {
                guard let array = arrays[name + suffix] else { throw problem("\(here): array '\(name + suffix)' is missing") }
                guard array.dtype == dtype, array.shape == dims else {
                    throw problem("\(here): \(suffix.dropFirst()): expected \(dtype) \(dims) for \(scheme) of shape \(shape), got \(array.dtype) \(array.shape)")
                }
                return Data(bytes[array.start..<array.stop])
            }
            func floats(_ suffix: String, _ dims: [Int]) throws -> [Float] {
                let raw = [UInt8](try part(suffix, "F32", dims))
                return stride(from: 0, to: raw.count, by: 4).map { i in
                    Float(bitPattern: UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24)
                }
            }
            switch scheme {
            case "orbital8":
                let hasOffset = (entry["offset"] as? NSNumber)?.boolValue ?? false
                coded[name] = CodedTensor(scheme: scheme, rows: rows, columns: columns, codes: try part(".codes", "U8", [rows, columns]),
                                          scale: try floats(".scale", [rows]), offset: hasOffset ? try floats(".offset", [rows]) : nil,
                                          table: try floats(".tables", [1, tableSize]))
            case "int8":
                coded[name] = CodedTensor(scheme: scheme, rows: rows, columns: columns, codes: try part(".codes", "I8", [rows, columns]),
                                          scale: try floats(".scale", [rows]), offset: nil, table: nil)
            default:
                throw problem("\(here): scheme: unknown scheme '\(scheme)'; expected orbital8 or int8")
            }
        }
        return coded
    }

    private static func problem(_ message: String) -> NeuroLiteError { .bundle(.weights, message) }

    private static func get<T>(_ doc: [String: Any], _ key: String, _ at: String) throws -> T {
        if T.self == Int.self, let integer = JSON.integer(doc[key]) { return integer as! T }
        guard let value = doc[key] as? T, !(doc[key] is NSNumber) else {
            throw problem("\(at): \(key): expected \(JSON.kind(T.self)), got \(doc[key].map { "\(type(of: $0))" } ?? "NoneType")")
        }
        return value
    }

    private static func pyList(_ items: [String]) -> String { "[" + items.map { "'\($0)'" }.joined(separator: ", ") + "]" }

    /// `3,757,661`: Python's `{:,}`.
    private static func grouped(_ value: Int) -> String {
        var digits = String(value.magnitude)
        var groups: [String] = []
        while digits.count > 3 {
            groups.insert(String(digits.suffix(3)), at: 0)
            digits.removeLast(3)
        }
        groups.insert(digits, at: 0)
        return (value < 0 ? "-" : "") + groups.joined(separator: ",")
    }
}
