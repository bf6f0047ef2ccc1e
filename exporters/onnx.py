"""ONNX: ``torch.onnx.export(dynamo=True)`` of the exported program, dynamic batch and length, one file.

The graph is small, so weights stay inside ``model.onnx`` (no ``.onnx.data`` beside it). The dynamic
axes are renamed "batch" and "length" (torch names them s0, s1, ...), the exporter's debug records are
dropped, and the featurizer spec and labels go into ``metadata_props``. ``onnx.checker`` validates
the saved file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from neurolite_sdk.exporters.base import ExportArtifact, Exporter, ExportJob, register_exporter
from neurolite_sdk.exporters.graph import (
    INPUTS,
    OUTPUTS,
    classifier_signature,
    example_inputs,
    export_program,
)
from neurolite_sdk.runtime.bundle import BATCH, LENGTH, DimRange

if TYPE_CHECKING:
    import onnx

OPSET = 18
FILE = "model.onnx"


@register_exporter("onnx")
class OnnxExporter(Exporter):
    extra = "onnx"
    requires = ("onnx", "onnxscript", "onnxruntime")

    def export(self, job: ExportJob, out_dir: Path) -> ExportArtifact:
        import onnx
        import torch

        batch, length = DimRange(1, None), DimRange(1, job.model.config.max_length)
        program = export_program(job.model, batch, length)
        onnx_program = torch.onnx.export(program, example_inputs(job.model, 2, 2), dynamo=True,
                                         input_names=list(INPUTS), output_names=list(OUTPUTS),
                                         opset_version=OPSET, external_data=False, verbose=False)
        proto = onnx_program.model_proto
        _strip_debug_metadata(proto)
        _name_dynamic_axes(proto)
        onnx.helper.set_model_props(proto, job.metadata)
        onnx.checker.check_model(proto, full_check=True)
        onnx.save_model(proto, str(out_dir / FILE), save_as_external_data=False)
        signature = classifier_signature("forward", job.model, batch, length)
        return ExportArtifact(entry=FILE, signatures=(signature,),
                              details={"opset": OPSET, "ir_version": proto.ir_version,
                                       "nodes": len(proto.graph.node)})


def _strip_debug_metadata(proto: onnx.ModelProto) -> None:
    """Drop the exporter's per-node debug records (stack traces, FX node names, source paths).

    They are about a tenth of the file for the tiny model, no runtime reads them, and they carry the
    exporting machine's file paths into a file that ships in apps.
    """
    graph = proto.graph
    for item in [*graph.node, *graph.value_info, *graph.initializer, *graph.input, *graph.output]:
        del item.metadata_props[:]


def _name_dynamic_axes(proto: onnx.ModelProto) -> None:
    """Give the symbolic axes the manifest's names: axis 0 of every input is "batch", axis 1 "length"."""
    names: dict[str, str] = {}
    for tensor in proto.graph.input:
        for axis, dim in enumerate(tensor.type.tensor_type.shape.dim):
            if dim.dim_param and axis < 2:
                names[dim.dim_param] = (BATCH, LENGTH)[axis]
    for tensor in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        for dim in tensor.type.tensor_type.shape.dim:
            if dim.dim_param in names:
                dim.dim_param = names[dim.dim_param]
