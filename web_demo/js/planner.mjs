// Fit a request to the shapes a bundle supports: pick a signature, pad, split, run, stitch.
// A port of runtime/planner.py (same choices, same order, same errors); see that file and
// docs/bundle.md "Signatures". The graph is padding-invariant, so padding a request up to a supported
// shape and dropping the padded rows afterwards gives exactly the numbers of an unpadded run.

export const BATCH = 'batch';
export const LENGTH = 'length';

/** A bad request (empty, too long, wrong dtype or shape); the message names the input. */
export class PredictionInputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PredictionInputError';
  }
}

const upper = (dim) => (dim.max === null ? Infinity : dim.max);

/** An n-d array: a typed array in row-major order and its shape. */
export class NdArray {
  constructor(data, shape) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== size) throw new Error(`NdArray: ${data.length} elements for shape [${shape}]`);
    this.data = data;
    this.shape = Array.from(shape);
  }
}

const DTYPES = { int32: Int32Array, float32: Float32Array, uint8: Uint8Array, int64: BigInt64Array };

const dtypeName = (data) => Object.keys(DTYPES).find((k) => data instanceof DTYPES[k]) ?? data.constructor.name;

/** TensorSpec.check: `value` if it has the spec's dtype, rank and fixed sizes, else a PredictionInputError. */
export function checkInput(spec, value) {
  const actual = dtypeName(value.data);
  if (actual !== spec.dtype) {
    throw new PredictionInputError(`inputs['${spec.name}']: dtype ${actual}, expected ${spec.dtype}`);
  }
  if (value.shape.length !== spec.shape.length) {
    throw new PredictionInputError(`inputs['${spec.name}']: shape [${value.shape}], expected ${spec.shape.length} ` +
      `dimensions ${JSON.stringify(spec.shape)}`);
  }
  spec.shape.forEach((dim, axis) => {
    if (typeof dim === 'number' && value.shape[axis] !== dim) {
      throw new PredictionInputError(`inputs['${spec.name}']: axis ${axis} (${dim}) has size ${value.shape[axis]}, ` +
        `expected [${dim}, ${dim}]`);
    }
  });
  return value;
}

/**
 * Cover `batch` rows of `length` tokens with as few padded rows and tokens as the signatures allow.
 * The shortest signature length that fits is used for the whole request; rows are then taken in the
 * largest chunks a signature accepts without padding, and only a remainder smaller than every
 * accepted batch is padded. Returns steps {signature, start, stop, batch, length}.
 */
export function plan(signatures, batch, length) {
  const fits = signatures.filter((s) => upper(s.length) >= length);
  if (fits.length === 0) {
    const longest = Math.max(...signatures.map((s) => upper(s.length)));
    throw new PredictionInputError(`length: ${length} tokens, but the bundle's longest signature takes ${longest}`);
  }
  const shortest = Math.min(...fits.map((s) => upper(s.length)));
  const options = fits.filter((s) => upper(s.length) === shortest);
  const steps = [];
  let start = 0;
  while (start < batch) {
    const remaining = batch - start;
    let signature;
    let take;
    let padded;
    const unpadded = options.filter((s) => s.batch.min <= remaining).map((s) => [Math.min(remaining, upper(s.batch)), s]);
    if (unpadded.length) {
      [take, signature] = unpadded.reduce((best, pair) => (pair[0] > best[0] ? pair : best)); // first max, as max()
      padded = take;
    } else {
      signature = options.reduce((best, s) => (s.batch.min < best.batch.min ? s : best)); // first min, as min()
      take = remaining;
      padded = signature.batch.min;
    }
    steps.push({ signature, start, stop: start + take, batch: padded, length: Math.max(length, signature.length.min) });
    start += take;
  }
  return steps;
}

/** [batch, length] of a request, read from the first input with a token axis. */
export function requestShape(signature, inputs) {
  for (const spec of signature.inputs) {
    if (spec.shape.includes(LENGTH)) {
      const value = input(inputs, spec);
      return [value.shape[spec.shape.indexOf(BATCH)], value.shape[spec.shape.indexOf(LENGTH)]];
    }
  }
  throw new PredictionInputError(`signature '${signature.name}': no input has a token ('length') axis`);
}

/**
 * Run every step with padded inputs; return the outputs of the real rows, in request order.
 * `runner.run(signatureName, {name: NdArray})` resolves to {name: NdArray}.
 */
export async function runPlan(runner, steps, inputs) {
  const pieces = {};
  for (const step of steps) {
    const feed = {};
    for (const spec of step.signature.inputs) feed[spec.name] = pad(input(inputs, spec), spec, step);
    const outputs = await runner.run(step.signature.name, feed);
    for (const spec of step.signature.outputs) {
      if (!(spec.name in outputs)) throw new Error(`signature '${step.signature.name}': the model returned no output '${spec.name}'`);
      const axis = spec.shape.indexOf(BATCH);
      (pieces[spec.name] ??= []).push(rows(outputs[spec.name], axis, 0, step.stop - step.start));
    }
  }
  const result = {};
  for (const spec of steps[0].signature.outputs) result[spec.name] = concat(pieces[spec.name], spec.shape.indexOf(BATCH));
  return result;
}

function input(inputs, spec) {
  if (!(spec.name in inputs)) throw new PredictionInputError(`inputs: missing '${spec.name}'`);
  return checkInput(spec, inputs[spec.name]);
}

/** Rows [start, stop) of `value`, zero-padded along its batch and token axes to the step's sizes. */
export function pad(value, spec, step) {
  const target = spec.shape.map((dim, axis) => (dim === BATCH ? step.batch : dim === LENGTH ? step.length : value.shape[axis]));
  return copyRegion(value, spec.shape.indexOf(BATCH), step.start, step.stop, target);
}

/** Rows [start, stop) along `axis`. */
export function rows(value, axis, start, stop) {
  const target = value.shape.slice();
  target[axis] = stop - start;
  return copyRegion(value, axis, start, stop, target);
}

/** Concatenate arrays along `axis`. */
export function concat(arrays, axis) {
  if (arrays.length === 1) return arrays[0];
  const shape = arrays[0].shape.slice();
  shape[axis] = arrays.reduce((sum, a) => sum + a.shape[axis], 0);
  const out = new arrays[0].data.constructor(shape.reduce((a, b) => a * b, 1));
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  let offset = 0;
  for (let o = 0; o < outer; o++) {
    for (const a of arrays) {
      const run = a.shape[axis] * inner;
      out.set(a.data.subarray(o * run, (o + 1) * run), offset);
      offset += run;
    }
  }
  return new NdArray(out, shape);
}

/**
 * A zero-filled array of shape `target` holding value[..., start:stop along batchAxis, ...] at its
 * origin (every other axis kept whole, or cut to `target` when that is smaller: never, in a plan).
 */
function copyRegion(value, batchAxis, start, stop, target) {
  const src = value.shape;
  const rank = src.length;
  const kept = src.map((n, axis) => Math.min(axis === batchAxis ? stop - start : n, target[axis]));
  const out = new value.data.constructor(target.reduce((a, b) => a * b, 1));
  if (kept.some((n) => n === 0)) return new NdArray(out, target);
  const srcStride = new Array(rank);
  const dstStride = new Array(rank);
  srcStride[rank - 1] = 1;
  dstStride[rank - 1] = 1;
  for (let a = rank - 2; a >= 0; a--) {
    srcStride[a] = srcStride[a + 1] * src[a + 1];
    dstStride[a] = dstStride[a + 1] * target[a + 1];
  }
  const run = kept[rank - 1];
  const base = start * srcStride[batchAxis];
  const index = new Array(rank - 1).fill(0);
  for (;;) {
    let s = base;
    let d = 0;
    for (let a = 0; a < rank - 1; a++) {
      s += index[a] * srcStride[a];
      d += index[a] * dstStride[a];
    }
    out.set(value.data.subarray(s, s + run), d);
    let a = rank - 2;
    while (a >= 0 && ++index[a] >= kept[a]) index[a--] = 0;
    if (a < 0) break;
  }
  return new NdArray(out, target);
}
