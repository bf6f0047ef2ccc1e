"""A byte-level n-gram language model (interpolated absolute discounting), the baseline beside the
causal NeuroLite model in benchmarks/RESULTS.md, section "Text generation".

    P(w | h) = max(c(h w) - D, 0) / c(h) + D * N1+(h .) / c(h) * P(w | h')      (h' = h without its first byte)

down to a uniform distribution over the 256 byte values; a context never seen falls through to h'.
Its size is the number of stored n-gram counts (the n-grams of every order, plus their contexts).
"""

from __future__ import annotations

import math
import time
from collections import Counter


class ByteNgram:
    def __init__(self, order: int, discount: float = 0.75) -> None:
        self.order = order
        self.discount = discount

    def fit(self, data: bytes) -> ByteNgram:
        self.grams: list[Counter[bytes]] = []
        self.contexts: list[Counter[bytes]] = []
        self.types: list[Counter[bytes]] = []
        for n in range(1, self.order + 1):
            grams = Counter(data[i:i + n] for i in range(len(data) - n + 1))
            contexts: Counter[bytes] = Counter()
            types: Counter[bytes] = Counter()
            for gram, count in grams.items():
                contexts[gram[:-1]] += count
                types[gram[:-1]] += 1
            self.grams.append(grams)
            self.contexts.append(contexts)
            self.types.append(types)
        return self

    @property
    def size(self) -> int:
        return sum(len(g) + len(c) for g, c in zip(self.grams, self.contexts, strict=True))

    def prob(self, history: bytes, byte: int) -> float:
        p = 1.0 / 256
        for n in range(1, self.order + 1):
            context = history[len(history) - (n - 1):] if n > 1 else b""
            if n > 1 and len(context) < n - 1:
                break
            total = self.contexts[n - 1].get(context, 0)
            if not total:
                break
            count = self.grams[n - 1].get(context + bytes([byte]), 0)
            p = max(count - self.discount, 0.0) / total + self.discount * self.types[n - 1][context] / total * p
        return p

    def nats_per_byte(self, data: bytes) -> float:
        total = 0.0
        for i in range(1, len(data)):
            total -= math.log(self.prob(data[max(0, i - self.order + 1):i], data[i]))
        return total / (len(data) - 1)


def run(train: bytes, held: bytes, order: int) -> dict[str, float]:
    started = time.perf_counter()
    model = ByteNgram(order).fit(train)
    fit_seconds = time.perf_counter() - started
    nats = model.nats_per_byte(held)
    return {"order": order, "size": model.size, "fit_seconds": fit_seconds, "nats_per_byte": nats,
            "bits_per_byte": nats / math.log(2), "perplexity_per_byte": math.exp(nats)}
