// Shared by the node tests: the golden file, the module (built by `make -C native/wasm`), configs.
import { readFileSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

import { loadFeaturizerModule } from "../featurizer.mjs";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const WASM_PATH = fileURLToPath(new URL("../neurolite_featurizer.wasm", import.meta.url));
export const GOLDEN = JSON.parse(readFileSync(new URL("tests/golden/featurizer_v1.json", `file://${ROOT}`), "utf8"));

if (!existsSync(WASM_PATH)) {
  throw new Error(`${WASM_PATH} is missing: build it first with \`make -C native/wasm\``);
}

let modulePromise = null;
export function getModule() {
  modulePromise ??= loadFeaturizerModule();
  return modulePromise;
}

/** The golden config without its derived fields (canonical_json, digest): what a featurizer.json holds. */
export function specConfig(name) {
  const { canonical_json: _c, digest: _d, ...config } = GOLDEN.configs[name];
  return config;
}

/** A case's input text: `text`, or `text_recipe` (repeat, cut to `length` code points). */
export function caseText(c) {
  if (c.text !== undefined) return c.text;
  const unit = Array.from(c.text_recipe.repeat);
  const points = [];
  while (points.length < c.text_recipe.length) points.push(...unit);
  return points.slice(0, c.text_recipe.length).join("");
}

export function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Int32Array -> its little-endian bytes (what all_features_sha256 hashes). */
export function int32LE(array) {
  const out = new DataView(new ArrayBuffer(array.length * 4));
  for (let i = 0; i < array.length; i++) out.setInt32(i * 4, array[i], true);
  return new Uint8Array(out.buffer);
}

/** Row-major flattening of nested arrays. */
export function flat(nested) {
  return nested.flat(Infinity);
}
