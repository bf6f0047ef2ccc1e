"""TFLite bundles on ``ai_edge_litert`` (LiteRT's interpreter; tflite-runtime does not load with numpy 2).

A LiteRT interpreter is not thread-safe: a signature runner resizes, fills, invokes and reads one set
of tensors, releasing the GIL in between. The backend keeps a pool of interpreters, one per
concurrent call (``runtime/instances.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurolite_sdk.runtime.backends import Backend, register_backend
from neurolite_sdk.runtime.bundle import Bundle, Signature
from neurolite_sdk.runtime.errors import BundleError


@register_backend("tflite")
class TfliteBackend(Backend):
    """Interpreters with a signature runner per static signature; ``threads`` sets each one's threads."""

    package = "ai_edge_litert.interpreter"
    distribution = "ai-edge-litert"
    extra = "tflite"

    def __init__(self, bundle: Bundle, threads: int | None = None, instances: int | None = None) -> None:
        super().__init__(bundle, threads, instances)
        self.litert = self.import_runtime()
        self._start_pool()

    def _open(self) -> dict[str, Any]:
        bundle = self.bundle
        try:
            interpreter = self.litert.Interpreter(model_path=str(bundle.entry), num_threads=self.threads)
            available = interpreter.get_signature_list()
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError for unreadable flatbuffers
            raise BundleError(f"{bundle.entry}: LiteRT cannot load it ({exc})") from exc
        missing = [s.name for s in bundle.signatures if s.name not in available]
        if missing:
            raise BundleError(f"{bundle.entry}: signatures {', '.join(missing)} are in the manifest but not "
                              f"in the model (it has: {', '.join(available)})")
        return {s.name: interpreter.get_signature_runner(s.name) for s in bundle.signatures}

    def _run(self, instance: dict[str, Any], signature: Signature,
             inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = instance[signature.name](**inputs)
        return {t.name: outputs[t.name] for t in signature.outputs}
