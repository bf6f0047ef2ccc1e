"""The NeuroLite runtime: load an exported bundle and predict, without PyTorch.

    from neurolite_sdk.runtime import load
    predictor = load("exports/onnx", threads=2)
    predictor.predict(["a gorgeous , witty , seductive movie ."])

``load`` verifies the manifest (schema, SHA-256 of every file, featurizer spec and digest), opens the
backend for the bundle's format and returns a ``Predictor``. Only the ExecuTorch backend imports
torch; ONNX and TFLite bundles run on numpy, onnxruntime or ai_edge_litert alone.
"""

from __future__ import annotations

from pathlib import Path

from neurolite_sdk.runtime.backends import Backend, backend_names, open_backend, register_backend
from neurolite_sdk.runtime.bundle import SCHEMA_VERSION, Bundle, Signature, TensorSpec, read_bundle
from neurolite_sdk.runtime.errors import (
    BackendUnavailableError,
    BundleError,
    PlatformUnsupportedError,
    PredictionInputError,
    RuntimeNotInstalledError,
)
from neurolite_sdk.runtime.predictor import Prediction, Predictor

__all__ = ["load", "Predictor", "Prediction", "Bundle", "Signature", "TensorSpec", "Backend", "read_bundle",
           "open_backend", "register_backend", "backend_names", "SCHEMA_VERSION", "BundleError",
           "BackendUnavailableError", "RuntimeNotInstalledError", "PlatformUnsupportedError",
           "PredictionInputError"]


def load(bundle: str | Path, threads: int | None = None, backend: str | None = None,
         instances: int | None = None) -> Predictor:
    """Verify ``bundle`` and open it on its format's backend (``backend`` names it explicitly).

    The ``Predictor`` may be shared by threads (docs/bundle.md, "Threads and processes"):
    ``instances`` is the most model instances a backend whose runtime is not thread-safe opens for
    concurrent callers (default: one per core; Core ML: 1); ``threads`` is each instance's own.
    """
    verified = read_bundle(bundle)
    return Predictor(verified, open_backend(verified, threads=threads, backend=backend, instances=instances))
