package ai.neurolite

/**
 * Every error the library raises is something an app can show and a user can act on: the message is
 * one line naming the bundle, file, field or package, as the Python runtime's errors do
 * (runtime/errors.py). Nothing in the library calls exit() or lets a native crash through.
 */
open class NeuroLiteException(message: String, cause: Throwable? = null) : Exception(message, cause)

/** What kind of problem made a bundle unusable; the same kinds as the Python runtime's refusals. */
enum class BundleProblem {
    /** The path does not exist or is not a directory. */
    NOT_A_BUNDLE,
    /** No manifest.json: not a bundle, or its export did not finish. */
    MANIFEST_MISSING,
    /** manifest.json is not UTF-8 / not JSON / not an object. */
    MANIFEST_INVALID,
    /** schema_version is newer than this library reads. */
    SCHEMA_NEWER,
    /** A required field is missing or has the wrong type or value. */
    FIELD,
    /** A file listed in the manifest is missing. */
    FILE_MISSING,
    /** A listed file is shorter than recorded. */
    FILE_TRUNCATED,
    /** A listed file has another size than recorded. */
    FILE_SIZE,
    /** A listed file's SHA-256 differs from the manifest's. */
    CHECKSUM,
    /**
     * The coded weights of a schema 2 bundle (its `weights` section: orbital8 decoded at load) do not rebuild
     * the model file the manifest records: a section field, the codes file, a shell or a region is wrong.
     */
    WEIGHTS,
    /** The featurizer spec is of another version, malformed, or its digest does not match. */
    FEATURIZER,
    /** The labels disagree with the model's output (count of logits). */
    LABELS,
    /** The bundle's format has no runtime in this library. */
    FORMAT,
    /** test_vectors.json is absent or malformed. */
    TEST_VECTORS
}

/** A bundle that cannot be used; [problem] says which check refused it. */
class BundleException(val problem: BundleProblem, message: String) : NeuroLiteException(message)

/** The featurizer core refused a config or an input; [code] and [status] are the C core's nl_status. */
class FeaturizerException(val code: Int, val status: String, message: String) : NeuroLiteException(message)

/** Bad input to predict/run: an empty text list, a missing or misshapen tensor. */
class PredictionInputException(message: String) : NeuroLiteException(message)

/** The model runtime failed to load or run the model file; the message names the runtime and file. */
class ModelRunException(message: String, cause: Throwable? = null) : NeuroLiteException(message, cause)
