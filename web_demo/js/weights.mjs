// Coded weights decoded at load (manifest schema_version 2, the `weights` section): the model file is
// rebuilt from its zlib-compressed shell and the orbital8 codes before any runtime sees it, exactly as
// runtime/weights.py does (docs/orbital8.md, "Two forms"). The rebuilt file must have the size and the
// SHA-256 the manifest records, so the runtime gets the very bytes parity ran on, or nothing.
//
//   weights: {decode: 'load', codes: 'weights.orbital8.safetensors',
//             files: [{path, shell, compression: 'zlib' | 'none', bytes, sha256,
//                      regions: [{offset, tensor, rows, transpose, scale}]}]}
//
// A region holds W[:rows] of the decoded weight W ([out, n] float32), transposed when `transpose`, times
// float32(scale) when `scale` is not null. orbital8 decodes as T[code]*scale (+ offset) in float32; int8 as
// code*scale. Float32Array stores round each step to float32, and a double product or sum of two float32
// values rounds to the float32 result IEEE single arithmetic gives, so the bytes equal numpy's.

export const WEIGHTS_KEY = 'weights';
export const COMPRESSIONS = ['zlib', 'none'];
export const QUANT_METADATA_KEY = 'neurolite.quantization';
export const QUANT_FORMAT = 'neurolite-quant/1';
const MAX_HEADER = 16 << 20;
const TABLE_SIZE = 256;
const DTYPES = { U8: 1, I8: 1, F32: 4, I32: 4 };

/**
 * The manifest's `weights` section, every field checked; `fail(message)` builds the error (the bundle
 * reader's BundleError). Returns {codes, files: [{path, shell, compression, bytes, sha256, regions}]}.
 */
export function parseWeights(doc, where, fail) {
  where = `${where}: ${WEIGHTS_KEY}`;
  if (!isObject(doc)) throw fail(`${where}: expected an object`);
  if (doc.decode !== 'load') throw fail(`${where}: decode: expected 'load', got ${JSON.stringify(doc.decode ?? null)}`);
  const codes = get(doc, 'codes', 'string', where, fail);
  const entries = get(doc, 'files', 'array', where, fail);
  if (entries.length === 0) throw fail(`${where}: files: empty`);
  const files = entries.map((entry, i) => {
    const here = `${where}.files[${i}]`;
    if (!isObject(entry)) throw fail(`${here}: expected an object`);
    const compression = get(entry, 'compression', 'string', here, fail);
    if (!COMPRESSIONS.includes(compression)) {
      throw fail(`${here}: compression: '${compression}' is not one of ${COMPRESSIONS.join(', ')}`);
    }
    const bytes = get(entry, 'bytes', 'integer', here, fail);
    const sha256 = get(entry, 'sha256', 'string', here, fail);
    if (bytes < 0 || sha256.length !== 64) throw fail(`${here}: bytes must be >= 0 and sha256 64 hex digits`);
    const regions = get(entry, 'regions', 'array', here, fail).map((region, j) => {
      const at = `${here}.regions[${j}]`;
      if (!isObject(region)) throw fail(`${at}: expected an object`);
      const scale = region.scale ?? null;
      if (scale !== null && (typeof scale !== 'number' || !Number.isFinite(scale))) {
        throw fail(`${at}: scale: expected a finite number or null, got ${JSON.stringify(scale)}`);
      }
      const transpose = 'transpose' in region ? region.transpose : false;
      if (typeof transpose !== 'boolean') throw fail(`${at}: transpose: expected true or false`);
      return { offset: get(region, 'offset', 'integer', at, fail), tensor: get(region, 'tensor', 'string', at, fail),
        rows: get(region, 'rows', 'integer', at, fail), transpose, scale };
    });
    return { path: get(entry, 'path', 'string', here, fail), shell: get(entry, 'shell', 'string', here, fail),
      compression, bytes, sha256, regions };
  });
  const paths = files.map((f) => f.path);
  if (new Set(paths).size !== paths.length) throw fail(`${where}: files: a path appears twice (${JSON.stringify(paths)})`);
  return { codes, files };
}

/**
 * `contents` (name -> verified bytes) with each coded file rebuilt, and its shell and the codes file
 * dropped. `sha256Hex(bytes)` is the reader's digest. Throws fail(...) naming the file and what is wrong;
 * nothing is returned unless every file rebuilt to its recorded SHA-256.
 */
export async function restoreFiles(weights, contents, where, { fail, sha256Hex, onProgress = () => {} }) {
  const shells = new Set(weights.files.map((f) => f.shell));
  for (const name of [weights.codes, ...shells]) {
    if (!contents.has(name)) throw fail(`${where}: ${WEIGHTS_KEY}: '${name}' is not among the bundle's files`);
  }
  const taken = weights.files.map((f) => f.path).filter((p) => contents.has(p));
  if (taken.length) throw fail(`${where}: ${WEIGHTS_KEY}: ${JSON.stringify(taken)} would be rebuilt over a file the bundle lists`);
  const coded = readCodes(contents.get(weights.codes), `${where}: ${weights.codes}`, fail);
  const decoded = new Map();
  const restored = new Map();
  for (const [name, bytes] of contents) if (name !== weights.codes && !shells.has(name)) restored.set(name, bytes);
  for (const entry of weights.files) {
    onProgress(`rebuilding ${entry.path} from its shell and ${weights.codes}`);
    restored.set(entry.path, await rebuild(entry, contents.get(entry.shell), coded, decoded, `${where}: ${entry.path}`,
      fail, sha256Hex));
  }
  return restored;
}

/**
 * The coded tensors of a safetensors file written from pack_state (quantization/layout.py), checked as
 * unpack_state and OrbitalTensor.validate check them: name -> {scheme, shape, rows, columns, codes,
 * scale, offset, table}. Arrays the metadata does not describe are kept floats: not coded tensors.
 */
export function readCodes(data, where, fail) {
  const { arrays, metadata } = readSafetensors(data, where, fail);
  let header;
  try {
    header = JSON.parse(metadata[QUANT_METADATA_KEY]);
  } catch (error) {
    throw fail(`${where}: ${QUANT_METADATA_KEY}: missing or not JSON in the metadata (${error.message})`);
  }
  if (!isObject(header) || header.format !== QUANT_FORMAT) {
    throw fail(`${where}: ${QUANT_METADATA_KEY}: format ${JSON.stringify(header?.format ?? null)}, expected '${QUANT_FORMAT}'`);
  }
  const coded = new Map();
  for (const [name, entry] of Object.entries(isObject(header.tensors) ? header.tensors : {})) {
    const at = `${where}: ${name}`;
    const shape = entry?.shape;
    if (!isObject(entry) || !Array.isArray(shape) || shape.length < 2 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
      throw fail(`${at}: malformed entry in ${QUANT_METADATA_KEY} (shape ${JSON.stringify(shape ?? null)})`);
    }
    const rows = shape[0];
    const columns = shape.slice(1).reduce((a, b) => a * b, 1);
    const part = (suffix, dtype, dims) => {
      const array = arrays.get(name + suffix);
      if (!array) throw fail(`${at}: array '${name + suffix}' is missing`);
      if (array.dtype !== dtype || array.shape.length !== dims.length || array.shape.some((d, i) => d !== dims[i])) {
        throw fail(`${at}: ${suffix.slice(1)}: expected ${dtype} [${dims.join(', ')}] for ${entry.scheme} of shape ` +
          `[${shape.join(', ')}], got ${array.dtype} [${array.shape.join(', ')}]`);
      }
      return array.values;
    };
    if (entry.scheme === 'orbital8') {
      coded.set(name, { scheme: 'orbital8', shape, rows, columns, codes: part('.codes', 'U8', [rows, columns]),
        scale: part('.scale', 'F32', [rows]), offset: entry.offset ? part('.offset', 'F32', [rows]) : null,
        table: part('.tables', 'F32', [1, TABLE_SIZE]) });
    } else if (entry.scheme === 'int8') {
      coded.set(name, { scheme: 'int8', shape, rows, columns, codes: part('.codes', 'I8', [rows, columns]),
        scale: part('.scale', 'F32', [rows]), offset: null, table: null });
    } else {
      throw fail(`${at}: scheme: unknown scheme ${JSON.stringify(entry.scheme ?? null)}; expected orbital8 or int8`);
    }
  }
  return coded;
}

/**
 * A safetensors file (an 8-byte little-endian header size, a JSON header of {name: {dtype, shape,
 * data_offsets}} and __metadata__, then the data): {arrays: name -> {dtype, shape, values}, metadata}.
 * Values are Uint8Array (U8), Int8Array (I8), Float32Array (F32) or Int32Array (I32), read little-endian.
 */
export function readSafetensors(data, where, fail) {
  if (data.length < 8) throw fail(`${where}: ${data.length} bytes, too short for a safetensors file`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const size = view.getBigUint64(0, true);
  if (size > BigInt(Math.min(MAX_HEADER, data.length - 8))) throw fail(`${where}: header of ${size} bytes does not fit the file`);
  let header;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(8, 8 + Number(size))));
  } catch (error) {
    throw fail(`${where}: the safetensors header is not JSON (${error.message})`);
  }
  if (!isObject(header)) throw fail(`${where}: the safetensors header is not an object`);
  const metadata = header.__metadata__ ?? {};
  delete header.__metadata__;
  if (!isObject(metadata) || !Object.values(metadata).every((v) => typeof v === 'string')) {
    throw fail(`${where}: __metadata__ is not an object of strings`);
  }
  const body = 8 + Number(size);
  const length = data.length - body;
  const arrays = new Map();
  for (const [name, info] of Object.entries(header)) {
    const item = DTYPES[info?.dtype];
    const shape = info?.shape;
    const offsets = info?.data_offsets;
    const whole = (d) => Number.isSafeInteger(d) && d >= 0;
    const ok = item !== undefined && Array.isArray(shape) && shape.every(whole) && Array.isArray(offsets) &&
      offsets.length === 2 && offsets.every(whole) && offsets[0] <= offsets[1] && offsets[1] <= length &&
      offsets[1] - offsets[0] === shape.reduce((a, b) => a * b, 1) * item;
    if (!ok) throw fail(`${where}: tensor '${name}': malformed entry ${JSON.stringify(info)}`);
    const bytes = data.subarray(body + offsets[0], body + offsets[1]);
    arrays.set(name, { dtype: info.dtype, shape, values: typed(info.dtype, bytes) });
  }
  return { arrays, metadata };
}

function typed(dtype, bytes) {
  if (dtype === 'U8') return bytes;
  if (dtype === 'I8') return new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / 4;
  const out = dtype === 'F32' ? new Float32Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = dtype === 'F32' ? view.getFloat32(4 * i, true) : view.getInt32(4 * i, true);
  return out;
}

/** A coded tensor's float32 weight as [rows, columns], row-major (T[code]*scale (+ offset), or code*scale). */
export function decodeRows(tensor) {
  const { rows, columns, codes, scale, offset, table } = tensor;
  const out = new Float32Array(rows * columns);
  for (let c = 0; c < rows; c++) {
    const s = scale[c];
    const base = c * columns;
    if (table === null) {
      for (let j = 0; j < columns; j++) out[base + j] = codes[base + j] * s;
    } else if (offset === null) {
      for (let j = 0; j < columns; j++) out[base + j] = table[codes[base + j]] * s;
    } else {
      const o = offset[c];
      for (let j = 0; j < columns; j++) out[base + j] = Math.fround(table[codes[base + j]] * s) + o;
    }
  }
  return out;
}

/** The region's float32 values, as the file stores them: W[:rows], transposed or not, times scale or not. */
function regionValues(region, weight, columns) {
  const { rows, transpose, scale } = region;
  const out = new Float32Array(rows * columns);
  if (!transpose) out.set(weight.subarray(0, rows * columns));
  else for (let r = 0; r < rows; r++) for (let j = 0; j < columns; j++) out[j * rows + r] = weight[r * columns + j];
  if (scale !== null) {
    const factor = Math.fround(scale);
    for (let i = 0; i < out.length; i++) out[i] *= factor;
  }
  return out;
}

async function rebuild(entry, stored, coded, decoded, where, fail, sha256Hex) {
  const regions = [...entry.regions].sort((a, b) => a.offset - b.offset);
  let end = 0;
  let valueBytes = 0;
  for (const region of regions) { // every region placed and sized before anything is allocated or decoded
    const tensor = coded.get(region.tensor);
    if (!tensor) throw fail(`${where}: region at ${region.offset}: '${region.tensor}' is not a coded tensor of the codes file`);
    if (!(region.rows >= 1 && region.rows <= tensor.rows)) {
      throw fail(`${where}: region at ${region.offset}: rows ${region.rows} outside 1..${tensor.rows}`);
    }
    if (region.offset < end) throw fail(`${where}: region at ${region.offset} (${region.tensor}) overlaps the one before it`);
    end = region.offset + region.rows * tensor.columns * 4;
    valueBytes += region.rows * tensor.columns * 4;
  }
  const shellBytes = entry.bytes - valueBytes;
  if (end > entry.bytes || shellBytes < 0) {
    throw fail(`${where}: its regions do not fit the file's ${entry.bytes.toLocaleString('en-US')} bytes`);
  }
  const shell = await readShell(entry, stored, shellBytes, where, fail);
  const out = new Uint8Array(entry.bytes);
  let cursor = 0; // position in the rebuilt file
  let taken = 0; // position in the shell
  for (const region of regions) {
    const tensor = coded.get(region.tensor);
    if (!decoded.has(region.tensor)) decoded.set(region.tensor, decodeRows(tensor));
    const values = regionValues(region, decoded.get(region.tensor), tensor.columns);
    const gap = region.offset - cursor;
    out.set(shell.subarray(taken, taken + gap), cursor);
    taken += gap;
    const bytes = new Uint8Array(values.byteLength);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
    out.set(bytes, region.offset);
    cursor = region.offset + bytes.length;
  }
  out.set(shell.subarray(taken), cursor);
  if ((await sha256Hex(out)) !== entry.sha256) {
    throw fail(`${where}: rebuilt from its shell and codes, it differs from the file the manifest records (SHA-256); ` +
      'the codes or the regions were modified after export');
  }
  return out;
}

/** The shell's bytes, which must be exactly `size` (inflated no further than one byte past it). */
async function readShell(entry, stored, size, where, fail) {
  let shell = stored;
  if (entry.compression === 'zlib') shell = await inflate(stored, size + 1, `${where}: its shell '${entry.shell}'`, fail);
  if (shell.length !== size) {
    throw fail(`${where}: its shell '${entry.shell}' holds ${shell.length.toLocaleString('en-US')} bytes or more, the ` +
      `manifest's size and regions leave ${size.toLocaleString('en-US')}`);
  }
  return shell;
}

/** Up to `limit` bytes of a zlib stream (RFC 1950: DecompressionStream's 'deflate'). */
async function inflate(stored, limit, where, fail) {
  const out = new Uint8Array(limit);
  let filled = 0;
  const reader = new Blob([stored]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = Math.min(value.length, limit - filled);
      out.set(value.subarray(0, room), filled);
      filled += room;
      if (filled === limit) {
        await reader.cancel().catch(() => {});
        break;
      }
    }
  } catch (error) {
    throw fail(`${where} does not decompress (${error.message ?? error})`);
  }
  return out.subarray(0, filled);
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

function get(doc, key, type, where, fail) {
  const value = doc[key];
  const ok = { string: typeof value === 'string', integer: Number.isInteger(value), array: Array.isArray(value) }[type];
  if (!ok) {
    const expected = { string: 'str', integer: 'int', array: 'list' }[type];
    const got = value === undefined || value === null ? 'NoneType' : Array.isArray(value) ? 'list'
      : Number.isInteger(value) ? 'int' : { string: 'str', number: 'float', boolean: 'bool', object: 'dict' }[typeof value];
    throw fail(`${where}: ${key}: expected ${expected}, got ${got}`);
  }
  return value;
}
