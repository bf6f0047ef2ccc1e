"""The native featurizer (the C core in native/ through neurolite_sdk._featurizer_native) against the
spec's golden vectors and against the pure-Python reference: the same golden tests run on both
implementations, then differential tests on random text from every Unicode plane, random bytes, lone
surrogates, threads, the call contract and its error messages, pickling, and the implementation choice.

With the environment variable CI set, a missing native extension is a failure, not a skip."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurolite_sdk.featurizer import BloomFeaturizer, FeatureBatch, FeaturizerConfig, FeaturizerError
from neurolite_sdk.featurizer_native import (
    ENV_VAR,
    NativeBloomFeaturizer,
    create_featurizer,
    featurizer_implementation,
    native_available,
    native_unavailable_reason,
)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "tests" / "golden" / "featurizer_v1.json").read_text(encoding="utf-8"))
CONFIGS = {name: FeaturizerConfig.from_dict({k: c[k] for k in FeaturizerConfig().to_dict()})
           for name, c in GOLDEN["configs"].items()}
needs_native = pytest.mark.skipif(not native_available(),
                                  reason=f"native featurizer not built: {native_unavailable_reason()}")
IMPLEMENTATIONS = [pytest.param("python", id="python"), pytest.param("native", id="native", marks=needs_native)]
DIFFERENTIAL = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def featurizers(request: pytest.FixtureRequest) -> dict[str, Any]:
    """One featurizer per golden config, of the implementation under test."""
    return {name: create_featurizer(config, implementation=request.param) for name, config in CONFIGS.items()}


@pytest.fixture(scope="module")
def native() -> dict[str, NativeBloomFeaturizer]:
    if not native_available():
        pytest.skip(f"native featurizer not built: {native_unavailable_reason()}")
    return {name: NativeBloomFeaturizer(config) for name, config in CONFIGS.items()}


PYTHON = {name: BloomFeaturizer(config) for name, config in CONFIGS.items()}


def case_text(case: dict[str, Any]) -> str:
    if "text" in case:
        return case["text"]
    recipe = case["text_recipe"]
    return (recipe["repeat"] * (recipe["length"] // len(recipe["repeat"]) + 1))[:recipe["length"]]


def assert_same(a: FeatureBatch, b: FeatureBatch) -> None:
    """Bit-identical outputs: values, shapes and dtypes."""
    for name in ("features", "mask", "lengths", "truncated"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, (name, x.dtype, y.dtype, x.shape, y.shape)
        assert np.array_equal(x, y), name


def test_ci_builds_the_native_core() -> None:
    """CI must exercise the C core: there a missing or unusable extension fails the suite."""
    if not os.environ.get("CI"):
        pytest.skip("CI is not set: the native core is optional (its tests skip when it is not built)")
    assert native_available(), native_unavailable_reason()


# ------------------------------------------------------------------------- golden vectors, both implementations
@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"{c['config']}-{c['name']}")
def test_golden_case(featurizers: dict[str, Any], case: dict[str, Any]) -> None:
    featurizer, text = featurizers[case["config"]], case_text(case)
    tokens = featurizer.tokenize(text)
    assert tokens == case["tokens"]
    assert len(tokens) == case["num_tokens"]
    batch = featurizer([text])
    assert batch.features.dtype == np.int32 and batch.mask.dtype == np.float32
    assert batch.lengths.dtype == np.int32 and batch.truncated.dtype == np.bool_
    assert batch.features[0].tolist() == case["features"]
    assert batch.mask[0].tolist() == case["mask"]
    assert int(batch.lengths[0]) == case["length"] and bool(batch.truncated[0]) == case["truncated"]
    full = featurizer([text], max_length=max(1, len(tokens))).features[0, :len(tokens)]
    assert hashlib.sha256(full.astype("<i4").tobytes()).hexdigest() == case["all_features_sha256"]


@pytest.mark.parametrize("case", GOLDEN["bytes_cases"], ids=lambda c: c["name"])
def test_golden_bytes_case(featurizers: dict[str, Any], case: dict[str, Any]) -> None:
    featurizer, data = featurizers[case["config"]], bytes.fromhex(case["hex"])
    batch = featurizer([data])
    assert featurizer.tokenize(data.decode("utf-8", "replace")) == case["tokens"]
    assert batch.features[0].tolist() == case["features"] and batch.mask[0].tolist() == case["mask"]
    assert int(batch.lengths[0]) == case["length"] and bool(batch.truncated[0]) == case["truncated"]
    full = featurizer([data], max_length=max(1, case["num_tokens"])).features[0, :case["num_tokens"]]
    assert hashlib.sha256(full.astype("<i4").tobytes()).hexdigest() == case["all_features_sha256"]


@pytest.mark.parametrize("batch", GOLDEN["batches"], ids=lambda b: b["name"])
def test_golden_batch(featurizers: dict[str, Any], batch: dict[str, Any]) -> None:
    out = featurizers[batch["config"]](batch["texts"], max_length=batch["max_length"], pad_to=batch["pad_to"])
    assert out.features.tolist() == batch["features"]
    assert out.mask.tolist() == batch["mask"]
    assert out.lengths.tolist() == batch["lengths"]
    assert out.truncated.tolist() == batch["truncated"]


def test_token_details(featurizers: dict[str, Any]) -> None:
    for detail in GOLDEN["token_details"]:
        assert featurizers[detail["config"]].token_buckets(detail["token"]).tolist() == detail["buckets"]


def test_native_hash_digest_and_version(native: dict[str, NativeBloomFeaturizer]) -> None:
    from neurolite_sdk import _featurizer_native as core

    for vector in GOLDEN["murmur3_x86_32"]:
        assert core.murmur3_x86_32(vector["input"].encode("utf-8"), vector["seed"]) == vector["hash"]
    for name, featurizer in native.items():
        assert featurizer._core.digest() == GOLDEN["configs"][name]["digest"]
        assert featurizer._core.params() == {k: v for k, v in CONFIGS[name].to_dict().items() if k != "version"}
    assert core.SPEC_VERSION == GOLDEN["spec_version"] and core.UNICODE_VERSION == GOLDEN["unicode_version"]
    assert featurizer_implementation("native").startswith("native C core ")


# ------------------------------------------------------------------------- native == Python
PLANES = st.one_of(
    st.characters(exclude_categories=()),  # anything, surrogates included, weighted to the interesting
    st.integers(0, 0x10FFFF).map(chr),  # uniform over every plane: mostly unassigned, private use, Ext B..
    st.integers(0x0300, 0x036F).map(chr),  # combining marks
    st.integers(0x1100, 0x11FF).map(chr),  # Hangul conjoining jamo (compose into syllables)
    st.integers(0xAC00, 0xD7A3).map(chr),  # Hangul syllables (decompose, recompose with jamo)
    st.integers(0x20000, 0x2A6DF).map(chr),  # CJK Extension B (astral ideographs)
    st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates
    st.sampled_from(list("aZ_'-.,!? \t\n\r\x00\x1b\x7f\x85\u00a0\u00ad\u0301\u0345\u0307\u030c\u200b\u200c\u200d"
                         "\u2028\u3000\ufe0f\ufeffßẞİıςΣǰﬁ①½¼⁗\ufdfaＡéñüÅ東京中かがカｶ\u3099ー々한각مرחשא١٢"
                         "😀👍🏽👨❤🇫🇷⃣\U000e0067\U000e0100\ue000\U000f0000\U0010fffd\u0378\U0001fa77𠀀𪚥")),
)
TEXTS = st.text(alphabet=PLANES, max_size=60)
UTF8ISH = st.lists(st.one_of(st.binary(min_size=1, max_size=4), TEXTS.map(lambda t: t.encode("utf-8", "replace")),
                             st.sampled_from([b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x80",
                                              b"\xf0\x9f\x98", b"\x80", b"\xff", b"\x00", b"caf\xc3\xa9"])),
                   max_size=12).map(b"".join)


@needs_native
@DIFFERENTIAL
@given(st.lists(TEXTS, max_size=6), st.sampled_from(sorted(CONFIGS)), st.none() | st.integers(1, 70),
       st.booleans())
def test_native_equals_python_on_text_from_every_plane(texts: list[str], config: str, max_length: int | None,
                                                       pad: bool) -> None:
    featurizer = NativeBloomFeaturizer(CONFIGS[config], cache_size=7)  # a tiny cache: collisions and evictions
    reference = PYTHON[config]
    expected = reference(texts, max_length=max_length)
    assert_same(featurizer(texts, max_length=max_length), expected)
    if pad:
        width = expected.features.shape[1] + 3
        assert_same(featurizer(texts, max_length=max_length, pad_to=width),
                    reference(texts, max_length=max_length, pad_to=width))
    for text in texts:
        assert featurizer.normalize(text) == reference.normalize(text)
        tokens = featurizer.tokenize(text)
        assert tokens == reference.tokenize(text)
        for token in tokens[:4]:
            assert featurizer.token_buckets(token).tolist() == reference.token_buckets(token).tolist()


@needs_native
@DIFFERENTIAL
@given(st.lists(UTF8ISH, min_size=1, max_size=5), st.sampled_from(sorted(CONFIGS)))
def test_native_bytes_equal_the_python_bytes_path(texts: list[bytes], config: str) -> None:
    """Invalid UTF-8 becomes U+FFFD per maximal subpart in the core, as bytes.decode('utf-8', 'replace')."""
    featurizer, reference = NativeBloomFeaturizer(CONFIGS[config], cache_size=0), PYTHON[config]
    assert_same(featurizer(texts), reference(texts))
    assert_same(featurizer(texts), reference([t.decode("utf-8", "replace") for t in texts]))
    for data in texts:
        decoded = data.decode("utf-8", "replace")
        assert featurizer.tokenize(data) == reference.tokenize(decoded)
        assert featurizer.normalize(data) == reference.normalize(decoded)


def test_bytes_and_str_mixed_in_one_batch(native: dict[str, NativeBloomFeaturizer]) -> None:
    texts = [b"caf\x80e ok", "café ok", b"\xed\xa0\x80 surrogate bytes", "東京😀", b"", b"\xf0\x9f\x98\x80x"]
    assert_same(native["default"](texts), PYTHON["default"](texts))


def test_lone_surrogates(native: dict[str, NativeBloomFeaturizer]) -> None:
    """A lone surrogate is a separator (passed to the core as U+0020); normalize keeps it in place."""
    featurizer, reference = native["default"], PYTHON["default"]
    for text in ["a\ud800b\udfff c", "\ud83d", "\ud83d\ude00", "e\ud800\u0301x", "\u0301\udc00\u0301",
                 "ﬁ\udbff\U0001d400\ud800ǰ", "\ud800" * 50, "x" * 40 + "\udfff" + "y" * 40]:
        assert featurizer.tokenize(text) == reference.tokenize(text), ascii(text)
        assert featurizer.normalize(text) == reference.normalize(text), ascii(text)
        assert_same(featurizer([text, text + " tail"]), reference([text, text + " tail"]))
    assert featurizer.tokenize("a\ud800b\udfff c") == ["a", "b", "c"]
    assert featurizer.normalize("A\ud800B") == "a\ud800b"
    assert featurizer(["\ud83d"]).lengths.tolist() == [0]


def test_long_texts_and_large_max_length(native: dict[str, NativeBloomFeaturizer]) -> None:
    """Rows sized from the byte length, retried when a text expands to more tokens than bytes (½ -> 1 ⁄ 2),
    counted first when very long; and no truncation when max_length exceeds every text."""
    featurizer, reference = native["alt"], PYTHON["alt"]
    texts = ["½" * 40, "⁗" * 30, "\ufdfa" * 20, "word " * 5000, "x" * 20_000, "!" * 9000, "a", ""]
    for max_length in (None, 3, 10**6, 2**31 - 1, 2**40):
        assert_same(featurizer(texts, max_length=max_length), reference(texts, max_length=max_length))
    out = featurizer(texts, max_length=10**6)
    # "⁗" is 3 bytes and 4 tokens (′ ′ ′ ′): 120 tokens from 90 bytes, more than a row sized from bytes
    assert out.lengths.tolist()[:3] == [81, 120, 61] and not out.truncated.any()


def test_threads_share_one_featurizer(native: dict[str, NativeBloomFeaturizer]) -> None:
    """16 threads on one featurizer (GIL released while featurizing) give exactly the serial results."""
    featurizer = NativeBloomFeaturizer(CONFIGS["default"], cache_size=64)
    texts = [case_text(c) for c in GOLDEN["cases"] if c["config"] == "default"]
    texts += [f"thread {i} token{i % 7} 東京 😀 ½ \ud800 {'x' * (i % 50)}" for i in range(60)]
    calls = [(texts[i % 17::3], (None, 5, 200)[i % 3]) for i in range(12)]
    serial = [PYTHON["default"](batch, max_length=limit) for batch, limit in calls]
    results: dict[int, list[FeatureBatch]] = {}
    barrier = threading.Barrier(16)

    def work(index: int) -> None:
        barrier.wait()
        results[index] = [featurizer(batch, max_length=limit) for batch, limit in calls for _ in range(2)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(16))
    for outputs in results.values():
        for got, expected in zip(outputs, [s for s in serial for _ in range(2)], strict=True):
            assert_same(got, expected)


# ------------------------------------------------------------------------- call contract, both implementations
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_shapes_padding_and_truncation(implementation: str) -> None:
    featurizer = create_featurizer(FeaturizerConfig(max_length=3), implementation=implementation)
    out = featurizer(["one two three four", "", "x"])
    assert isinstance(out, FeatureBatch)
    assert out.features.shape == (3, 3, 8) and out.lengths.tolist() == [3, 0, 1]
    assert out.truncated.tolist() == [True, False, False]
    assert out.mask.tolist() == [[1, 1, 1], [0, 0, 0], [1, 0, 0]]
    assert featurizer(["one two three four"], max_length=10).lengths.tolist() == [4]
    assert featurizer(["one two three four"], max_length=np.int64(2)).lengths.tolist() == [2]
    assert featurizer(["a b"], pad_to=5).features.shape == (1, 5, 8)
    assert featurizer(["a b"], pad_to=np.int32(4)).features.shape == (1, 4, 8)
    empty = featurizer([])
    assert empty.features.shape == (0, 1, 8) and empty.mask.shape == (0, 1) and empty.lengths.shape == (0,)
    assert featurizer([], pad_to=7).features.shape == (0, 7, 8)
    assert featurizer(["", " \t\n"]).features.shape == (2, 1, 8)
    assert featurizer(("a", "b")).lengths.tolist() == [1, 1]  # any sequence, not only lists
    assert featurizer(iter(["a b", "c"])).lengths.tolist() == [2, 1]
    out = featurizer(["a b"])
    out.features[0, 0, 0] = -1  # writable arrays, as numpy's own
    out.mask[0, 0] = 0.5


BAD_CALLS = [
    lambda f: f("a text"),
    lambda f: f(b"bytes"),
    lambda f: f(["ok", 3]),
    lambda f: f(["ok", None]),
    lambda f: f(["ok", bytearray(b"x")]),
    lambda f: f(["ok", np.int64(3)]),
    lambda f: f(["a b c"], pad_to=2),
    lambda f: f([""], pad_to=0),
    lambda f: f(["a b"], pad_to=1.5),
    lambda f: f(["a b"], pad_to=True),
    lambda f: f(["a"], max_length=0),
    lambda f: f(["a"], max_length=2.5),
    lambda f: f(["a", 7], max_length=0),  # the bad text is named first
    lambda f: f([], pad_to=0),
    lambda f: f.token_buckets(5),
    lambda f: f.token_buckets(b"a"),
    lambda f: f.token_buckets("a\ud800"),
]


@needs_native
@pytest.mark.parametrize("call", BAD_CALLS, ids=range(len(BAD_CALLS)))
def test_error_messages_are_the_python_ones(native: dict[str, NativeBloomFeaturizer], call: Any) -> None:
    with pytest.raises(FeaturizerError) as expected:
        call(PYTHON["default"])
    with pytest.raises(FeaturizerError) as got:
        call(native["default"])
    assert str(got.value) == str(expected.value)


@needs_native
def test_constructor_errors_are_the_python_ones() -> None:
    for args in [(None, -1), ({"num_buckets": 10}, 5), (None, 2.5), (None, True)]:
        with pytest.raises(FeaturizerError) as expected:
            BloomFeaturizer(*args)
        with pytest.raises(FeaturizerError) as got:
            NativeBloomFeaturizer(*args)
        assert str(got.value) == str(expected.value)


@needs_native
def test_pickle_copy_and_cache_independence() -> None:
    featurizer = NativeBloomFeaturizer(CONFIGS["alt"], cache_size=50)
    for clone in (pickle.loads(pickle.dumps(featurizer)), copy.deepcopy(featurizer), copy.copy(featurizer)):
        assert isinstance(clone, NativeBloomFeaturizer)
        assert clone.config == featurizer.config and clone.cache_size == 50
    batch = [f"w{i} w{i % 3} 東京" for i in range(300)]
    expected = PYTHON["alt"](batch)
    for cache_size in (0, 1, 2, 50, 200_000):
        other = NativeBloomFeaturizer(CONFIGS["alt"], cache_size=cache_size)
        assert_same(other(batch), expected)
        assert_same(other(batch), expected)  # again, from a warm cache
    assert repr(featurizer) == f"NativeBloomFeaturizer({CONFIGS['alt']!r}, cache_size=50)"


# ------------------------------------------------------------------------- choosing the implementation
def test_create_featurizer_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    auto = create_featurizer(CONFIGS["alt"], cache_size=10)
    assert isinstance(auto, NativeBloomFeaturizer if native_available() else BloomFeaturizer)
    assert auto.cache_size == 10 and auto.config == CONFIGS["alt"]
    assert type(create_featurizer(implementation="python")) is BloomFeaturizer
    monkeypatch.setenv(ENV_VAR, "python")
    assert type(create_featurizer()) is BloomFeaturizer
    assert featurizer_implementation().startswith("pure Python (NEUROLITE_FEATURIZER=python")
    monkeypatch.setenv(ENV_VAR, "native")
    if native_available():
        assert type(create_featurizer()) is NativeBloomFeaturizer
        assert type(create_featurizer(implementation="python")) is BloomFeaturizer  # an explicit argument wins
    else:
        with pytest.raises(FeaturizerError, match="^NEUROLITE_FEATURIZER=native: the native featurizer core is "
                                                  "not available"):
            create_featurizer()
    monkeypatch.setenv(ENV_VAR, "fortran")
    with pytest.raises(FeaturizerError, match=r"^NEUROLITE_FEATURIZER: expected python, native or auto, got 'fortran'"):
        create_featurizer()
    assert featurizer_implementation().startswith("none: NEUROLITE_FEATURIZER:")
    with pytest.raises(FeaturizerError, match=r"^implementation: expected one of auto, native, python, got 'c'"):
        create_featurizer(implementation="c")


def test_without_the_extension_everything_falls_back_to_python() -> None:
    """In a process where the extension cannot be imported (as after an install without a compiler):
    auto is Python, native is refused with the reason, and the runtime still featurizes."""
    script = """
import sys
sys.modules["neurolite_sdk._featurizer_native"] = None  # what a failed build leaves: the import fails
from neurolite_sdk.featurizer import BloomFeaturizer, FeaturizerError
from neurolite_sdk.featurizer_native import create_featurizer, featurizer_implementation, native_available
assert not native_available()
assert type(create_featurizer()) is BloomFeaturizer
print(featurizer_implementation())
try:
    create_featurizer(implementation="native")
except FeaturizerError as exc:
    print(exc)
else:
    raise SystemExit("native was not refused")
"""
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()[:2]
    assert first.startswith("pure Python (native core unavailable: ")
    assert second.startswith("implementation='native': the native featurizer core is not available: ")


def test_runtime_predictor_uses_create_featurizer() -> None:
    from neurolite_sdk.runtime import predictor

    assert predictor.create_featurizer is create_featurizer


def test_info_names_the_featurizer_implementation() -> None:
    from click.testing import CliRunner

    from neurolite_sdk.cli import main

    result = CliRunner().invoke(main, ["info", "--preset", "tiny", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["featurizer_implementation"] == featurizer_implementation()
    result = CliRunner().invoke(main, ["info", "--preset", "tiny"])
    assert f"featurizer: {featurizer_implementation()}" in " ".join(result.output.split())
