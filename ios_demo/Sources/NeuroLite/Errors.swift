import Foundation

/// Which check refused a bundle: the same kinds as the Android library's BundleProblem and the Python
/// runtime's refusals (runtime/bundle.py).
public enum BundleProblem: String, Sendable {
    case notABundle, manifestMissing, manifestInvalid, schemaNewer, field, fileMissing, fileTruncated, fileSize
    case checksum, featurizer, labels, format, testVectors
    /// The coded weights of a schema 2 bundle (its `weights` section: orbital8 decoded at load) do not rebuild
    /// the model file the manifest records: a section field, the codes file, a shell or a region is wrong.
    case weights
}

/// Every error carries one line an app can show: it names the bundle, file, field or runtime.
public enum NeuroLiteError: Error, CustomStringConvertible, LocalizedError {
    case bundle(BundleProblem, String)
    case featurizer(code: Int, status: String, message: String)
    case input(String)
    case run(String)

    public var description: String {
        switch self {
        case let .bundle(_, message), let .input(message), let .run(message): return message
        case let .featurizer(_, status, message): return "\(status): \(message)"
        }
    }

    public var errorDescription: String? { description }

    /// The problem kind of a refused bundle, nil for other errors.
    public var problem: BundleProblem? {
        if case let .bundle(problem, _) = self { return problem }
        return nil
    }
}
