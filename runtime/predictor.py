"""Predictor: texts in, labels out, for one bundle: featurizer -> planner -> backend -> softmax.

Torch-free (DESIGN.md decision 9): it runs on the numpy featurizer and whichever backend the bundle's
format needs. The featurizer is rebuilt from the spec in the manifest, whose digest ``read_bundle``
has checked, so the graph sees exactly the buckets it was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from neurolite_sdk.featurizer import BloomFeaturizer, FeatureBatch
from neurolite_sdk.runtime.backends import Backend
from neurolite_sdk.runtime.bundle import Bundle
from neurolite_sdk.runtime.errors import PredictionInputError
from neurolite_sdk.runtime.planner import plan, request_shape, run_plan

LOGITS = "logits"


@dataclass(frozen=True)
class Prediction:
    """One text's result; ``truncated`` says the text had more tokens than the model reads."""

    label: str
    score: float
    probabilities: dict[str, float]
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Predictor:
    """A bundle opened on its backend. ``predict`` takes any number of texts of any length."""

    def __init__(self, bundle: Bundle, backend: Backend) -> None:
        self.bundle = bundle
        self.backend = backend
        self.featurizer = BloomFeaturizer(bundle.featurizer)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.bundle.labels

    def featurize(self, texts: Sequence[str], max_length: int | None = None) -> FeatureBatch:
        """The graph inputs for ``texts`` (truncated to ``max_length``, default the model's)."""
        if not isinstance(texts, (str, bytes)) and len(texts) == 0:
            raise PredictionInputError("texts: empty list; give at least one text")
        return self.featurizer(texts, max_length=max_length)

    def run(self, inputs: Mapping[str, np.ndarray], signature: str | None = None) -> dict[str, np.ndarray]:
        """Named inputs of any batch and length -> named outputs, padded and split to fit the bundle.

        ``signature`` forces one entry point (parity checks each one); by default the planner picks.
        """
        signatures = self.bundle.signatures if signature is None else (self.bundle.signature(signature),)
        batch, length = request_shape(signatures[0], inputs)
        if batch == 0:
            raise PredictionInputError("inputs: empty batch")
        return run_plan(self.backend, plan(signatures, batch, length), inputs)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        batch = self.featurize(texts)
        return self.run({"features": batch.features, "mask": batch.mask})[LOGITS]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        batch = self.featurize(texts)
        logits = self.run({"features": batch.features, "mask": batch.mask})[LOGITS].astype(np.float64)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        best = probabilities.argmax(axis=1)
        return [Prediction(label=self.labels[k], score=float(row[k]),
                           probabilities=dict(zip(self.labels, map(float, row), strict=True)),
                           truncated=bool(cut))
                for row, k, cut in zip(probabilities, best, batch.truncated, strict=True)]
