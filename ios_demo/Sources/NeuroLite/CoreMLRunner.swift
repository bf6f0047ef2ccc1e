import CoreML
import Foundation

/// `.mlpackage` bundles on Core ML: compiled once per bundle content (the .mlmodelc is kept in
/// Application Support under the entry's SHA-256), loaded with `computeUnits` (default: all).
public struct CoreMLRunnerFactory: RunnerFactory {
    public let format = "coreml"
    public var computeUnits: MLComputeUnits

    public init(computeUnits: MLComputeUnits = .all) { self.computeUnits = computeUnits }

    public func open(_ bundle: NeuroLiteBundle, threads: Int) async throws -> ModelRunner {
        try await CoreMLRunner(bundle: bundle, computeUnits: computeUnits)
    }
}

/// The Core ML export has one signature ("main") with ranged batch (1..64) and length (1..max_length)
/// dimensions; inputs are MLMultiArray int32 features [B, L, K] and float32 mask [B, L].
public final class CoreMLRunner: ModelRunner {
    public let runtime: String
    private let model: MLModel

    public init(bundle: NeuroLiteBundle, computeUnits: MLComputeUnits) async throws {
        let os = ProcessInfo.processInfo.operatingSystemVersion
        runtime = "coreml \(os.majorVersion).\(os.minorVersion).\(os.patchVersion)"
        let configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits
        do {
            model = try MLModel(contentsOf: try await CoreMLRunner.compiled(bundle.entry), configuration: configuration)
        } catch {
            throw NeuroLiteError.run("\(runtime): cannot load \(bundle.entry.path): \(error.localizedDescription)")
        }
    }

    /// The compiled model for `package`, compiled on first use and cached by the package's content.
    static func compiled(_ package: URL) async throws -> URL {
        let manifest = package.appendingPathComponent("Manifest.json")
        let key = try BundleReader.sha256(manifest).prefix(16)
        let cache = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil,
                                                create: true).appendingPathComponent("NeuroLite/coreml/\(key).mlmodelc")
        if FileManager.default.fileExists(atPath: cache.path) { return cache }
        let temporary = try await MLModel.compileModel(at: package)
        try FileManager.default.createDirectory(at: cache.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: cache)
        try FileManager.default.moveItem(at: temporary, to: cache)
        return cache
    }

    public func run(_ signature: Signature, _ inputs: [String: NLTensor]) throws -> [String: NLTensor] {
        var features: [String: MLFeatureValue] = [:]
        for spec in signature.inputs {
            guard let tensor = inputs[spec.name] else { throw NeuroLiteError.input("inputs: missing '\(spec.name)'") }
            let array: MLMultiArray
            switch tensor.values {
            case let .int32(values):
                array = try MLMultiArray(shape: tensor.shape.map { NSNumber(value: $0) }, dataType: .int32)
                let pointer = array.dataPointer.bindMemory(to: Int32.self, capacity: values.count)
                values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
            case let .float32(values):
                array = try MLMultiArray(shape: tensor.shape.map { NSNumber(value: $0) }, dataType: .float32)
                let pointer = array.dataPointer.bindMemory(to: Float.self, capacity: values.count)
                values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
            }
            features[spec.name] = MLFeatureValue(multiArray: array)
        }
        let result: MLFeatureProvider
        do {
            result = try model.prediction(from: try MLDictionaryFeatureProvider(dictionary: features))
        } catch {
            throw NeuroLiteError.run("\(runtime): \(error.localizedDescription)")
        }
        var outputs: [String: NLTensor] = [:]
        for spec in signature.outputs {
            guard let array = result.featureValue(for: spec.name)?.multiArrayValue else {
                throw NeuroLiteError.run("\(runtime): the model returned no '\(spec.name)'")
            }
            let shape = array.shape.map(\.intValue)
            // Read through the multi-index subscript: it honours strides and any element type (fp16 models too).
            var values = [Float](repeating: 0, count: shape.reduce(1, *))
            var index = [Int](repeating: 0, count: shape.count)
            for flat in 0..<values.count {
                var rest = flat
                for axis in stride(from: shape.count - 1, through: 0, by: -1) {
                    index[axis] = rest % shape[axis]
                    rest /= shape[axis]
                }
                values[flat] = array[index.map { NSNumber(value: $0) }].floatValue
            }
            outputs[spec.name] = NLTensor(shape: shape, values: .float32(values))
        }
        return outputs
    }
}
