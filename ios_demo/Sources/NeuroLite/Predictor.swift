import Foundation

/// One format's runtime, opened on a verified bundle: runs one signature on inputs of exactly its shapes.
public protocol ModelRunner: AnyObject {
    /// The runtime and its version, e.g. "coreml iOS 18.2" (recorded in benchmark results).
    var runtime: String { get }
    func run(_ signature: Signature, _ inputs: [String: NLTensor]) throws -> [String: NLTensor]
}

/// Opens a runner for bundles of one format.
public protocol RunnerFactory {
    var format: String { get }
    func open(_ bundle: NeuroLiteBundle, threads: Int) async throws -> ModelRunner
}

/// The runtimes an app links, by format; another format is refused with the formats this app runs.
public struct RunnerRegistry {
    public let factories: [RunnerFactory]
    public init(_ factories: [RunnerFactory]) { self.factories = factories }

    public var formats: [String] { factories.map(\.format).sorted() }

    public func factory(for bundle: NeuroLiteBundle) throws -> RunnerFactory {
        guard let factory = factories.first(where: { $0.format == bundle.format }) else {
            throw NeuroLiteError.bundle(.format, "\(bundle.directory.appendingPathComponent(BundleReader.manifestName).path): format '\(bundle.format)': this app has no runtime for it (it runs: \(formats.joined(separator: ", "))); export the model to one of those with `neurolite export --format FORMAT`")
        }
        return factory
    }
}

public struct Prediction: Sendable {
    public let label: String
    public let score: Double
    /// (label, probability) in the bundle's label order.
    public let probabilities: [(String, Double)]
    public let truncated: Bool
}

public struct StageTimes: Sendable {
    public let featurizeMs: Double, graphMs: Double, postMs: Double
    public var totalMs: Double { featurizeMs + graphMs + postMs }
}

/// Texts in, labels out, for one bundle: featurizer (C core) -> planner -> runtime -> softmax. The rule and
/// Bayesian post-processors are Python-only for now (docs/mobile.md). One Predictor per thread.
public final class Predictor {
    public let bundle: NeuroLiteBundle
    public let runner: ModelRunner
    public let featurizer: Featurizer
    public var labels: [String] { bundle.labels }

    public init(bundle: NeuroLiteBundle, runner: ModelRunner, featurizer: Featurizer) throws {
        guard featurizer.digest == bundle.featurizerDigest else {
            throw NeuroLiteError.bundle(.featurizer, "\(bundle.directory.path): the featurizer core computes digest \(featurizer.digest.prefix(12))..., the manifest says \(bundle.featurizerDigest.prefix(12))...")
        }
        self.bundle = bundle
        self.runner = runner
        self.featurizer = featurizer
    }

    /// Create the featurizer and open the bundle's runtime (the bundle is already verified).
    public static func open(_ bundle: NeuroLiteBundle, registry: RunnerRegistry, threads: Int = 2) async throws -> Predictor {
        let factory = try registry.factory(for: bundle)
        let featurizer = try Featurizer(configJSON: bundle.featurizerSpecJSON)
        return try Predictor(bundle: bundle, runner: try await factory.open(bundle, threads: threads), featurizer: featurizer)
    }

    public func featurize(_ texts: [String]) throws -> FeatureBatch { try featurizer.featurize(texts) }

    /// Logits [texts][labels], planned, padded and split to fit the bundle's signatures.
    public func logits(_ batch: FeatureBatch) throws -> [[Float]] {
        var out: [[Float]] = []
        for (signature, step) in try Planner.plan(bundle.signatures, batch: batch.batch, length: batch.length) {
            let outputs = try runner.run(signature, Planner.pad(batch, step))
            guard let logits = outputs["logits"] else { throw NeuroLiteError.run("\(runner.runtime): the graph returned no 'logits'") }
            let classes = logits.shape.last ?? 0
            guard classes == labels.count else {
                throw NeuroLiteError.bundle(.labels, "\(bundle.directory.path)/\(BundleReader.manifestName): labels: \(labels.count) labels, the graph scores \(classes)")
            }
            let values = logits.floats
            for row in 0..<(step.stop - step.start) { out.append(Array(values[(row * classes)..<((row + 1) * classes)])) }
        }
        return out
    }

    public func predict(_ texts: [String]) throws -> [Prediction] { try predictTimed(texts).0 }

    /// `predict` with the time of each stage.
    public func predictTimed(_ texts: [String]) throws -> ([Prediction], StageTimes) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let batch = try featurize(texts)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let rows = try logits(batch)
        let t2 = DispatchTime.now().uptimeNanoseconds
        let predictions = rows.enumerated().map { i, row -> Prediction in
            let top = row.max() ?? 0
            let shifted = row.map { exp(Double($0 - top)) }
            let total = shifted.reduce(0, +)
            let best = row.firstIndex(of: top) ?? 0
            return Prediction(label: labels[best], score: shifted[best] / total,
                              probabilities: zip(labels, shifted.map { $0 / total }).map { ($0, $1) },
                              truncated: batch.truncated[i])
        }
        let t3 = DispatchTime.now().uptimeNanoseconds
        return (predictions, StageTimes(featurizeMs: Double(t1 - t0) / 1e6, graphMs: Double(t2 - t1) / 1e6,
                                        postMs: Double(t3 - t2) / 1e6))
    }
}
