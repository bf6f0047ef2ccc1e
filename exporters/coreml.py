"""Core ML: an ML program converted from ``ExportedProgram.run_decompositions({})``, flexible shapes.

Batch (1..64) and length (1..max_length) are ``RangeDim`` inputs. Weights and compute are fp32 by
default (``ct.convert`` alone would store fp16); ``precision="fp16"`` asks for fp16.

Two coremltools 9.0 workarounds, both measured on this graph: the ``common::fuse_linear_bias`` pass
crashes on the scalar ``+ eps`` that follows ChannelNorm's variance ``linear`` (it reads the scalar as a
bias vector), so it is left out of the pass pipeline; and ``MLModel.save`` drops an
``executorch_debug_handle_mapping.json`` debug file into the package, which no runtime reads, so it is
removed.

Core ML runs only on macOS, so on other systems the package is checked structurally here: it reloads,
has the expected inputs and output with their types and ranges, gathers the Bloom rows in-graph, and
holds no tensor of the other precision. The op counts go into the manifest.

Quantized exports (``exporters/coreml_quant.py``) target iOS16, the first with ``constexpr_*`` weight
ops: ``orbital8`` keeps its codes as ``constexpr_lut_to_dense`` indices with the tensor's orbit table as
the LUT and scales the decoded weight; ``int8`` (``linear_quantize_weights``, per channel) and
``palette8`` (``palettize_weights``, k-means, 8 bits) are coremltools' own recipes. Their structural check
reads the saved weight file back: orbital8's indices and tables must equal the codes bit for bit, no
coded tensor may survive as an fp32 constant, and the native recipes must leave no fp32 weight above
the size rule.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from neurolite_sdk.exporters.base import ExportArtifact, Exporter, ExportError, ExportJob, register_exporter
from neurolite_sdk.exporters.coreml_quant import lower_orbital8, lut_op_name, native_pipeline, saved_luts
from neurolite_sdk.exporters.graph import classifier_signature, export_program, output_names
from neurolite_sdk.quantization import OrbitalTensor
from neurolite_sdk.quantization.torch_wrapper import decode_into_model
from neurolite_sdk.runtime.bundle import DimRange

PACKAGE = "model.mlpackage"
MAX_BATCH = 64
DEPLOYMENT_TARGET = "iOS15"  # the first ML program target (macOS 12)
QUANTIZED_TARGET = "iOS16"  # the first with constexpr weight ops (macOS 13)


@register_exporter("coreml")
class CoremlExporter(Exporter):
    extra = "coreml"
    requires = ("coremltools",)
    precisions = ("fp32", "fp16")
    quantizations = ("none", "int8", "palette8", "orbital8")

    def export(self, job: ExportJob, out_dir: Path) -> ExportArtifact:
        import coremltools as ct

        config = job.model.config
        batch, length = DimRange(1, MAX_BATCH), DimRange(1, config.max_length)
        source = job.model
        if job.quantize == "orbital8":
            if job.encoded is None:
                raise ExportError("coreml: --quantize orbital8 needs the coded weights (ExportJob.encoded)")
            source = decode_into_model(copy.deepcopy(job.model), job.encoded).eval()
        program = export_program(source, batch, length).run_decompositions({})
        batch_dim = ct.RangeDim(batch.min, batch.max, default=1, symbol="batch")
        length_dim = ct.RangeDim(length.min, length.max, default=length.max, symbol="length")
        precision = ct.precision.FLOAT32 if job.precision == "fp32" else ct.precision.FLOAT16
        target = DEPLOYMENT_TARGET if job.quantize == "none" else QUANTIZED_TARGET
        inputs = [ct.TensorType(name="features", dtype=np.int32,
                                shape=ct.Shape((batch_dim, length_dim, config.num_hashes))),
                  ct.TensorType(name="mask", dtype=np.float32, shape=ct.Shape((batch_dim, length_dim)))]
        options = dict(compute_precision=precision, inputs=inputs,
                       outputs=[ct.TensorType(name=name, dtype=np.float32) for name in output_names(job.model)],
                       minimum_deployment_target=getattr(ct.target, target))
        if job.quantize == "orbital8":  # convert, swap the coded constants for their LUT decode, serialize
            mil = ct.convert(program, convert_to="milinternal", pass_pipeline=_pipeline(), **options)
            lower_orbital8(mil, job.encoded)
            model = ct.convert(mil, convert_to="mlprogram", pass_pipeline=_pipeline(), **options)
        else:
            pipeline = _pipeline() if job.quantize == "none" else native_pipeline(_pipeline(), job.quantize,
                                                                                  job.policy)
            model = ct.convert(program, convert_to="mlprogram", pass_pipeline=pipeline, **options)
        model.user_defined_metadata.update(job.metadata)
        model.short_description = f"NeuroLite text classifier ({', '.join(job.labels)})"
        if job.description is not None:  # the fields Xcode's model view and MLModelDescription show
            model.short_description = job.description.description
            model.author, model.license, model.version = (job.description.author, job.description.license,
                                                          job.description.version)
            for name, text in {**job.description.input_description, **job.description.output_description}.items():
                if name in model.input_description:
                    model.input_description[name] = text
                elif name in model.output_description:
                    model.output_description[name] = text
        model.save(str(out_dir / PACKAGE))
        (out_dir / PACKAGE / "executorch_debug_handle_mapping.json").unlink(missing_ok=True)
        structure = _check_structure(out_dir / PACKAGE, job, batch, length)
        signature = classifier_signature("main", job.model, batch, length)
        return ExportArtifact(entry=PACKAGE, signatures=(signature,),
                              details={"deployment_target": target,
                                       "compute_precision": job.precision, "structure": structure})


def _pipeline() -> Any:
    """The default passes less ``common::fuse_linear_bias`` (it crashes on ChannelNorm's scalar ``+ eps``)."""
    import coremltools as ct

    pipeline = ct.PassPipeline.DEFAULT
    pipeline.remove_passes(["common::fuse_linear_bias"])
    return pipeline


def _check_structure(package: Path, job: ExportJob, batch: DimRange, length: DimRange) -> dict[str, Any]:
    """Reload the saved package without compiling it and check what a macOS app would rely on."""
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2, MIL_pb2

    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()
    array = FeatureTypes_pb2.ArrayFeatureType
    expected_inputs = {"features": (array.INT32, [(batch.min, batch.max), (length.min, length.max),
                                                  (job.model.config.num_hashes,) * 2]),
                       "mask": (array.FLOAT32, [(batch.min, batch.max), (length.min, length.max)])}
    inputs = {i.name: (i.type.multiArrayType.dataType,
                       [(r.lowerBound, r.upperBound) for r in i.type.multiArrayType.shapeRange.sizeRanges])
              for i in spec.description.input}
    if inputs != expected_inputs:
        raise ExportError(f"coreml: {package}: inputs {inputs} differ from the expected {expected_inputs}")
    outputs = {o.name: o.type.multiArrayType.dataType for o in spec.description.output}
    expected_outputs = dict.fromkeys(output_names(job.model), array.FLOAT32)
    if outputs != expected_outputs:
        raise ExportError(f"coreml: {package}: outputs {outputs} differ from the expected {sorted(expected_outputs)} "
                          f"(FLOAT32)")
    ops: Counter[str] = Counter()
    dtypes: Counter[str] = Counter()
    float_constants = []  # shapes of the fp32 constants stored in the weight file
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                ops[op.type] += 1
                dtypes.update(MIL_pb2.DataType.Name(out.type.tensorType.dataType)
                              for out in op.outputs if out.type.HasField("tensorType"))
                value = op.attributes["val"] if op.type == "const" else None
                if value is not None and value.type.tensorType.dataType == MIL_pb2.DataType.FLOAT32:
                    float_constants.append(tuple(d.constant.size for d in value.type.tensorType.dimensions))
    if "gather" not in ops:
        raise ExportError(f"coreml: {package}: no gather op; the Bloom projection did not convert in-graph")
    half = dtypes["FLOAT16"] > 0  # fp16 compute still has fp32 tensors: the mask input and the logits output
    if half != (job.precision == "fp16"):
        raise ExportError(f"coreml: {package}: tensors by type {dict(dtypes)}; "
                          f"expected {job.precision} compute")
    quantized = _check_quantized(package, spec, job, ops, float_constants)
    return {"status": "passed", "inputs": sorted(inputs), "outputs": sorted(outputs),
            "ops": dict(sorted(ops.items())), "tensor_types": dict(sorted(dtypes.items())),
            "specification_version": spec.specificationVersion, **quantized}


def _check_quantized(package: Path, spec: Any, job: ExportJob, ops: Counter[str],
                     float_constants: list[tuple[int, ...]]) -> dict[str, Any]:
    """The quantized weights really are in the file: orbital8's LUT ops hold exactly the codes and tables,
    and no weight the scheme codes is stored as an fp32 constant."""
    if job.quantize == "none":
        return {}
    if job.quantize == "orbital8":
        assert job.encoded is not None  # export() refuses orbital8 without it
        coded = {name: t for name, t in job.encoded.items() if isinstance(t, OrbitalTensor)}
        luts = saved_luts(package, spec)
        for name, tensor in coded.items():
            stored = luts.get(lut_op_name(name))
            if stored is None:
                raise ExportError(f"coreml: {package}: {name}: no constexpr_lut_to_dense holds its codes")
            lut, indices = stored
            if not (np.array_equal(indices, tensor.codes.reshape(-1))
                    and np.array_equal(lut.view(np.uint32), tensor.tables[0].view(np.uint32))):
                raise ExportError(f"coreml: {package}: {name}: the stored LUT indices or table differ from the "
                                  f"orbital8 codes")
        left = sorted(name for name, t in coded.items() if tuple(t.codes.shape) in float_constants)
        if left:
            raise ExportError(f"coreml: {package}: fp32 constants of the shape of coded tensors {left}: the "
                              f"decode was folded back into float weights")
        return {"coded_tensors": len(coded), "codes_verified": True}
    compressed = "constexpr_affine_dequantize" if job.quantize == "int8" else "constexpr_lut_to_dense"
    minimum = job.policy.min_elements
    left = sorted(shape for shape in float_constants if len(shape) >= 2 and math.prod(shape) >= minimum)
    if not ops[compressed] or left:
        raise ExportError(f"coreml: {package}: --quantize {job.quantize}: {ops[compressed]} {compressed} ops, "
                          f"fp32 weight constants left {left}")
    return {"coded_tensors": ops[compressed]}
