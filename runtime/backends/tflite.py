"""TFLite bundles on ``ai_edge_litert`` (LiteRT's interpreter; tflite-runtime does not load with numpy 2).

A LiteRT interpreter is not thread-safe: a signature runner resizes, fills, invokes and reads one set
of tensors, releasing the GIL in between. The backend keeps a pool of interpreters, one per
concurrent call (``runtime/instances.py``). Each is built from the model bytes ``read_bundle``
verified (``model_content``), never from the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from neurolite_sdk.runtime.backends import Backend, ModelTensor, native_message, register_backend
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
            interpreter = self.litert.Interpreter(model_content=bundle.read(bundle.entry_name),
                                                  num_threads=self.threads)
            available = interpreter.get_signature_list()
            missing = [s.name for s in bundle.signatures if s.name not in available]
            if missing:
                raise BundleError(f"{bundle.entry}: signatures {', '.join(missing)} are in the manifest but not "
                                  f"in the model (it has: {', '.join(available)})")
            return {s.name: interpreter.get_signature_runner(s.name) for s in bundle.signatures}
        except BundleError:
            raise
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError for unreadable flatbuffers
            raise BundleError(f"{bundle.entry}: LiteRT cannot load it ({native_message(exc)})") from exc

    def _metadata(self, instance: Any) -> Mapping[str, str]:
        """The flatbuffer's ``metadata`` table: name -> UTF-8 buffer (exporters/tflite.py writes them)."""
        from ai_edge_litert import schema_py_generated as schema

        data = self.bundle.read(self.bundle.entry_name)
        model = schema.Model.GetRootAs(data, 0)
        found = {}
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            buffer = model.Buffers(entry.Buffer())
            if buffer.Offset() > 1:  # the data lies after the flatbuffer (models over 2 GB)
                raw = data[buffer.Offset():buffer.Offset() + buffer.Size()]
            else:
                raw = buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
            name = (entry.Name() or b"").decode("utf-8", "replace")
            if name.startswith("neurolite_"):  # others are binary: TFLITE_METADATA (exporters/tflite.py)
                found[name] = raw.decode("utf-8")
        return found

    def _tensors(self, instance: dict[str, Any], signature: Signature) -> dict[str, ModelTensor]:
        runner = instance[signature.name]
        details = {**runner.get_input_details(), **runner.get_output_details()}
        return {name: ModelTensor(tuple(int(d) if d >= 0 else None for d in info["shape_signature"]),
                                  np.dtype(info["dtype"]).name)
                for name, info in details.items()}

    def _run(self, instance: dict[str, Any], signature: Signature,
             inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = instance[signature.name](**inputs)
        return {t.name: outputs[t.name] for t in signature.outputs}
