"""Predictor: texts in, labels out, for one bundle: featurizer -> planner -> backend -> softmax
(-> post-processors, when the bundle carries a rules file or a Bayesian network).

Torch-free (docs/design.md, decision 9): it runs on the featurizer (the native C core when it is built, else
the numpy reference: the same buckets) and whichever backend the bundle's format needs. The featurizer
is rebuilt from the spec in the manifest, whose digest ``read_bundle`` has checked, so the graph sees
exactly the buckets it was trained on.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from math import exp
from pathlib import Path
from typing import Any

import numpy as np

from neurolite_sdk.featurizer import FeatureBatch
from neurolite_sdk.featurizer_native import create_featurizer
from neurolite_sdk.runtime.backends import Backend
from neurolite_sdk.runtime.bundle import Bundle
from neurolite_sdk.runtime.errors import BundleError, PredictionInputError
from neurolite_sdk.runtime.memory import Session, memory_spec
from neurolite_sdk.runtime.multimodal import bundle_spec, predict_multimodal
from neurolite_sdk.runtime.planner import Step, plan, request_shape, run_plan
from neurolite_sdk.runtime.postprocess import PostProcessor

LOGITS = "logits"
PREDICATES = "predicates"
# Texts per graph call in predict: working memory is this many texts' activations (tiny preset, 64 tokens:
# about 0.5 MB a text on onnxruntime), whatever the number of texts; benchmarks/memory_scaling.py.
BATCH_SIZE = 64
PLAN_CACHE = 512  # request shapes whose plan a Predictor keeps (planning is pure; an app asks for few shapes)


@dataclass(frozen=True)
class Prediction:
    """One text's result; ``truncated`` says the text had more tokens than the model reads, ``empty`` that
    it had none (empty, whitespace only, or only characters the featurizer drops): the label is then the
    model's answer to no input at all, not a reading of the text.

    For a bundle with the predicate head, ``predicates`` holds each predicate's score; with a rules
    file, ``facts`` (the prediction as transient facts) and ``derived`` (each derived fact with the rule
    and premises that derived it, ``runtime/postprocess.py``); with a network, ``posteriors``. They
    are None otherwise, and ``to_dict`` leaves them out.
    """

    label: str
    score: float
    probabilities: dict[str, float]
    truncated: bool
    predicates: dict[str, float] | None = None
    facts: list[str] | None = None
    derived: list[dict[str, Any]] | None = None
    posteriors: dict[str, Any] | None = None
    empty: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items()
                if value is not None or key in ("label", "score", "probabilities", "truncated", "empty")}


class Predictor:
    """A bundle opened on its backend. ``predict`` takes any number of texts of any length."""

    def __init__(self, bundle: Bundle, backend: Backend) -> None:
        self.bundle = bundle
        self.backend = backend
        self.featurizer = create_featurizer(bundle.featurizer)  # the native C core when built, same results
        self.postprocessor = PostProcessor.from_bundle(bundle)
        self.multimodal = bundle_spec(bundle)  # what a multimodal graph takes (runtime/multimodal.py); else None
        self.memory = memory_spec(bundle)  # a memory graph's state (runtime/memory.py); else None
        self.predicate_names = tuple(bundle.manifest.get("config", {}).get("symbolic_predicates", []))
        self._plans: dict[tuple[str | None, int, int], list[Step]] = {}
        outputs = {t.name: t for t in bundle.signatures[0].outputs}
        if PREDICATES in outputs and outputs[PREDICATES].shape[-1] != len(self.predicate_names):
            raise BundleError(f"{bundle.path}: the graph scores {outputs[PREDICATES].shape[-1]} predicates, "
                              f"config.symbolic_predicates names {len(self.predicate_names)}")

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
        key = (signature, batch, length)
        steps = self._plans.get(key)
        if steps is None:
            steps = plan(signatures, batch, length)
            if len(self._plans) < PLAN_CACHE:  # (a dict store is atomic: threads sharing a Predictor are safe)
                self._plans[key] = steps
        return run_plan(self.backend, steps, inputs)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return self.run(self.graph_inputs(self.featurize(texts)))[LOGITS]

    def session(self, state_file: str | Path | None = None) -> Session:
        """A conversation on a memory bundle (runtime/memory.py): its ``predict`` reads and writes a memory
        that this ``Session`` keeps; ``state_file`` starts it from a state ``Session.save`` wrote."""
        return Session(self) if state_file is None else Session.load(state_file, self)

    def graph_inputs(self, batch: FeatureBatch) -> dict[str, np.ndarray]:
        """The graph inputs for ``batch``; a memory graph also gets an empty memory that nothing is written to."""
        inputs = {"features": batch.features, "mask": batch.mask}
        if self.memory is not None:
            rows = len(batch.mask)
            inputs.update(self.memory.inputs(self.memory.empty(rows), np.zeros(rows, dtype=np.float32)))
        return inputs

    def predict(self, texts: Sequence[str], threshold: float | None = None) -> list[Prediction]:
        """Label each text; with post-processors, reason about each prediction too.

        ``threshold`` (in [0, 1]) overrides the rules file's cut for turning predicate scores into facts.
        The texts go through the graph ``BATCH_SIZE`` at a time, so the working memory does not grow with
        their number (only the returned list does; ``predict_iter`` streams).

        A multimodal bundle takes a dict of modalities instead (``runtime/multimodal.py``), or texts alone.
        """
        if isinstance(texts, Mapping) or self.multimodal is not None:
            return predict_multimodal(self, texts if isinstance(texts, Mapping) else {"text": list(texts)})
        if not isinstance(texts, (str, bytes)) and len(texts) == 0:
            raise PredictionInputError("texts: empty list; give at least one text")
        if isinstance(texts, (list, tuple)) and len(texts) <= BATCH_SIZE:  # one graph call: predict_iter's
            if self.postprocessor is not None:                              # checks, without its generator
                self.postprocessor.threshold(threshold)
            return self._predict_batch(list(texts), threshold)
        return list(self.predict_iter(texts, threshold))

    def predict_iter(self, texts: Iterable[str], threshold: float | None = None,
                     batch_size: int = BATCH_SIZE) -> Iterator[Prediction]:
        """``predict`` for any iterable of texts (a file's lines, a generator), consumed lazily and answered
        in order, ``batch_size`` texts a graph call: memory stays flat however many texts there are."""
        if self.multimodal is not None:
            raise PredictionInputError(f"predict_iter: {self.bundle.path} is multimodal; pass its items to predict as "
                                       f"a dict of modalities")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise PredictionInputError(f"batch_size: must be a positive integer, got {batch_size!r}")
        if isinstance(texts, (str, bytes)):
            raise PredictionInputError(f"texts: expected a list of texts, got a single {type(texts).__name__}; "
                                       f"wrap it in a list")
        if self.postprocessor is not None:
            self.postprocessor.threshold(threshold)  # a bad threshold fails before the graph runs
        return self._stream(iter(texts), threshold, batch_size)  # checked now, not at the first next()

    def _stream(self, texts: Iterator[str], threshold: float | None, batch_size: int) -> Iterator[Prediction]:
        while chunk := list(itertools.islice(texts, batch_size)):
            yield from self._predict_batch(chunk, threshold)

    def _predict_batch(self, texts: list[str], threshold: float | None) -> list[Prediction]:
        batch = self.featurize(texts)
        return self.predictions(batch, self.run(self.graph_inputs(batch)), threshold)

    def predictions(self, batch: FeatureBatch, outputs: Mapping[str, np.ndarray],
                    threshold: float | None) -> list[Prediction]:
        """One ``Prediction`` per row of ``batch`` from the graph's ``outputs`` (with post-processing)."""
        scores = outputs.get(PREDICATES)
        labels, predictions = self.labels, []
        # Python lists rather than numpy scalars in the loop: the same values (tolist() is float(), bool(),
        # int() of each element; a text is empty exactly when it kept no token), a fraction of the time; and
        # the softmax in Python floats (float64, as numpy's would be, to within one unit in the last place):
        # numpy's per-call cost was 9 us of a 0.5 ms prediction, the loop below already walks every label.
        rows = zip(outputs[LOGITS].tolist(), batch.truncated.tolist(), batch.lengths.tolist(), strict=True)
        for i, (values, cut, kept) in enumerate(rows):
            top = max(values)
            shifted = [exp(value - top) for value in values]
            total = sum(shifted)
            row = [value / total for value in shifted]
            k = row.index(max(row))  # the first of equal maxima, as argmax
            prediction = Prediction(label=labels[k], score=row[k], probabilities=dict(zip(labels, row, strict=True)),
                                    truncated=cut, empty=kept == 0)
            if scores is not None:
                prediction = replace(prediction, predicates=dict(zip(self.predicate_names, map(float, scores[i]),
                                                                     strict=True)))
            if self.postprocessor is not None:
                reasoning = self.postprocessor(prediction.label, prediction.probabilities,
                                               None if scores is None else scores[i], threshold)
                prediction = replace(prediction, facts=reasoning.facts if reasoning.derived is not None else None,
                                     derived=reasoning.derived, posteriors=reasoning.posteriors)
            predictions.append(prediction)
        return predictions
