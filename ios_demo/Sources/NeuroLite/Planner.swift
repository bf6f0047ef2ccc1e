import Foundation

/// A dense row-major tensor of int32 or float32, the two dtypes the graphs take and return.
public struct NLTensor: Sendable {
    public enum Values: Sendable { case int32([Int32]), float32([Float]) }
    public let shape: [Int]
    public let values: Values

    public init(shape: [Int], values: Values) { self.shape = shape; self.values = values }
    public var dtype: String { if case .int32 = values { return "int32" } else { return "float32" } }
    public var floats: [Float] {
        switch values {
        case let .float32(v): return v
        case let .int32(v): return v.map(Float.init)
        }
    }
}

/// Run rows [start, stop) of the request through `signature`, padded to (batch, length).
public struct Step: Sendable, Equatable {
    public let signature: String, start: Int, stop: Int, batch: Int, length: Int
}

/// Fit a request to the shapes a bundle supports: runtime/planner.py step for step (the Android library's
/// Planner is checked against it on the host; this is the same code in Swift).
public enum Planner {
    public static func plan(_ signatures: [Signature], batch: Int, length: Int) throws -> [(Signature, Step)] {
        let fits = signatures.filter { $0.length.upper >= length }
        guard !fits.isEmpty else {
            let longest = signatures.map { $0.length.upper }.max() ?? 0
            throw NeuroLiteError.input("length: \(length) tokens, but the bundle's longest signature takes \(longest)")
        }
        let shortest = fits.map { $0.length.upper }.min()!
        let options = fits.filter { $0.length.upper == shortest }
        var steps: [(Signature, Step)] = []
        var start = 0
        while start < batch {
            let remaining = batch - start
            var chosen: Signature?
            var take = 0
            for s in options where s.batch.min <= remaining {  // the first with the largest unpadded chunk
                let chunk = min(remaining, s.batch.upper)
                if chosen == nil || chunk > take { chosen = s; take = chunk }
            }
            var padded = take
            if chosen == nil {
                for s in options where chosen == nil || s.batch.min < chosen!.batch.min { chosen = s }
                take = remaining
                padded = chosen!.batch.min
            }
            let signature = chosen!
            steps.append((signature, Step(signature: signature.name, start: start, stop: start + take, batch: padded,
                                          length: max(length, signature.length.min))))
            start += take
        }
        return steps
    }

    /// Features [rows, length, k] and mask [rows, length] of rows [start, stop), zero-padded to the step's shape.
    public static func pad(_ batch: FeatureBatch, _ step: Step) -> [String: NLTensor] {
        var features = [Int32](repeating: 0, count: step.batch * step.length * batch.k)
        var mask = [Float](repeating: 0, count: step.batch * step.length)
        let copy = min(batch.length, step.length)
        for (row, b) in (step.start..<step.stop).enumerated() {
            for l in 0..<copy {
                mask[row * step.length + l] = batch.mask[b * batch.length + l]
                for k in 0..<batch.k {
                    features[(row * step.length + l) * batch.k + k] = batch.features[(b * batch.length + l) * batch.k + k]
                }
            }
        }
        return ["features": NLTensor(shape: [step.batch, step.length, batch.k], values: .int32(features)),
                "mask": NLTensor(shape: [step.batch, step.length], values: .float32(mask))]
    }
}
