// NeuroLite featurizer (spec 1.0, docs/featurizer.md) for browsers and node: the portable C core
// compiled to WebAssembly (native/wasm), wrapped in a small synchronous API. See README.md.
//
// One WebAssembly instance per loadFeaturizerModule(); any number of featurizers share it. All calls
// are synchronous, so its buffers are shared by the featurizers of an instance and reused across
// calls (grown only when a call needs more). Every result is copied out of wasm memory.

const STATUS_NAMES = [
  "NL_OK", "NL_ERR_ARGUMENT", "NL_ERR_JSON", "NL_ERR_CONFIG_FIELD", "NL_ERR_CONFIG_RANGE",
  "NL_ERR_VERSION", "NL_ERR_BUFFER_TOO_SMALL", "NL_ERR_NO_MEMORY", "NL_ERR_TOO_LONG",
];
const NL_ERR_ARGUMENT = 1;
const NL_ERR_TOO_LONG = 8;
const MAX_TEXT_BYTES = 2 ** 30; // NL_MAX_TEXT_BYTES
const DEFAULT_CACHE_ENTRIES = 65536;

export class FeaturizerError extends Error {
  constructor(message, code = NL_ERR_ARGUMENT, status = STATUS_NAMES[code] ?? `NL_STATUS_${code}`) {
    super(message);
    this.name = "FeaturizerError";
    this.code = code;
    this.status = status;
  }
}

function argumentError(message) {
  return new FeaturizerError(message, NL_ERR_ARGUMENT, STATUS_NAMES[NL_ERR_ARGUMENT]);
}

// ------------------------------------------------------------------------------------------ UTF-8
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8");
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const isWellFormed = typeof String.prototype.isWellFormed === "function"
  ? (s) => s.isWellFormed()
  : (s) => !LONE_SURROGATE.test(s);

// UTF-8 of a JS string into out[pos..] (room for 3 bytes per UTF-16 unit guaranteed by the caller);
// returns the bytes written. A lone surrogate becomes U+0020 (header rule: spec 1.0 makes a
// surrogate a separator, and a space behaves identically in every step), never TextEncoder's U+FFFD.
function encodeInto(text, out, pos) {
  if (isWellFormed(text)) return textEncoder.encodeInto(text, out.subarray(pos)).written;
  const start = pos;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out[pos++] = c;
    } else if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6);
      out[pos++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[pos++] = 0xf0 | (c >> 18);
        out[pos++] = 0x80 | ((c >> 12) & 0x3f);
        out[pos++] = 0x80 | ((c >> 6) & 0x3f);
        out[pos++] = 0x80 | (c & 0x3f);
      } else {
        out[pos++] = 0x20; // lone surrogate
      }
    } else {
      out[pos++] = 0xe0 | (c >> 12);
      out[pos++] = 0x80 | ((c >> 6) & 0x3f);
      out[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos - start;
}

// ----------------------------------------------------------------------------------------- loading
const isNode = typeof process !== "undefined" && process.versions != null && process.versions.node != null;

async function readFileBytes(pathOrUrl) {
  const fsName = "node:fs/promises"; // not a static import: browsers and bundlers never load it
  const fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ fsName);
  return fs.readFile(pathOrUrl);
}

async function compileOrInstantiate(source) {
  const imports = {};
  if (source === undefined || source === null) source = new URL("./neurolite_featurizer.wasm", import.meta.url);
  if (source instanceof WebAssembly.Module) return WebAssembly.instantiate(source, imports);
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    const bytes = ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : source;
    return (await WebAssembly.instantiate(bytes, imports)).instance;
  }
  if (typeof source === "string" || source instanceof URL) {
    let url = null;
    if (source instanceof URL) {
      url = source;
    } else if (/^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(source)) { // has a scheme (one letter = a Windows drive)
      url = new URL(source);
    } else if (!isNode) {
      url = new URL(source, globalThis.document?.baseURI ?? globalThis.location?.href ?? import.meta.url);
    }
    if (isNode && (url === null || url.protocol === "file:")) {
      const bytes = await readFileBytes(url ?? source);
      return (await WebAssembly.instantiate(bytes, imports)).instance;
    }
    const response = await fetch(url);
    if (!response.ok) throw new FeaturizerError(`wasm: fetching ${url} failed: HTTP ${response.status}`);
    if (typeof WebAssembly.instantiateStreaming === "function"
        && (response.headers.get("content-type") ?? "").split(";")[0].trim() === "application/wasm") {
      return (await WebAssembly.instantiateStreaming(response, imports)).instance;
    }
    return (await WebAssembly.instantiate(await response.arrayBuffer(), imports)).instance;
  }
  throw argumentError("source: expected a URL, a path, an ArrayBuffer, a Uint8Array or a WebAssembly.Module");
}

function checkInt(name, value, low, high) {
  if (typeof value !== "number" || !Number.isInteger(value) || value < low || value > high) {
    const shown = typeof value === "string" ? JSON.stringify(value) : String(value);
    throw argumentError(`${name}: must be an integer >= ${low}${high < 2 ** 31 ? ` and <= ${high}` : ""}, got ${shown}`);
  }
  return value;
}

class WasmRuntime {
  constructor(instance) {
    this.exports = instance.exports;
    this.memory = instance.exports.memory;
    if (typeof this.exports._initialize === "function") this.exports._initialize();
    this.buffer = null;
    this.inPtr = 0; // packed UTF-8 input
    this.inCap = 0;
    this.offPtr = 0; // uint32 offsets
    this.offCap = 0;
    this.version = this.readCString(this.exports.nlw_version());
  }

  u8() {
    if (this.buffer !== this.memory.buffer) {
      this.buffer = this.memory.buffer;
      this.bytes = new Uint8Array(this.buffer);
      this.words = new Uint32Array(this.buffer);
    }
    return this.bytes;
  }

  u32() {
    this.u8();
    return this.words;
  }

  readCString(ptr) {
    const bytes = this.u8();
    let end = ptr;
    while (bytes[end] !== 0) end++;
    return textDecoder.decode(bytes.subarray(ptr, end));
  }

  error() {
    const code = this.exports.nlw_error_code();
    const message = this.readCString(this.exports.nlw_error_message());
    const status = this.readCString(this.exports.nlw_status_name(code));
    return new FeaturizerError(message || status, code, status);
  }

  // Grow a reused buffer (free + malloc, by at least half) so that it holds `bytes` bytes.
  reserve(ptrKey, capKey, bytes) {
    if (bytes <= this[capKey]) return this[ptrKey];
    const want = Math.max(bytes, Math.floor(this[capKey] * 1.5), 1024);
    if (this[ptrKey]) this.exports.nlw_free(this[ptrKey]);
    this[ptrKey] = 0;
    this[capKey] = 0;
    const ptr = this.exports.nlw_malloc(want);
    if (!ptr) throw new FeaturizerError(`input: out of memory allocating ${want} bytes`, 7);
    this[ptrKey] = ptr;
    this[capKey] = want;
    return ptr;
  }

  // Encode texts into the input buffer; returns [basePtr, offsetsPtr] (offsets: count + 1 uint32).
  encodeTexts(texts) {
    const count = texts.length;
    let upper = 0;
    for (let i = 0; i < count; i++) upper += texts[i].length * 3;
    const base = this.reserve("inPtr", "inCap", upper);
    const offsets = this.reserve("offPtr", "offCap", (count + 1) * 4);
    const bytes = this.u8();
    const words = this.words;
    const o = offsets >>> 2;
    let pos = 0;
    words[o] = 0;
    for (let i = 0; i < count; i++) {
      const written = encodeInto(texts[i], bytes, base + pos);
      if (written > MAX_TEXT_BYTES) {
        throw new FeaturizerError(`texts[${i}]: ${written} bytes of UTF-8, more than the limit of ${MAX_TEXT_BYTES}`,
          NL_ERR_TOO_LONG);
      }
      pos += written;
      words[o + i + 1] = pos;
    }
    return [base, offsets];
  }

  encodeOne(text) {
    const base = this.reserve("inPtr", "inCap", text.length * 3);
    return [base, encodeInto(text, this.u8(), base)];
  }
}

const registry = typeof FinalizationRegistry === "function"
  ? new FinalizationRegistry(({ runtime, handle }) => runtime.exports.nlw_destroy(handle))
  : null;

class WasmFeaturizer {
  #runtime;
  #handle;
  #disposed = false;

  constructor(runtime, handle) {
    this.#runtime = runtime;
    this.#handle = handle;
    const exp = runtime.exports;
    const p = exp.nlw_params(handle) >>> 2;
    const w = runtime.u32();
    this.params = Object.freeze({
      numBuckets: w[p], numHashes: w[p + 1], wordHashes: w[p + 2], ngramMin: w[p + 3],
      ngramMax: w[p + 4], maxLength: w[p + 5], seed: w[p + 6],
    });
    this.digest = runtime.readCString(exp.nlw_digest(handle));
    registry?.register(this, { runtime, handle }, this);
  }

  #live() {
    if (this.#disposed) throw argumentError("featurizer: used after dispose()");
    return this.#runtime;
  }

  featurize(texts, options = {}) {
    const rt = this.#live();
    if (!Array.isArray(texts)) {
      const got = typeof texts === "string" ? "a single string; wrap it in an array" : (texts === null ? "null" : typeof texts);
      throw argumentError(`texts: expected an array of strings, got ${got}`);
    }
    for (let i = 0; i < texts.length; i++) {
      if (typeof texts[i] !== "string") {
        throw argumentError(`texts[${i}]: expected a string, got ${texts[i] === null ? "null" : typeof texts[i]}`);
      }
    }
    const { maxLength, padTo } = options ?? {};
    const limit = maxLength === undefined || maxLength === null ? 0 : checkInt("maxLength", maxLength, 1, 2 ** 31 - 1);
    const pad = padTo === undefined || padTo === null ? 0 : checkInt("padTo", padTo, 1, 2 ** 31 - 1);
    const exp = rt.exports;
    const [base, offsets] = rt.encodeTexts(texts);
    if (exp.nlw_featurize(this.#handle, base, offsets, texts.length, limit, pad) !== 0) throw rt.error();
    const w = rt.u32();
    const r = exp.nlw_result(this.#handle) >>> 2;
    const [fp, mp, lp, tp, length, count] = [w[r], w[r + 1], w[r + 2], w[r + 3], w[r + 4], w[r + 5]];
    const k = this.params.numHashes;
    const buf = rt.memory.buffer;
    return {
      features: new Int32Array(buf, fp, count * length * k).slice(),
      mask: new Float32Array(buf, mp, count * length).slice(),
      lengths: new Int32Array(buf, lp, count).slice(),
      truncated: new Uint8Array(buf, tp, count).slice(),
      batch: count,
      length,
      numHashes: k,
    };
  }

  #text(call, text) {
    const rt = this.#live();
    if (typeof text !== "string") throw argumentError(`text: expected a string, got ${text === null ? "null" : typeof text}`);
    const [ptr, len] = rt.encodeOne(text);
    if (len > MAX_TEXT_BYTES) throw new FeaturizerError(`text: ${len} bytes of UTF-8, more than the limit of ${MAX_TEXT_BYTES}`, NL_ERR_TOO_LONG);
    if (rt.exports[call](this.#handle, ptr, len) !== 0) throw rt.error();
    const w = rt.u32();
    const r = rt.exports.nlw_result(this.#handle) >>> 2;
    return textDecoder.decode(rt.u8().subarray(w[r], w[r] + w[r + 1]));
  }

  tokenize(text) {
    const joined = this.#text("nlw_tokenize", text);
    if (joined.length === 0) return [];
    const tokens = joined.split("\0");
    tokens.pop(); // each token is followed by one NUL
    return tokens;
  }

  normalize(text) {
    return this.#text("nlw_normalize", text);
  }

  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    registry?.unregister(this);
    this.#runtime.exports.nlw_destroy(this.#handle);
    this.#handle = 0;
  }
}

class WasmFeaturizerModule {
  #runtime;

  constructor(runtime) {
    this.#runtime = runtime;
    this.version = runtime.version;
    // For tests and diagnostics (not part of the API): the instance's memory.
    Object.defineProperty(this, Symbol.for("neurolite.featurizer.wasmMemory"), { value: runtime.memory });
  }

  create(config, options = {}) {
    const rt = this.#runtime;
    let json;
    if (typeof config === "string") json = config;
    else if (config !== null && typeof config === "object") json = JSON.stringify(config);
    else throw argumentError(`config: expected a JSON string or an object, got ${config === null ? "null" : typeof config}`);
    const cacheEntries = options?.cacheEntries === undefined || options?.cacheEntries === null
      ? DEFAULT_CACHE_ENTRIES : checkInt("cacheEntries", options.cacheEntries, 0, 2 ** 26);
    const [ptr, len] = rt.encodeOne(json);
    const handle = rt.exports.nlw_create(ptr, len, cacheEntries);
    if (!handle) throw rt.error();
    return new WasmFeaturizer(rt, handle);
  }
}

export async function loadFeaturizerModule(source) {
  const instance = await compileOrInstantiate(source);
  const exp = instance.exports;
  for (const name of ["memory", "nlw_malloc", "nlw_create", "nlw_featurize", "nlw_result"]) {
    if (!(name in exp)) throw new FeaturizerError(`wasm: not a NeuroLite featurizer module (no export ${name})`);
  }
  return new WasmFeaturizerModule(new WasmRuntime(instance));
}
