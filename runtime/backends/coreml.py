"""Core ML bundles (.mlpackage) on coremltools' ``MLModel.predict``: macOS only.

Prediction needs Apple's Core ML framework; elsewhere this backend refuses with a clear error before
importing anything (the exporter still converts and checks packages structurally on Linux). fp32
bundles run on the CPU, where Core ML computes in fp32, so parity against PyTorch holds to 1e-4;
fp16 bundles may use every compute unit. Core ML schedules its own threads: ``threads`` is unused.

coremltools does not document ``MLModel.predict`` as safe to call concurrently, and this could not be
measured off macOS, so the backend takes the conservative side: one model, one call at a time (a pool
of size 1 is a lock). Each further instance would compile and hold the model again.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

import numpy as np

from neurolite_sdk.runtime.backends import Backend, register_backend
from neurolite_sdk.runtime.bundle import Bundle, Signature
from neurolite_sdk.runtime.errors import BundleError, PlatformUnsupportedError


@register_backend("coreml")
class CoremlBackend(Backend):
    package = "coremltools"
    distribution = "coremltools"
    extra = "coreml"

    def __init__(self, bundle: Bundle, threads: int | None = None, instances: int | None = None) -> None:
        super().__init__(bundle, threads, 1 if instances is None else instances)
        if sys.platform != "darwin":
            raise PlatformUnsupportedError(f"coreml: running a Core ML model needs macOS (this machine runs "
                                           f"{platform.system()}); {bundle.path} can be inspected here but "
                                           f"not run", reason="needs macOS")
        self.ct = self.import_runtime()
        self._start_pool()

    def _open(self) -> Any:
        ct = self.ct
        precision = self.bundle.manifest.get("export", {}).get("precision", "fp32")
        units = ct.ComputeUnit.CPU_ONLY if precision == "fp32" else ct.ComputeUnit.ALL
        try:
            return ct.models.MLModel(str(self.bundle.entry), compute_units=units)
        except Exception as exc:  # coremltools raises RuntimeError/ValueError for unreadable packages
            raise BundleError(f"{self.bundle.entry}: Core ML cannot load it ({exc})") from exc

    def _run(self, instance: Any, signature: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = instance.predict(inputs)
        return {t.name: np.asarray(outputs[t.name], dtype=t.dtype) for t in signature.outputs}
