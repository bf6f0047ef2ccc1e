"""More text for the teacher to label: the augmentation of Tang et al. 2019 ("Distilling Task-Specific
Knowledge from BERT into Simple Neural Networks", section 3.2).

Each new sample starts from a training sentence's words; every word is, independently, masked with
probability ``p_mask`` or (else) swapped with probability ``p_swap`` for a word drawn from the whole
training text's word distribution (the paper's swap is guided by part-of-speech tags; this one has no
tagger, so it swaps words between training sentences); then, with probability ``p_ngram``, only a
random n-gram (n in 1..``max_ngram``) of the result is kept. Samples equal to their source sentence or
to an earlier sample are dropped.

The teacher labels the masked sample with its own mask token in place (``teacher_texts``); the student
sees the same sample with the masked words removed (``student_texts``): the hashed featurizer has no
unknown-word token, and hiding tokens is what its token dropout already trains it for. The labels the
samples carry are the teacher's soft outputs only, never the source sentence's label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentSettings:
    copies: int = 0  # new samples per training sentence (at most; duplicates are dropped)
    p_mask: float = 0.1
    p_swap: float = 0.1
    p_ngram: float = 0.25
    max_ngram: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {"copies": self.copies >= 0, "p_mask": 0 <= self.p_mask < 1, "p_swap": 0 <= self.p_swap < 1,
                  "p_ngram": 0 <= self.p_ngram <= 1, "max_ngram": self.max_ngram >= 1,
                  "p_mask + p_swap": self.p_mask + self.p_swap < 1}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: invalid augmentation setting ({asdict(self)})")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Augmented:
    """New samples as word lists (``None`` = a masked word) and the training row each came from."""

    words: list[list[str | None]]
    source_rows: np.ndarray

    def __len__(self) -> int:
        return len(self.words)

    def teacher_texts(self, mask_token: str | None) -> list[str]:
        """The samples as the teacher reads them: masked words become ``mask_token`` (dropped if None)."""
        if mask_token is None:
            return self.student_texts()
        return [" ".join(mask_token if w is None else w for w in sample) for sample in self.words]

    def student_texts(self) -> list[str]:
        return [" ".join(w for w in sample if w is not None) for sample in self.words]


def augment(texts: Sequence[str], settings: AugmentSettings) -> Augmented:
    """Up to ``settings.copies`` new samples per text, deterministic for a given seed."""
    rng = np.random.default_rng(settings.seed)
    sentences = [text.split() for text in texts]
    pool = [word for words in sentences for word in words]
    samples: list[list[str | None]] = []
    sources: list[int] = []
    if settings.copies == 0 or not pool:
        return Augmented(samples, np.zeros(0, dtype=np.int64))
    pool_array = np.asarray(pool, dtype=object)
    for row, words in enumerate(sentences):
        if not words:
            continue
        seen = {tuple(words)}
        for _ in range(settings.copies * 2):  # a few tries more than asked: short sentences repeat themselves
            if len(seen) > settings.copies:
                break
            draw = rng.random(len(words))
            swaps = pool_array[rng.integers(0, len(pool), len(words))]
            sample: list[str | None] = [
                None if u < settings.p_mask else (swaps[i] if u < settings.p_mask + settings.p_swap else w)
                for i, (u, w) in enumerate(zip(draw, words, strict=True))]
            if rng.random() < settings.p_ngram and len(sample) > 1:
                n = int(rng.integers(1, min(settings.max_ngram, len(sample)) + 1))
                start = int(rng.integers(0, len(sample) - n + 1))
                sample = sample[start:start + n]
            key = tuple(sample)
            if key in seen or all(w is None for w in sample):
                continue
            seen.add(key)
            samples.append(sample)
            sources.append(row)
    return Augmented(samples, np.asarray(sources, dtype=np.int64))
