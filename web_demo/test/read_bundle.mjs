#!/usr/bin/env node
// The page's bundle reader (js/bundle.mjs) under node, on a bundle directory, for tests/test_web_demo.py:
//
//   node web_demo/test/read_bundle.mjs BUNDLE_DIR OUT_DIR   -> JSON on stdout
//
// Reads and verifies the bundle exactly as the page does (with a `weights` section: inflates the shell,
// decodes the orbital8 codes, rebuilds the model file and checks its SHA-256), writes every file the
// page would hand its runtime under OUT_DIR (the rebuilt model file among them), and prints
// {entry, format, labels, files: {name: bytes}} or {error: "BundleError: ..."}.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { BundleError, readBundle } from '../js/bundle.mjs';

/** A bundle directory on disk, read as the page's UrlSource and FileSource read theirs. */
class DirectorySource {
  constructor(dir) {
    this.dir = dir;
    this.label = dir;
  }

  where(name) {
    return `${this.label}/${name}`;
  }

  async read(name) {
    try {
      return new Uint8Array(readFileSync(path.join(this.dir, name)));
    } catch (error) {
      if (error.code === 'ENOENT') return null;
      throw new BundleError(`${this.where(name)}: cannot read it (${error.message})`);
    }
  }
}

const [dir, out] = process.argv.slice(2);
if (!dir || !out) {
  console.error('usage: node web_demo/test/read_bundle.mjs BUNDLE_DIR OUT_DIR');
  process.exit(2);
}
try {
  const bundle = await readBundle(new DirectorySource(dir));
  const files = {};
  for (const [name, bytes] of bundle.files) {
    const target = path.join(out, name);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, bytes);
    files[name] = bytes.length;
  }
  process.stdout.write(JSON.stringify({ entry: bundle.entry, format: bundle.format, labels: bundle.labels, files }));
} catch (error) {
  if (!(error instanceof BundleError)) throw error;
  process.stdout.write(JSON.stringify({ error: `${error.name}: ${error.message}` }));
}
