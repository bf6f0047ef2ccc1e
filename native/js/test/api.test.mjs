// The JS API contract beyond the golden file: loading, config errors, lone surrogates, argument
// errors, a 10 MB text, empty batches, disposal, batch == texts alone, cache independence, and no
// leak over 100k calls.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

import { FeaturizerError, loadFeaturizerModule } from "../featurizer.mjs";
import { GOLDEN, WASM_PATH, getModule, specConfig, caseText } from "../testlib/helpers.mjs";

const MEMORY = Symbol.for("neurolite.featurizer.wasmMemory");

function throwsFeaturizerError(fn, { status, message }) {
  let caught = null;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof FeaturizerError, `expected a FeaturizerError, got ${caught}`);
  assert.ok(caught instanceof Error);
  assert.equal(caught.name, "FeaturizerError");
  assert.equal(typeof caught.code, "number");
  if (status) assert.equal(caught.status, status, caught.message);
  if (message) assert.match(caught.message, message);
  assert.ok(!caught.message.includes("\n"), "one-line message");
  return caught;
}

async function defaultFeaturizer(options) {
  return (await getModule()).create(specConfig("default"), options);
}

// ------------------------------------------------------------------------------------------ loading
test("the module has no imports and instantiates from a path, a file URL, bytes and a Module", async () => {
  const bytes = readFileSync(WASM_PATH);
  const compiled = new WebAssembly.Module(bytes);
  assert.deepEqual(WebAssembly.Module.imports(compiled), []);
  const sources = [undefined, WASM_PATH, pathToFileURL(WASM_PATH), pathToFileURL(WASM_PATH).href, bytes,
    new Uint8Array(bytes), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), compiled];
  for (const source of sources) {
    const module = await loadFeaturizerModule(source);
    const f = module.create(specConfig("default"));
    assert.equal(f.digest, GOLDEN.configs.default.digest);
    assert.deepEqual(f.tokenize("Hello, World!"), ["hello", ",", "world", "!"]);
    f.dispose();
  }
});

test("status names match the core's", async () => {
  // The raw module, as featurizer.mjs drives it: nl_status_name for every code the core defines.
  const { instance } = await WebAssembly.instantiate(readFileSync(WASM_PATH), {});
  instance.exports._initialize();
  const bytes = () => new Uint8Array(instance.exports.memory.buffer);
  const cString = (ptr) => {
    const b = bytes();
    let end = ptr;
    while (b[end]) end++;
    return Buffer.from(b.subarray(ptr, end)).toString("utf8");
  };
  const names = Array.from({ length: 9 }, (_, code) => cString(instance.exports.nlw_status_name(code)));
  assert.deepEqual(names, ["NL_OK", "NL_ERR_ARGUMENT", "NL_ERR_JSON", "NL_ERR_CONFIG_FIELD", "NL_ERR_CONFIG_RANGE",
    "NL_ERR_VERSION", "NL_ERR_BUFFER_TOO_SMALL", "NL_ERR_NO_MEMORY", "NL_ERR_TOO_LONG"]);
  const module = await getModule();
  const error = throwsFeaturizerError(() => module.create("{"), {});
  assert.equal(error.status, "NL_ERR_JSON");
  assert.equal(error.code, 2);
  assert.equal(new FeaturizerError("x", 7).status, "NL_ERR_NO_MEMORY");
});

// ------------------------------------------------------------------------------------------ configs
test("bad configs throw FeaturizerError naming the field", async () => {
  const module = await getModule();
  const good = specConfig("default");
  const without = (key) => Object.fromEntries(Object.entries(good).filter(([k]) => k !== key));
  const cases = [
    [{ ...good, version: "2.0" }, "NL_ERR_VERSION", /version/],
    [{ ...good, version: "1.1" }, "NL_ERR_VERSION", /version/],
    [without("seed"), "NL_ERR_CONFIG_FIELD", /seed/],
    [without("num_buckets"), "NL_ERR_CONFIG_FIELD", /num_buckets/],
    [without("version"), "NL_ERR_CONFIG_FIELD", /version/],
    [{ ...good, num_buckets: -1 }, "NL_ERR_CONFIG_RANGE", /num_buckets/],
    [{ ...good, seed: -5 }, "NL_ERR_CONFIG_RANGE", /seed/],
    [{ ...good, max_length: 0 }, "NL_ERR_CONFIG_RANGE", /max_length/],
    [{ ...good, word_hashes: 9 }, "NL_ERR_CONFIG_RANGE", /word_hashes/],
    [{ ...good, ngram_max: 2 }, "NL_ERR_CONFIG_RANGE", /ngram_max/],
    [{ ...good, num_hashes: 1025 }, "NL_ERR_CONFIG_RANGE", /num_hashes/],
    [{ ...good, seed: 2 ** 32 }, "NL_ERR_CONFIG_RANGE", /seed/],
    [{ ...good, num_buckets: 2 ** 31 + 1 }, "NL_ERR_CONFIG_RANGE", /num_buckets/],
    [{ ...good, num_hashes: 2.5 }, null, /num_hashes/],
    [{ ...good, num_hashes: "8" }, "NL_ERR_CONFIG_FIELD", /num_hashes/],
    [{ ...good, extra: 1 }, "NL_ERR_CONFIG_FIELD", /extra/],
    ["{\"num_buckets\": 4096,", "NL_ERR_JSON", null],
    ["", "NL_ERR_JSON", null],
    ["[]", null, null],
  ];
  for (const [config, status, message] of cases) {
    const error = throwsFeaturizerError(() => module.create(config), { status, message });
    assert.notEqual(error.code, 0);
  }
  throwsFeaturizerError(() => module.create(null), { status: "NL_ERR_ARGUMENT", message: /^config:/ });
  throwsFeaturizerError(() => module.create(42), { status: "NL_ERR_ARGUMENT", message: /^config:/ });
  throwsFeaturizerError(() => module.create(good, { cacheEntries: -1 }), { message: /^cacheEntries:/ });
  // A bundle manifest's spec with whitespace and another key order is fine.
  const pretty = JSON.stringify(Object.fromEntries(Object.entries(good).reverse()), null, 2);
  assert.equal(module.create(pretty).digest, GOLDEN.configs.default.digest);
});

test("deeply nested config JSON is an error, not a crash", async () => {
  const module = await getModule();
  for (const depth of [100, 100000]) {
    const error = throwsFeaturizerError(() => module.create("[".repeat(depth) + "]".repeat(depth)), {});
    assert.notEqual(error.code, 0);
  }
  assert.equal(module.create(specConfig("default")).digest, GOLDEN.configs.default.digest);
});

// --------------------------------------------------------------------------------------- surrogates
test("a lone surrogate is a separator (passed to the core as U+0020)", async () => {
  const f = await defaultFeaturizer();
  assert.deepEqual(f.tokenize("a\ud800b\udfff c"), ["a", "b", "c"]);
  assert.deepEqual(Array.from(f.featurize(["\ud83d"]).lengths), [0]);
  assert.equal(f.normalize("a\ud800"), "a ");
  assert.equal(f.normalize("\udc00x\ud800"), " x ");
  const same = [
    ["x\udc00y", "x y"], ["\ud800", " "], ["\udc00\ud800", "  "], ["caf\u00e9\ud83d", "caf\u00e9 "],
    ["東\udbff京", "東 京"], ["😀\ud83d😀", "😀 😀"], ["a\ud800\ud800\udc00b", "a 𐀀b"],
    ["\u0301\udfffé", "\u0301 é"],
  ];
  for (const [withSurrogate, withSpace] of same) {
    const a = f.featurize([withSurrogate, "pad"]);
    const b = f.featurize([withSpace, "pad"]);
    assert.deepEqual(a, b, JSON.stringify(withSurrogate));
    assert.deepEqual(f.tokenize(withSurrogate), f.tokenize(withSpace));
  }
  // a well-formed pair is one code point, not two separators
  assert.deepEqual(f.tokenize("\ud83d\ude00"), ["😀"]);
  // not U+FFFD, which is a symbol token
  assert.deepEqual(f.tokenize("\ufffd"), ["\ufffd"]);
  assert.deepEqual(f.tokenize("\ud800"), []);
  f.dispose();
});

// ---------------------------------------------------------------------------------------- arguments
test("argument errors are FeaturizerErrors with clear messages", async () => {
  const f = await defaultFeaturizer();
  throwsFeaturizerError(() => f.featurize(["a b c"], { padTo: 2 }), { status: "NL_ERR_ARGUMENT", message: /^padTo: .*3 tokens/ });
  throwsFeaturizerError(() => f.featurize([""], { padTo: 0 }), { status: "NL_ERR_ARGUMENT", message: /^padTo:/ });
  throwsFeaturizerError(() => f.featurize(["a"], { padTo: 1.5 }), { message: /^padTo:/ });
  throwsFeaturizerError(() => f.featurize(["a"], { maxLength: 0 }), { status: "NL_ERR_ARGUMENT", message: /^maxLength: .*got 0/ });
  throwsFeaturizerError(() => f.featurize(["a"], { maxLength: 2.5 }), { message: /^maxLength:/ });
  throwsFeaturizerError(() => f.featurize(["a"], { maxLength: "3" }), { message: /^maxLength:/ });
  throwsFeaturizerError(() => f.featurize(["a"], { maxLength: 2 ** 31 }), { message: /^maxLength:/ });
  throwsFeaturizerError(() => f.featurize("a text"), { message: /^texts: .*single string/ });
  throwsFeaturizerError(() => f.featurize(["ok", 3]), { message: /^texts\[1\]: expected a string, got number/ });
  throwsFeaturizerError(() => f.featurize(["ok", null]), { message: /^texts\[1\]: .*null/ });
  throwsFeaturizerError(() => f.tokenize(5), { message: /^text:/ });
  throwsFeaturizerError(() => f.normalize(undefined), { message: /^text:/ });
  // The featurizer still works after errors.
  assert.deepEqual(Array.from(f.featurize(["a b c"], { padTo: 3 }).lengths), [3]);
  // maxLength override, padTo above it, padTo at the limit
  const out = f.featurize(["one two three four", "", "x"], { maxLength: 3 });
  assert.equal(out.length, 3);
  assert.deepEqual(Array.from(out.lengths), [3, 0, 1]);
  assert.deepEqual(Array.from(out.truncated), [1, 0, 0]);
  assert.deepEqual(Array.from(out.mask), [1, 1, 1, 0, 0, 0, 1, 0, 0]);
  assert.equal(f.featurize(["one two three four"], { maxLength: 10 }).lengths[0], 4);
  assert.equal(f.featurize(["a b"], { padTo: 5 }).features.length, 5 * 8);
  assert.equal(f.featurize(["a b c d e"], { maxLength: 2, padTo: 2 }).length, 2);
  f.dispose();
});

// ------------------------------------------------------------------------------------ empty batches
test("empty batches and texts without tokens", async () => {
  const f = await defaultFeaturizer();
  const empty = f.featurize([]);
  assert.deepEqual([empty.batch, empty.length, empty.numHashes], [0, 1, 8]);
  assert.deepEqual([empty.features.length, empty.mask.length, empty.lengths.length, empty.truncated.length], [0, 0, 0, 0]);
  assert.ok(empty.features instanceof Int32Array && empty.mask instanceof Float32Array);
  assert.ok(empty.lengths instanceof Int32Array && empty.truncated instanceof Uint8Array);
  assert.equal(f.featurize([], { padTo: 7 }).length, 7);
  const blank = f.featurize(["", " \t\n", "\u0000\u0001", "\u200b"]);
  assert.equal(blank.length, 1);
  assert.deepEqual(Array.from(blank.lengths), [0, 0, 0, 0]);
  assert.ok(blank.mask.every((v) => v === 0) && blank.features.every((v) => v === 0));
  assert.deepEqual(f.tokenize(""), []);
  assert.equal(f.normalize(""), "");
  f.dispose();
});

// ------------------------------------------------------------------------------------------ 10 MB
test("a 10 MB text", async () => {
  const f = await defaultFeaturizer();
  const unit = GOLDEN.cases.find((c) => c.name === "long_10000_chars" && c.config === "default");
  const repeat = unit.text_recipe.repeat;
  const times = Math.ceil(10_000_000 / Buffer.byteLength(repeat, "utf8"));
  const text = repeat.repeat(times);
  assert.ok(Buffer.byteLength(text, "utf8") >= 10_000_000);
  const out = f.featurize([text, "short"]);
  assert.equal(out.length, 64);
  assert.deepEqual(Array.from(out.lengths), [64, 1]);
  assert.deepEqual(Array.from(out.truncated), [1, 0]);
  // Its first 64 rows are those of the golden 10,000-character case (same repeated unit).
  assert.deepEqual(Array.from(out.features.subarray(0, 64 * 8)), unit.features.flat());
  const perUnit = f.tokenize(repeat).length;
  const tokens = f.tokenize(text);
  assert.equal(tokens.length, perUnit * times);
  const whole = unit.tokens.length - 1; // the golden text ends inside a word
  assert.deepEqual(tokens.slice(0, whole), unit.tokens.slice(0, whole));
  const big = f.featurize([text], { maxLength: 100000 });
  assert.equal(big.length, 100000);
  assert.deepEqual(Array.from(big.features.subarray(0, 64 * 8)), unit.features.flat());
  assert.equal(f.normalize(text).length, text.length); // NFKC + casefold keep this text's length
  // The same text with lone surrogates sprinkled in goes through the slow encoder.
  const broken = text.replaceAll(" ", "\ud800");
  assert.deepEqual(f.featurize([broken]), f.featurize([text]));
  f.dispose();
});

// ----------------------------------------------------------------------------------------- disposal
test("disposal", async () => {
  const module = await getModule();
  const a = module.create(specConfig("default"));
  const b = module.create(specConfig("alt"));
  const before = a.featurize(["hello world"]);
  a.dispose();
  a.dispose(); // idempotent
  throwsFeaturizerError(() => a.featurize(["hello"]), { status: "NL_ERR_ARGUMENT", message: /dispose/ });
  throwsFeaturizerError(() => a.tokenize("hello"), { message: /dispose/ });
  throwsFeaturizerError(() => a.normalize("hello"), { message: /dispose/ });
  assert.equal(a.digest, GOLDEN.configs.default.digest); // metadata stays readable
  assert.equal(b.featurize(["hello"]).lengths[0], 1); // others unaffected
  const c = module.create(specConfig("default"));
  assert.deepEqual(c.featurize(["hello world"]), before);
  b.dispose();
  c.dispose();
});

// ------------------------------------------------------------------------------ batch == alone, cache
function randomTexts(seed, count) {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
  const pieces = ["hello", "World", " ", " ", "  ", "\t", "\n", "café", "cafe\u0301", "ß", "İ", "東京", "は", "ｶﾞ",
    "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "1️⃣", "don't", "3.14", "snake_case", "\u00ad", "\u200b", "Ⅻ", "ﬁ", "ǰ",
    "\ud800", "\udfff", "\u0000", "𠀀", "नमस्ते", "السَّلَامُ", "한국어", "가", "abcdefghijklmnopqrstuvwxyz0123456789abc",
    ",", "!", "\u0301", "Ω", "ς", "\uffff", "\ue000"];
  const texts = [];
  for (let i = 0; i < count; i++) {
    const n = next() % 40;
    let text = "";
    for (let j = 0; j < n; j++) text += pieces[next() % pieces.length];
    texts.push(text);
  }
  return texts;
}

test("a batch equals its texts featurized alone, with any cache, for every config", async () => {
  const module = await getModule();
  for (const name of Object.keys(GOLDEN.configs)) {
    const config = specConfig(name);
    const cached = module.create(config);
    const uncached = module.create(config, { cacheEntries: 0 });
    const tiny = module.create(config, { cacheEntries: 2 });
    const k = cached.params.numHashes;
    for (let round = 0; round < 5; round++) {
      const texts = randomTexts(round * 7919 + name.length, 1 + round * 13);
      for (const options of [{}, { maxLength: 5 }, { padTo: 200 }, { maxLength: 1 }]) {
        const out = cached.featurize(texts, options);
        assert.deepEqual(uncached.featurize(texts, options), out);
        assert.deepEqual(tiny.featurize(texts, options), out);
        const limit = options.maxLength ?? cached.params.maxLength;
        let longest = 0;
        texts.forEach((text, i) => {
          const tokens = cached.tokenize(text);
          const kept = Math.min(tokens.length, limit);
          longest = Math.max(longest, kept);
          assert.equal(out.lengths[i], kept);
          assert.equal(out.truncated[i], tokens.length > limit ? 1 : 0);
          const alone = cached.featurize([text], { ...options, padTo: out.length });
          assert.deepEqual(alone.features, out.features.subarray(i * out.length * k, (i + 1) * out.length * k));
          assert.deepEqual(alone.mask, out.mask.subarray(i * out.length, (i + 1) * out.length));
        });
        assert.equal(out.length, options.padTo ?? Math.max(1, longest));
      }
    }
    for (const f of [cached, uncached, tiny]) f.dispose();
  }
});

test("growing and shrinking batches in any order give the same rows", async () => {
  const f = await defaultFeaturizer();
  const words = (n) => Array.from({ length: n }, (_, i) => `w${i}`).join(" ");
  const lengths = [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 64, 70, 1, 0, 40, 2];
  const texts = lengths.map(words);
  const forward = f.featurize(texts);
  assert.equal(forward.length, 64);
  assert.deepEqual(Array.from(forward.lengths), lengths.map((n) => Math.min(n, 64)));
  const reversed = f.featurize([...texts].reverse());
  const row = 64 * 8;
  texts.forEach((_, i) => {
    const j = texts.length - 1 - i;
    assert.deepEqual(forward.features.subarray(i * row, (i + 1) * row), reversed.features.subarray(j * row, (j + 1) * row));
  });
  f.dispose();
});

test("results are copies, not views of wasm memory", async () => {
  const f = await defaultFeaturizer();
  const first = f.featurize(["hello world"]);
  const copy = Array.from(first.features);
  f.featurize(["something entirely different, and longer than the first"]);
  assert.deepEqual(Array.from(first.features), copy);
  f.dispose();
});

// ------------------------------------------------------------------------------------------ no leak
test("100k calls: wasm memory stays bounded (buffers reused, nothing leaked)", async () => {
  const module = await getModule();
  const memory = module[MEMORY];
  assert.ok(memory instanceof WebAssembly.Memory);
  const f = module.create(specConfig("default"));
  const texts = ["the quick brown fox", "jumps over the lazy dog ünïcödé 東京 😀", ""];
  const warm = () => {
    f.featurize(texts);
    f.featurize(texts, { padTo: 30 });
    f.tokenize(texts[1]);
    f.normalize(texts[1]);
  };
  for (let i = 0; i < 100; i++) {
    warm();
    module.create(specConfig("alt"), { cacheEntries: 1024 }).dispose();
  }
  const baseline = memory.buffer.byteLength;
  const rssBefore = process.memoryUsage().rss;
  for (let i = 0; i < 100_000; i++) {
    const out = f.featurize(texts);
    if (out.lengths[0] !== 4) assert.fail(`call ${i}: lengths ${out.lengths}`);
    if (i % 10 === 0) warm();
    if (i % 1000 === 0) {
      try {
        f.featurize(["a b c"], { padTo: 2 }); // error paths leak nothing either
      } catch {}
    }
    if (i % 100 === 0) module.create(specConfig("alt"), { cacheEntries: 1024 }).dispose();
  }
  assert.equal(memory.buffer.byteLength, baseline, "wasm memory did not grow over 100k calls");
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  assert.ok(rssGrowth < 200 * 2 ** 20, `rss grew by ${rssGrowth} bytes`);
  f.dispose();
});
