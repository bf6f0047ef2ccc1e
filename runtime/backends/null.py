"""The null backend: runs any bundle without its model (tinygrad's ``ops_null`` idea), numpy only.

``load(bundle, backend="null")`` opens a bundle of any format and answers every signature with outputs of
exactly the shapes and dtypes the manifest declares, computed from the inputs in microseconds instead of
by the model. The runtime around the backend (bundle verification, featurizer, planner, post-processing,
``Predictor``) then runs as it does on a real format, so its tests need no training, export or runtime
package. It never reads the model file: the checks against the file's own metadata and tensors are made
against the manifest itself, so they always pass.

The outputs are a function of each row's inputs that padding does not change: every floating output row
is ``sin(k·key + j)`` over its columns ``j``, where ``key`` is the sum of the row's inputs, each token
weighted by the row's mask (zero-padded tokens and the rows the planner adds therefore change nothing,
and different texts get different answers). Integer outputs are zeros.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from neurolite_sdk.runtime.backends import DIGEST_KEY, LABELS_KEY, Backend, ModelTensor, register_backend
from neurolite_sdk.runtime.bundle import BATCH, LENGTH, Bundle, Signature
from neurolite_sdk.runtime.errors import ModelRunError

KEY_SCALE = 1e-3  # keeps sin's argument small for int32 bucket sums


@register_backend("null")
class NullBackend(Backend):
    """Outputs from the declared signature; ``threads`` and ``instances`` are accepted and unused."""

    package = "numpy"
    distribution = "numpy"
    extra = "null"  # nothing to install: numpy is a dependency of the SDK
    shared_instance = True
    any_format = True

    def __init__(self, bundle: Bundle, threads: int | None = None, instances: int | None = None) -> None:
        super().__init__(bundle, threads, instances)
        self._start_pool()

    def _open(self) -> None:
        return None

    def _metadata(self, instance: Any) -> Mapping[str, str]:
        import json

        return {LABELS_KEY: json.dumps(list(self.bundle.labels)), DIGEST_KEY: self.bundle.featurizer.digest()}

    def _tensors(self, instance: Any, signature: Signature) -> dict[str, ModelTensor]:
        return {t.name: ModelTensor(None, t.dtype) for t in (*signature.inputs, *signature.outputs)}

    def _run(self, instance: Any, signature: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(inputs.values())).shape[0]
        key = np.zeros(batch, dtype=np.float64)
        weights = _token_weights(signature, inputs)
        for spec in signature.inputs:
            value = inputs[spec.name].astype(np.float64)
            if LENGTH in spec.shape and weights is not None:
                axis = spec.shape.index(LENGTH)
                value = value * weights.reshape(weights.shape + (1,) * (value.ndim - axis - 1))
            key += value.reshape(batch, -1).sum(axis=1)
        sizes = {BATCH: batch, **_length_of(signature, inputs)}
        outputs = {}
        for spec in signature.outputs:
            shape = [sizes.get(dim, dim) if isinstance(dim, str) else dim for dim in spec.shape]
            unknown = [dim for dim in shape if not isinstance(dim, int)]
            if unknown:
                raise ModelRunError(f"{self.bundle.path}: signature {signature.name!r}: output {spec.name!r} has "
                                    f"the axis {unknown[0]!r}, which no input declares: the null backend cannot "
                                    "size it")
            dtype = np.dtype(spec.dtype)
            if dtype.kind != "f":
                outputs[spec.name] = np.zeros(shape, dtype=dtype)
                continue
            columns = np.arange(int(np.prod(shape[1:], dtype=np.int64)), dtype=np.float64)
            rows = np.sin(KEY_SCALE * key[:, None] + columns[None, :])
            outputs[spec.name] = rows.reshape(shape).astype(dtype)
        return outputs


def _length_of(signature: Signature, inputs: Mapping[str, np.ndarray]) -> dict[str, int]:
    """The length axis's size in this call, from the first input that declares it."""
    for spec in signature.inputs:
        if LENGTH in spec.shape:
            return {LENGTH: int(inputs[spec.name].shape[spec.shape.index(LENGTH)])}
    return {}


def _token_weights(signature: Signature, inputs: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The mask ([batch, length], 0 for padding), when the signature has one: padded tokens weigh nothing."""
    for spec in signature.inputs:
        if spec.name == "mask" and spec.shape == (BATCH, LENGTH):
            return inputs[spec.name].astype(np.float64)
    return None
