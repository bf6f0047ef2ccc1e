"""Decoding settings and the sampler, shared by PyTorch ``generate_text`` and the runtime's ``generate``.

Sampling runs on the host in numpy (float64) from the graph's float32 logits, with a
``numpy.random.Generator(PCG64(seed))``: the same logits and seed give the same bytes whatever ran
the graph. ``temperature == 0`` is greedy (argmax, ties to the lowest byte); otherwise the logits are
divided by the temperature, cut to the ``top_k`` largest (0: no cut), then to the smallest set whose
probability reaches ``top_p`` (1.0: no cut), renormalized, and one byte is drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurolite_sdk.generation.featurizer import GenerationInputError

MAX_NEW_TOKENS = 1 << 20


@dataclass(frozen=True)
class DecodingSettings:
    max_new_tokens: int = 64
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_decoding(self.max_new_tokens, self.temperature, self.top_k, self.top_p, self.seed)


def check_decoding(max_new_tokens: object, temperature: object, top_k: object, top_p: object, seed: object) -> None:
    """One ``GenerationInputError`` naming the first bad field."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
            or not 0 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise GenerationInputError(f"max_new_tokens: must be an integer in [0, {MAX_NEW_TOKENS}], "
                                   f"got {max_new_tokens!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
            or temperature < 0:
        raise GenerationInputError(f"temperature: must be a finite number >= 0 (0 is greedy), got {temperature!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 0 <= top_k <= 256:
        raise GenerationInputError(f"top_k: must be an integer in [0, 256] (0: no cut), got {top_k!r}")
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not math.isfinite(top_p) \
            or not 0 < top_p <= 1:
        raise GenerationInputError(f"top_p: must be a number in (0, 1], got {top_p!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise GenerationInputError(f"seed: must be a non-negative integer, got {seed!r}")


class Sampler:
    """Picks the next byte from a logits row, following ``settings`` and its own seeded generator."""

    def __init__(self, settings: DecodingSettings) -> None:
        self.settings = settings
        self.rng = np.random.Generator(np.random.PCG64(settings.seed))

    def __call__(self, logits: np.ndarray) -> int:
        row = np.asarray(logits, dtype=np.float64).reshape(-1)
        if not np.isfinite(row).all():
            raise GenerationInputError("logits: the model returned NaN or Infinity")
        s = self.settings
        if s.temperature == 0:
            return int(np.argmax(row))
        row = row / s.temperature
        order = np.argsort(-row, kind="stable")
        if s.top_k:
            order = order[: s.top_k]
        probs = np.exp(row[order] - row[order[0]])
        probs /= probs.sum()
        if s.top_p < 1.0:
            keep = int(np.searchsorted(np.cumsum(probs), s.top_p) + 1)
            order, probs = order[:keep], probs[:keep] / probs[:keep].sum()
        pick = int(np.searchsorted(np.cumsum(probs), self.rng.random() * probs.sum(), side="right"))
        return int(order[min(pick, len(order) - 1)])


def check_prompt(prompt: object, context_length: int) -> bytes:
    """The prompt as UTF-8 bytes; empty or longer than the model's context -> ``GenerationInputError``."""
    if not isinstance(prompt, str):
        raise GenerationInputError(f"prompt: must be a string, got {type(prompt).__name__}")
    data = prompt.encode("utf-8", "surrogatepass")
    if not data:
        raise GenerationInputError("prompt: is empty; give at least one character to continue")
    if len(data) > context_length:
        raise GenerationInputError(f"prompt: {len(data)} bytes is longer than the model's context of "
                                   f"{context_length} bytes (context_length); shorten it")
    return data
