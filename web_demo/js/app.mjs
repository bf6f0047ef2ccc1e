// The page: open a bundle (folder picker, drop, or ?bundle=URL), verify it, predict as the user types.
// Everything the UI does goes through window.neurolite, the same API the end-to-end test drives.

import { canonicalJson, FileSource, featurizerDigest, UrlSource } from './bundle.mjs';
import { loadFeaturizer, Predictor } from './predictor.mjs';

const $ = (id) => document.getElementById(id);
const FORMAT_NAMES = { onnx: 'ONNX', tflite: 'TFLite' };
const DEBOUNCE_MS = 120;
const MAX_BARS = 10;

let predictor = null;
let opening = null;
let sequence = 0; // the newest prediction request; older results are dropped

function setState(state, message) {
  document.body.dataset.state = state;
  $('status').textContent = message;
}

function showError(error) {
  const box = $('error');
  box.replaceChildren();
  const title = document.createElement('strong');
  title.textContent = error.name === 'BundleError' ? 'Bundle refused' : 'Error';
  box.append(title, ' ', error.message ?? String(error)); // the space keeps textContent readable
  box.hidden = false;
}

const ms = (value) => (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ms`);
const mb = (bytes) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);
const range = ([min, max]) => (min === max ? `${min}` : `${min}–${max ?? '∞'}`);

function showInfo(info) {
  // Parts: a string is text, {code} and {ok} are styled text; manifest strings never become HTML.
  const rows = [
    ['Format', [`${FORMAT_NAMES[info.format] ?? info.format} · ${info.runtime} (${info.runtimeDetail})`]],
    ['Model', [{ code: info.entry }, ` · ${mb(info.bytes)} · `, { ok: 'SHA-256 verified' },
      ` (${info.files} file${info.files > 1 ? 's' : ''})`,
      ...(info.rebuilt.length ? [` · rebuilt from orbital8 codes at load (${mb(info.downloadBytes)} downloaded)`] : [])]],
    ['Featurizer', [`spec ${info.featurizer.version} · digest `, { code: `${info.featurizer.digest.slice(0, 12)}…`, title: info.featurizer.digest },
      ' · ', { ok: 'matches the WASM core' }]],
    ['WASM core', [info.featurizer.core]],
    ['Self-test', info.selfTest
      ? [{ ok: `${info.selfTest.cases} vectors passed` }, ` · max |Δlogit| ${info.selfTest.maxAbsLogit.toExponential(1)} ` +
        `(tolerance ${info.selfTest.tolerance})`]
      : ['none: the bundle carries no test_vectors.json (exported before they existed)']],
    ['Reads', [`${info.featurizer.spec.max_length} tokens · ${info.featurizer.spec.num_hashes} of ` +
      `${info.featurizer.spec.num_buckets} buckets per token`]],
    ['Labels', [info.labels.join(', ')]],
    ['Signatures', [info.signatures.map((s) => `${s.name} (batch ${range(s.batch)}, length ${range(s.length)})`).join('; ')]],
    ['From', [{ code: info.source }, ` · opened in ${ms(info.openMs)}`]],
  ];
  if (info.reasoning.length) {
    rows.push(['Note', [`this bundle carries ${info.reasoning.join(' and ')} post-processing, which the page does not run; ` +
      "it shows the classifier's output"]]);
  }
  const list = $('info');
  list.replaceChildren();
  for (const [term, parts] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    for (const part of parts) {
      if (typeof part === 'string') {
        dd.append(part);
        continue;
      }
      const el = document.createElement(part.code !== undefined ? 'code' : 'span');
      el.textContent = part.code ?? part.ok;
      if (part.ok !== undefined) el.className = 'ok';
      if (part.title) el.title = part.title;
      dd.append(el);
    }
    list.append(dt, dd);
  }
  list.hidden = false;
}

function showPrediction(text, outcome) {
  const [prediction] = outcome.predictions;
  const result = $('result');
  result.dataset.text = text;
  $('label').textContent = prediction.label;
  $('score').textContent = `${(100 * prediction.score).toFixed(1)}%`;
  const bars = $('bars');
  bars.replaceChildren();
  const ranked = Object.entries(prediction.probabilities).sort((a, b) => b[1] - a[1]).slice(0, MAX_BARS);
  for (const [label, p] of ranked) {
    const li = document.createElement('li');
    if (label === prediction.label) li.className = 'top';
    li.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
    li.querySelector('.name').textContent = label;
    li.querySelector('.name').title = label;
    li.querySelector('.fill').style.width = `${(100 * p).toFixed(2)}%`;
    li.querySelector('.pct').textContent = `${(100 * p).toFixed(1)}%`;
    bars.append(li);
  }
  for (const stage of ['featurize', 'graph', 'postprocess', 'total']) $(`t-${stage}`).textContent = ms(outcome.timings[stage]);
  const tokens = outcome.tokens[0];
  const steps = outcome.plan.map((s) => `${s.signature} [${s.batch}×${s.length}]`).join(', ');
  $('meta').textContent = `${tokens} token${tokens === 1 ? '' : 's'}${prediction.truncated ? ' (truncated: the model reads the first ' +
    predictor.bundle.featurizer.spec.max_length + ')' : ''} · ran ${steps} (graph time includes padding to that shape)`;
  result.hidden = false;
}

async function predictText(text) {
  const mine = ++sequence;
  if (!predictor) return;
  if (text.trim() === '') {
    $('result').hidden = true;
    $('result').dataset.text = '';
    return;
  }
  try {
    const outcome = await neurolite.predictTimed([text]);
    if (mine === sequence) showPrediction(text, outcome);
  } catch (error) {
    if (mine === sequence) showError(error);
  }
}

/** Open a bundle: a URL string, or files from the picker / a drop ([path, File] pairs or a FileList). */
async function open(what) {
  const task = (async () => {
    setState('loading', 'Opening the bundle…');
    $('error').hidden = true;
    $('info').hidden = true;
    $('result').hidden = true;
    $('text').disabled = true;
    const previous = predictor;
    predictor = null;
    await previous?.queue; // let a prediction in flight finish before its runtime goes away
    previous?.dispose();
    try {
      const source = typeof what === 'string' ? new UrlSource(what) : FileSource.fromEntries(what);
      predictor = await Predictor.open(source, { onProgress: (text) => setState('loading', `${text[0].toUpperCase()}${text.slice(1)}…`) });
      const info = predictor.describe();
      showInfo(info);
      setState('ready', `Ready: ${FORMAT_NAMES[info.format] ?? info.format} on ${info.runtime}, featurizer spec ${info.featurizer.version}`);
      $('text').disabled = false;
      $('text').placeholder = 'Type a sentence…';
      if ($('text').value.trim()) predictText($('text').value);
      return info;
    } catch (error) {
      setState('error', 'No bundle open');
      showError(error);
      throw error;
    }
  })();
  opening = task.catch(() => {});
  return task;
}

async function readDrop(dataTransfer) {
  // Take the entries now: a DataTransfer is emptied once the event handler returns.
  const roots = [...dataTransfer.items].filter((i) => i.kind === 'file').map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (roots.length === 0) return [...dataTransfer.files].map((f) => [f.name, f]);
  const found = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      found.push([prefix + entry.name, await new Promise((resolve, reject) => entry.file(resolve, reject))]);
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const root of roots) await walk(root, '');
  return found;
}

async function listServed() {
  try {
    const response = await fetch('./bundles/index.json', { cache: 'no-store' });
    if (!response.ok) return;
    const { bundles } = await response.json();
    if (!bundles.length) return;
    const served = $('served');
    served.textContent = 'Served here: ';
    for (const { name, url } of bundles) {
      const a = document.createElement('a');
      a.href = `?bundle=${encodeURIComponent(url)}`;
      a.textContent = name;
      served.append(a, ' ');
    }
    served.hidden = false;
  } catch {
    // a static host without serve.mjs has no index: nothing to list
  }
}

const neurolite = {
  /** Resolves once the page has started (and opened ?bundle=, if given; rejected if that was refused). */
  ready: null,
  open,
  /** Python's Predictor.predict: texts -> [{label, score, probabilities, truncated}]. */
  async predict(texts) {
    await opening;
    if (!predictor) throw new Error('no bundle open');
    return predictor.predict(texts);
  },
  /** predict plus {timings (ms per stage), plan, tokens}: what the page shows. */
  async predictTimed(texts) {
    await opening;
    if (!predictor) throw new Error('no bundle open');
    return predictor.predictTimed(texts);
  },
  info: () => predictor?.describe() ?? null,
  featurizerModule: loadFeaturizer,
  canonicalJson,
  featurizerDigest,
};
window.neurolite = neurolite;

$('pick').addEventListener('change', (event) => {
  const files = Array.from(event.target.files); // a copy: clearing the input empties its FileList
  event.target.value = '';
  if (files.length) open(files).catch(() => {});
});
const drop = $('drop');
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  readDrop(event.dataTransfer).then((entries) => open(entries)).catch(() => {});
});
$('url-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const url = $('url').value.trim();
  if (url) {
    history.replaceState(null, '', `?bundle=${encodeURIComponent(url)}`);
    open(url).catch(() => {});
  }
});
let timer = 0;
$('text').addEventListener('input', (event) => {
  clearTimeout(timer);
  const text = event.target.value;
  timer = setTimeout(() => predictText(text), DEBOUNCE_MS);
});

const requested = new URLSearchParams(location.search).get('bundle');
listServed();
if (requested) {
  $('url').value = requested;
  neurolite.ready = open(requested);
} else {
  setState('idle', 'Open a bundle to start');
  neurolite.ready = Promise.resolve(null);
}
neurolite.ready.catch(() => {});
