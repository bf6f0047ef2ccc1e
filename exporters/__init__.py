"""Exporters: a trained checkpoint -> a verified bundle per phone format (ONNX, ExecuTorch, Core ML, TFLite).

    from neurolite_sdk.exporters import export_bundle, parity_texts
    from neurolite_sdk.training.checkpoint import load_checkpoint

    checkpoint = load_checkpoint("runs/sst2-tiny")
    result = export_bundle(checkpoint, "onnx", "exports/onnx", texts=parity_texts(checkpoint))

Each format is one module (``exporters/<format>.py``) registered by name, implementing the steps of
``Exporter`` (``exporters/base.py``); the graph contract, the quantization plan, bundle writing, parity
against PyTorch and the export summary are shared. Parity runs the exported file through
``neurolite_sdk.runtime``, the same code that serves it.
"""

from __future__ import annotations

from neurolite_sdk.exporters.base import (
    CodeCheck,
    CodedWeights,
    ExportArtifact,
    ExportDetails,
    Exporter,
    ExportError,
    ExportJob,
    NativeRecipe,
    exporter_formats,
    get_exporter,
    register_exporter,
)
from neurolite_sdk.exporters.parity import ParityError, ParityTexts, parity_texts
from neurolite_sdk.exporters.pipeline import ExportResult, export_bundle

__all__ = ["export_bundle", "parity_texts", "exporter_formats", "get_exporter", "register_exporter",
           "Exporter", "ExportJob", "ExportArtifact", "ExportDetails", "NativeRecipe", "CodeCheck", "CodedWeights",
           "ExportResult", "ExportError", "ParityError", "ParityTexts"]
