// The two web runtimes behind one interface: `await Runtime.open(bundle)` then
// `await runtime.run(signatureName, {name: NdArray}) -> {name: NdArray}`, the contract
// planner.runPlan drives (as runtime/backends/*.py do in Python). The model is created from the bytes
// whose SHA-256 was checked, never fetched a second time.

import { NdArray } from './planner.mjs';

const here = (path) => new URL(path, import.meta.url).href; // absolute: the runtimes want absolute URLs

async function packageVersion(name) {
  try {
    const response = await fetch(here(`../node_modules/${name}/package.json`));
    return response.ok ? (await response.json()).version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function checkSignatures(bundle, available, what) {
  const missing = bundle.signatures.map((s) => s.name).filter((name) => !available.includes(name));
  if (missing.length) {
    throw new Error(`${bundle.source.where(bundle.entry)}: signatures ${missing.join(', ')} are in the manifest but not ` +
      `in the model (${what} has: ${available.join(', ')})`);
  }
}

/** onnxruntime-web, WebAssembly execution provider, one thread (no cross-origin isolation needed). */
export class OnnxRuntime {
  static package = 'onnxruntime-web';

  static async open(bundle) {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.wasmPaths = here('../node_modules/onnxruntime-web/dist/'); // absolute, or ort resolves it against itself
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = 'error';
    const externalData = [...bundle.files].filter(([name]) => name !== bundle.entry && name.endsWith('.data'))
      .map(([path, data]) => ({ path, data }));
    let session;
    try {
      session = await ort.InferenceSession.create(bundle.files.get(bundle.entry),
        { executionProviders: ['wasm'], graphOptimizationLevel: 'all', externalData });
    } catch (error) {
      throw new Error(`${bundle.source.where(bundle.entry)}: onnxruntime-web cannot load it (${error.message ?? error})`);
    }
    const inputs = bundle.signatures[0].inputs.map((t) => t.name);
    const absent = inputs.filter((name) => !session.inputNames.includes(name));
    if (absent.length) {
      throw new Error(`${bundle.source.where(bundle.entry)}: inputs ${absent.join(', ')} are in the manifest but not in ` +
        `the graph (it has: ${session.inputNames.join(', ')})`);
    }
    return new OnnxRuntime(ort, session, bundle, await packageVersion(OnnxRuntime.package));
  }

  constructor(ort, session, bundle, version) {
    this.ort = ort;
    this.session = session;
    this.bundle = bundle;
    this.name = 'onnxruntime-web';
    this.version = version;
    this.detail = 'WebAssembly, 1 thread';
  }

  // ONNX bundles have one signature ("forward"); the graph takes any batch and length in its ranges.
  async run(_signature, feeds) {
    const tensors = {};
    for (const [name, value] of Object.entries(feeds)) {
      tensors[name] = new this.ort.Tensor(value.data instanceof Int32Array ? 'int32' : 'float32', value.data, value.shape);
    }
    const results = await this.session.run(tensors);
    const outputs = {};
    for (const [name, tensor] of Object.entries(results)) {
      outputs[name] = new NdArray(tensor.data, Array.from(tensor.dims, Number));
      tensor.dispose?.();
    }
    return outputs;
  }

  dispose() {
    this.session.release?.();
  }
}

/** LiteRT.js (@litertjs/core), WebAssembly (XNNPACK) accelerator; one compiled model, a runner per signature. */
export class LiteRtRuntime {
  static package = '@litertjs/core';
  static loading = null;

  static async open(bundle) {
    const litert = await import('@litertjs/core');
    LiteRtRuntime.loading ??= litert.loadLiteRt(here('../node_modules/@litertjs/core/wasm/'));
    await LiteRtRuntime.loading;
    let model;
    try {
      model = await litert.loadAndCompile(bundle.files.get(bundle.entry), { accelerator: 'wasm' });
    } catch (error) {
      throw new Error(`${bundle.source.where(bundle.entry)}: LiteRT.js cannot load it (${error.message ?? error})`);
    }
    checkSignatures(bundle, Object.keys(model.signatures), 'the model');
    return new LiteRtRuntime(litert, model, bundle, await packageVersion(LiteRtRuntime.package));
  }

  constructor(litert, model, bundle, version) {
    this.litert = litert;
    this.model = model;
    this.bundle = bundle;
    this.name = 'LiteRT.js';
    this.version = version;
    this.detail = 'WebAssembly (XNNPACK)';
  }

  // TFLite signatures are static: the planner has already padded the feed to this signature's shape.
  async run(signature, feeds) {
    const inputs = {};
    const outputs = {};
    try {
      for (const [name, value] of Object.entries(feeds)) inputs[name] = new this.litert.Tensor(value.data, value.shape);
      const results = await this.model.run(signature, inputs);
      for (const [name, tensor] of Object.entries(results)) {
        const data = tensor.toTypedArray();
        outputs[name] = new NdArray(data.slice(), Array.from(tensor.type.layout.dimensions, Number));
        tensor.delete();
      }
    } finally {
      for (const tensor of Object.values(inputs)) tensor.delete();
    }
    return outputs;
  }

  dispose() {
    this.model.delete();
  }
}

export const RUNTIMES = { onnx: OnnxRuntime, tflite: LiteRtRuntime };
