"""The featurizer against its spec (docs/featurizer.md): golden vectors, a literal transcription of the
spec, properties over all of Unicode, config validation and the call contract."""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
import unicodedata
from pathlib import Path
from typing import Any

import mmh3
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.featurizer import (
    FEATURIZER_VERSION,
    UNICODE_VERSION,
    BloomFeaturizer,
    FeatureBatch,
    FeaturizerConfig,
    FeaturizerError,
)

GOLDEN = json.loads((Path(__file__).parent / "golden" / "featurizer_v1.json").read_text(encoding="utf-8"))
CONFIGS = {name: FeaturizerConfig.from_dict({k: c[k] for k in FeaturizerConfig().to_dict()})
           for name, c in GOLDEN["configs"].items()}
FEATURIZERS = {name: BloomFeaturizer(config) for name, config in CONFIGS.items()}
SAME_UNICODE = unicodedata.unidata_version == UNICODE_VERSION
needs_unicode = pytest.mark.skipif(not SAME_UNICODE, reason=f"goldens are Unicode {UNICODE_VERSION}, this "
                                   f"Python has {unicodedata.unidata_version}")
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Texts that exercise every rule: scripts, marks, emoji, format and control characters, astral planes.
SPECIAL = list("aZ_'-.,!? \t\n\r\x00\x1b\x7f\x85\u00a0\u00ad\u0301\u0345\u0307\u030c\u200b\u200c\u200d\u200e"
               "\u2028\u3000\ufe0f\ufeffßẞİıςΣǰﬁ①½ＡéñüÅ東京中かがカｶ\u3099ー々한각\u1100\u1161مرחשא١٢"
               "😀👍🏽👨❤🇫🇷⃣\U000e0067\U000e0100\ue000\U000f0000\u0378𠀀𪚥")
texts = st.text(alphabet=st.sampled_from(SPECIAL) | st.characters(), max_size=40)


def case_text(case: dict[str, Any]) -> str:
    if "text" in case:
        return case["text"]
    recipe = case["text_recipe"]
    return (recipe["repeat"] * (recipe["length"] // len(recipe["repeat"]) + 1))[:recipe["length"]]


# ----------------------------------------------------------------------------------------------------------
# A literal, slow transcription of docs/featurizer.md, independent of the implementation's tricks
# (regex tables, ASCII fast path, cache, numpy): the implementation must agree with it everywhere.
VARIATION = [(0x180B, 0x180D), (0x180F, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF)]
IDEOGRAPHIC = [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF), (0x3040, 0x309F),
               (0x30A0, 0x30FF), (0x31F0, 0x31FF), (0x1AFF0, 0x1B16F)]


def in_ranges(c: str, ranges: list[tuple[int, int]]) -> bool:
    return any(low <= ord(c) <= high for low, high in ranges)


def spec_normalize(text: str) -> str:
    text = "".join(c for c in text if unicodedata.category(c) != "Cf" and not in_ranges(c, VARIATION))
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def spec_class(c: str) -> str:
    category = unicodedata.category(c)
    if category == "Cf" or in_ranges(c, VARIATION):
        return "IGNORABLE"  # deleted by normalization; to the splitter it is just not a token character
    if category in ("Cc", "Zs", "Zl", "Zp", "Cs", "Co", "Cn"):
        return "SEP"
    if category[0] == "M":
        return "MARK"
    if category[0] in "LN":
        return "IDEO" if in_ranges(c, IDEOGRAPHIC) else "WORD"
    return "OTHER"


def spec_split(text: str) -> list[str]:
    tokens, i = [], 0
    while i < len(text):
        kind = spec_class(text[i])
        if kind in ("SEP", "IGNORABLE"):
            i += 1
            continue
        j = i + 1
        while j < len(text) and (spec_class(text[j]) in ("WORD", "MARK") if kind in ("WORD", "MARK")
                                 else spec_class(text[j]) == "MARK"):
            j += 1
        tokens.append(text[i:j])
        i = j
    return tokens


def spec_mix_params(seed: int, count: int) -> list[tuple[int, int]]:
    state, out = seed, []

    def step() -> int:
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) % 2**64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
        return z ^ (z >> 31)

    for _ in range(count):
        a = step() | 1
        out.append((a, step()))
    return out


def spec_buckets(token: str, config: FeaturizerConfig) -> list[int]:
    def h(s: str) -> int:
        return mmh3.hash(s.encode("utf-8"), config.seed, signed=False)

    wrapped = "\x02" + token[:32] + "\x03"
    m = len(wrapped)
    sizes = range(config.ngram_min, min(config.ngram_max, m) + 1)
    grams = [wrapped] if m < config.ngram_min else [wrapped[i:i + n] for n in sizes for i in range(m - n + 1)]
    out = []
    for k, (a, b) in enumerate(spec_mix_params(config.seed, config.num_hashes)):
        inputs = [token] if k < config.word_hashes else grams
        out.append(min(((a * h(s) + b) % 2**64) >> 32 for s in inputs) % config.num_buckets)
    return out


# ------------------------------------------------------------------------------------------ golden vectors
def test_golden_file_is_this_spec_version() -> None:
    assert GOLDEN["spec_version"] == FEATURIZER_VERSION
    assert GOLDEN["unicode_version"] == UNICODE_VERSION
    assert len([c for c in GOLDEN["cases"] if c["config"] == "default"]) >= 50


def test_config_digests_are_stable() -> None:
    for name, config in CONFIGS.items():
        assert config.canonical_json() == GOLDEN["configs"][name]["canonical_json"]
        assert config.digest() == GOLDEN["configs"][name]["digest"]
    # Pinned here as well as in the golden file: a digest change breaks every exported bundle.
    assert FeaturizerConfig().digest() == "7fd20cf9f25df79d673463c19df5314d74176949ab60c76777833bf71587d974"
    canonical = FeaturizerConfig().canonical_json().encode("ascii")
    assert FeaturizerConfig().digest() == hashlib.sha256(canonical).hexdigest()


def test_hash_and_mixing_vectors() -> None:
    for vector in GOLDEN["murmur3_x86_32"]:
        assert mmh3.hash(vector["input"].encode("utf-8"), vector["seed"], signed=False) == vector["hash"]
    for name, params in GOLDEN["mix_params"].items():
        expected = spec_mix_params(CONFIGS[name].seed, CONFIGS[name].num_hashes)
        assert [int(a, 16) for a in params["a"]] == [a for a, _ in expected]
        assert [int(b, 16) for b in params["b"]] == [b for _, b in expected]


def test_token_details() -> None:
    for detail in GOLDEN["token_details"]:
        featurizer = FEATURIZERS[detail["config"]]
        assert featurizer.token_buckets(detail["token"]).tolist() == detail["buckets"]
        assert spec_buckets(detail["token"], featurizer.config) == detail["buckets"]


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"{c['config']}-{c['name']}")
def test_golden_case(case: dict[str, Any]) -> None:
    featurizer, text = FEATURIZERS[case["config"]], case_text(case)
    tokens = featurizer.tokenize(text)
    assert tokens == case["tokens"]
    assert len(tokens) == case["num_tokens"]
    batch = featurizer([text])
    assert batch.features.dtype == np.int32 and batch.mask.dtype == np.float32
    assert batch.features[0].tolist() == case["features"]
    assert batch.mask[0].tolist() == case["mask"]
    assert int(batch.lengths[0]) == case["length"] and bool(batch.truncated[0]) == case["truncated"]
    full = featurizer([text], max_length=max(1, len(tokens))).features[0, :len(tokens)]
    assert hashlib.sha256(full.astype("<i4").tobytes()).hexdigest() == case["all_features_sha256"]


@pytest.mark.parametrize("case", GOLDEN["bytes_cases"], ids=lambda c: c["name"])
def test_golden_bytes_case(case: dict[str, Any]) -> None:
    """UTF-8 input, invalid sequences included: each maximal invalid subsequence is one U+FFFD."""
    featurizer, data = FEATURIZERS[case["config"]], bytes.fromhex(case["hex"])
    batch = featurizer([data])
    assert featurizer.tokenize(data.decode("utf-8", "replace")) == case["tokens"]
    assert batch.features[0].tolist() == case["features"] and batch.mask[0].tolist() == case["mask"]
    assert int(batch.lengths[0]) == case["length"] and bool(batch.truncated[0]) == case["truncated"]
    assert featurizer([data]).features.tolist() == featurizer([data.decode("utf-8", "replace")]).features.tolist()


@pytest.mark.parametrize("batch", GOLDEN["batches"], ids=lambda b: b["name"])
def test_golden_batch(batch: dict[str, Any]) -> None:
    out = FEATURIZERS[batch["config"]](batch["texts"], max_length=batch["max_length"], pad_to=batch["pad_to"])
    assert out.features.tolist() == batch["features"]
    assert out.mask.tolist() == batch["mask"]
    assert out.lengths.tolist() == batch["lengths"]
    assert out.truncated.tolist() == batch["truncated"]


@needs_unicode
def test_golden_cases_follow_the_written_spec() -> None:
    config = CONFIGS["default"]
    for case in GOLDEN["cases"]:
        if case["config"] == "default":
            text = case_text(case)
            assert spec_split(spec_normalize(text)) == case["tokens"], case["name"]
            rows = case["features"][:case["length"]]
            assert [spec_buckets(t, config) for t in case["tokens"][:case["length"]]] == rows, case["name"]


@needs_unicode
def test_character_classes_cover_all_of_unicode() -> None:
    """Code points, probed between letters and after '!', split as their spec class says."""
    from neurolite_sdk.unicode14 import _patterns

    flags = bytearray(0x110000)  # 1: variation selector, 2: ideographic range
    for flag, ranges in ((1, VARIATION), (2, IDEOGRAPHIC)):
        for low, high in ranges:
            flags[low:high + 1] = bytes([flag]) * (high - low + 1)
    kind_of = {"Cf": "-", **dict.fromkeys(("Cc", "Zs", "Zl", "Zp", "Cs", "Co", "Cn"), "-")}
    chars = list(map(chr, range(0x110000)))
    kinds = [kind_of.get(cat) or ("-" if flag == 1 else "M" if cat[0] == "M" else "S" if flag == 2 and
                                  cat[0] in "LN" else "W" if cat[0] in "LN" else "S")
             for cat, flag in zip(map(unicodedata.category, chars), flags, strict=True)]
    # W: word letter/digit, M: mark, S: a token alone (ideograph, punctuation, symbol), -: not in tokens
    probe = {"W": lambda c: [f"a{c}a", "!", c], "M": lambda c: [f"a{c}a", f"!{c}"],
             "S": lambda c: ["a", c, "a", "!", c], "-": lambda c: ["a", "a", "!"]}
    # All of the BMP; beyond it (where matching is slower) both ends of every run of one kind.
    probes = [c for c in range(0x110000) if c <= 0xFFFF or kinds[c] != kinds[c - 1]
              or c == 0x10FFFF or kinds[c] != kinds[c + 1]]
    expected = [token for c in probes for token in probe[kinds[c]](chars[c])]
    text = " ".join(f"a{chars[c]}a !{chars[c]}" for c in probes)
    assert _patterns()[2].findall(text) == expected


# ------------------------------------------------------------------------------------------ properties
@needs_unicode
@PROPERTY
@given(texts)
def test_matches_the_written_spec(text: str) -> None:
    featurizer = FEATURIZERS["alt"]
    assert featurizer.normalize(text) == spec_normalize(text)
    tokens = featurizer.tokenize(text)
    assert tokens == spec_split(spec_normalize(text))
    for token in tokens[:8]:
        assert featurizer.token_buckets(token).tolist() == spec_buckets(token, featurizer.config)


@PROPERTY
@given(texts)
def test_normalize_is_idempotent_and_tokens_are_clean(text: str) -> None:
    featurizer = FEATURIZERS["default"]
    normalized = featurizer.normalize(text)
    assert featurizer.normalize(normalized) == normalized
    for token in featurizer.tokenize(text):
        assert token and all(spec_class(c) not in ("SEP", "IGNORABLE") for c in token)


@needs_unicode
@PROPERTY
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_ascii_fast_path_equals_the_unicode_path(text: str) -> None:
    assert FEATURIZERS["default"].normalize(text) == spec_normalize(text)


@PROPERTY
@given(st.lists(texts, max_size=6), st.sampled_from(sorted(CONFIGS)))
def test_batch_contract(batch_texts: list[str], config_name: str) -> None:
    featurizer = FEATURIZERS[config_name]
    config = featurizer.config
    out = featurizer(batch_texts)
    n, k = len(batch_texts), config.num_hashes
    assert out.features.shape[::2] == (n, k) and out.features.dtype == np.int32
    width = out.features.shape[1]
    assert out.mask.shape == (n, width) and out.lengths.shape == (n,) and out.truncated.shape == (n,)
    assert ((out.features >= 0) & (out.features < config.num_buckets)).all()
    assert width == max([1, *out.lengths.tolist()])
    for i, text in enumerate(batch_texts):
        count = len(featurizer.tokenize(text))
        length = int(out.lengths[i])
        assert length == min(count, config.max_length)
        assert bool(out.truncated[i]) == (count > config.max_length)
        assert out.mask[i].tolist() == [1.0] * length + [0.0] * (width - length)
        assert not out.features[i, length:].any()
        alone = featurizer([text])  # batch result == per-text result
        assert np.array_equal(alone.features[0, :length], out.features[i, :length])
    # Deterministic, and independent of the cache: fresh, uncached and tiny (evicting) caches agree.
    for other in (BloomFeaturizer(config), BloomFeaturizer(config, cache_size=0), BloomFeaturizer(config, 2)):
        again = other(batch_texts)
        assert np.array_equal(again.features, out.features) and np.array_equal(again.mask, out.mask)


@PROPERTY
@given(st.text(max_size=200))
def test_never_raises_on_any_text(text: str) -> None:
    out = FEATURIZERS["default"]([text, text[::-1]], pad_to=200)
    assert out.features.shape == (2, 200, 8)


def test_surrogates_and_other_malformed_code_points_are_separators() -> None:
    featurizer = FEATURIZERS["default"]
    assert featurizer.tokenize("a\ud800b\udfff c") == ["a", "b", "c"]
    assert featurizer(["\ud83d"]).lengths.tolist() == [0]


# ------------------------------------------------------------------------------------------ call contract
def test_shapes_padding_and_truncation() -> None:
    featurizer = BloomFeaturizer(FeaturizerConfig(max_length=3))
    out = featurizer(["one two three four", "", "x"])
    assert isinstance(out, FeatureBatch)
    assert out.features.shape == (3, 3, 8) and out.lengths.tolist() == [3, 0, 1]
    assert out.truncated.tolist() == [True, False, False]
    assert out.mask.tolist() == [[1, 1, 1], [0, 0, 0], [1, 0, 0]]
    assert featurizer(["one two three four"], max_length=10).lengths.tolist() == [4]
    assert featurizer(["a b"], pad_to=5).features.shape == (1, 5, 8)
    empty = featurizer([])
    assert empty.features.shape == (0, 1, 8) and empty.mask.shape == (0, 1)
    assert featurizer(["", " \t\n"]).features.shape == (2, 1, 8)
    assert featurizer(("a", "b")).lengths.tolist() == [1, 1]  # any sequence, not only lists


@pytest.mark.parametrize(("call", "message"), [
    (lambda f: f("a text"), r"^texts: expected a sequence of str, got a single str"),
    (lambda f: f(b"bytes"), r"^texts: expected a sequence of str, got a single bytes"),
    (lambda f: f(["ok", 3]), r"^texts\[1\]: expected str \(or UTF-8 bytes\), got int"),
    (lambda f: f(["ok", None]), r"^texts\[1\]: expected str \(or UTF-8 bytes\), got NoneType"),
    (lambda f: f(["a b c"], pad_to=2), r"^pad_to: must be an integer >= the longest kept text \(3 tokens\)"),
    (lambda f: f([""], pad_to=0), r"^pad_to:"),
    (lambda f: f(["a"], max_length=0), r"^max_length: must be an integer >= 1, got 0"),
    (lambda f: f(["a"], max_length=2.5), r"^max_length:"),
    (lambda f: f.token_buckets(5), r"^token: expected str"),
    (lambda f: f.token_buckets("a\ud800"), r"^token: not encodable as UTF-8"),
])
def test_call_errors_are_clear(call: Any, message: str) -> None:
    with pytest.raises(FeaturizerError, match=message):
        call(FEATURIZERS["default"])


def test_constructor_errors() -> None:
    with pytest.raises(FeaturizerError, match="^cache_size: must be an integer >= 0, got -1"):
        BloomFeaturizer(cache_size=-1)
    with pytest.raises(FeaturizerError, match="^config: expected a FeaturizerConfig, got dict"):
        BloomFeaturizer({"num_buckets": 10})  # type: ignore[arg-type]


def test_lru_cache_bounds_and_counts() -> None:
    featurizer = BloomFeaturizer(cache_size=2)
    reference = BloomFeaturizer(cache_size=0)
    featurizer(["a b"])
    assert featurizer.cache_info() == {"hits": 0, "misses": 2, "size": 2, "capacity": 2}
    featurizer(["a"])  # touch a: b is now the least recently used
    featurizer(["c"])  # evicts b
    assert featurizer.cache_info()["size"] == 2
    featurizer(["a c"])
    assert featurizer.cache_info()["hits"] == 3  # a, then a and c
    featurizer(["b"])
    assert featurizer.cache_info()["misses"] == 4  # a, b, c, then b again
    many = [" ".join(f"w{i}" for i in range(50))]  # more distinct tokens than capacity in one call
    assert np.array_equal(featurizer(many).features, reference(many).features)
    assert featurizer.cache_info()["size"] == 2
    assert np.array_equal(featurizer(many).features, reference(many).features)


def test_pickle_and_threads() -> None:
    featurizer = BloomFeaturizer(CONFIGS["alt"], cache_size=50)
    copy = pickle.loads(pickle.dumps(featurizer))
    assert copy.config == featurizer.config and copy.cache_size == 50
    batch = [f"thread {i} token{i % 7} 東京 😀" for i in range(40)]
    expected = BloomFeaturizer(CONFIGS["alt"], cache_size=0)(batch).features
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(5):
            results.append(copy(batch).features)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20 and all(np.array_equal(r, expected) for r in results)


# ------------------------------------------------------------------------------------------ config
@pytest.mark.parametrize(("field", "value", "message"), [
    ("num_buckets", 0, "must be >= 1, got 0"),
    ("num_buckets", 2**31 + 1, "must be <= 2147483648"),
    ("num_hashes", 0, "must be >= 1, got 0"),
    ("num_hashes", "8", "must be an integer, got '8' (str)"),
    ("word_hashes", -1, "must be >= 0, got -1"),
    ("word_hashes", 9, "must be <= num_hashes (8), got 9"),
    ("ngram_min", 0, "must be >= 1, got 0"),
    ("ngram_max", 2, "must be >= ngram_min (3), got 2"),
    ("ngram_max", 17, "must be <= 16, got 17"),
    ("max_length", 0, "must be >= 1, got 0"),
    ("max_length", 64.0, "must be an integer, got 64.0 (float)"),
    ("seed", -1, "must be >= 0, got -1"),
    ("seed", 2**32, "must be <= 4294967295"),
    ("seed", True, "must be an integer, got True (bool)"),
    ("version", "0.9", "this SDK implements featurizer spec '1.0', got '0.9'"),
])
def test_config_validation_names_the_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(FeaturizerError, match=f"^{field}: ") as info:
        FeaturizerConfig(**{field: value})
    assert message in str(info.value)
    assert isinstance(info.value, NeuroLiteError) and isinstance(info.value, ValueError)


def test_config_round_trip_and_keys() -> None:
    config = CONFIGS["alt"]
    assert FeaturizerConfig.from_dict(config.to_dict()) == config
    assert FeaturizerConfig.from_json(config.to_json()) == config
    assert FeaturizerConfig.from_dict(json.loads(json.dumps(config.to_dict()))).digest() == config.digest()
    assert list(config.to_dict()) == ["num_buckets", "num_hashes", "word_hashes", "ngram_min", "ngram_max",
                                      "max_length", "seed", "version"]
    assert FeaturizerConfig(num_buckets=np.int64(100)).to_dict()["num_buckets"] == 100  # numpy ints -> int
    with pytest.raises(FeaturizerError, match="^num_bucket: unknown featurizer config key"):
        FeaturizerConfig.from_dict({**config.to_dict(), "num_bucket": 3})
    data = config.to_dict()
    del data["seed"]
    with pytest.raises(FeaturizerError, match="^seed: missing featurizer config key"):
        FeaturizerConfig.from_dict(data)
    with pytest.raises(FeaturizerError, match="^featurizer config: invalid JSON at line 1"):
        FeaturizerConfig.from_json("{nope")
    with pytest.raises(FeaturizerError, match="^featurizer config: expected a JSON object, got list"):
        FeaturizerConfig.from_json("[]")
    assert len({c.digest() for c in CONFIGS.values()}) == len(CONFIGS)
    assert FeaturizerConfig(max_length=65).digest() != FeaturizerConfig().digest()
