"""Multimodal bundles in the runtime: ``Predictor.predict({"text": [...], "image": ..., ...})``. Torch-free.

A bundle is multimodal when its manifest's config has ``use_multimodal_input``; its signatures then take
``presence`` and the enabled modalities' tensors after ``features`` and ``mask``. The dict is checked and
converted by ``neurolite_sdk.multimodal_inputs`` (the same code the PyTorch model uses: modality names,
shapes, NaN, frame counts, audio length), then planned and run like any request: those inputs have a
batch axis only, so the planner pads and splits them along it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from neurolite_sdk.runtime.bundle import Bundle
from neurolite_sdk.runtime.errors import BundleError, PredictionInputError

if TYPE_CHECKING:
    from neurolite_sdk.multimodal_inputs import MultimodalSpec
    from neurolite_sdk.runtime.predictor import Prediction, Predictor


def bundle_spec(bundle: Bundle) -> MultimodalSpec | None:
    """What a multimodal bundle's graph takes; None for a text bundle. The signature must agree."""
    from neurolite_sdk.multimodal_inputs import MultimodalSpec  # it imports runtime.errors: not at module load

    config = bundle.manifest.get("config", {})
    if not isinstance(config, Mapping) or not config.get("use_multimodal_input"):
        return None
    spec = MultimodalSpec.from_config(config)
    for signature in bundle.signatures:
        names = tuple(t.name for t in signature.inputs[2:])
        if names != spec.graph_names():
            raise BundleError(f"{bundle.path}: signature {signature.name!r} takes {list(names)} after features and "
                              f"mask, config.multimodal_modalities implies {list(spec.graph_names())}")
    return spec


def multimodal_logits(predictor: Predictor, inputs: Mapping[str, Any]) -> tuple[np.ndarray, Any]:
    """The graph's logits for a dict of modalities, and the text FeatureBatch."""
    from neurolite_sdk.multimodal_inputs import graph_inputs

    spec = predictor.multimodal
    if spec is None:
        raise PredictionInputError(f"inputs: a dict of modalities, but {predictor.bundle.path} takes text only; "
                                   f"pass a list of texts")
    arrays, batch = graph_inputs(spec, predictor.featurize, inputs)
    return predictor.run(arrays)["logits"], batch


def predict_multimodal(predictor: Predictor, inputs: Mapping[str, Any]) -> list[Prediction]:
    """One ``Prediction`` per item; ``truncated``/``empty`` describe its text (empty when it has none)."""
    from neurolite_sdk.runtime.predictor import Prediction

    logits, batch = multimodal_logits(predictor, inputs)
    logits = logits.astype(np.float64)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    labels = predictor.labels
    return [Prediction(label=labels[k], score=row[k], probabilities=dict(zip(labels, row, strict=True)),
                       truncated=cut, empty=kept == 0)
            for row, k, cut, kept in zip(probabilities.tolist(), probabilities.argmax(axis=1).tolist(),
                                         batch.truncated.tolist(), batch.lengths.tolist(), strict=True)]
