// Texts in, labels out, for one verified bundle: WASM featurizer -> planner -> web runtime -> softmax.
// The browser twin of runtime/predictor.py (Predictor.predict); the numbers match it to float rounding.

import { BundleError, MANIFEST_NAME, readBundle } from './bundle.mjs';
import { NdArray, PredictionInputError, plan, requestShape, runPlan } from './planner.mjs';
import { RUNTIMES } from './runtimes.mjs';

const LOGITS = 'logits';
const TEST_VECTORS_FORMAT = 'neurolite-test-vectors/1';
const now = () => performance.now();

let featurizerModule = null;

/** The WASM featurizer core (loaded once per page). */
export function loadFeaturizer() {
  // Imported here, not at the top: a page whose featurizer is missing still starts and says so.
  featurizerModule ??= import('neurolite-featurizer').then((m) => m.loadFeaturizerModule()).catch((error) => {
    featurizerModule = null;
    throw new Error(`featurizer: cannot load the WebAssembly core (${error.message ?? error}); ` +
      'build it with `make web-deps`');
  });
  return featurizerModule;
}

/**
 * Create the bundle's featurizer with the WASM core and hold the core to the manifest: it must accept
 * the spec (its version among them) and compute the digest the manifest records.
 */
export async function featurizerFor(bundle) {
  const module = await loadFeaturizer();
  const where = bundle.source.where(MANIFEST_NAME);
  let featurizer;
  try {
    featurizer = module.create(bundle.featurizer.canonicalJson);
  } catch (error) {
    const version = bundle.featurizer.spec.version;
    throw new BundleError(`${where}: featurizer.spec: the WebAssembly featurizer (core ${module.version}) refuses ` +
      `spec version '${version}': ${error.message ?? error}`);
  }
  if (featurizer.digest !== bundle.featurizer.digest) {
    featurizer.dispose();
    throw new BundleError(`${where}: featurizer.digest: the WebAssembly featurizer computes ${featurizer.digest.slice(0, 12)}... ` +
      `for this spec, the manifest says ${bundle.featurizer.digest.slice(0, 12)}...; it does not implement this spec`);
  }
  return featurizer;
}

export class Predictor {
  /** Verify the bundle, create its featurizer, open its runtime. `onProgress(text)` narrates. */
  static async open(source, { onProgress = () => {} } = {}) {
    const started = now();
    const bundle = await readBundle(source, { supportedFormats: Object.keys(RUNTIMES), onProgress });
    onProgress('creating the featurizer');
    const featurizer = await featurizerFor(bundle);
    onProgress(`starting ${RUNTIMES[bundle.format].package}`);
    let runtime;
    try {
      runtime = await RUNTIMES[bundle.format].open(bundle);
    } catch (error) {
      featurizer.dispose();
      throw error;
    }
    const module = await loadFeaturizer();
    const predictor = new Predictor(bundle, featurizer, runtime, module.version);
    if (bundle.manifest.test_vectors !== undefined) {
      onProgress(`running the self-test (${bundle.manifest.test_vectors})`);
      try {
        predictor.selfTest = await predictor.runSelfTest();
      } catch (error) {
        predictor.dispose();
        throw error;
      }
    }
    predictor.openMs = now() - started;
    return predictor;
  }

  constructor(bundle, featurizer, runtime, coreVersion) {
    this.bundle = bundle;
    this.featurizer = featurizer;
    this.runtime = runtime;
    this.coreVersion = coreVersion;
    this.openMs = null;
    this.selfTest = null; // {cases, maxAbsLogit, tolerance} once the bundle's test vectors passed
    this.queue = Promise.resolve(); // one prediction at a time: runtimes refuse overlapping runs
  }

  /**
   * runtime/selftest.py in the page: the bundle's test_vectors.json (texts with the exact features and
   * the logits the export machine got) through this featurizer and this runtime. Every case's features
   * and mask must be equal, its logits within the vectors' tolerance, its label the same; otherwise the
   * bundle is refused, naming the cases, because this browser would not compute what was exported.
   */
  async runSelfTest() {
    const name = this.bundle.manifest.test_vectors;
    const where = this.bundle.source.where(name);
    const bytes = this.bundle.files.get(name);
    if (typeof name !== 'string' || !bytes) {
      throw new BundleError(`${this.bundle.source.where(MANIFEST_NAME)}: test_vectors ${JSON.stringify(name)} is not a listed file`);
    }
    let doc;
    try {
      doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (error) {
      throw new BundleError(`${where}: unreadable (${error.message})`);
    }
    if (doc?.format !== TEST_VECTORS_FORMAT) throw new BundleError(`${where}: format is not '${TEST_VECTORS_FORMAT}'`);
    if (doc.featurizer_digest !== this.bundle.featurizer.digest) {
      throw new BundleError(`${where}: featurizer_digest differs from the manifest's featurizer`);
    }
    const cases = doc.cases;
    if (!Array.isArray(cases) || cases.length === 0) throw new BundleError(`${where}: cases: expected a non-empty list`);
    cases.forEach((c, i) => {
      if (!['text', 'features', 'mask', 'logits', 'label'].every((k) => c && k in c)) {
        throw new BundleError(`${where}: cases[${i}]: needs text, features, mask, logits and label`);
      }
    });
    const tolerance = Number(doc.tolerance?.max_abs_logit ?? 1e-4);
    const failures = [];
    const short = (text) => JSON.stringify(text.slice(0, 40));
    const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
    cases.forEach((c, i) => {
      const alone = this.featurizer.featurize([c.text]);
      if (!same(Array.from(alone.features), c.features.flat()) || !same(Array.from(alone.mask), c.mask)) {
        failures.push(`cases[${i}] ${short(c.text)}: features differ from the bundle's vectors`);
      }
    });
    const { logits } = await this.#logits(cases.map((c) => c.text));
    const classes = logits.shape[1];
    let worst = 0;
    cases.forEach((c, i) => {
      const row = Array.from(logits.data.subarray(i * classes, (i + 1) * classes));
      const delta = Math.max(...row.map((v, k) => Math.abs(v - c.logits[k])));
      worst = Math.max(worst, delta);
      if (!(delta <= tolerance)) failures.push(`cases[${i}] ${short(c.text)}: max |Δlogit| ${delta.toPrecision(3)} > ${tolerance}`);
      const label = this.labels[row.indexOf(Math.max(...row))];
      if (label !== c.label) failures.push(`cases[${i}] ${short(c.text)}: label '${label}', expected '${c.label}'`);
    });
    if (failures.length) {
      throw new BundleError(`${where}: self-test failed in this browser (${failures.length} of ${cases.length} checks): ` +
        `${failures.slice(0, 3).join('; ')}${failures.length > 3 ? '; ...' : ''}`);
    }
    return { cases: cases.length, maxAbsLogit: worst, tolerance };
  }

  /** Featurize, plan, run: the graph's outputs for `texts` (Predictor.logits in Python). */
  async #logits(texts) {
    const t0 = now();
    const batch = this.featurizer.featurize(texts);
    const t1 = now();
    const inputs = {
      features: new NdArray(batch.features, [batch.batch, batch.length, batch.numHashes]),
      mask: new NdArray(batch.mask, [batch.batch, batch.length]),
    };
    const signatures = this.bundle.signatures;
    const [rows, length] = requestShape(signatures[0], inputs);
    const steps = plan(signatures, rows, length);
    const outputs = await runPlan(this.runtime, steps, inputs);
    const t2 = now();
    const logits = outputs[LOGITS];
    if (!logits) throw new Error(`${this.bundle.source.where(MANIFEST_NAME)}: the graph has no '${LOGITS}' output`);
    if (logits.shape[1] !== this.labels.length) {
      throw new Error(`${this.bundle.source.where(MANIFEST_NAME)}: labels: ${this.labels.length} labels, the graph scores ${logits.shape[1]}`);
    }
    return { batch, steps, logits, rows, t0, t1, t2 };
  }

  get labels() {
    return this.bundle.labels;
  }

  /** What the page shows about the bundle. */
  describe() {
    const { bundle, runtime } = this;
    const bytes = [...bundle.files.values()].reduce((sum, b) => sum + b.length, 0);
    return {
      source: bundle.source.label,
      format: bundle.format,
      runtime: `${runtime.name} ${runtime.version}`,
      runtimeDetail: runtime.detail,
      entry: bundle.entry,
      files: bundle.files.size,
      bytes,
      rebuilt: bundle.rebuilt, // model files rebuilt from orbital8 codes at load (schema 2), [] otherwise
      downloadBytes: bundle.downloadBytes,
      labels: bundle.labels,
      signatures: bundle.signatures.map((s) => ({ name: s.name, batch: [s.batch.min, s.batch.max], length: [s.length.min, s.length.max] })),
      featurizer: { version: bundle.featurizer.spec.version, digest: bundle.featurizer.digest, core: this.coreVersion,
        spec: bundle.featurizer.spec },
      reasoning: Object.keys(bundle.reasoning),
      selfTest: this.selfTest,
      openMs: this.openMs,
    };
  }

  /** Python's Predictor.predict (without post-processors): [{label, score, probabilities, truncated}]. */
  async predict(texts) {
    return (await this.predictTimed(texts)).predictions;
  }

  /** predict, plus the time each stage took (ms) and the plan it ran. */
  predictTimed(texts) {
    const result = this.queue.then(() => this.#predict(texts));
    this.queue = result.catch(() => {});
    return result;
  }

  async #predict(texts) {
    if (!Array.isArray(texts) || texts.length === 0) throw new PredictionInputError('texts: empty list; give at least one text');
    if (!texts.every((t) => typeof t === 'string')) throw new PredictionInputError('texts: every text must be a string');
    const { batch, steps, logits, rows, t0, t1, t2 } = await this.#logits(texts);
    const classes = logits.shape[1];
    const predictions = new Array(rows);
    for (let i = 0; i < rows; i++) {
      const row = Array.from(logits.data.subarray(i * classes, (i + 1) * classes)); // float32 -> float64, as numpy
      const top = Math.max(...row);
      const shifted = row.map((v) => Math.exp(v - top));
      const total = shifted.reduce((a, b) => a + b, 0);
      const probabilities = shifted.map((v) => v / total);
      let best = 0;
      for (let k = 1; k < classes; k++) if (probabilities[k] > probabilities[best]) best = k; // first max, as argmax
      predictions[i] = {
        label: this.labels[best],
        score: probabilities[best],
        probabilities: Object.fromEntries(this.labels.map((label, k) => [label, probabilities[k]])),
        truncated: Boolean(batch.truncated[i]),
      };
    }
    const t3 = now();
    return {
      predictions,
      timings: { featurize: t1 - t0, graph: t2 - t1, postprocess: t3 - t2, total: t3 - t0 },
      plan: steps.map((s) => ({ signature: s.signature.name, rows: s.stop - s.start, batch: s.batch, length: s.length })),
      tokens: Array.from(batch.lengths),
    };
  }

  dispose() {
    this.runtime.dispose();
    this.featurizer.dispose();
  }
}
