import CryptoKit
import Foundation

/// Sizes a signature accepts along one axis; `max` nil means unbounded.
public struct DimRange: Sendable, Equatable {
    public let min: Int, max: Int?
    public var upper: Int { max ?? Int.max }
}

/// A dimension of a tensor: a fixed size or an axis name ("batch", "length").
public enum Dim: Sendable, Equatable {
    case size(Int), name(String)
}

public struct TensorSpec: Sendable {
    public let name: String, dtype: String, shape: [Dim]
    public func axis(_ name: String) -> Int? { shape.firstIndex(of: .name(name)) }
}

public struct Signature: Sendable {
    public let name: String, inputs: [TensorSpec], outputs: [TensorSpec], batch: DimRange, length: DimRange
}

/// A verified bundle (docs/bundle.md): where it is, what it holds, and the parsed parts a runtime needs.
public struct NeuroLiteBundle: @unchecked Sendable {
    public let directory: URL
    public let manifest: [String: Any]
    public let format: String
    public let entry: URL
    public let signatures: [Signature]
    public let labels: [String]
    public let featurizerSpecJSON: String
    public let featurizerDigest: String
    /// For a schema 2 bundle (orbital8 decoded at load): the folder holding its rebuilt model files (and the
    /// rest of their package directory), where `entry` points; nil for other bundles.
    public let rebuiltDirectory: URL?

    public var maxLength: Int { (manifest["featurizer"] as? [String: Any]).flatMap { ($0["spec"] as? [String: Any])?["max_length"] as? Int } ?? 1 }
    public var quantize: String { (manifest["export"] as? [String: Any])?["quantize"] as? String ?? "none" }
    /// The exported checkpoint's directory name, as `neurolite bench` names the model of its rows.
    public var modelName: String {
        guard let checkpoint = (manifest["export"] as? [String: Any])?["checkpoint"] as? String, !checkpoint.isEmpty
        else { return directory.lastPathComponent }
        return URL(fileURLWithPath: checkpoint).lastPathComponent
    }
    public var sizeBytes: Int {
        (manifest["files"] as? [String: Any] ?? [:]).values.reduce(0) { $0 + (($1 as? [String: Any])?["bytes"] as? Int ?? 0) }
    }
}

/// Reads and verifies a bundle directory with the checks of the Python runtime's read_bundle and the
/// Android library's BundleReader, in the same order and words; the thrown error's `problem` says which
/// check refused it.
///
/// Schema 2 adds the `weights` section (orbital8 decoded at load, the default of `neurolite export --quantize
/// orbital8`): after the listed files are verified, each model file is rebuilt from its zlib shell and the
/// codes file, checked against the size and SHA-256 the manifest records, and written once under the rebuild
/// directory (`Weights`); `entry` then points at the rebuilt fp32 model, which Core ML or ExecuTorch loads
/// and runs at fp32 speed.
public enum BundleReader {
    /// The newest manifest schema this package reads; 2 adds the `weights` section.
    public static let schemaVersion = 2
    public static let weightsSchemaVersion = 2
    public static let manifestName = "manifest.json"
    public static let featurizerVersion = "1.0"

    /// Read and verify the bundle at `directory`. `rebuildDirectory` is where model files rebuilt from orbital8
    /// codes are written (default: Caches/NeuroLite/rebuilt; an app's bundled resources are read-only).
    public static func read(_ directory: URL, rebuildDirectory: URL? = nil) throws -> NeuroLiteBundle {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let dir = directory.path
        guard fm.fileExists(atPath: dir, isDirectory: &isDirectory) else { throw fail(.notABundle, "\(dir): no such bundle directory") }
        guard isDirectory.boolValue else {
            throw fail(.notABundle, "\(dir): not a bundle directory (a bundle is the directory holding \(manifestName))")
        }
        let manifestURL = directory.appendingPathComponent(manifestName)
        guard fm.fileExists(atPath: manifestURL.path) else {
            throw fail(.manifestMissing, "\(manifestURL.path): missing; \(dir) is not a NeuroLite bundle (or its export did not finish)")
        }
        let manifest = try readManifest(manifestURL)
        let at = manifestURL.path
        let format: String = try field(manifest, "format", at)
        let files: [String: Any] = try field(manifest, "files", at)
        try verifyFiles(directory, files, at)
        var available = Set(files.keys)
        var rebuilt: (root: URL, paths: [String])? = nil
        if manifest[Weights.key] != nil {  // coded weights: rebuild the model file(s) before any runtime sees them
            let version = JSON.integer(manifest["schema_version"]) ?? 0
            guard version >= weightsSchemaVersion else {
                throw fail(.weights, "\(at): \(Weights.key): needs schema_version \(weightsSchemaVersion), the manifest says \(version)")
            }
            let weights = try Weights.parse(manifest[Weights.key], at)
            for file in weights.files { _ = try relativePath(file.path, "\(at): \(Weights.key): path") }
            let root = try Weights.restore(weights, root: directory, listed: files,
                                           directory: try rebuildDirectory ?? Weights.defaultDirectory(),
                                           key: try sha256(manifestURL), at: at)
            let paths = weights.files.map(\.path)
            rebuilt = (root, paths)
            available.subtract([weights.codes] + weights.files.map(\.shell))
            available.formUnion(paths)
        }
        let entry = try relativePath(try field(manifest, "entry", at) as String, "\(at): entry")
        guard available.contains(where: { $0 == entry || $0.hasPrefix(entry + "/") }) else {
            throw fail(.field, "\(at): entry '\(entry)' is not among the bundle's files")
        }
        let signatures = try (try field(manifest, "signatures", at) as [Any]).enumerated().map {
            try signature($0.element, "\(at): signatures[\($0.offset)]")
        }
        guard !signatures.isEmpty else { throw fail(.field, "\(at): signatures: empty; the bundle declares no entry point") }
        let labelList: [Any] = try field(manifest, "labels", at)
        let labels = labelList.compactMap { $0 as? String }
        guard labels.count >= 2, labels.count == labelList.count else {
            throw fail(.field, "\(at): labels: must be a list of at least two strings")
        }
        for signature in signatures {
            if let logits = signature.outputs.first(where: { $0.name == "logits" }), case let .size(classes)? = logits.shape.last,
               classes != labels.count {
                throw fail(.labels, "\(at): labels: \(labels.count) labels, but signature '\(signature.name)' returns \(classes) logits; the manifest's labels do not belong to this model")
            }
        }
        let (spec, digest) = try featurizer(manifest, at)
        // The entry is the rebuilt file, or the package directory that holds one (a .mlpackage and its weight.bin).
        let entryRoot = rebuilt.flatMap { r in r.paths.contains(where: { $0 == entry || $0.hasPrefix(entry + "/") }) ? r.root : nil }
        return NeuroLiteBundle(directory: directory, manifest: manifest, format: format,
                               entry: (entryRoot ?? directory).appendingPathComponent(entry),
                               signatures: signatures, labels: labels, featurizerSpecJSON: spec, featurizerDigest: digest,
                               rebuiltDirectory: rebuilt?.root)
    }

    /// Lowercase hex SHA-256 of a file (CryptoKit), read in 1 MiB chunks.
    public static func sha256(_ url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    static func fail(_ problem: BundleProblem, _ message: String) -> NeuroLiteError { .bundle(problem, message) }

    private static func readManifest(_ url: URL) throws -> [String: Any] {
        let data = try Data(contentsOf: url)
        guard String(data: data, encoding: .utf8) != nil else { throw fail(.manifestInvalid, "\(url.path): not valid UTF-8") }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw fail(.manifestInvalid, "\(url.path): invalid JSON: \(error.localizedDescription)")
        }
        guard let manifest = object as? [String: Any] else { throw fail(.manifestInvalid, "\(url.path): expected a JSON object") }
        guard let version = JSON.integer(manifest["schema_version"]), version >= 1 else {
            throw fail(.field, "\(url.path): schema_version: expected a positive integer")
        }
        if version > schemaVersion {
            throw fail(.schemaNewer, "\(url.path): schema_version \(version) is newer than this library reads (\(schemaVersion)); upgrade the NeuroLite Swift package to load this bundle")
        }
        return manifest
    }

    private static func verifyFiles(_ root: URL, _ files: [String: Any], _ at: String) throws {
        guard !files.isEmpty else { throw fail(.field, "\(at): files: empty; the bundle lists no model file") }
        for (name, record) in files.sorted(by: { $0.key < $1.key }) {
            let relative = try relativePath(name, "\(at): files")
            guard let doc = record as? [String: Any] else { throw fail(.field, "\(at): files['\(name)']: expected an object with bytes and sha256") }
            guard let size = JSON.integer(doc["bytes"]) else { throw fail(.field, "\(at): files['\(name)']: bytes: expected int") }
            let expected: String = try field(doc, "sha256", "\(at): files['\(name)']")
            let url = root.appendingPathComponent(relative)
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
                  (attributes[.type] as? FileAttributeType) == .typeRegular else {
                throw fail(.fileMissing, "\(url.path): listed in \(manifestName) but missing from the bundle")
            }
            let actual = (attributes[.size] as? NSNumber)?.intValue ?? -1
            if actual < size { throw fail(.fileTruncated, "\(url.path): truncated: \(actual) bytes, \(manifestName) records \(size)") }
            if actual != size {
                throw fail(.fileSize, "\(url.path): \(actual) bytes, \(manifestName) records \(size); the file was replaced or modified after export")
            }
            if try sha256(url) != expected {
                throw fail(.checksum, "\(url.path): SHA-256 does not match \(manifestName); the file is corrupted or was modified after export")
            }
        }
    }

    private static func featurizer(_ manifest: [String: Any], _ at: String) throws -> (String, String) {
        let doc: [String: Any] = try field(manifest, "featurizer", at)
        let spec: [String: Any] = try field(doc, "spec", "\(at): featurizer")
        let digest: String = try field(doc, "digest", "\(at): featurizer")
        guard spec["version"] as? String == featurizerVersion else {
            throw fail(.featurizer, "\(at): featurizer: the bundle was exported with featurizer spec \(spec["version"] ?? "none"), this library implements '\(featurizerVersion)'; re-export the model or use the library release that implements it")
        }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: spec, options: [.sortedKeys]), as: UTF8.self)
        let computed: String
        do {
            computed = try Featurizer(configJSON: json, cacheEntries: 0).digest
        } catch {
            throw fail(.featurizer, "\(at): featurizer.spec: \(error)")
        }
        guard computed == digest else {
            throw fail(.featurizer, "\(at): featurizer.digest does not match featurizer.spec (this library computes \(computed.prefix(12))..., the manifest says \(digest.prefix(12))...); the manifest was edited")
        }
        return (json, digest)
    }

    private static func signature(_ doc: Any, _ at: String) throws -> Signature {
        guard let obj = doc as? [String: Any] else { throw fail(.field, "\(at): expected an object") }
        let inputs: [Any] = try field(obj, "inputs", at)
        let outputs: [Any] = try field(obj, "outputs", at)
        return Signature(name: try field(obj, "name", at),
                         inputs: try inputs.enumerated().map { try tensor($0.element, "\(at).inputs[\($0.offset)]") },
                         outputs: try outputs.enumerated().map { try tensor($0.element, "\(at).outputs[\($0.offset)]") },
                         batch: try range(obj["batch"], "\(at).batch"), length: try range(obj["length"], "\(at).length"))
    }

    private static func tensor(_ doc: Any, _ at: String) throws -> TensorSpec {
        guard let obj = doc as? [String: Any] else { throw fail(.field, "\(at): expected an object") }
        let raw: [Any] = try field(obj, "shape", at)
        let shape: [Dim] = try raw.map { dim in
            if let name = dim as? String { return .name(name) }
            if let size = JSON.integer(dim), size >= 0 { return .size(size) }
            throw fail(.field, "\(at).shape: each dimension must be a size or a dimension name")
        }
        guard shape.contains(.name("batch")) else { throw fail(.field, "\(at).shape: every tensor needs a 'batch' axis") }
        return TensorSpec(name: try field(obj, "name", at), dtype: try field(obj, "dtype", at), shape: shape)
    }

    private static func range(_ value: Any?, _ at: String) throws -> DimRange {
        let list = value as? [Any]
        let low = list.flatMap { $0.count == 2 ? JSON.integer($0[0]) : nil }
        let high: Int?? = list.flatMap { $0.count == 2 ? ($0[1] is NSNull ? .some(nil) : JSON.integer($0[1]).map { .some($0) }) : nil }
        guard let min = low, min >= 1, let max = high, max.map({ $0 >= min }) ?? true else {
            throw fail(.field, "\(at): expected [min, max] with 1 <= min <= max (max null for unbounded)")
        }
        return DimRange(min: min, max: max)
    }

    static func field<T>(_ doc: [String: Any], _ key: String, _ at: String) throws -> T {
        guard let value = doc[key] else { throw fail(.field, "\(at): missing field '\(key)'") }
        if T.self == Int.self, let integer = JSON.integer(value) { return integer as! T }
        guard let typed = value as? T, !(value is NSNumber) else {
            throw fail(.field, "\(at): \(key): expected \(JSON.kind(T.self)), got \(type(of: value))")
        }
        return typed
    }

    private static func relativePath(_ name: String, _ at: String) throws -> String {
        if name.isEmpty || name.hasPrefix("/") || name.split(separator: "/").contains("..") {
            throw fail(.field, "\(at): '\(name)' is not a path inside the bundle")
        }
        return name
    }
}

/// JSONSerialization yields NSNumber for ints, floats and booleans alike: these tell them apart.
enum JSON {
    static func integer(_ value: Any?) -> Int? {
        guard let number = value as? NSNumber, CFGetTypeID(number) != CFBooleanGetTypeID(),
              !CFNumberIsFloatType(number) else { return nil }
        return number.intValue
    }

    static func kind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "str"
        case is Int.Type: return "int"
        case is [Any].Type: return "list"
        case is [String: Any].Type: return "dict"
        default: return "\(type)"
        }
    }
}
