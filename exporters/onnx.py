"""ONNX: ``torch.onnx.export(dynamo=True)`` of the exported program, dynamic batch and length, one file.

The graph is small, so weights stay inside ``model.onnx`` (no ``.onnx.data`` beside it). The dynamic
axes are renamed "batch" and "length" (torch names them s0, s1, ...), the exporter's debug records are
dropped, and the featurizer spec and labels go into ``metadata_props``. ``onnx.checker`` validates
the saved file. ChannelNorm exports as one ``LayerNormalization`` node (``_layer_norm_ops``): its
``linear`` form exists for XNNPACK, and onnxruntime runs the fused kernel faster.

Quantized exports (``job.quantize``):

* ``orbital8``: the graph of ``orbital_decoding_model``, so the file holds the uint8 codes, the 256-entry
  tables and the per-channel scales/offsets, decoded by ``Cast`` + ``Gather`` + ``Mul`` (+ ``Add``). The
  onnxscript optimizer that ``torch.onnx.export`` runs folds every constant subgraph whose inputs have at
  most 8,192 elements, which decoded the 64 x 64 token-mixing weights back into floats (measured:
  6 of 15 tensors on the tiny model). So the export runs that optimizer itself, with every node that
  reads a uint8 tensor kept out of folding, and then counts the uint8 initializers: fewer than the
  coded tensors fails the export. onnxruntime's own constant folding at session creation decodes the
  weight matrices once at load (their decode reads only initializers) and keeps the Bloom table coded
  (its decode reads the input's bucket ids): the file is small, the memory at run time is not.
* ``int8``: onnxruntime's static QDQ quantization, per-channel symmetric int8 weights and uint8
  activations calibrated (MinMax) on ``job.calibration`` texts, featurized one text at a time
  (unsigned activations times signed weights, U8S8, is the pair x86's VNNI instruction multiplies
  natively: on the AMD EPYC here it ran 0.74x fp32 at one thread where int8 activations, S8S8, ran
  0.86x; same top-1 agreement, 99.77% of SST-2 dev; benchmarks/RESULTS.md, issue 16). Only
  ``MatMul``/``Gemm``/``Gather`` nodes with a constant of at least ``job.policy.min_elements`` (default 4,096)
  elements are quantized (the same size rule as orbital8): quantizing ChannelNorm's averaging products
  (a [D, 1] constant) or activation-by-activation products shrinks nothing, and with dynamic
  quantization it broke the model (50.9% on SST-2 dev). Measured on the tiny SST-2 model, both recipes
  with that rule: static QDQ 82.91% (fp32 82.91%), 99.77% top-1 agreement, 1,078,326 bytes; dynamic
  (``MatMulInteger``) the same accuracy, 1,074,175 bytes; static is kept, since every ONNX runtime
  (mobile ones included) reads QDQ and fuses it into its own int8 kernels. The Bloom table's ``Gather``
  is quantized too (ORT's ``QDQGather``): a uint8 table (a Gather's data takes the activation type),
  dequantized after the gather.
"""

from __future__ import annotations

import copy
import math
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from neurolite_sdk.exporters.base import (
    CodeCheck,
    CodedWeights,
    ExportDetails,
    Exporter,
    ExportError,
    ExportJob,
    NativeRecipe,
    register_exporter,
)
from neurolite_sdk.exporters.graph import (
    INPUTS,
    classifier_signature,
    example_inputs,
    export_program,
    output_names,
)
from neurolite_sdk.modeling.layers import ChannelNorm
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.quantization import OrbitalTensor
from neurolite_sdk.quantization.policy import EncodedState
from neurolite_sdk.runtime.bundle import BATCH, LENGTH, DimRange, Signature

if TYPE_CHECKING:
    import onnx

# 20: GELU is one ``Gelu`` node (opset 18 spells it Div/Erf/Add/Mul/Mul: 28 -> 20 Add and 23 -> 7 Mul on tiny);
# benchmarks/baselines.py exports the transformer baselines at the same opset, so ratios compare models.
OPSET = 20
FILE = "model.onnx"
INT8_OPS = ("MatMul", "Gemm", "Gather")


@register_exporter("onnx")
class OnnxExporter(Exporter):
    entry = FILE
    extra = "onnx"
    requires = ("onnx", "onnxscript", "onnxruntime")
    quantizations = ("none", "int8", "orbital8")

    def signatures(self, job: ExportJob) -> tuple[Signature, ...]:
        length = DimRange(1, job.model.config.max_length)
        return (classifier_signature("forward", job.model, DimRange(1, None), length),)

    def export_fp32(self, job: ExportJob, signatures: tuple[Signature, ...]) -> onnx.ModelProto:
        return _trace(job.model, job.model, signatures[0], optimize=True).model_proto

    def native_quantize(self, job: ExportJob,
                        signatures: tuple[Signature, ...]) -> tuple[onnx.ModelProto, NativeRecipe]:
        return _quantize_int8(self.export_fp32(job, signatures), job)

    def lower_orbital8(self, job: ExportJob, signatures: tuple[Signature, ...], coded: CodedWeights) -> onnx.ModelProto:
        from neurolite_sdk.exporters.quantize import orbital_decoding_model

        program = _trace(orbital_decoding_model(job.model, coded.encoded), job.model, signatures[0], optimize=False)
        _optimize_keeping_codes(program.model)
        return program.model_proto

    def check_codes(self, job: ExportJob, draft: onnx.ModelProto, path: Path, coded: CodedWeights) -> CodeCheck:
        return _check_codes(draft, coded.encoded)

    def write(self, job: ExportJob, signatures: tuple[Signature, ...], draft: onnx.ModelProto,
              out_dir: Path) -> OnnxDetails:
        import onnx

        _strip_debug_metadata(draft)
        _name_dynamic_axes(draft)
        onnx.helper.set_model_props(draft, {**job.metadata, **_standard_props(job)})
        _standard_fields(draft, job)
        onnx.checker.check_model(draft, full_check=True)
        onnx.save_model(draft, str(out_dir / FILE), save_as_external_data=False)
        return OnnxDetails(opset=OPSET, ir_version=draft.ir_version, nodes=len(draft.graph.node),
                           initializer_bytes=_initializer_bytes(draft))


@dataclass
class OnnxDetails(ExportDetails):
    opset: int = OPSET
    ir_version: int = 0
    nodes: int = 0
    initializer_bytes: dict[str, int] = field(default_factory=dict)  # by element type: where the weight bytes went

    def notes(self, fmt: str) -> list[str]:
        return [f"{fmt}: opset {self.opset}, {self.nodes} nodes, weights in one file"]


def _trace(model: NeuroLiteForClassification, original: NeuroLiteForClassification, signature: Signature,
           optimize: bool) -> Any:
    """``torch.onnx.export`` of ``model`` (ChannelNorm as ``LayerNormalization``) over the signature's ranges;
    ``original`` names the outputs and shapes the example inputs. ``optimize``: run the exporter's optimizer."""
    import torch

    program = export_program(_layer_norm_ops(model), signature.batch, signature.length)
    return torch.onnx.export(program, example_inputs(original, 2, 2), dynamo=True, input_names=list(INPUTS),
                             output_names=list(output_names(original)), opset_version=OPSET,
                             external_data=False, verbose=False, optimize=optimize)


class _LayerNormalization(ChannelNorm):
    """ChannelNorm as ``F.layer_norm``: the same function (within ~1e-7), exported as one ONNX
    ``LayerNormalization`` node that onnxruntime runs as a fused kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


def _layer_norm_ops(model: NeuroLiteForClassification) -> NeuroLiteForClassification:
    """A copy of ``model`` whose ChannelNorms export as ``LayerNormalization``.

    ChannelNorm computes its mean and variance as ``linear`` products only so that XNNPACK takes them
    (modeling/layers.py); in ONNX that is eight nodes per norm. Measured on the tiny architecture at
    256 tokens, one thread: 3.88 ms with the linear form, 3.27 ms with ``LayerNormalization``.
    """
    copied = copy.deepcopy(model)
    for module in copied.modules():
        if type(module) is ChannelNorm:
            module.__class__ = _LayerNormalization
    return copied


def _optimize_keeping_codes(model: Any) -> None:
    """The optimizer ``torch.onnx.export`` would run, minus folding of any node that reads uint8 codes."""
    import onnx_ir as ir
    from onnxscript.optimizer import optimize_ir

    def should_fold(node: ir.Node) -> bool | None:
        reads_codes = any(value is not None and value.dtype == ir.DataType.UINT8 for value in node.inputs)
        return False if reads_codes else None

    optimize_ir(model, should_fold=should_fold)


def _check_codes(proto: onnx.ModelProto, encoded: EncodedState) -> CodeCheck:
    """Every coded tensor's codes must be a uint8 initializer of its shape; ``ExportError`` otherwise.

    Matched by shape (the exporter renames some initializers), so a decode that was folded back into a
    float constant shows as a missing uint8 shape.
    """
    from onnx import TensorProto

    expected = Counter(tuple(t.codes.shape) for t in encoded.values() if isinstance(t, OrbitalTensor))
    found = Counter(tuple(i.dims) for i in proto.graph.initializer if i.data_type == TensorProto.UINT8)
    missing = expected - found
    if missing:
        shapes = ", ".join(f"{list(shape)} x{n}" for shape, n in sorted(missing.items()))
        raise ExportError(f"onnx: --quantize orbital8: the decode of {sum(missing.values())} of "
                          f"{sum(expected.values())} coded tensors was folded back into float weights "
                          f"(codes missing for shapes {shapes}); the file would not shrink")
    uint8 = [i for i in proto.graph.initializer if i.data_type == TensorProto.UINT8]
    coded = sum(expected.values())
    return CodeCheck(coded_tensors=coded, stored_tensors=coded, code_bytes=sum(len(i.raw_data) for i in uint8))


def _quantize_int8(proto: onnx.ModelProto, job: ExportJob) -> tuple[onnx.ModelProto, NativeRecipe]:
    """onnxruntime static QDQ, per-channel int8 weights, calibrated on ``job.calibration`` texts."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if not job.calibration:
        raise ExportError("onnx: --quantize int8 calibrates activations and needs calibration texts")
    featurizer = job.model.featurizer
    feeds = []
    for text in job.calibration:
        batch = featurizer([text])
        feeds.append({"features": batch.features, "mask": batch.mask})

    class TextReader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(feeds)

        def get_next(self) -> dict[str, Any] | None:
            return next(self.items, None)

    min_elements = job.policy.min_elements
    sizes = {i.name: math.prod(i.dims) for i in proto.graph.initializer}
    excluded = [n.name for n in proto.graph.node
                if n.op_type in INT8_OPS and max((sizes.get(i, 0) for i in n.input), default=0) < min_elements]
    with tempfile.TemporaryDirectory(prefix="neurolite-onnx-int8-") as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save_model(proto, str(source), save_as_external_data=False)
        quantize_static(str(source), str(target), TextReader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        op_types_to_quantize=list(INT8_OPS), nodes_to_exclude=excluded,
                        calibrate_method=CalibrationMethod.MinMax)
        quantized = onnx.load(str(target))
    kept = Counter(n.op_type for n in quantized.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear"))
    quantized_nodes = sum(1 for n in proto.graph.node if n.op_type in INT8_OPS) - len(excluded)
    return quantized, NativeRecipe("int8", "onnxruntime quantize_static, QDQ, per-channel int8 weights, uint8 "
                                           "activations (MinMax)", calibration_texts=len(feeds),
                                   coded_tensors=quantized_nodes,
                                   counts={"float_nodes": len(excluded), "qdq_nodes": dict(kept)})


def _initializer_bytes(proto: onnx.ModelProto) -> dict[str, int]:
    """Initializer bytes by element type: where the file's weight bytes went (uint8 codes, int8, float)."""
    import onnx

    totals: Counter[str] = Counter()
    for tensor in proto.graph.initializer:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
        totals[dtype.name] += math.prod(tensor.dims) * dtype.itemsize
    return dict(sorted(totals.items()))


def _standard_props(job: ExportJob) -> dict[str, str]:
    """The keys the ONNX IR spec defines for ``metadata_props`` (model_author, model_license), beside ours."""
    if job.description is None:
        return {}
    return {"model_author": job.description.author, "model_license": job.description.license}


def _standard_fields(proto: onnx.ModelProto, job: ExportJob) -> None:
    """ModelProto's own descriptive fields, which onnxruntime's ``get_modelmeta()`` and Netron show."""
    from neurolite_sdk import __version__

    proto.producer_name, proto.producer_version, proto.domain = "neurolite-sdk", __version__, "ai.neurolite"
    proto.model_version = 1
    if job.description is not None:
        proto.doc_string = job.description.description
        proto.graph.doc_string = job.description.description
        for value in (*proto.graph.input, *proto.graph.output):
            text = {**job.description.input_description, **job.description.output_description}.get(value.name)
            if text:
                value.doc_string = text


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
