"""ONNX bundles on onnxruntime (CPU execution provider).

onnxruntime documents ``InferenceSession.run`` as safe to call from many threads on one session, so
the backend shares one session (``shared_instance``) and concurrent calls run in parallel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurolite_sdk.runtime.backends import Backend, register_backend
from neurolite_sdk.runtime.bundle import Bundle, Signature
from neurolite_sdk.runtime.errors import BundleError


@register_backend("onnx")
class OnnxBackend(Backend):
    """One ``InferenceSession`` on the bundle's model file; ``threads`` sets intra-op threads."""

    package = "onnxruntime"
    distribution = "onnxruntime"
    extra = "onnx"
    shared_instance = True

    def __init__(self, bundle: Bundle, threads: int | None = None, instances: int | None = None) -> None:
        super().__init__(bundle, threads, instances)
        self.ort = self.import_runtime()
        self._start_pool()

    def _open(self) -> Any:
        options = self.ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        try:
            return self.ort.InferenceSession(str(self.bundle.entry), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own error types for unreadable models
            raise BundleError(f"{self.bundle.entry}: onnxruntime cannot load it ({exc})") from exc

    def _run(self, instance: Any, signature: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [t.name for t in signature.outputs]
        return dict(zip(names, instance.run(names, inputs), strict=True))
