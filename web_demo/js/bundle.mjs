// Reading and verifying a bundle in the browser: the checks of runtime/bundle.py (read_bundle), in
// the same order and with the same words, on files fetched from a URL or picked from the disk.
// docs/bundle.md documents the manifest; docs/featurizer.md section 7 the featurizer digest.

import { BATCH } from './planner.mjs';
import { WEIGHTS_KEY, parseWeights, restoreFiles } from './weights.mjs';

/** The newest manifest schema this page reads; 2 adds the `weights` section (orbital8 decoded at load). */
export const SCHEMA_VERSION = 2;
export const WEIGHTS_SCHEMA_VERSION = 2;
export const MANIFEST_NAME = 'manifest.json';
export const REASONING_KEYS = ['network', 'rules'];
/** The eight parameters of featurizer spec 1.0, in the spec's order (docs/featurizer.md section 1). */
export const SPEC_KEYS = ['num_buckets', 'num_hashes', 'word_hashes', 'ngram_min', 'ngram_max', 'max_length', 'seed', 'version'];

/** Anything wrong with a bundle; the message starts with the file (or manifest field) at fault. */
export class BundleError extends Error {
  constructor(message) {
    super(message);
    this.name = 'BundleError';
  }
}

/** A bundle served over HTTP: `base` is the directory URL (`/bundles/onnx/`). */
export class UrlSource {
  constructor(base, where = globalThis.location?.href) {
    const url = new URL(base, where);
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    this.base = url;
    this.label = url.origin === globalThis.location?.origin ? url.pathname.replace(/\/$/, '') : url.href.replace(/\/$/, '');
  }

  where(name) {
    return `${this.label}/${name}`;
  }

  /** The file's bytes, or null when the server has no such file (404/410). */
  async read(name) {
    let response;
    try {
      response = await fetch(new URL(name.split('/').map(encodeURIComponent).join('/'), this.base), { cache: 'no-store' });
    } catch (error) {
      throw new BundleError(`${this.where(name)}: cannot fetch it (${error.message})`);
    }
    if (response.status === 404 || response.status === 410) return null;
    if (!response.ok) throw new BundleError(`${this.where(name)}: HTTP ${response.status} ${response.statusText}`);
    return new Uint8Array(await response.arrayBuffer());
  }
}

/** A bundle picked from the disk: `files` maps paths relative to the bundle directory to File objects. */
export class FileSource {
  constructor(files, label) {
    this.files = files;
    this.label = label;
  }

  /**
   * From a directory picker's FileList (each File has webkitRelativePath `dir/sub/name`) or from the
   * [path, File] pairs a drop produced: the bundle is the shallowest directory holding manifest.json.
   */
  static fromEntries(entries) {
    const list = Array.from(entries, (e) => (Array.isArray(e) ? e : [e.webkitRelativePath || e.name, e]));
    if (list.length === 0) throw new BundleError('no files: pick the bundle directory (the one holding manifest.json)');
    const manifests = list.map(([p]) => p).filter((p) => p === MANIFEST_NAME || p.endsWith(`/${MANIFEST_NAME}`))
      .sort((a, b) => a.split('/').length - b.split('/').length);
    if (manifests.length === 0) {
      const top = list[0][0].split('/')[0];
      throw new BundleError(`${top}/${MANIFEST_NAME}: missing; ${top} is not a NeuroLite bundle (or its export did ` +
        'not finish). Pick the directory that holds manifest.json');
    }
    const depth = (p) => p.split('/').length;
    const top = manifests.filter((p) => depth(p) === depth(manifests[0]));
    if (top.length > 1) {
      const dirs = top.map((p) => p.slice(0, -MANIFEST_NAME.length - 1));
      throw new BundleError(`${dirs[0].split('/').slice(0, -1).join('/') || '(the dropped files)'}: holds ${top.length} bundles ` +
        `(${dirs.map((d) => d.split('/').pop()).join(', ')}); pick one of them, the directory that holds manifest.json`);
    }
    const prefix = manifests[0].slice(0, -MANIFEST_NAME.length);
    const files = new Map();
    for (const [p, file] of list) if (p.startsWith(prefix)) files.set(p.slice(prefix.length), file);
    return new FileSource(files, prefix.replace(/\/$/, '') || '(dropped files)');
  }

  where(name) {
    return `${this.label}/${name}`;
  }

  async read(name) {
    const file = this.files.get(name);
    if (!file) return null;
    try {
      return new Uint8Array(await file.arrayBuffer());
    } catch (error) {
      throw new BundleError(`${this.where(name)}: cannot read it (${error.message})`);
    }
  }
}

/** Lowercase hex SHA-256 (Web Crypto: needs a secure context, which 127.0.0.1 and https are). */
export async function sha256Hex(bytes) {
  if (!globalThis.crypto?.subtle) {
    throw new BundleError('Web Crypto is unavailable: serve the page from https or 127.0.0.1 (not file://)');
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * docs/featurizer.md section 7: the spec's eight parameters as JSON, keys sorted, no whitespace, ASCII
 * only (what Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True) writes).
 */
export function canonicalJson(spec) {
  const sorted = {};
  for (const key of Object.keys(spec).sort()) sorted[key] = spec[key];
  return JSON.stringify(sorted).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export async function featurizerDigest(spec) {
  return sha256Hex(new TextEncoder().encode(canonicalJson(spec)));
}

/**
 * Read and verify a bundle from `source`; returns {source, manifest, format, entry, files (name -> bytes;
 * with a `weights` section, the model file rebuilt from its shell and codes in place of both), rebuilt (the
 * paths so rebuilt), downloadBytes (the listed files' bytes),
 * signatures, labels, featurizer: {spec, digest, canonicalJson}, reasoning}. Throws BundleError naming the
 * first thing wrong. `supportedFormats` are refused before any model byte is downloaded.
 * `onProgress(text)` reports what is being checked.
 */
export async function readBundle(source, { supportedFormats = null, onProgress = () => {} } = {}) {
  const manifestWhere = source.where(MANIFEST_NAME);
  onProgress(`reading ${manifestWhere}`);
  const raw = await source.read(MANIFEST_NAME);
  if (raw === null) {
    throw new BundleError(`${manifestWhere}: missing; ${source.label} is not a NeuroLite bundle (or its export did not finish)`);
  }
  const manifest = parseManifest(raw, manifestWhere);
  const where = manifestWhere;
  const format = field(manifest, 'format', 'string', where);
  if (supportedFormats && !supportedFormats.includes(format)) {
    throw new BundleError(`${where}: format '${format}' has no web runtime here (this page runs ` +
      `${supportedFormats.join(' and ')}); export the model with \`neurolite export --format onnx\` or \`--format tflite\``);
  }
  const listed = field(manifest, 'files', 'object', where);
  let files = await verifyFiles(source, listed, where, onProgress);
  const downloadBytes = [...files.values()].reduce((sum, bytes) => sum + bytes.length, 0);
  let rebuilt = [];
  if (WEIGHTS_KEY in manifest) { // coded weights: rebuild the model file(s) before any runtime sees them
    if (manifest.schema_version < WEIGHTS_SCHEMA_VERSION) {
      throw new BundleError(`${where}: ${WEIGHTS_KEY}: needs schema_version ${WEIGHTS_SCHEMA_VERSION}, the manifest ` +
        `says ${manifest.schema_version}`);
    }
    const fail = (message) => new BundleError(message);
    const weights = parseWeights(manifest[WEIGHTS_KEY], where, fail);
    for (const target of weights.files) relativePath(target.path, `${where}: ${WEIGHTS_KEY}: path`);
    files = await restoreFiles(weights, files, where, { fail, sha256Hex, onProgress });
    rebuilt = weights.files.map((f) => f.path);
  }
  const entry = relativePath(field(manifest, 'entry', 'string', where), `${where}: entry`);
  if (![...files.keys()].some((name) => name === entry || name.startsWith(`${entry}/`))) {
    throw new BundleError(`${where}: entry '${entry}' is not among the bundle's files`);
  }
  const signatures = field(manifest, 'signatures', 'array', where).map((doc, i) => signature(doc, `${where}: signatures[${i}]`));
  if (signatures.length === 0) throw new BundleError(`${where}: signatures: empty; the bundle declares no entry point`);
  const labels = field(manifest, 'labels', 'array', where);
  if (labels.length < 2 || !labels.every((l) => typeof l === 'string')) {
    throw new BundleError(`${where}: labels: must be a list of at least two strings`);
  }
  return {
    source, manifest, format, entry, files, signatures, labels, rebuilt, downloadBytes,
    featurizer: await featurizer(manifest, where),
    reasoning: reasoning(manifest, listed, where),
  };
}

function parseManifest(raw, where) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new BundleError(`${where}: not valid UTF-8`);
  }
  let manifest;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    throw new BundleError(`${where}: invalid JSON (${error.message})`);
  }
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
    throw new BundleError(`${where}: expected a JSON object, got ${kind(manifest)}`);
  }
  const version = manifest.schema_version;
  if (!Number.isInteger(version) || version < 1) {
    throw new BundleError(`${where}: schema_version: expected a positive integer, got ${JSON.stringify(version)}`);
  }
  if (version > SCHEMA_VERSION) {
    throw new BundleError(`${where}: schema_version ${version} is newer than this page reads (${SCHEMA_VERSION}); ` +
      'update the web demo to load this bundle');
  }
  return manifest;
}

/** Every listed file: present, of the recorded size, with the recorded SHA-256. Returns name -> bytes. */
async function verifyFiles(source, listed, where, onProgress) {
  const names = Object.keys(listed);
  if (names.length === 0) throw new BundleError(`${where}: files: empty; the bundle lists no model file`);
  const files = new Map();
  for (const name of names) {
    relativePath(name, `${where}: files`);
    const record = listed[name];
    const at = `${where}: files['${name}']`;
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new BundleError(`${at}: expected an object with bytes and sha256`);
    }
    const size = field(record, 'bytes', 'integer', at);
    const expected = field(record, 'sha256', 'string', at);
    const file = source.where(name);
    onProgress(`checking ${file}`);
    const bytes = await source.read(name);
    if (bytes === null) throw new BundleError(`${file}: listed in ${MANIFEST_NAME} but missing from the bundle`);
    if (bytes.length < size) {
      throw new BundleError(`${file}: truncated: ${bytes.length.toLocaleString('en-US')} bytes, ${MANIFEST_NAME} ` +
        `records ${size.toLocaleString('en-US')}`);
    }
    if (bytes.length !== size) {
      throw new BundleError(`${file}: ${bytes.length.toLocaleString('en-US')} bytes, ${MANIFEST_NAME} records ` +
        `${size.toLocaleString('en-US')}; the file was replaced or modified after export`);
    }
    if ((await sha256Hex(bytes)) !== expected) {
      throw new BundleError(`${file}: SHA-256 does not match ${MANIFEST_NAME}; the file is corrupted or was modified after export`);
    }
    files.set(name, bytes);
  }
  return files;
}

/**
 * The featurizer spec, checked against the digest the manifest records (recomputed here from the
 * canonical JSON). Whether the WASM core implements this spec version, and computes the same digest,
 * is checked when the featurizer is created (js/predictor.mjs).
 */
async function featurizer(manifest, where) {
  const doc = field(manifest, 'featurizer', 'object', where);
  const spec = field(doc, 'spec', 'object', `${where}: featurizer`);
  const digest = field(doc, 'digest', 'string', `${where}: featurizer`);
  for (const key of Object.keys(spec)) {
    if (!SPEC_KEYS.includes(key)) {
      throw new BundleError(`${where}: featurizer.spec: ${key}: unknown featurizer config key (known keys: ${SPEC_KEYS.join(', ')})`);
    }
  }
  for (const key of SPEC_KEYS) {
    if (!(key in spec)) throw new BundleError(`${where}: featurizer.spec: ${key}: missing featurizer config key`);
    const ok = key === 'version' ? typeof spec[key] === 'string' : Number.isSafeInteger(spec[key]);
    if (!ok) {
      throw new BundleError(`${where}: featurizer.spec: ${key}: must be ${key === 'version' ? 'a string' : 'an integer'}, ` +
        `got ${JSON.stringify(spec[key])}`);
    }
  }
  const canonical = canonicalJson(spec);
  const computed = await featurizerDigest(spec);
  if (computed !== digest) {
    throw new BundleError(`${where}: featurizer.digest does not match featurizer.spec (this page computes ` +
      `${computed.slice(0, 12)}..., the manifest says ${digest.slice(0, 12)}...); the manifest was edited`);
  }
  return { spec, digest, canonicalJson: canonical };
}

function reasoning(manifest, listed, where) {
  if (!('reasoning' in manifest)) return {};
  const doc = field(manifest, 'reasoning', 'object', where);
  const unknown = Object.keys(doc).filter((k) => !REASONING_KEYS.includes(k)).sort();
  if (unknown.length) {
    throw new BundleError(`${where}: reasoning: unknown key(s) ${JSON.stringify(unknown)}; expected ${JSON.stringify(REASONING_KEYS)}`);
  }
  for (const [key, name] of Object.entries(doc)) {
    if (typeof name !== 'string' || !(relativePath(name, `${where}: reasoning.${key}`) in listed)) {
      throw new BundleError(`${where}: reasoning.${key}: ${JSON.stringify(name)} is not among the bundle's files`);
    }
  }
  return { ...doc };
}

function signature(doc, where) {
  if (!isObject(doc)) throw new BundleError(`${where}: expected an object`);
  return {
    name: field(doc, 'name', 'string', where),
    inputs: field(doc, 'inputs', 'array', where).map((t, i) => tensor(t, `${where}.inputs[${i}]`)),
    outputs: field(doc, 'outputs', 'array', where).map((t, i) => tensor(t, `${where}.outputs[${i}]`)),
    batch: range(doc.batch, `${where}.batch`),
    length: range(doc.length, `${where}.length`),
  };
}

function tensor(doc, where) {
  if (!isObject(doc)) throw new BundleError(`${where}: expected an object`);
  const shape = field(doc, 'shape', 'array', where);
  if (!shape.every((d) => typeof d === 'string' || (Number.isInteger(d) && d >= 0))) {
    throw new BundleError(`${where}.shape: each dimension must be a size or a dimension name, got ${JSON.stringify(shape)}`);
  }
  if (!shape.includes(BATCH)) throw new BundleError(`${where}.shape: every tensor needs a 'batch' axis, got ${JSON.stringify(shape)}`);
  return { name: field(doc, 'name', 'string', where), dtype: field(doc, 'dtype', 'string', where), shape };
}

function range(value, where) {
  const size = (v) => Number.isInteger(v) && v >= 1;
  if (!Array.isArray(value) || value.length !== 2 || !size(value[0]) ||
      !(value[1] === null || (size(value[1]) && value[1] >= value[0]))) {
    throw new BundleError(`${where}: expected [min, max] with 1 <= min <= max (max null for unbounded), got ${JSON.stringify(value)}`);
  }
  return { min: value[0], max: value[1] };
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

function kind(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (Number.isInteger(value)) return 'int';
  return { string: 'str', number: 'float', boolean: 'bool', object: 'dict' }[typeof value] ?? typeof value;
}

function field(doc, key, type, where) {
  if (!(key in doc)) throw new BundleError(`${where}: missing field '${key}'`);
  const value = doc[key];
  const ok = { string: typeof value === 'string', integer: Number.isInteger(value), array: Array.isArray(value), object: isObject(value) }[type];
  if (!ok) {
    const expected = { string: 'str', integer: 'int', array: 'list', object: 'dict' }[type];
    throw new BundleError(`${where}: ${key}: expected ${expected}, got ${kind(value)}`);
  }
  return value;
}

function relativePath(name, where) {
  const parts = name.split('/');
  if (!name || name.startsWith('/') || parts.includes('..')) throw new BundleError(`${where}: '${name}' is not a path inside the bundle`);
  return name;
}
