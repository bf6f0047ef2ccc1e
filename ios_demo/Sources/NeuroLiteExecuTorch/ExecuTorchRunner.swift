import ExecuTorch
import Foundation
import NeuroLite

/// `.pte` bundles on ExecuTorch (XNNPACK delegate): static methods (forward at max_length, forward_l{n}),
/// batch 1, positional inputs in the signature's order (features, mask). Every method is loaded at open.
public struct ExecuTorchRunnerFactory: RunnerFactory {
    public let format = "executorch"
    public init() {}

    public func open(_ bundle: NeuroLiteBundle, threads: Int) async throws -> ModelRunner {
        try ExecuTorchRunner(bundle: bundle)
    }
}

public final class ExecuTorchRunner: ModelRunner {
    public let runtime = "executorch 1.5.1"
    private let module: Module

    public init(bundle: NeuroLiteBundle) throws {
        module = Module(filePath: bundle.entry.path, loadMode: .mmap)
        do {
            for signature in bundle.signatures { try module.load(signature.name) }
        } catch {
            throw NeuroLiteError.run("\(runtime): cannot load \(bundle.entry.path): \(error.localizedDescription)")
        }
    }

    public func run(_ signature: Signature, _ inputs: [String: NLTensor]) throws -> [String: NLTensor] {
        let arguments: [ValueConvertible] = try signature.inputs.map { spec -> ValueConvertible in
            guard let tensor = inputs[spec.name] else { throw NeuroLiteError.input("inputs: missing '\(spec.name)'") }
            switch tensor.values {
            case let .int32(values): return Tensor<Int32>(values, shape: tensor.shape)
            case let .float32(values): return Tensor<Float>(values, shape: tensor.shape)
            }
        }
        let values: [Value]
        do {
            values = try module.execute(signature.name, arguments)
        } catch {
            throw NeuroLiteError.run("\(runtime): method '\(signature.name)': \(error.localizedDescription)")
        }
        var outputs: [String: NLTensor] = [:]
        for (i, spec) in signature.outputs.enumerated() {
            guard i < values.count, let tensor: Tensor<Float> = values[i].tensor() else {
                throw NeuroLiteError.run("\(runtime): method '\(signature.name)' returned no float tensor '\(spec.name)'")
            }
            outputs[spec.name] = NLTensor(shape: tensor.shape, values: .float32(try tensor.scalars()))
        }
        return outputs
    }
}
