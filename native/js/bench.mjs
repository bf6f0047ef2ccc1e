// Throughput of the WASM featurizer in node: tokens per second on SST-2 train (the sentence column),
// the same passes as benchmarks/featurizer_throughput.py (Python reference) so the figures compare.
//
//   node native/js/bench.mjs [--reps 7] [--batch-size 1024] [--limit ROWS] [--data PATH] [--wasm PATH]
//
// Modes (default config; tokens = kept tokens, summed over the pass):
//   cold          a fresh featurizer (empty cache) per repetition
//   warm          one featurizer after a warm-up pass (every token cached)
//   no cache      cacheEntries: 0 (every token hashed every time)
//   all distinct  cacheEntries: 0, each distinct SST-2 token once as its own text
//   batch 1 warm  one sentence per call (per-call overhead), first 5,000 sentences
// Prints the median and p90 wall time of a pass and the median tokens/s, plus CPU-time rates
// (process.cpuUsage) which stay meaningful when other processes share the core.
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";

import { loadFeaturizerModule } from "./featurizer.mjs";

const TARGET = 100_000;
const args = process.argv.slice(2);
function option(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}
const reps = Number(option("--reps", 7));
const batchSize = Number(option("--batch-size", 1024));
const limit = option("--limit", null);
const root = fileURLToPath(new URL("../../", import.meta.url));
let dataPath = option("--data", null);
if (!dataPath) {
  // Where the project keeps public data (neurolite_sdk/public_data.py): $NEUROLITE_DATA, else ../shared/data.
  const folder = process.env.NEUROLITE_DATA || `${root}../shared/data`;
  dataPath = `${folder}/sst2/train.tsv`;
}
if (!existsSync(dataPath)) throw new Error(`${dataPath} not found: set NEUROLITE_DATA or pass --data PATH`);

const lines = readFileSync(dataPath, "utf8").split(/\r?\n/);
const column = lines[0].split("\t").indexOf("sentence");
if (column < 0) throw new Error(`${dataPath}: no 'sentence' column in the header`);
let texts = lines.slice(1).filter((line) => line.trim()).map((line) => line.split("\t")[column]);
if (limit) texts = texts.slice(0, Number(limit));

const module = await loadFeaturizerModule(option("--wasm", undefined));
const CONFIG = { num_buckets: 4096, num_hashes: 8, word_hashes: 4, ngram_min: 3, ngram_max: 5, max_length: 64, seed: 0, version: "1.0" };

function onePass(featurizer, items, size) {
  let tokens = 0;
  for (let start = 0; start < items.length; start += size) {
    const out = featurizer.featurize(items.slice(start, start + size));
    for (let i = 0; i < out.batch; i++) tokens += out.lengths[i];
  }
  return tokens;
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  const x = (s.length - 1) * p / 100;
  const lo = Math.floor(x);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (x - lo);
}

const fmt = (n, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

function measure(name, repetitions, run) {
  const wall = [];
  const cpu = [];
  let tokens = 0;
  for (let r = 0; r < repetitions; r++) {
    const cpuStart = process.cpuUsage();
    const start = process.hrtime.bigint();
    tokens = run();
    wall.push(Number(process.hrtime.bigint() - start) / 1e9);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1e6);
  }
  const med = median(wall);
  const p90 = percentile(wall, 90);
  const medCpu = median(cpu);
  const rate = tokens / med;
  const rateCpu = tokens / medCpu;
  console.log(`${name.padEnd(13)} ${fmt(tokens).padStart(8)} tok | wall median ${fmt(med * 1e3, 1).padStart(7)} ms `
    + `p90 ${fmt(p90 * 1e3, 1).padStart(7)} ms ${fmt(rate).padStart(10)} tok/s ${(rate / TARGET).toFixed(2).padStart(5)}x `
    + `| CPU median ${fmt(medCpu * 1e3, 1).padStart(7)} ms ${fmt(rateCpu).padStart(10)} tok/s`);
  return { tokens, median: med, p90, rate, rateCpu };
}

const probe = module.create(CONFIG);
let total = 0;
let truncated = 0;
const distinctSet = new Set();
for (const text of texts) {
  const tokens = probe.tokenize(text);
  total += tokens.length;
  if (tokens.length > CONFIG.max_length) truncated++;
  for (const t of tokens) distinctSet.add(t);
}
probe.dispose();
const distinct = [...distinctSet].sort();
const cpus = os.cpus();
console.log(`${module.version}; node ${process.version}, ${os.arch()}, ${cpus.length} CPUs (${cpus[0]?.model ?? "?"}), 1 thread`);
console.log(`${dataPath}: ${fmt(texts.length)} sentences, ${fmt(total)} tokens (${fmt(distinct.length)} distinct, `
  + `${truncated} truncated at ${CONFIG.max_length}); batch size ${batchSize}, ${reps} repetitions; default cache 65,536 entries`);

const results = {};
results.cold = measure("cold", reps, () => {
  const f = module.create(CONFIG);
  const n = onePass(f, texts, batchSize);
  f.dispose();
  return n;
});
const warm = module.create(CONFIG);
onePass(warm, texts, batchSize);
results.warm = measure("warm", reps, () => onePass(warm, texts, batchSize));
const uncached = module.create(CONFIG, { cacheEntries: 0 });
results.noCache = measure("no cache", reps, () => onePass(uncached, texts, batchSize));
results.allDistinct = measure("all distinct", Math.max(1, reps >> 1), () => onePass(uncached, distinct, batchSize));
const sample = texts.slice(0, 5000);
results.batch1 = measure("batch 1 warm", Math.max(1, reps >> 1), () => onePass(warm, sample, 1));
warm.dispose();
uncached.dispose();
const worst = Math.min(results.cold.rate, results.warm.rate, results.noCache.rate);
console.log(`target ${fmt(TARGET)} tokens/s on one core: ${worst >= TARGET ? "meets" : "MISSES"} it `
  + `(min over cold/warm/no cache ${fmt(worst)} tok/s, ${(worst / TARGET).toFixed(2)}x)`);
if (args.includes("--json")) console.log(JSON.stringify(results));
