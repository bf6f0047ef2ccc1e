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

from pathlib import Path

from neurolite_sdk.exporters.base import ExportArtifact, Exporter, ExportError, ExportJob, register_exporter
from neurolite_sdk.exporters.graph import (
    INPUTS,
    OUTPUTS,
    ClassifierGraph,
    classifier_signature,
    example_inputs,
    static_lengths,
)
from neurolite_sdk.runtime.bundle import DimRange, Signature

FILE = "model.tflite"
BATCH_SIZES = (1, 8)


@register_exporter("tflite")
class TfliteExporter(Exporter):
    extra = "tflite"
    requires = ("litert-torch", "ai-edge-litert")

    def export(self, job: ExportJob, out_dir: Path) -> ExportArtifact:
        import litert_torch

        signatures = [classifier_signature(f"b{b}_l{n}", job.model, DimRange(b, b), DimRange(n, n))
                      for n in static_lengths(job.model.config.max_length) for b in BATCH_SIZES]
        graph = ClassifierGraph(job.model).eval()
        converter = litert_torch.Converter()
        for signature in signatures:
            features, mask = example_inputs(job.model, signature.batch.min, signature.length.min)
            converter.signature(signature.name, graph, sample_kwargs={"features": features, "mask": mask})
        flatbuffer = _with_metadata(converter.convert().model_content(), job.metadata)
        (out_dir / FILE).write_bytes(flatbuffer)
        _check_names(out_dir / FILE, signatures)
        details = {"signatures": [s.name for s in signatures], "metadata": sorted(job.metadata)}
        return ExportArtifact(entry=FILE, signatures=tuple(signatures), details=details)


def _with_metadata(flatbuffer: bytes, metadata: dict[str, str]) -> bytes:
    """The model with one metadata entry (name -> UTF-8 buffer) per key appended to its metadata table."""
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    model.metadata = list(model.metadata or [])
    for name, value in metadata.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(value.encode("utf-8"), dtype=np.uint8)
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
    expected = {s.name: {"inputs": sorted(INPUTS), "outputs": sorted(OUTPUTS)} for s in signatures}
    actual = {name: {"inputs": sorted(io["inputs"]), "outputs": sorted(io["outputs"])}
              for name, io in found.items()}
    if actual != expected:
        raise ExportError(f"tflite: {path}: signatures {actual} differ from the expected {expected}")
