// Types of featurizer.mjs: the NeuroLite featurizer (spec 1.0, docs/featurizer.md) as WebAssembly.

/** Any failure: bad config, bad argument, out of memory. `message` is the core's one-line message
 * (it names the config field, the argument or the text index); `code` is the core's nl_status number
 * and `status` its name (e.g. "NL_ERR_CONFIG_FIELD"). */
export class FeaturizerError extends Error {
  readonly code: number;
  readonly status: string;
}

/** The spec's parameters (section 1), as parsed by the core. */
export interface FeaturizerParams {
  numBuckets: number;
  numHashes: number;
  wordHashes: number;
  ngramMin: number;
  ngramMax: number;
  maxLength: number;
  seed: number;
}

/** Spec section 6 for B = `batch` texts and rows of L = `length` tokens, row-major copies (not views
 * of wasm memory). */
export interface FeatureBatch {
  /** int32 [batch * length * numHashes]: bucket indices in [0, numBuckets), 0 at padding */
  features: Int32Array;
  /** float32 [batch * length]: 1 for a kept token, 0 for padding */
  mask: Float32Array;
  /** int32 [batch]: tokens kept per text, min(tokens, maxLength) */
  lengths: Int32Array;
  /** uint8 [batch]: 1 when the text had more than maxLength tokens */
  truncated: Uint8Array;
  batch: number;
  length: number;
  numHashes: number;
}

export interface FeaturizeOptions {
  /** Tokens kept per text (the first ones); overrides the config's max_length. Integer >= 1. */
  maxLength?: number;
  /** Row length L; must be >= 1 and >= the longest kept text. Default: max(1, longest kept). */
  padTo?: number;
}

export interface Featurizer {
  readonly params: FeaturizerParams;
  /** Spec section 7: lowercase hex SHA-256 of the canonical config JSON. */
  readonly digest: string;
  featurize(texts: readonly string[], options?: FeaturizeOptions): FeatureBatch;
  /** All tokens of a text (spec sections 2-3, no truncation). */
  tokenize(text: string): string[];
  /** Spec section 2. A lone surrogate comes back as U+0020 (see README: the surrogate rule). */
  normalize(text: string): string;
  /** Frees the wasm-side featurizer, scratch and cache; any later call throws. Idempotent. */
  dispose(): void;
}

export interface FeaturizerModule {
  /** The core's version string, e.g. "neurolite-featurizer 1.0.0 (spec 1.0, Unicode 14.0.0)". */
  readonly version: string;
  /** `config`: a featurizer config (a checkpoint's featurizer.json, a bundle manifest's
   * featurizer.spec) as a JSON string or an object with exactly the spec's keys.
   * `cacheEntries`: token cache slots (default 65536, about (numHashes * 4 + 48) bytes each; 0 = none);
   * results never depend on it. */
  create(config: string | object, options?: { cacheEntries?: number }): Featurizer;
}

/** Instantiates the module. `source`: a URL or path of the .wasm (fetch + instantiateStreaming in a
 * browser, fs in node for paths and file: URLs), its bytes, or a compiled WebAssembly.Module.
 * Default: neurolite_featurizer.wasm next to featurizer.mjs. */
export function loadFeaturizerModule(
  source?: string | URL | ArrayBuffer | Uint8Array | WebAssembly.Module,
): Promise<FeaturizerModule>;
