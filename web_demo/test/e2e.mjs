#!/usr/bin/env node
// End-to-end check of the web demo in headless Chromium, driven by tests/test_web_demo.py:
//
//   node web_demo/test/e2e.mjs CONFIG.json RESULT.json
//
// CONFIG (written by the pytest):
//   bundles:  {name: dir}           bundles to serve, open by URL, and predict with
//   texts:    {name: [text]}        texts; each is predicted with every bundle in `predict`
//   predict:  [[bundle, texts]]     which text sets go through which bundle (window.neurolite.predict)
//   picker:   bundle name           opened again through the folder picker (<input webkitdirectory>)
//   drop:     bundle name           its files dropped on the page (a script-made DataTransfer)
//   typing:   {bundle, texts}       typed into the page's text box with real key events, one after another
//   refused:  [{name, dir, via}]    broken bundles, opened by "url" or through the "picker"
//   golden:   path of tests/golden/featurizer_v1.json, run through the page's WASM featurizer
//   screenshot: where to save a PNG of the page after a prediction
//   featurizer: (optional) the directory served as /featurizer/ (default native/js)
// RESULT: what the page returned (predictions, messages, golden mismatches); the pytest judges it.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

import { startServer } from '../serve.mjs';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const TIMEOUT_MS = 120_000;

// LiteRT.js writes its C++ INFO/WARNING log lines (and its WebGPU probe) to console.error/warn.
const RUNTIME_CHATTER = /^(INFO|WARNING): |No available adapters|Failed to create default WebGPU device|GPU adapter/;

/** Runs in the page: every golden field the JS API exposes, through the page's own featurizer module. */
async function goldenInPage(goldenText) {
  const G = JSON.parse(goldenText); // parsed here, so lone surrogates in the JSON survive the trip
  const module = await window.neurolite.featurizerModule();
  const failures = [];
  const counts = { configs: 0, cases: 0, bytes_cases: 0, batches: 0, token_details: 0 };
  const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  const fail = (what, detail) => failures.push(`${what}: ${detail}`);
  const spec = (name) => {
    const { canonical_json: _c, digest: _d, ...config } = G.configs[name];
    return config;
  };
  const hex = async (bytes) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)),
    (b) => b.toString(16).padStart(2, '0')).join('');
  if (!/spec 1\.0\b/.test(module.version)) fail('module.version', module.version);
  const featurizers = {};
  for (const name of Object.keys(G.configs)) {
    const golden = G.configs[name];
    if (window.neurolite.canonicalJson(spec(name)) !== golden.canonical_json) fail(`config ${name}`, 'page canonicalJson differs');
    if ((await window.neurolite.featurizerDigest(spec(name))) !== golden.digest) fail(`config ${name}`, 'page digest differs');
    const f = module.create(spec(name));
    if (f.digest !== golden.digest) fail(`config ${name}`, `core digest ${f.digest}`);
    const expected = { numBuckets: golden.num_buckets, numHashes: golden.num_hashes, wordHashes: golden.word_hashes,
      ngramMin: golden.ngram_min, ngramMax: golden.ngram_max, maxLength: golden.max_length, seed: golden.seed };
    for (const [key, value] of Object.entries(expected)) if (f.params[key] !== value) fail(`config ${name}`, `params.${key} ${f.params[key]}`);
    featurizers[name] = f;
    counts.configs++;
  }
  const caseText = (c) => {
    if (c.text !== undefined) return c.text;
    const unit = Array.from(c.text_recipe.repeat);
    const points = [];
    while (points.length < c.text_recipe.length) points.push(...unit);
    return points.slice(0, c.text_recipe.length).join('');
  };
  const checkCase = async (c, text, what) => {
    const f = featurizers[c.config];
    const k = f.params.numHashes;
    if (!same(f.tokenize(text), c.tokens)) fail(what, 'tokens');
    const out = f.featurize([text]);
    if (out.batch !== 1 || out.numHashes !== k || out.length !== Math.max(1, c.length)) fail(what, `shape ${out.batch}x${out.length}x${out.numHashes}`);
    if (out.lengths[0] !== c.length) fail(what, `length ${out.lengths[0]}`);
    if (out.truncated[0] !== (c.truncated ? 1 : 0)) fail(what, 'truncated');
    if (!same(Array.from(out.mask), c.mask)) fail(what, 'mask');
    if (!same(Array.from(out.features), c.features.flat(Infinity))) fail(what, 'features');
    const all = f.featurize([text], { maxLength: Math.max(1, c.num_tokens) });
    const bytes = new Uint8Array(c.num_tokens * k * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < c.num_tokens * k; i++) view.setInt32(i * 4, all.features[i], true);
    if ((await hex(bytes)) !== c.all_features_sha256) fail(what, 'all_features_sha256');
  };
  for (const [i, c] of G.cases.entries()) {
    await checkCase(c, caseText(c), `case ${i} ${c.config}/${c.name}`);
    counts.cases++;
  }
  // Raw UTF-8, invalid sequences included: a page gets text as strings, so TextDecoder (WHATWG's
  // U+FFFD rule, the spec's) turns the bytes into the string the featurizer sees.
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  for (const [i, c] of (G.bytes_cases ?? []).entries()) {
    const bytes = new Uint8Array(c.hex.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
    await checkCase(c, decoder.decode(bytes), `bytes case ${i} ${c.config}/${c.name}`);
    counts.bytes_cases++;
  }
  for (const b of G.batches) {
    const options = {};
    if (b.max_length !== null) options.maxLength = b.max_length;
    if (b.pad_to !== null) options.padTo = b.pad_to;
    const out = featurizers[b.config].featurize(b.texts, options);
    const what = `batch ${b.config}/${b.name}`;
    if (out.batch !== b.texts.length || out.length !== b.mask[0].length) fail(what, 'shape');
    if (!same(Array.from(out.lengths), b.lengths)) fail(what, 'lengths');
    if (!same(Array.from(out.truncated), b.truncated.map(Number))) fail(what, 'truncated');
    if (!same(Array.from(out.mask), b.mask.flat())) fail(what, 'mask');
    if (!same(Array.from(out.features), b.features.flat(Infinity))) fail(what, 'features');
    counts.batches++;
  }
  for (const d of G.token_details ?? []) {
    const out = featurizers[d.config].featurize([d.token]);
    if (!same(Array.from(out.features), d.buckets)) fail(`token_details ${d.config}/${JSON.stringify(d.token)}`, 'buckets');
    counts.token_details++;
  }
  for (const f of Object.values(featurizers)) f.dispose();
  return { version: module.version, counts, failures };
}

async function waitSettled(page) {
  await page.waitForFunction(() => ['ready', 'error', 'idle'].includes(document.body.dataset.state), null, { timeout: TIMEOUT_MS });
  return page.evaluate(() => ({
    state: document.body.dataset.state,
    status: document.getElementById('status').textContent,
    error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
    info: window.neurolite.info(),
  }));
}

async function openByUrl(page, origin, name) {
  await page.goto(`${origin}/?bundle=/bundles/${name}/`);
  await page.waitForFunction(() => window.neurolite !== undefined, null, { timeout: TIMEOUT_MS });
  await page.evaluate(() => window.neurolite.ready.catch(() => {}));
  return waitSettled(page);
}

async function openByPicker(page, origin, dir) {
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.neurolite !== undefined, null, { timeout: TIMEOUT_MS });
  await page.locator('#pick').setInputFiles(dir); // a directory: Chromium gives the page its files with webkitRelativePath
  await page.waitForFunction(() => document.body.dataset.state !== 'idle', null, { timeout: TIMEOUT_MS });
  return waitSettled(page);
}

async function typeAndRead(page, text) {
  const box = page.locator('#text');
  await box.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(text, { delay: 15 });
  await page.waitForFunction((t) => {
    const result = document.getElementById('result');
    return !result.hidden && result.dataset.text === t;
  }, text, { timeout: TIMEOUT_MS });
  return page.evaluate(() => ({
    text: document.getElementById('result').dataset.text,
    label: document.getElementById('label').textContent,
    bars: Array.from(document.querySelectorAll('#bars li'), (li) => [li.querySelector('.name').textContent, li.querySelector('.pct').textContent]),
    timings: Object.fromEntries(['featurize', 'graph', 'postprocess', 'total'].map((s) => [s, document.getElementById(`t-${s}`).textContent])),
  }));
}

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

async function main() {
  const [configPath, resultPath] = process.argv.slice(2);
  if (!configPath || !resultPath) {
    console.error('usage: node web_demo/test/e2e.mjs CONFIG.json RESULT.json');
    process.exit(2);
  }
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  const served = [...Object.entries(config.bundles), ...config.refused.filter((r) => r.via === 'url').map((r) => [r.name, r.dir])]
    .map(([name, dir]) => `${name}=${dir}`);
  const server = await startServer({ port: 0, bundles: served, ...(config.featurizer ? { featurizerDir: config.featurizer } : {}) });
  const browser = await launch();
  const result = { chromium: browser.version(), url: server.origin, bundles: {}, refused: {}, pageErrors: [], consoleErrors: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 820 } });
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('pageerror', (error) => result.pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !RUNTIME_CHATTER.test(message.text()) && !/Failed to load resource/.test(message.text())) {
        result.consoleErrors.push(message.text());
      }
    });

    for (const [name] of Object.entries(config.bundles)) {
      const opened = await openByUrl(page, server.origin, name);
      const entry = (result.bundles[name] = { opened, predictions: {} });
      if (opened.state !== 'ready') continue; // reported as is; the pytest says why
      for (const [bundle, set] of config.predict) {
        if (bundle !== name) continue;
        entry.predictions[set] = await page.evaluate((texts) => window.neurolite.predict(texts), config.texts[set]);
      }
      if (name === config.golden_bundle) {
        // A failure here is reported, not thrown, so the other checks still run and report.
        result.golden = await page.evaluate(goldenInPage, readFileSync(config.golden, 'utf8'))
          .catch((error) => ({ error: error.message }));
      }
      if (name === config.typing?.bundle) {
        result.typing = [];
        for (const text of config.typing.texts) result.typing.push(await typeAndRead(page, text));
        mkdirSync(path.dirname(config.screenshot), { recursive: true });
        await page.screenshot({ path: config.screenshot, fullPage: true });
        result.screenshot = config.screenshot;
      }
    }

    if (config.picker) {
      const opened = await openByPicker(page, server.origin, config.bundles[config.picker]);
      const texts = config.texts[config.predict.find(([bundle]) => bundle === config.picker)[1]].slice(0, 20);
      result.picker = { opened, texts, predictions: opened.state === 'ready' ? await page.evaluate((t) => window.neurolite.predict(t), texts) : null };
    }

    if (config.drop) {
      // A drop of loose files (the bundle's, selected rather than their folder): Playwright cannot drag a
      // real directory, and a script-made DataTransfer has no directory entries, so this covers the
      // handler and the flat-files path, not the folder walk.
      await page.goto(`${server.origin}/`);
      await page.waitForFunction(() => window.neurolite !== undefined);
      const names = await page.evaluate(async (name) => {
        const manifest = await (await fetch(`/bundles/${name}/manifest.json`)).json();
        const transfer = new DataTransfer();
        for (const file of ['manifest.json', ...Object.keys(manifest.files)]) {
          const blob = await (await fetch(`/bundles/${name}/${file}`)).blob();
          transfer.items.add(new File([blob], file));
        }
        const zone = document.getElementById('drop');
        zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        return transfer.files.length;
      }, config.drop);
      await page.waitForFunction(() => document.body.dataset.state !== 'idle');
      const opened = await waitSettled(page);
      const texts = config.texts[config.predict.find(([bundle]) => bundle === config.drop)[1]].slice(0, 20);
      result.drop = { files: names, opened, texts,
        predictions: opened.state === 'ready' ? await page.evaluate((t) => window.neurolite.predict(t), texts) : null };
    }

    for (const broken of config.refused) {
      const opened = broken.via === 'url' ? await openByUrl(page, server.origin, broken.name) : await openByPicker(page, server.origin, broken.dir);
      const predictError = await page.evaluate(() => window.neurolite.predict(['a text']).then(() => null, (e) => e.message));
      result.refused[broken.name] = { ...opened, via: broken.via, predictError };
    }
  } finally {
    await browser.close();
    await server.close();
  }
  writeFileSync(resultPath, JSON.stringify(result));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((error) => {
    console.error(error.stack ?? error);
    process.exit(1);
  });
}
