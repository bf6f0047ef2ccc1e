import CNeuroLiteFeaturizer
import Foundation

/// The graph inputs of a batch (docs/featurizer.md section 0): features int32 [batch, length, k]
/// row-major, mask float32 [batch, length], per text the kept token count and whether it was cut.
public struct FeatureBatch: Sendable {
    public let batch: Int, length: Int, k: Int
    public var features: [Int32]
    public var mask: [Float]
    public let lengths: [Int32]
    public let truncated: [Bool]

    /// Row `b` as [length][k].
    public func row(_ b: Int) -> [[Int32]] {
        (0..<length).map { l in Array(features[((b * length + l) * k)..<((b * length + l + 1) * k)]) }
    }

    public func maskRow(_ b: Int) -> [Float] { Array(mask[(b * length)..<((b + 1) * length)]) }
}

/// The featurizer of one bundle, on the portable C core (the C target CNeuroLiteFeaturizer): the same
/// integers as the Python runtime, Android and the browser, by construction (DESIGN.md decision 10).
///
/// Thread-safe: the core's featurizer is immutable and the one scratch buffer is used under a lock.
/// Swift strings hold no lone surrogates (decoding repairs them to U+FFFD), so a String is passed to the
/// core as its UTF-8; `featurize(utf8:)` takes raw bytes (invalid sequences become U+FFFD, spec section 0).
public final class Featurizer: @unchecked Sendable {
    private let handle: OpaquePointer
    private let scratch: OpaquePointer
    private let lock = NSLock()
    public let digest: String
    public let canonicalJSON: String
    public let numHashes: Int
    public let maxLength: Int

    /// The core's version line, e.g. "neurolite-featurizer 1.0.0 (spec 1.0, Unicode 14.0.0)".
    public static var version: String { String(cString: nl_version_string()) }

    /// From a featurizer config JSON object (a manifest's featurizer.spec); the error names the field.
    public init(configJSON: String, cacheEntries: Int = 4096) throws {
        var error = nl_error()
        var created: OpaquePointer?
        let bytes = Array(configJSON.utf8)
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                nl_featurizer_create($0, bytes.count, &created, &error)
            }
        }
        guard status == NL_OK, let featurizer = created else { throw Featurizer.error(error) }
        guard let buffer = nl_scratch_create(featurizer, cacheEntries) else {
            nl_featurizer_free(featurizer)
            throw NeuroLiteError.featurizer(code: Int(NL_ERR_NO_MEMORY.rawValue), status: "NL_ERR_NO_MEMORY",
                                            message: "scratch: out of memory")
        }
        handle = featurizer
        scratch = buffer
        var hex = [CChar](repeating: 0, count: 65)
        nl_featurizer_digest(featurizer, &hex)
        digest = String(cString: hex)
        canonicalJSON = String(cString: nl_featurizer_canonical_json(featurizer))
        let params = nl_featurizer_get_params(featurizer)!.pointee
        numHashes = Int(params.num_hashes)
        maxLength = Int(params.max_length)
    }

    deinit {
        nl_scratch_free(scratch)
        nl_featurizer_free(handle)
    }

    /// Featurize `texts` (spec section 6): each alone, truncated to `maxLength` tokens (0: the config's),
    /// rows padded to `padTo` (0: the longest kept length, at least 1).
    public func featurize(_ texts: [String], maxLength: Int = 0, padTo: Int = 0) throws -> FeatureBatch {
        try featurize(utf8: texts.map { Data($0.utf8) }, maxLength: maxLength, padTo: padTo)
    }

    public func featurize(utf8 texts: [Data], maxLength: Int = 0, padTo: Int = 0) throws -> FeatureBatch {
        guard !texts.isEmpty else { throw NeuroLiteError.input("texts: empty list; give at least one text") }
        guard maxLength >= 0, padTo >= 0 else { throw NeuroLiteError.input("maxLength and padTo must be >= 0") }
        lock.lock()
        defer { lock.unlock() }
        // Copies with stable addresses for the batch call (the core reads lengths, never a NUL).
        let copies: [UnsafeMutablePointer<CChar>] = texts.map { data in
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: max(data.count, 1))
            data.withUnsafeBytes { raw in
                if let base = raw.baseAddress { pointer.update(from: base.assumingMemoryBound(to: CChar.self), count: data.count) }
            }
            return pointer
        }
        defer { copies.forEach { $0.deallocate() } }
        let lens = texts.map { $0.count }
        var error = nl_error()
        let limit = maxLength > 0 ? maxLength : self.maxLength
        var length = padTo
        if padTo == 0 {
            length = 1
            for (i, pointer) in copies.enumerated() {
                var count = 0
                guard nl_count_tokens(handle, scratch, pointer, lens[i], &count, &error) == NL_OK else {
                    throw Featurizer.error(error)
                }
                length = max(length, min(count, limit))
            }
        }
        let rows = texts.count * length
        var features = [Int32](repeating: 0, count: rows * numHashes)
        var mask = [Float](repeating: 0, count: rows)
        var lengths = [Int32](repeating: 0, count: texts.count)
        var truncated = [UInt8](repeating: 0, count: texts.count)
        let featureCount = features.count, maskCount = mask.count  // not read inside the call: exclusive access
        let pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
        let status = pointers.withUnsafeBufferPointer { textBuffer in
            nl_featurize_batch(handle, scratch, textBuffer.baseAddress, lens, texts.count, UInt32(maxLength),
                               UInt32(length), &features, featureCount, &mask, maskCount, &lengths, &truncated,
                               &error)
        }
        guard status == NL_OK else { throw Featurizer.error(error) }
        return FeatureBatch(batch: texts.count, length: length, k: numHashes, features: features, mask: mask,
                            lengths: lengths, truncated: truncated.map { $0 != 0 })
    }

    /// All tokens of `text` after normalization (spec sections 2-3), without truncation.
    public func tokenize(_ text: String) throws -> [String] {
        lock.lock()
        defer { lock.unlock() }
        let bytes = Array(text.utf8).map { CChar(bitPattern: $0) }
        var needed = 0, count = 0
        var error = nl_error()
        var status = nl_tokenize(scratch, bytes, bytes.count, nil, 0, &needed, &count, &error)
        guard status == NL_OK || status == NL_ERR_BUFFER_TOO_SMALL else { throw Featurizer.error(error) }
        let capacity = max(needed, 1)
        var out = [CChar](repeating: 0, count: capacity)
        status = nl_tokenize(scratch, bytes, bytes.count, &out, capacity, &needed, &count, &error)
        guard status == NL_OK else { throw Featurizer.error(error) }
        return out[0..<needed].split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    static func error(_ error: nl_error) -> NeuroLiteError {
        var copy = error
        let message = withUnsafeBytes(of: &copy.message) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        return .featurizer(code: Int(error.code.rawValue), status: String(cString: nl_status_name(error.code)),
                           message: message)
    }
}
