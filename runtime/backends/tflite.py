"""TFLite bundles on ``ai_edge_litert`` (LiteRT's interpreter; tflite-runtime does not load with numpy 2)."""

from __future__ import annotations

import numpy as np

from neurolite_sdk.runtime.backends import Backend, register_backend
from neurolite_sdk.runtime.bundle import Bundle, Signature
from neurolite_sdk.runtime.errors import BundleError


@register_backend("tflite")
class TfliteBackend(Backend):
    """One interpreter, one signature runner per static signature; ``threads`` sets its thread count."""

    package = "ai_edge_litert.interpreter"
    distribution = "ai-edge-litert"
    extra = "tflite"

    def __init__(self, bundle: Bundle, threads: int | None = None) -> None:
        super().__init__(bundle, threads)
        interpreter = self.import_runtime()
        try:
            self.interpreter = interpreter.Interpreter(model_path=str(bundle.entry), num_threads=threads)
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError for unreadable flatbuffers
            raise BundleError(f"{bundle.entry}: LiteRT cannot load it ({exc})") from exc
        available = self.interpreter.get_signature_list()
        missing = [s.name for s in bundle.signatures if s.name not in available]
        if missing:
            raise BundleError(f"{bundle.entry}: signatures {', '.join(missing)} are in the manifest but not "
                              f"in the model (it has: {', '.join(available)})")
        self.runners = {s.name: self.interpreter.get_signature_runner(s.name) for s in bundle.signatures}

    def _run(self, signature: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.runners[signature.name](**inputs)
        return {t.name: outputs[t.name] for t in signature.outputs}
