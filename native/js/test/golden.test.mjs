// Every field of tests/golden/featurizer_v1.json that the JS API exposes: the four configs (params,
// digest), every case (tokens, features, mask, length, truncated, all_features_sha256), every batch
// (padding, pad_to, max_length override) and the token_details buckets.
import { test } from "node:test";
import assert from "node:assert/strict";

import { GOLDEN, getModule, specConfig, caseText, sha256, int32LE, flat } from "../testlib/helpers.mjs";

const CONFIG_NAMES = Object.keys(GOLDEN.configs);
const featurizers = new Map();
async function featurizer(name, cacheEntries) {
  const key = `${name}/${cacheEntries}`;
  if (!featurizers.has(key)) {
    const module = await getModule();
    featurizers.set(key, module.create(specConfig(name), cacheEntries === undefined ? {} : { cacheEntries }));
  }
  return featurizers.get(key);
}

test("golden file is spec 1.0, Unicode 14.0.0, four configs", async () => {
  assert.equal(GOLDEN.spec_version, "1.0");
  assert.equal(GOLDEN.unicode_version, "14.0.0");
  assert.deepEqual(CONFIG_NAMES.sort(), ["alt", "default", "ngram_only", "word_only"]);
  const module = await getModule();
  assert.match(module.version, /spec 1\.0/);
  assert.match(module.version, /Unicode 14\.0\.0/);
});

for (const name of CONFIG_NAMES) {
  test(`config ${name}: params and digest`, async () => {
    const golden = GOLDEN.configs[name];
    const module = await getModule();
    for (const config of [specConfig(name), JSON.stringify(specConfig(name)), golden.canonical_json]) {
      const f = module.create(config);
      assert.deepEqual({ ...f.params }, {
        numBuckets: golden.num_buckets, numHashes: golden.num_hashes, wordHashes: golden.word_hashes,
        ngramMin: golden.ngram_min, ngramMax: golden.ngram_max, maxLength: golden.max_length, seed: golden.seed,
      });
      assert.equal(f.digest, golden.digest);
      f.dispose();
    }
  });
}

async function checkCase(c, text) {
  for (const cacheEntries of [undefined, 0]) {
    const f = await featurizer(c.config, cacheEntries);
    const k = f.params.numHashes;
    assert.deepEqual(f.tokenize(text), c.tokens, "tokens");
    assert.equal(c.tokens.length, c.num_tokens);

    const out = f.featurize([text]);
    assert.equal(out.batch, 1);
    assert.equal(out.numHashes, k);
    assert.equal(out.length, Math.max(1, c.length));
    assert.deepEqual(Array.from(out.lengths), [c.length], "length");
    assert.deepEqual(Array.from(out.truncated), [c.truncated ? 1 : 0], "truncated");
    assert.deepEqual(Array.from(out.mask), c.mask, "mask");
    assert.deepEqual(Array.from(out.features), flat(c.features), "features");

    // all tokens, no truncation
    const all = f.featurize([text], { maxLength: Math.max(1, c.num_tokens) });
    assert.equal(all.lengths[0], c.num_tokens);
    assert.equal(all.truncated[0], 0);
    const bytes = int32LE(all.features.subarray(0, c.num_tokens * k));
    assert.equal(sha256(bytes), c.all_features_sha256, "all_features_sha256");
  }
}

test("golden file has cases, bytes_cases and batches", () => {
  assert.ok(GOLDEN.cases.length >= 118, `${GOLDEN.cases.length} cases`);
  assert.ok(GOLDEN.bytes_cases.length >= 8, `${GOLDEN.bytes_cases.length} bytes_cases`);
  assert.ok(GOLDEN.batches.length >= 3, `${GOLDEN.batches.length} batches`);
});

for (const [index, c] of GOLDEN.cases.entries()) {
  test(`case ${index} ${c.config}/${c.name}`, () => checkCase(c, caseText(c)));
}

// UTF-8 byte inputs, invalid ones included: JS receives text as strings, so the bytes are decoded by
// TextDecoder (WHATWG: one U+FFFD per maximal invalid subsequence, the spec's rule), then featurized.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
for (const [index, c] of (GOLDEN.bytes_cases ?? []).entries()) {
  test(`bytes case ${index} ${c.config}/${c.name}`, () => checkCase(c, decoder.decode(Buffer.from(c.hex, "hex"))));
}

for (const b of GOLDEN.batches) {
  test(`batch ${b.config}/${b.name}`, async () => {
    for (const cacheEntries of [undefined, 0, 1]) {
      const f = await featurizer(b.config, cacheEntries);
      const options = {};
      if (b.max_length !== null) options.maxLength = b.max_length;
      if (b.pad_to !== null) options.padTo = b.pad_to;
      const out = f.featurize(b.texts, options);
      assert.equal(out.batch, b.texts.length);
      assert.equal(out.length, b.mask[0].length);
      assert.deepEqual(Array.from(out.lengths), b.lengths);
      assert.deepEqual(Array.from(out.truncated), b.truncated.map(Number));
      assert.deepEqual(Array.from(out.mask), flat(b.mask));
      assert.deepEqual(Array.from(out.features), flat(b.features));
    }
  });
}

test("token_details: buckets of each detailed token", async () => {
  assert.ok(GOLDEN.token_details.length > 0);
  for (const d of GOLDEN.token_details) {
    const f = await featurizer(d.config);
    assert.deepEqual(f.tokenize(d.token), [d.token], `${d.config}/${JSON.stringify(d.token)} is one token`);
    const out = f.featurize([d.token]);
    assert.deepEqual(Array.from(out.features), d.buckets, `${d.config}/${JSON.stringify(d.token)}`);
  }
});

test("golden batches equal their texts featurized alone", async () => {
  for (const b of GOLDEN.batches) {
    const f = await featurizer(b.config);
    const opts = b.max_length === null ? {} : { maxLength: b.max_length };
    const out = f.featurize(b.texts, { ...opts, padTo: b.pad_to ?? undefined });
    const k = f.params.numHashes;
    b.texts.forEach((text, i) => {
      const alone = f.featurize([text], { ...opts, padTo: out.length });
      assert.deepEqual(alone.features, out.features.subarray(i * out.length * k, (i + 1) * out.length * k));
    });
  }
});
