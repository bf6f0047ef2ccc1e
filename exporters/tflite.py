"""TFLite: litert-torch, one static signature per (batch, length) pair, weights shared between them.

litert-torch 0.10 cannot convert this graph with a dynamic dimension (the Bloom gather's reshape
needs concrete sizes), so the file holds signatures ``b{batch}_l{length}`` for batch 1 and 8 at
length max_length and max_length / 4; the runtime picks the shortest length that fits and pads. Inputs
are passed by keyword and the graph returns a dict, so signatures name their tensors "features",
"mask" and "logits" (not ``args_0`` / ``output_0``); the export checks that they do.

The featurizer spec, its digest and the labels go into the flatbuffer's metadata table, one entry per
key, where LiteRT tooling (and ``Model.Metadata`` in any flatbuffer reader) finds them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from neurolite_sdk.exporters.base import ExportArtifact, Exporter, ExportError, ExportJob, register_exporter
from neurolite_sdk.exporters.graph import (
    INPUTS,
    ClassifierGraph,
    classifier_signature,
    example_inputs,
    static_lengths,
)
from neurolite_sdk.exporters.model_card import Description
from neurolite_sdk.exporters.tflite_metadata import LABELS_FILE, METADATA_NAME, attach_labels, build_metadata
from neurolite_sdk.exporters.tflite_quant import lower_orbital8, native_int8
from neurolite_sdk.quantization import OrbitalTensor
from neurolite_sdk.quantization.torch_wrapper import decode_into_model
from neurolite_sdk.runtime.bundle import DimRange, Signature

FILE = "model.tflite"
BATCH_SIZES = (1, 8)


@register_exporter("tflite")
class TfliteExporter(Exporter):
    extra = "tflite"
    requires = ("litert-torch", "ai-edge-litert")
    quantizations = ("none", "int8", "orbital8")

    def export(self, job: ExportJob, out_dir: Path) -> ExportArtifact:
        import litert_torch

        source = job.model
        if job.quantize == "orbital8":
            if job.encoded is None:
                raise ExportError("tflite: --quantize orbital8 needs the coded weights (ExportJob.encoded)")
            source = decode_into_model(copy.deepcopy(job.model), job.encoded).eval()
        signatures = [classifier_signature(f"b{b}_l{n}", job.model, DimRange(b, b), DimRange(n, n))
                      for n in static_lengths(job.model.config.max_length) for b in BATCH_SIZES]
        graph = ClassifierGraph(source).eval()
        converter = litert_torch.Converter()
        for signature in signatures:
            features, mask = example_inputs(job.model, signature.batch.min, signature.length.min)
            converter.signature(signature.name, graph, sample_kwargs={"features": features, "mask": mask})
        flatbuffer = converter.convert().model_content()
        details: dict[str, Any] = {"signatures": [s.name for s in signatures], "metadata": sorted(job.metadata)}
        if job.quantize == "int8":
            flatbuffer = native_int8(flatbuffer, job.policy)
            details["int8_recipe"] = "ai_edge_quantizer dynamic_wi8_afp32"
        elif job.quantize == "orbital8":
            assert job.encoded is not None
            flatbuffer, lowered = lower_orbital8(flatbuffer, job.encoded)
            details["coded_tensors"] = len(lowered)
            details["float_coded_tensors"] = sorted(name for name, t in job.encoded.items()
                                                    if isinstance(t, OrbitalTensor) and name not in lowered)
        flatbuffer = _with_metadata(flatbuffer, job.metadata, job.description)
        if job.description is not None:  # the standard Model Metadata's associated file (tflite_metadata.py)
            flatbuffer = attach_labels(flatbuffer, job.labels)
            details["model_metadata"] = {"name": METADATA_NAME, "associated_files": [LABELS_FILE]}
        (out_dir / FILE).write_bytes(flatbuffer)
        _check_names(out_dir / FILE, signatures)
        return ExportArtifact(entry=FILE, signatures=tuple(signatures), details=details)


def _with_metadata(flatbuffer: bytes, metadata: dict[str, str], description: Description | None = None) -> bytes:
    """The model with one metadata entry (name -> UTF-8 buffer) per key appended to its metadata table, and
    with ``description``, the standard TFLite Model Metadata under ``TFLITE_METADATA``."""
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    model.metadata = list(model.metadata or [])
    entries: dict[str, bytes] = {name: value.encode("utf-8") for name, value in metadata.items()}
    if description is not None:
        entries[METADATA_NAME] = build_metadata(model, description)
    for name, value in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(value, dtype=np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    builder = flatbuffers.Builder(len(flatbuffer) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _check_names(path: Path, signatures: list[Signature]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    found = Interpreter(model_path=str(path)).get_signature_list()
    expected = {s.name: {"inputs": sorted(INPUTS), "outputs": sorted(t.name for t in s.outputs)} for s in signatures}
    actual = {name: {"inputs": sorted(io["inputs"]), "outputs": sorted(io["outputs"])}
              for name, io in found.items()}
    if actual != expected:
        raise ExportError(f"tflite: {path}: signatures {actual} differ from the expected {expected}")
