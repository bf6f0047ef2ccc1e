"""Core ML bundles (.mlpackage) on coremltools' ``MLModel.predict``: macOS only.

Prediction needs Apple's Core ML framework; elsewhere this backend refuses with a clear error (the
exporter still converts and checks packages structurally on Linux). fp32 bundles run on the CPU,
where Core ML computes in fp32, so parity against PyTorch holds to 1e-4; fp16 bundles may use every
compute unit. Core ML schedules its own threads: ``threads`` is unused.

Wherever coremltools is installed, the package is first checked structurally, from the bytes
``read_bundle`` verified: its ``Manifest.json`` names the model spec, whose metadata (labels,
featurizer digest) and declared inputs and outputs must agree with the bundle's manifest. On macOS
the verified files are then written to a private temporary package and Core ML loads that, so it
reads nothing the manifest does not checksum.

coremltools does not document ``MLModel.predict`` as safe to call concurrently, and this could not be
measured off macOS, so the backend takes the conservative side: one model, one call at a time (a pool
of size 1 is a lock). Each further instance would compile and hold the model again.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from neurolite_sdk.runtime.backends import Backend, ModelTensor, native_message, register_backend
from neurolite_sdk.runtime.bundle import Bundle, Signature
from neurolite_sdk.runtime.errors import BundleError, PlatformUnsupportedError, RuntimeNotInstalledError

ARRAY_TYPES = {65568: "float32", 65552: "float16", 65600: "float64", 131104: "int32", 131080: "int8"}


@register_backend("coreml")
class CoremlBackend(Backend):
    package = "coremltools"
    distribution = "coremltools"
    extra = "coreml"
    platforms = ("darwin",)

    def __init__(self, bundle: Bundle, threads: int | None = None, instances: int | None = None) -> None:
        super().__init__(bundle, threads, 1 if instances is None else instances)
        darwin = sys.platform == "darwin"
        refusal = PlatformUnsupportedError(f"coreml: running a Core ML model needs macOS (this machine runs "
                                           f"{platform.system()}); {bundle.path} can be inspected here but "
                                           f"not run", reason="needs macOS")
        try:
            self.ct = self.import_runtime()
        except RuntimeNotInstalledError:
            if not darwin:
                raise refusal from None
            raise
        self.spec = self._read_spec()
        self._check_model(None)
        if not darwin:
            raise refusal
        self._packages: list[tempfile.TemporaryDirectory[str]] = []  # alive as long as the models
        self._start_pool()

    def _read_spec(self) -> Any:
        """The model spec the package's Manifest.json names, parsed from the verified bytes."""
        from coremltools.proto import Model_pb2

        bundle = self.bundle
        entry = bundle.entry_name
        files = bundle.files_under(entry)
        try:
            index = json.loads(files[f"{entry}/Manifest.json"].decode("utf-8"))
            item = index["itemInfoEntries"][index["rootModelIdentifier"]]
            spec_name = f"{entry}/Data/{item['path']}"
            spec = Model_pb2.Model()
            spec.ParseFromString(files[spec_name])
        except KeyError as exc:
            raise BundleError(f"{bundle.entry}: not a Core ML package the manifest fully lists (missing "
                              f"{exc})") from None
        except Exception as exc:  # JSON, UTF-8 and protobuf decoding errors, wrong types in Manifest.json
            raise BundleError(f"{bundle.entry}: not a readable Core ML package ({type(exc).__name__}: "
                              f"{native_message(exc)})") from exc
        return spec

    def _metadata(self, instance: Any) -> Mapping[str, str]:
        return dict(self.spec.description.metadata.userDefined)

    def _tensors(self, instance: Any, signature: Signature) -> dict[str, ModelTensor]:
        found = {}
        for feature in (*self.spec.description.input, *self.spec.description.output):
            array = feature.type.multiArrayType
            dtype = ARRAY_TYPES.get(array.dataType, f"array type {array.dataType}")
            ranges = list(array.shapeRange.sizeRanges)
            if ranges:
                shape = tuple(r.lowerBound if r.lowerBound == r.upperBound else None for r in ranges)
            else:
                shape = tuple(int(d) for d in array.shape) or None  # ML programs leave output shapes unset
            found[feature.name] = ModelTensor(shape, dtype)
        return found

    def _open(self) -> Any:
        ct = self.ct
        bundle = self.bundle
        precision = bundle.manifest.get("export", {}).get("precision", "fp32")
        units = ct.ComputeUnit.CPU_ONLY if precision == "fp32" else ct.ComputeUnit.ALL
        package = tempfile.TemporaryDirectory(prefix="neurolite-coreml-")
        root = Path(package.name)
        for name, data in bundle.files_under(bundle.entry_name).items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        try:
            model = ct.models.MLModel(str(root / bundle.entry_name), compute_units=units)
        except Exception as exc:  # coremltools raises RuntimeError/ValueError for unreadable packages
            package.cleanup()
            raise BundleError(f"{bundle.entry}: Core ML cannot load it ({native_message(exc)})") from exc
        self._packages.append(package)
        return model

    def _run(self, instance: Any, signature: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = instance.predict(inputs)
        return {t.name: np.asarray(outputs[t.name], dtype=t.dtype) for t in signature.outputs}
