// Fails when the module has any import: a WASI (or other) import would make it fail to instantiate
// in a browser without a shim. Usage: node check_imports.mjs path/to/module.wasm
import { readFileSync, statSync } from "node:fs";

const path = process.argv[2];
const module = new WebAssembly.Module(readFileSync(path));
const imports = WebAssembly.Module.imports(module);
if (imports.length) {
  console.error(`${path}: imports ${imports.map((i) => `${i.module}.${i.name}`).join(", ")}`);
  process.exit(1);
}
const exports = WebAssembly.Module.exports(module).map((e) => e.name);
console.log(`${path}: ${statSync(path).size} bytes, no imports, exports ${exports.join(" ")}`);
