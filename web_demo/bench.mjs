#!/usr/bin/env node
// The web demo's speed in headless Chromium (one tab, one thread):
//
//   node web_demo/bench.mjs [--bundle DIR]... [--runs 200] [--reps 7] [--tokens 64] [--batch-size 1024] [--data PATH]
//
// 1. The WASM featurizer inside the page: tokens/s on SST-2 train (the sentence column, 67k rows),
//    default config, batches of 1,024, the modes of native/js/bench.mjs and
//    benchmarks/featurizer_throughput.py (cold: a fresh featurizer per pass; warm: after a warm-up pass;
//    no cache: cacheEntries 0); median, p10 and p90 over --reps passes.
// 2. Text-to-label latency of the page for each bundle (default: the tiny SST-2 bundles of `make demo`,
//    runs/sst2-tiny-bundles/{onnx,tflite}): one text of exactly --tokens tokens through
//    window.neurolite.predictTimed, the path the text box uses (featurize, pad to the signature,
//    run, softmax); 20 warm-up calls, then --runs timed calls; median, p10, p90 of the total and of
//    each stage, from the page's own performance.now() (5 µs ticks: serve.mjs isolates the page).
// Beside the wall-clock figures: rates over the CPU time of Chromium's processes (/proc, Linux), which
// stay meaningful when other processes share the cores, and the load average before and after.
// Prints Markdown tables and one JSON line with everything (versions included).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startServer } from './serve.mjs';
import { launch } from './test/e2e.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const DEFAULT_CONFIG = { num_buckets: 4096, num_hashes: 8, word_hashes: 4, ngram_min: 3, ngram_max: 5, max_length: 64, seed: 0, version: '1.0' };

function parseArgs(argv) {
  const options = { bundles: [], runs: 200, reps: 7, tokens: 64, batchSize: 1024, data: null };
  for (let i = 0; i < argv.length; i++) {
    const value = () => argv[++i];
    switch (argv[i]) {
      case '--bundle': options.bundles.push(value()); break;
      case '--runs': options.runs = Number(value()); break;
      case '--reps': options.reps = Number(value()); break;
      case '--tokens': options.tokens = Number(value()); break;
      case '--batch-size': options.batchSize = Number(value()); break;
      case '--data': options.data = value(); break;
      default: throw new Error(`${argv[i]}: unknown argument`);
    }
  }
  if (options.bundles.length === 0) {
    options.bundles = ['onnx', 'tflite'].map((f) => path.join(ROOT, 'runs', 'sst2-tiny-bundles', f));
  }
  options.data ??= path.join(process.env.NEUROLITE_DATA || path.join(ROOT, '..', 'shared', 'data'), 'sst2', 'train.tsv');
  for (const dir of options.bundles) {
    if (!existsSync(path.join(dir, 'manifest.json'))) throw new Error(`${dir}: no bundle there (run \`make demo\`, or pass --bundle DIR)`);
  }
  if (!existsSync(options.data)) throw new Error(`${options.data}: not found (set NEUROLITE_DATA or pass --data PATH)`);
  if (!(options.runs >= 50)) throw new Error('--runs: at least 50');
  return options;
}

const quantile = (values, q) => {
  const s = [...values].sort((a, b) => a - b);
  const x = (s.length - 1) * q;
  const lo = Math.floor(x);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (x - lo);
};
const summary = (values) => ({ median: quantile(values, 0.5), p10: quantile(values, 0.1), p90: quantile(values, 0.9), n: values.length });
const fmt = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** In the page: --reps featurizer passes over `texts` in one mode; the seconds of each pass and the tokens kept. */
async function featurizerInPage({ texts, config, reps, batchSize, mode }) {
  const module = await window.neurolite.featurizerModule();
  const pass = (f) => {
    let tokens = 0;
    for (let start = 0; start < texts.length; start += batchSize) {
      const out = f.featurize(texts.slice(start, start + batchSize));
      for (let i = 0; i < out.batch; i++) tokens += out.lengths[i];
    }
    return tokens;
  };
  const shared = mode === 'cold' ? null : module.create(config, mode === 'no cache' ? { cacheEntries: 0 } : {});
  if (mode === 'warm') pass(shared); // every token cached before the timed passes
  const seconds = [];
  let tokens = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    if (shared) {
      tokens = pass(shared);
    } else {
      const fresh = module.create(config);
      tokens = pass(fresh);
      fresh.dispose();
    }
    seconds.push((performance.now() - t0) / 1000);
  }
  shared?.dispose();
  return { version: module.version, isolated: self.crossOriginIsolated, seconds, tokens };
}

/** In the page: `runs` predictions of a text of exactly `tokens` tokens (SST-2 dev tokens joined by spaces). */
async function latencyInPage({ source, tokens, runs }) {
  const featurizer = (await window.neurolite.featurizerModule()).create(window.neurolite.info().featurizer.spec);
  const text = featurizer.tokenize(source).slice(0, tokens).join(' ');
  featurizer.dispose();
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const outcome = await window.neurolite.predictTimed([text]);
    if (outcome.tokens[0] !== tokens) throw new Error(`the text has ${outcome.tokens[0]} tokens, not ${tokens}`);
    samples.push({ ...outcome.timings, plan: outcome.plan.map((s) => `${s.signature} [${s.batch}x${s.length}]`).join(', ') });
  }
  return { samples, info: window.neurolite.info(), isolated: self.crossOriginIsolated };
}

/**
 * CPU seconds (user + system) so far of every process this one started (Chromium and its renderer,
 * GPU and utility processes; not node itself, which serves the files), from /proc (Linux); null
 * elsewhere. Rates over CPU time stay meaningful when other processes share the cores.
 */
function browserCpuSeconds(pid = process.pid) {
  if (!existsSync(`/proc/${pid}/stat`)) return null;
  const tick = 100; // USER_HZ on Linux
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      children.set(Number(entry), { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / tick });
    } catch {
      // the process ended meanwhile
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const current = stack.pop();
    if (current !== pid) total += children.get(current)?.cpu ?? 0;
    for (const [child, info] of children) if (info.ppid === current) stack.push(child);
  }
  return total;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const lines = readFileSync(options.data, 'utf8').split(/\r?\n/);
  const column = lines[0].split('\t').indexOf('sentence');
  const texts = lines.slice(1).filter((l) => l.trim()).map((l) => l.split('\t')[column]);
  const source = readFileSync(path.join(path.dirname(options.data), 'dev.tsv'), 'utf8').split(/\r?\n/).slice(1)
    .map((l) => l.split('\t')[0]).join(' ');
  const named = options.bundles.map((dir) => `${path.basename(dir)}=${dir}`);
  const server = await startServer({ port: 0, bundles: named });
  const browser = await launch();
  const report = { chromium: browser.version(), node: process.version, cpu: os.cpus()[0]?.model, cores: os.cpus().length,
    loadBefore: os.loadavg()[0],
    data: options.data, sentences: texts.length, tokens: options.tokens, runs: options.runs, latency: {} };
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(600_000);
    await page.goto(`${server.origin}/`);
    await page.waitForFunction(() => window.neurolite !== undefined);
    const pid = process.pid; // Chromium runs as a child of this process
    report.featurizer = { batchSize: options.batchSize, reps: options.reps, modes: {} };
    for (const mode of ['cold', 'warm', 'no cache']) {
      const cpu0 = browserCpuSeconds(pid);
      const fz = await page.evaluate(featurizerInPage, { texts, config: DEFAULT_CONFIG, reps: options.reps, batchSize: options.batchSize, mode });
      const cpu = cpu0 === null ? null : browserCpuSeconds(pid) - cpu0;
      Object.assign(report.featurizer, { version: fz.version, isolated: fz.isolated });
      report.featurizer.modes[mode] = { tokens: fz.tokens, seconds: summary(fz.seconds), tokensPerSecond: summary(fz.seconds.map((x) => fz.tokens / x)),
        tokensPerCpuSecond: cpu ? (fz.tokens * options.reps) / cpu : null };
    }
    for (const dir of options.bundles) {
      const name = path.basename(dir);
      await page.goto(`${server.origin}/?bundle=/bundles/${name}/`);
      await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state));
      const state = await page.evaluate(() => [document.body.dataset.state, document.getElementById('status').textContent]);
      if (state[0] !== 'ready') throw new Error(`${dir}: the page did not open it: ${await page.locator('#error').textContent()}`);
      await page.evaluate(latencyInPage, { source, tokens: options.tokens, runs: 20 }); // warm-up
      const cpu0 = browserCpuSeconds(pid);
      const run = await page.evaluate(latencyInPage, { source, tokens: options.tokens, runs: options.runs });
      const cpu = cpu0 === null ? null : browserCpuSeconds(pid) - cpu0;
      const stages = {};
      for (const stage of ['total', 'featurize', 'graph', 'postprocess']) stages[stage] = summary(run.samples.map((s) => s[stage]));
      report.latency[name] = { format: run.info.format, runtime: run.info.runtime, plan: run.samples[0].plan, isolated: run.isolated,
        featurizer: run.info.featurizer.spec, stages, cpuMsPerCall: cpu === null ? null : (1000 * cpu) / options.runs };
    }
  } finally {
    await browser.close();
    await server.close();
  }

  report.loadAfter = os.loadavg()[0];
  const cpuRate = (value, digits = 0) => (value === null ? 'n/a' : fmt(value, digits));
  console.log(`Chromium ${report.chromium} (headless), ${report.cpu}, ${report.cores} cores; one tab, one thread; node ${report.node}; ` +
    `load average ${report.loadBefore.toFixed(1)} before, ${report.loadAfter.toFixed(1)} after`);
  console.log(`\nWASM featurizer in the page (${report.featurizer.version}), SST-2 train: ${fmt(report.sentences)} sentences, ` +
    `batches of ${report.featurizer.batchSize}, ${report.featurizer.reps} passes per mode`);
  console.log('\n| mode | tokens | median s/pass | tokens/s median | p10 | p90 | tokens per CPU second |\n|---|---|---|---|---|---|---|');
  for (const [mode, m] of Object.entries(report.featurizer.modes)) {
    console.log(`| ${mode} | ${fmt(m.tokens)} | ${fmt(m.seconds.median, 3)} | ${fmt(m.tokensPerSecond.median)} | ` +
      `${fmt(m.tokensPerSecond.p10)} | ${fmt(m.tokensPerSecond.p90)} | ${cpuRate(m.tokensPerCpuSecond)} |`);
  }
  console.log(`\nText-to-label latency, one text of ${report.tokens} tokens, ${report.runs} runs after 20 warm-up (ms)`);
  console.log('\n| bundle | runtime | plan | total median | p10 | p90 | featurize | graph | post-processing | CPU ms per call |\n' +
    '|---|---|---|---|---|---|---|---|---|---|');
  for (const [name, l] of Object.entries(report.latency)) {
    const t = l.stages;
    console.log(`| ${name} | ${l.runtime} | ${l.plan} | ${fmt(t.total.median, 3)} | ${fmt(t.total.p10, 3)} | ${fmt(t.total.p90, 3)} | ` +
      `${fmt(t.featurize.median, 3)} | ${fmt(t.graph.median, 3)} | ${fmt(t.postprocess.median, 3)} | ${cpuRate(l.cpuMsPerCall, 3)} |`);
  }
  console.log(`\n${JSON.stringify(report)}`);
}

main().catch((error) => {
  console.error(`bench.mjs: ${error.message}`);
  process.exit(1);
});
