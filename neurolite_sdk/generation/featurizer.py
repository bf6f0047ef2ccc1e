"""Byte n-gram featurizer for causal generation (host stage, numpy + mmh3 only; docs/generation.md).

The model reads and writes **UTF-8 bytes**: the output is a softmax over the 256 byte values, so any
text decodes exactly and there is no vocabulary file and no embedding table. The input of position
``t`` is ``K`` bucket indices, one per n-gram order ``n`` in ``orders``: MurmurHash3_x86_32 (the
hash of the classification featurizer, docs/featurizer.md section 4) of the ``n`` bytes ending at
``t``, seeded with ``seed``, modulo ``num_buckets``. Bytes before the start of the text are ``PAD``
(0x02, the spec's BOW marker). The model gathers and sums the K rows of its F x E table (the same
``BloomProjection`` idea: a counting Bloom filter of the recent n-grams times a linear layer).

Every feature of position ``t`` depends only on bytes ``<= t``: the featurizer is causal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import mmh3
import numpy as np

from neurolite_sdk.errors import NeuroLiteError

SPEC_VERSION = "gen-bytes-1.0"
PAD = 0x02
VOCAB_SIZE = 256  # one output per byte value

_C1 = np.uint32(0xCC9E2D51)
_C2 = np.uint32(0x1B873593)


class GenerationInputError(NeuroLiteError, ValueError):
    """A bad argument to generation (prompt, temperature, top-k, top-p, ...); the message names the field."""


@dataclass(frozen=True)
class ByteFeaturizerConfig:
    num_buckets: int = 8192
    orders: tuple[int, ...] = (1, 2, 3, 4, 6)
    seed: int = 0
    version: str = SPEC_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.num_buckets, int) or not 1 <= self.num_buckets <= 2**31:
            raise GenerationInputError(f"num_buckets: must be an integer in [1, 2^31], got {self.num_buckets!r}")
        if (not self.orders or len(set(self.orders)) != len(self.orders)
                or not all(isinstance(n, int) and 1 <= n <= 32 for n in self.orders)):
            raise GenerationInputError(f"ngram_orders: must be distinct integers in [1, 32], got {self.orders!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise GenerationInputError(f"featurizer_seed: must be an integer in [0, 2^32), got {self.seed!r}")
        if self.version != SPEC_VERSION:
            raise GenerationInputError(f"version: this SDK implements {SPEC_VERSION!r}, got {self.version!r}")

    @property
    def num_hashes(self) -> int:
        return len(self.orders)

    @property
    def history(self) -> int:
        """How many past bytes (the current one included) the features of one position read."""
        return max(self.orders)

    def to_dict(self) -> dict:
        return {**asdict(self), "orders": list(self.orders)}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def murmur3_ngrams(data: np.ndarray, n: int, seed: int) -> np.ndarray:
    """MurmurHash3_x86_32 of every n-byte window ``data[i:i+n]`` (uint8 [N]) -> uint32 [N - n + 1]."""
    count = data.shape[0] - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint32)
    windows = np.lib.stride_tricks.sliding_window_view(data, n).astype(np.uint32)
    h = np.full(count, seed, dtype=np.uint32)
    with np.errstate(over="ignore"):
        blocks = n // 4
        for b in range(blocks):
            k = (windows[:, 4 * b] | (windows[:, 4 * b + 1] << np.uint32(8)) | (windows[:, 4 * b + 2] << np.uint32(16))
                 | (windows[:, 4 * b + 3] << np.uint32(24)))
            k = _rotl(k * _C1, 15) * _C2
            h = _rotl(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
        tail = n & 3
        if tail:
            k = np.zeros(count, dtype=np.uint32)
            for j in range(tail - 1, -1, -1):
                k = k ^ (windows[:, 4 * blocks + j] << np.uint32(8 * j))
            h = h ^ (_rotl(k * _C1, 15) * _C2)
        h = h ^ np.uint32(n)
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        h = h ^ (h >> np.uint32(16))
    return h


def featurize_bytes(data: bytes | np.ndarray, config: ByteFeaturizerConfig) -> np.ndarray:
    """Features of every position of ``data``: int32 [len(data), K] (vectorized; for training and prompts)."""
    raw = np.frombuffer(bytes(data), dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
    padded = np.concatenate([np.full(config.history - 1, PAD, dtype=np.uint8), raw.astype(np.uint8)])
    columns = []
    for n in config.orders:
        hashes = murmur3_ngrams(padded[config.history - n:], n, config.seed)
        columns.append((hashes % np.uint32(config.num_buckets)).astype(np.int32))
    return np.stack(columns, axis=1) if columns[0].size else np.zeros((0, config.num_hashes), dtype=np.int32)


def step_features(history: bytes, config: ByteFeaturizerConfig) -> np.ndarray:
    """Features of the last byte of ``history`` (the bytes so far): int32 [1, K] (scalar mmh3; per step)."""
    window = bytes([PAD]) * max(0, config.history - len(history)) + bytes(history[-config.history:])
    row = [mmh3.hash(window[len(window) - n:], config.seed, signed=False) % config.num_buckets for n in config.orders]
    return np.asarray([row], dtype=np.int32)
