#!/usr/bin/env node
// A dependency-free static server for the web demo, bound to 127.0.0.1 only.
//
//   node web_demo/serve.mjs [--port 8000] [--bundle [NAME=]DIR]... [--featurizer DIR]
//
// Serves web_demo/ at /, the featurizer's ES module and WebAssembly (native/js/) at /featurizer/, and
// each --bundle DIR at /bundles/<basename of DIR>/, or --bundle NAME=DIR at /bundles/NAME/ (a list of
// them at /bundles/index.json). Files only:
// no directory listings, no dot files, nothing outside those roots (symlinks are resolved and checked
// too). `--port 0` takes a free port. e2e tests and benchmarks import `startServer` instead.

import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_FEATURIZER_DIR = path.resolve(HERE, '..', 'native', 'js');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.onnx': 'application/octet-stream',
  '.tflite': 'application/octet-stream',
  '.pte': 'application/octet-stream',
  '.data': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

export function mimeType(file) {
  return MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Mount points, longest prefix first: [{prefix: '/bundles/onnx/', dir}, ..., {prefix: '/', dir: web_demo}]. */
export function mounts({ bundles = [], featurizerDir = DEFAULT_FEATURIZER_DIR } = {}) {
  const list = [{ prefix: '/featurizer/', dir: path.resolve(featurizerDir) }];
  const names = new Set();
  for (const spec of bundles) {
    const named = /^([A-Za-z0-9_.-]+)=(.+)$/.exec(spec);
    const dir = named ? named[2] : spec;
    const name = named ? named[1] : path.basename(path.resolve(dir));
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) {
      throw new Error(`--bundle ${dir}: the directory name ${JSON.stringify(name)} cannot be a URL path segment`);
    }
    if (names.has(name)) throw new Error(`--bundle ${spec}: another bundle is already served as /bundles/${name}/`);
    names.add(name);
    list.push({ prefix: `/bundles/${name}/`, dir: path.resolve(dir), bundle: name, order: names.size });
  }
  list.push({ prefix: '/', dir: HERE });
  return list.sort((a, b) => b.prefix.length - a.prefix.length);
}

/** The file a URL path names, or null when it names nothing servable (outside every root, a dot file). */
export async function resolveFile(table, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const mount = table.find((m) => decoded.startsWith(m.prefix));
  if (!mount) return null;
  const segments = decoded.slice(mount.prefix.length).split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s.startsWith('.'))) return null;
  let root;
  try {
    root = await realpath(mount.dir);
  } catch {
    return null;
  }
  let file = path.join(root, ...segments);
  try {
    file = await realpath(file);
    if (file !== root && !file.startsWith(root + path.sep)) return null; // a symlink pointing out
    let info = await stat(file);
    if (info.isDirectory()) {
      file = path.join(file, 'index.html');
      info = await stat(file);
    }
    return info.isFile() ? { file, size: info.size } : null;
  } catch {
    return null;
  }
}

/** Start serving; resolves to {server, port, origin, url, close()} once listening on 127.0.0.1. */
export function startServer({ port = 8000, bundles = [], featurizerDir = DEFAULT_FEATURIZER_DIR, quiet = true } = {}) {
  const table = mounts({ bundles, featurizerDir });
  const bundleNames = table.filter((m) => m.bundle).sort((a, b) => a.order - b.order).map((m) => m.bundle); // as given
  const server = createServer(async (req, res) => {
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    const { pathname } = new URL(req.url, 'http://127.0.0.1');
    if (pathname === '/bundles/index.json') {
      return send(200, JSON.stringify({ bundles: bundleNames.map((name) => ({ name, url: `/bundles/${name}/` })) }),
        MIME['.json']);
    }
    const found = await resolveFile(table, pathname);
    if (!quiet) console.log(`${req.method} ${pathname} -> ${found ? found.file : 404}`);
    if (!found) return send(404, `not found: ${pathname}\n`);
    res.writeHead(200, {
      'Content-Type': mimeType(found.file),
      'Content-Length': found.size,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      // Cross-origin isolation: performance.now() then ticks in 5 µs, not 100 µs (the page's timings).
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(found.file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const actual = server.address().port;
      const origin = `http://127.0.0.1:${actual}`;
      const url = bundleNames.length ? `${origin}/?bundle=/bundles/${bundleNames[0]}/` : `${origin}/`;
      resolve({ server, port: actual, origin, url, bundles: bundleNames,
        close: () => new Promise((done) => { server.closeAllConnections?.(); server.close(() => done()); }) });
    });
  });
}

function parseArgs(argv) {
  const options = { port: 8000, bundles: [], featurizerDir: DEFAULT_FEATURIZER_DIR, quiet: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg}: needs a value`);
      return argv[++i];
    };
    if (arg === '--port') {
      options.port = Number(value());
      if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
        throw new Error(`--port: expected an integer in [0, 65535], got ${argv[i]}`);
      }
    } else if (arg === '--bundle') options.bundles.push(value());
    else if (arg === '--featurizer') options.featurizerDir = value();
    else if (arg === '--verbose') options.quiet = false;
    else if (arg === '-h' || arg === '--help') {
      console.log('usage: node web_demo/serve.mjs [--port 8000] [--bundle [NAME=]DIR]... [--featurizer DIR] [--verbose]');
      process.exit(0);
    } else throw new Error(`${arg}: unknown argument (see --help)`);
  }
  return options;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
    for (const spec of options.bundles) {
      const dir = /^[A-Za-z0-9_.-]+=/.test(spec) ? spec.slice(spec.indexOf('=') + 1) : spec;
      const info = await stat(dir).catch(() => null);
      if (!info?.isDirectory()) throw new Error(`--bundle ${dir}: no such directory (export one with \`neurolite export\`)`);
    }
  } catch (error) {
    console.error(`serve.mjs: ${error.message}`);
    process.exit(2);
  }
  const { url, bundles } = await startServer(options).catch((error) => {
    console.error(`serve.mjs: cannot listen on 127.0.0.1:${options.port}: ${error.message}`);
    process.exit(1);
  });
  for (const name of bundles) console.log(`bundle ${name}: ${url.replace(/\?.*$/, '')}?bundle=/bundles/${name}/`);
  console.log(`NeuroLite web demo: ${url}  (Ctrl-C stops)`);
}
