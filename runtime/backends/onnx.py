"""ONNX bundles on onnxruntime (CPU execution provider)."""

from __future__ import annotations

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

    def __init__(self, bundle: Bundle, threads: int | None = None) -> None:
        super().__init__(bundle, threads)
        ort = self.import_runtime()
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(bundle.entry), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own error types for unreadable models
            raise BundleError(f"{bundle.entry}: onnxruntime cannot load it ({exc})") from exc

    def _run(self, signature: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [t.name for t in signature.outputs]
        return dict(zip(names, self.session.run(names, inputs), strict=True))
