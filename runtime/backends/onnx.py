"""ONNX bundles on onnxruntime (CPU execution provider).

onnxruntime documents ``InferenceSession.run`` as safe to call from many threads on one session, so
the backend shares one session (``shared_instance``) and concurrent calls run in parallel.

The session is built from the model bytes ``read_bundle`` verified, never from the path. ONNX lets a
model keep weights in other files ("external data"), which onnxruntime would resolve against the
model's folder, or the working directory for a model given as bytes; the backend points that lookup
at an empty private directory instead, so a model that refers to any other file is refused: every
weight a NeuroLite ONNX bundle runs is inside the checksummed ``model.onnx``.

With more than one intra-op thread, onnxruntime's workers keep spinning on the CPU after ``run``
returns, waiting for the next call. The backend turns that off (``session.force_spinning_stop``): the
workers still spin within a call, where it pays, but an app does not pay for CPU it does not use between
predictions, and two sessions in one process (two models) no longer take the CPU from each other.
``python benchmarks/ort_spinning.py`` measures both (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np

from neurolite_sdk.runtime.backends import Backend, ModelTensor, native_message, register_backend
from neurolite_sdk.runtime.bundle import MANIFEST_NAME, Bundle, Signature
from neurolite_sdk.runtime.errors import BundleError

ONNX_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int32)": "int32",
              "tensor(int64)": "int64", "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(bool)": "bool"}
EXTERNAL_FOLDER = "session.model_external_initializers_file_folder_path"
SPINNING_STOP = "session.force_spinning_stop"  # onnxruntime_session_options_config_keys.h


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
        bundle = self.bundle
        options = self.ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        options.add_session_config_entry(SPINNING_STOP, "1")
        model = bundle.read(bundle.entry_name)
        with tempfile.TemporaryDirectory(prefix="neurolite-onnx-") as empty:
            options.add_session_config_entry(EXTERNAL_FOLDER, empty)
            try:
                return self.ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own error types for unreadable models
                if "external data" in str(exc).lower():
                    found = re.search(r'does not exist: "([^"]+)"', str(exc))
                    name = repr(PurePath(found.group(1)).name) if found else "another file"
                    raise BundleError(f"{bundle.entry}: its weights refer to external data in {name}; a NeuroLite "
                                      f"ONNX bundle keeps every weight inside {bundle.entry.name}, and the runtime "
                                      f"reads no file that {MANIFEST_NAME} does not checksum") from exc
                raise BundleError(f"{bundle.entry}: onnxruntime cannot load it ({native_message(exc)})") from exc

    def _metadata(self, instance: Any) -> Mapping[str, str]:
        return instance.get_modelmeta().custom_metadata_map

    def _tensors(self, instance: Any, signature: Signature) -> dict[str, ModelTensor]:
        return {t.name: ModelTensor(tuple(d if isinstance(d, int) else None for d in t.shape),
                                    ONNX_TYPES.get(t.type, t.type))
                for t in (*instance.get_inputs(), *instance.get_outputs())}

    def _run(self, instance: Any, signature: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [t.name for t in signature.outputs]
        return dict(zip(names, instance.run(names, inputs), strict=True))
