"""The text featurizer: texts -> int32 bucket indices ``features[B, L, K]`` + ``mask[B, L]``, numpy only.

This module is the reference implementation of a *specification*, ``docs/featurizer.md`` (spec
version ``FEATURIZER_VERSION``), which a Kotlin or Swift port reproduces bit for bit; the golden
vectors in ``tests/golden/featurizer_v1.json`` pin it. Anything here that changes an output needs a
spec version bump and regenerated goldens.

Per text:
  normalize  delete format characters (Cf) and variation selectors; NFKC; full case folding; NFKC
  tokenize   words (runs of letters, digits, marks); each CJK ideograph or kana alone; every other
             visible character alone (with its marks); controls, spaces, unassigned... split and vanish
  buckets    K indices in [0, F) per token: W from the whole token, K - W MinHash over its char
             n-grams, all through MurmurHash3 x86_32 and a seeded multiply-shift family
The model gathers the K rows of an F x D table and sums them: a counting Bloom filter times a linear
layer, without ever materialising a [B, L, F] tensor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, compress, repeat
from typing import Any

import mmh3
import numpy as np

from neurolite_sdk import unicode14
from neurolite_sdk.errors import NeuroLiteError

FEATURIZER_VERSION = "1.0"
UNICODE_VERSION = unicode14.UNICODE_VERSION  # "14.0.0": the tables every implementation compiles in
MAX_NGRAM_CHARS = 32  # n-grams come from the first 32 code points of a token: a 10k-char "word" stays cheap
BOW, EOW = "\x02", "\x03"  # token boundary markers; controls never survive tokenization, so never collide

_MASK64 = (1 << 64) - 1


class FeaturizerError(NeuroLiteError):
    """Bad featurizer input or config; the message names the field (or the text's index)."""


# ----------------------------------------------------------------------------------------------- config
_INT_FIELDS = ("num_buckets", "num_hashes", "word_hashes", "ngram_min", "ngram_max", "max_length", "seed")


@dataclass(frozen=True)
class FeaturizerConfig:
    """Every parameter of the featurizer; with the spec version, it fixes the output exactly.

    ``digest()`` travels inside checkpoints and exported bundles, so a runtime can refuse a model
    fed by a different featurizer instead of silently giving it different buckets.
    """

    num_buckets: int = 4096  # F: bucket indices lie in [0, F)
    num_hashes: int = 8  # K: buckets per token
    word_hashes: int = 4  # W: the first W buckets hash the whole token, the other K - W its n-grams
    ngram_min: int = 3
    ngram_max: int = 5
    max_length: int = 64  # L: tokens kept per text; longer texts are truncated (and flagged)
    seed: int = 0  # unsigned 32-bit: MurmurHash3 seed and splitmix64 seed of the mixing family
    version: str = FEATURIZER_VERSION

    def __post_init__(self) -> None:
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise FeaturizerError(f"{name}: must be an integer, got {value!r} ({type(value).__name__})")
            object.__setattr__(self, name, int(value))  # numpy integers -> int, so JSON stays plain
        # name: (lowest, highest), each a number or (number, how the message names it)
        bounds = {"num_buckets": (1, 2**31), "num_hashes": (1, 1024),
                  "word_hashes": (0, (self.num_hashes, f"num_hashes ({self.num_hashes})")),
                  "ngram_min": (1, 16), "ngram_max": ((self.ngram_min, f"ngram_min ({self.ngram_min})"), 16),
                  "max_length": (1, 2**31 - 1), "seed": (0, 2**32 - 1)}
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            (low, low_name), (high, high_name) = (b if isinstance(b, tuple) else (b, b) for b in (low, high))
            if value < low:
                raise FeaturizerError(f"{name}: must be >= {low_name}, got {value}")
            if value > high:
                raise FeaturizerError(f"{name}: must be <= {high_name}, got {value}")
        if self.version != FEATURIZER_VERSION:
            raise FeaturizerError(f"version: this SDK implements featurizer spec {FEATURIZER_VERSION!r}, "
                                  f"got {self.version!r}; a model trained with another spec needs the SDK "
                                  f"release that implements it (or retraining)")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Any) -> FeaturizerConfig:
        """The inverse of ``to_dict``: every key required, none unknown, so a typo fails loudly."""
        if not isinstance(data, dict):
            raise FeaturizerError(f"featurizer config: expected a JSON object, got {type(data).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in known:
                raise FeaturizerError(f"{key}: unknown featurizer config key "
                                      f"(known keys: {', '.join(known)})")
        for key in known:
            if key not in data:
                raise FeaturizerError(f"{key}: missing featurizer config key")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeaturizerConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FeaturizerError(f"featurizer config: invalid JSON at line {exc.lineno} column {exc.colno}: "
                                  f"{exc.msg}") from exc
        return cls.from_dict(data)

    def canonical_json(self) -> str:
        """Sorted keys, no whitespace, ASCII: the exact bytes ``digest`` hashes (spec section 7)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def digest(self) -> str:
        """SHA-256 hex of ``canonical_json()``: spec version plus every parameter."""
        return hashlib.sha256(self.canonical_json().encode("ascii")).hexdigest()


@dataclass
class FeatureBatch:
    """The graph inputs for B texts. Padding rows have features 0 and mask 0."""

    features: np.ndarray  # int32 [B, L, K]: bucket indices in [0, F)
    mask: np.ndarray  # float32 [B, L]: 1.0 real token, 0.0 padding
    lengths: np.ndarray  # int32 [B]: real tokens kept per text
    truncated: np.ndarray  # bool [B]: the text had more than max_length tokens


# ----------------------------------------------------------------------------------------------- Unicode
# Sections 2-3 run on the generated Unicode 14.0.0 tables (neurolite_sdk/unicode14.py), never on this
# Python's unicodedata, so Python 3.10 to 3.13 give the same tokens as the C core.
normalize = unicode14.normalize
tokenize = unicode14.tokenize


def decode_text(text: str | bytes) -> str:
    """A text as code points. ``bytes`` are UTF-8, each maximal invalid subsequence becoming one U+FFFD
    (the WHATWG rule, spec section 0); the C core decodes bytes the same way."""
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


# ----------------------------------------------------------------------------------------------- hashing
def splitmix64(seed: int, count: int) -> list[int]:
    """The first ``count`` outputs of splitmix64 seeded with ``seed`` (spec section 4)."""
    state, out = seed & _MASK64, []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        out.append(z ^ (z >> 31))
    return out


def mix_params(seed: int, num_hashes: int) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers a_k (odd) and offsets b_k of mix_k(x) = ((a_k x + b_k) mod 2^64) >> 32."""
    stream = splitmix64(seed, 2 * num_hashes)
    return (np.array([a | 1 for a in stream[0::2]], dtype=np.uint64),
            np.array(stream[1::2], dtype=np.uint64))


def _ngram_slices(width: int, ngram_min: int, ngram_max: int) -> tuple[slice, ...]:
    """Slices cutting every n-gram (n in [min, max]) out of a wrapped token of ``width`` code points."""
    if width <= ngram_min:
        return (slice(0, width),)
    return tuple(slice(i, i + n) for n in range(ngram_min, min(ngram_max, width) + 1)
                 for i in range(width - n + 1))


# ----------------------------------------------------------------------------------------------- featurizer
class BloomFeaturizer:
    """Texts -> ``FeatureBatch``, with a bounded LRU cache of token -> buckets.

    Repeated words (most of any corpus) cost a dict lookup; new tokens are hashed in one vectorised
    pass per call. Thread-safe: the cache is guarded by a lock. Pickles as (config, cache_size).
    """

    def __init__(self, config: FeaturizerConfig | None = None, cache_size: int = 200_000) -> None:
        config = FeaturizerConfig() if config is None else config
        if not isinstance(config, FeaturizerConfig):
            raise FeaturizerError(f"config: expected a FeaturizerConfig, got {type(config).__name__}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, numbers.Integral) or cache_size < 0:
            raise FeaturizerError(f"cache_size: must be an integer >= 0, got {cache_size!r}")
        self.config = config
        self.cache_size = int(cache_size)
        self._a, self._b = mix_params(config.seed, config.num_hashes)
        # Every wrapped token is 2 to MAX_NGRAM_CHARS + 2 code points wide: its n-gram cuts, by width.
        self._cuts = [_ngram_slices(width, config.ngram_min, config.ngram_max)
                      for width in range(MAX_NGRAM_CHARS + 3)]
        self._lock = threading.Lock()
        self._slots: OrderedDict[str, int] = OrderedDict()  # token -> row of _store, in LRU order
        self._store = np.zeros((min(self.cache_size, 1024), config.num_hashes), dtype=np.int32)
        self._hits = self._misses = 0
        unicode14.warm_up()  # compile the patterns now, not inside the first timed call

    def __repr__(self) -> str:
        return f"BloomFeaturizer({self.config!r}, cache_size={self.cache_size})"

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "cache_size": self.cache_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"], state["cache_size"])  # type: ignore[misc]

    def normalize(self, text: str) -> str:
        """Spec section 2 (see the module-level ``normalize``)."""
        return normalize(text)

    def tokenize(self, text: str) -> list[str]:
        """Spec sections 2-3: every normalized token of ``text``, not truncated."""
        return tokenize(text)

    def token_buckets(self, token: str) -> np.ndarray:
        """int32 [K] buckets of one *normalized* token (as ``tokenize`` returns it), hashed as given."""
        if not isinstance(token, str):
            raise FeaturizerError(f"token: expected str, got {type(token).__name__}")
        if not token.isascii():
            try:
                token.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise FeaturizerError(f"token: not encodable as UTF-8 ({exc.reason} at {exc.start})") from exc
        return self._lookup([token])[0].copy()

    def cache_info(self) -> dict[str, int]:
        """Hits and misses count distinct tokens per call; size is the number of cached tokens."""
        return {"hits": self._hits, "misses": self._misses, "size": len(self._slots),
                "capacity": self.cache_size}

    def __call__(self, texts: Sequence[str], max_length: int | None = None,
                 pad_to: int | None = None) -> FeatureBatch:
        """Featurize a batch. L = ``pad_to`` if given, else max(1, longest kept length).

        ``max_length`` overrides ``config.max_length`` for truncation (the first tokens are kept).
        A text without tokens gives an all-zero mask row.
        """
        if isinstance(texts, (str, bytes)):
            raise FeaturizerError(f"texts: expected a sequence of str, got a single {type(texts).__name__}; "
                                  f"wrap it in a list")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, (str, bytes)):
                raise FeaturizerError(f"texts[{i}]: expected str (or UTF-8 bytes), got {type(text).__name__}")
        texts = [decode_text(text) for text in texts]
        limit = self.config.max_length if max_length is None else max_length
        if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1:
            raise FeaturizerError(f"max_length: must be an integer >= 1, got {max_length!r}")
        tokens = [tokenize(text) for text in texts]
        counts = np.array([len(t) for t in tokens], dtype=np.int64)
        lengths = np.minimum(counts, limit).astype(np.int32)
        longest = int(lengths.max(initial=0))
        if pad_to is None:
            width = max(1, longest)
        elif isinstance(pad_to, bool) or not isinstance(pad_to, numbers.Integral) or pad_to < max(1, longest):
            raise FeaturizerError(f"pad_to: must be an integer >= the longest kept text ({max(1, longest)} "
                                  f"tokens), got {pad_to!r}")
        else:
            width = int(pad_to)
        kept = chain.from_iterable(t[:limit] if len(t) > limit else t for t in tokens)
        # Distinct token -> id in first-seen order: map() reads len(index) before setdefault inserts.
        index: dict[str, int] = {}
        ids = np.fromiter(map(index.setdefault, kept, map(len, repeat(index))), np.int64, int(lengths.sum()))
        mask = np.arange(width) < lengths[:, None]
        features = np.zeros((len(texts), width, self.config.num_hashes), dtype=np.int32)
        if len(ids):
            features[mask] = self._lookup(list(index))[ids]
        return FeatureBatch(features, mask.astype(np.float32), lengths, counts > limit)

    # ------------------------------------------------------------------------------------------- internals
    def _lookup(self, tokens: list[str]) -> np.ndarray:
        """int32 [U, K] buckets of distinct tokens: cached rows, the rest computed in one pass."""
        if not self.cache_size:
            with self._lock:
                self._misses += len(tokens)
            return self._compute(tokens)
        with self._lock:
            slots = self._slots
            found = np.fromiter(map(slots.get, tokens, repeat(-1)), np.int64, len(tokens))
            hit = found >= 0
            deque(map(slots.move_to_end, compress(tokens, hit.tolist())), maxlen=0)  # most recent last
            rows = self._store[np.where(hit, found, 0)]
            miss_at = np.flatnonzero(~hit)
            self._hits += len(tokens) - len(miss_at)
            self._misses += len(miss_at)
            if not len(miss_at):
                return rows
            missing = [tokens[i] for i in miss_at.tolist()]
            computed = rows[miss_at] = self._compute(missing)
            keep = min(len(missing), self.cache_size)  # more misses than capacity: cache the last ones
            new_slots = []
            for token in missing[len(missing) - keep:]:
                new_slots.append(len(slots) if len(slots) < self.cache_size else slots.popitem(last=False)[1])
                slots[token] = new_slots[-1]
            top = max(new_slots)
            if top >= len(self._store):  # grow by doubling up to capacity: small caches stay small
                grown = np.zeros((min(self.cache_size, max(2 * len(self._store), top + 1)),
                                  self.config.num_hashes), dtype=np.int32)
                grown[:len(self._store)] = self._store
                self._store = grown
            self._store[new_slots] = computed[len(missing) - keep:]
        return rows

    def _compute(self, tokens: list[str]) -> np.ndarray:
        """Spec sections 4-5 for distinct tokens: int32 [U, K] bucket indices."""
        cfg, count = self.config, len(tokens)
        a, b, w, shift = self._a, self._b, cfg.word_hashes, np.uint64(32)
        values = np.empty((count, cfg.num_hashes), dtype=np.uint64)
        if w:
            h = np.fromiter(map(mmh3.hash, tokens, repeat(cfg.seed), repeat(False)), np.uint64, count)
            values[:, :w] = (h[:, None] * a[:w] + b[:w]) >> shift
        if w < cfg.num_hashes:
            grams: list[str] = []
            starts, cuts = [], self._cuts
            for token in tokens:
                wrapped = BOW + token[:MAX_NGRAM_CHARS] + EOW
                starts.append(len(grams))
                grams += map(wrapped.__getitem__, cuts[len(wrapped)])
            h = np.fromiter(map(mmh3.hash, grams, repeat(cfg.seed), repeat(False)), np.uint64, len(grams))
            mixed = (h[:, None] * a[w:] + b[w:]) >> shift
            values[:, w:] = np.minimum.reduceat(mixed, starts, axis=0)
        return (values % np.uint64(cfg.num_buckets)).astype(np.int32)
