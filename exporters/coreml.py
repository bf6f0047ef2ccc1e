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

Quantized exports target iOS16, the first with ``constexpr_*`` weight ops.

**orbital8.** The model with the *decoded* weights (``CodedWeights.decoded``, the one the quantization
plan built) is converted as usual (to a MIL program), so the graph is the fp32 graph; then each coded
weight's fp32 ``const`` (found by its exact decoded value, which the converter keeps bit for bit) is
replaced by

    constexpr_lut_to_dense(indices = the uint8 codes, lut = the tensor's 256-entry table T)
    -> mul(scale [out, 1]) -> add(offset [out, 1])          (the add only when the tensor has an offset)

which is ``T[code]·scale (+ offset)`` in float32, in that order: the decode ``docs/orbital8.md`` states.
The scale is applied to the decoded weight, not to the table, so the file holds one 1 KiB table per
tensor (a table scaled per channel would cost ``out·256`` floats; docs/design.md). Consumers are adapted:

* ``gather`` along axis 0 (the Bloom table) gathers the rows of the LUT output and of scale/offset, so
  only the rows a text uses are scaled, never the whole table;
* ``linear`` wants a compile-time weight, which a scaled weight no longer is, so it becomes
  ``matmul(x, W, transpose_y=True)`` (+ bias);
* any other op reads the decoded weight; one that insists on a constant input is refused.

``constexpr_*`` outputs are "non-replaceable" in coremltools, so ``const_elimination`` cannot fold the
multiply back into an fp32 constant; the code check still reads the saved weight file back: the LUT
indices and tables must equal the codes bit for bit, and no coded tensor may survive as an fp32 constant.

**int8** is ``linear_quantize_weights`` (per-channel symmetric int8, ``constexpr_affine_dequantize``);
**palette8** is ``palettize_weights`` (k-means, one 256-entry table per tensor, ``constexpr_lut_to_dense``).
Both code the tensors ``QuantPolicy``'s size rule selects (at least 4,096 elements), as orbital8 does,
and the structural check refuses a package that still holds an fp32 weight above that size.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
from neurolite_sdk.exporters.graph import classifier_signature, export_program, output_names
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.quantization import OrbitalTensor, QuantPolicy, dequantize
from neurolite_sdk.quantization.policy import EncodedState
from neurolite_sdk.runtime.bundle import DimRange, Signature

PACKAGE = "model.mlpackage"
MAX_BATCH = 64
DEPLOYMENT_TARGET = "iOS15"  # the first ML program target (macOS 12)
QUANTIZED_TARGET = "iOS16"  # the first with constexpr weight ops (macOS 13)
LUT_SUFFIX = "_orbital8_lut"  # the constexpr_lut_to_dense of coded tensor NAME is named safe(NAME) + LUT_SUFFIX
COMPRESSED_OP = {"int8": "constexpr_affine_dequantize", "palette8": "constexpr_lut_to_dense"}
NATIVE_RECIPES = {"int8": "coremltools linear_quantize_weights, per-channel symmetric int8 weights",
                  "palette8": "coremltools palettize_weights, k-means, one 256-entry table per tensor"}


@register_exporter("coreml")
class CoremlExporter(Exporter):
    entry = PACKAGE
    extra = "coreml"
    requires = ("coremltools",)
    precisions = ("fp32", "fp16")
    quantizations = ("none", "int8", "palette8", "orbital8")

    def signatures(self, job: ExportJob) -> tuple[Signature, ...]:
        return (classifier_signature("main", job.model, DimRange(1, MAX_BATCH),
                                     DimRange(1, job.model.config.max_length)),)

    def export_fp32(self, job: ExportJob, signatures: tuple[Signature, ...]) -> Any:
        return _convert(job, _program(job.model, signatures[0]), signatures[0], _pipeline())

    def native_quantize(self, job: ExportJob, signatures: tuple[Signature, ...]) -> tuple[Any, NativeRecipe]:
        pipeline = _native_pipeline(_pipeline(), job.quantize, job.policy)
        model = _convert(job, _program(job.model, signatures[0]), signatures[0], pipeline)
        ops, _, _ = _contents(model.get_spec())
        return model, NativeRecipe(job.quantize, NATIVE_RECIPES[job.quantize],
                                   coded_tensors=ops[COMPRESSED_OP[job.quantize]])

    def lower_orbital8(self, job: ExportJob, signatures: tuple[Signature, ...], coded: CodedWeights) -> Any:
        """Convert the decoded model to MIL, swap the coded constants for their LUT decode, serialize."""
        mil = _convert(job, _program(coded.decoded, signatures[0]), signatures[0], _pipeline(), "milinternal")
        _lower_luts(mil, coded.encoded)
        return _convert(job, mil, signatures[0], _pipeline())

    def check_codes(self, job: ExportJob, draft: Any, path: Path, coded: CodedWeights) -> CodeCheck:
        """The saved LUT ops hold exactly the codes and tables, and no coded weight is an fp32 constant."""
        import coremltools as ct

        spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
        tensors = {name: t for name, t in coded.encoded.items() if isinstance(t, OrbitalTensor)}
        luts = saved_luts(path, spec)
        for name, tensor in tensors.items():
            stored = luts.get(lut_op_name(name))
            if stored is None:
                raise ExportError(f"coreml: {path}: {name}: no constexpr_lut_to_dense holds its codes")
            lut, indices = stored
            if not (np.array_equal(indices, tensor.codes.reshape(-1))
                    and np.array_equal(lut.view(np.uint32), tensor.tables[0].view(np.uint32))):
                raise ExportError(f"coreml: {path}: {name}: the stored LUT indices or table differ from the "
                                  f"orbital8 codes")
        _, _, float_constants = _contents(spec)
        left = sorted(name for name, t in tensors.items() if tuple(t.codes.shape) in float_constants)
        if left:
            raise ExportError(f"coreml: {path}: fp32 constants of the shape of coded tensors {left}: the "
                              f"decode was folded back into float weights")
        return CodeCheck(coded_tensors=len(tensors), stored_tensors=len(tensors),
                         code_bytes=sum(luts[lut_op_name(name)][1].nbytes for name in tensors))

    def write(self, job: ExportJob, signatures: tuple[Signature, ...], draft: Any, out_dir: Path) -> CoremlDetails:
        model = draft
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
        structure = _check_structure(out_dir / PACKAGE, job, signatures[0].batch, signatures[0].length)
        return CoremlDetails(deployment_target=_target(job), compute_precision=job.precision, structure=structure)


@dataclass
class CoremlStructure:
    """The saved package reloaded without compiling it (what a macOS app would rely on)."""

    status: str
    inputs: list[str]
    outputs: list[str]
    ops: dict[str, int]
    tensor_types: dict[str, int]
    specification_version: int


@dataclass
class CoremlDetails(ExportDetails):
    deployment_target: str = DEPLOYMENT_TARGET
    compute_precision: str = "fp32"
    structure: CoremlStructure | None = None

    def notes(self, fmt: str) -> list[str]:
        if self.structure is None:
            return []
        structure = self.structure
        return [f"{fmt}: structure {structure.status}: inputs {', '.join(structure.inputs)}, outputs "
                f"{', '.join(structure.outputs)}, {sum(structure.ops.values())} ops, {self.compute_precision} compute"]


def _target(job: ExportJob) -> str:
    return DEPLOYMENT_TARGET if job.quantize == "none" else QUANTIZED_TARGET


def _program(model: NeuroLiteForClassification, signature: Signature) -> Any:
    return export_program(model, signature.batch, signature.length).run_decompositions({})


def _convert(job: ExportJob, source: Any, signature: Signature, pipeline: Any, convert_to: str = "mlprogram") -> Any:
    """``ct.convert`` of ``source`` (an ExportedProgram or a MIL program) with the signature's flexible inputs."""
    import coremltools as ct

    batch, length = signature.batch, signature.length
    batch_dim = ct.RangeDim(batch.min, batch.max, default=1, symbol="batch")
    length_dim = ct.RangeDim(length.min, length.max, default=length.max, symbol="length")
    inputs = [ct.TensorType(name="features", dtype=np.int32,
                            shape=ct.Shape((batch_dim, length_dim, job.model.config.num_hashes))),
              ct.TensorType(name="mask", dtype=np.float32, shape=ct.Shape((batch_dim, length_dim)))]
    inputs += [ct.TensorType(name=t.name, dtype=np.float32, shape=ct.Shape((batch_dim, *t.shape[1:])))
               for t in signature.inputs[2:]]  # a multimodal graph's presence mask and modality tensors
    precision = ct.precision.FLOAT32 if job.precision == "fp32" else ct.precision.FLOAT16
    return ct.convert(source, convert_to=convert_to, pass_pipeline=pipeline, compute_precision=precision,
                      inputs=inputs,
                      outputs=[ct.TensorType(name=name, dtype=np.float32) for name in output_names(job.model)],
                      minimum_deployment_target=getattr(ct.target, _target(job)))


def _pipeline() -> Any:
    """The default passes less ``common::fuse_linear_bias`` (it crashes on ChannelNorm's scalar ``+ eps``)."""
    import coremltools as ct

    pipeline = ct.PassPipeline.DEFAULT
    pipeline.remove_passes(["common::fuse_linear_bias"])
    return pipeline


def _check_structure(package: Path, job: ExportJob, batch: DimRange, length: DimRange) -> CoremlStructure:
    """Reload the saved package without compiling it and check what a macOS app would rely on."""
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2

    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()
    array = FeatureTypes_pb2.ArrayFeatureType
    expected_inputs = {"features": (array.INT32, [(batch.min, batch.max), (length.min, length.max),
                                                  (job.model.config.num_hashes,) * 2]),
                       "mask": (array.FLOAT32, [(batch.min, batch.max), (length.min, length.max)])}
    for tensor in classifier_signature("main", job.model, batch, length).inputs[2:]:  # multimodal inputs
        expected_inputs[tensor.name] = (array.FLOAT32, [(batch.min, batch.max), *((d, d) for d in tensor.shape[1:])])
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
    ops, dtypes, float_constants = _contents(spec)
    if "gather" not in ops:
        raise ExportError(f"coreml: {package}: no gather op; the Bloom projection did not convert in-graph")
    half = dtypes["FLOAT16"] > 0  # fp16 compute still has fp32 tensors: the mask input and the logits output
    if half != (job.precision == "fp16"):
        raise ExportError(f"coreml: {package}: tensors by type {dict(dtypes)}; "
                          f"expected {job.precision} compute")
    if job.quantize in COMPRESSED_OP:  # the native recipes compressed every weight the size rule selects
        compressed, minimum = COMPRESSED_OP[job.quantize], job.policy.min_elements
        left = sorted(shape for shape in float_constants if len(shape) >= 2 and math.prod(shape) >= minimum)
        if not ops[compressed] or left:
            raise ExportError(f"coreml: {package}: --quantize {job.quantize}: {ops[compressed]} {compressed} ops, "
                              f"fp32 weight constants left {left}")
    return CoremlStructure(status="passed", inputs=sorted(inputs), outputs=sorted(outputs),
                           ops=dict(sorted(ops.items())), tensor_types=dict(sorted(dtypes.items())),
                           specification_version=spec.specificationVersion)


def _contents(spec: Any) -> tuple[Counter[str], Counter[str], list[tuple[int, ...]]]:
    """An ML program's op counts, output tensor types, and the shapes of its fp32 constants."""
    from coremltools.proto import MIL_pb2

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
    return ops, dtypes, float_constants



def lut_op_name(tensor_name: str) -> str:
    """The name of the ``constexpr_lut_to_dense`` op that holds ``tensor_name``'s codes."""
    return re.sub(r"[^A-Za-z0-9_]", "_", tensor_name) + LUT_SUFFIX


def _lower_luts(program: Any, encoded: EncodedState) -> list[str]:
    """Replace every orbital8 weight's fp32 const in ``program`` (a MIL program converted from the
    decoded-weight model) by its LUT decode; returns the coded tensor names lowered, in graph order.

    ``ExportError`` when a coded tensor has no const of exactly its decoded value (the converter
    changed it, so the codes would not describe what the graph computes) or a consumer cannot take it.
    """
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil.scope import ScopeInfo

    pending = {name: tensor for name, tensor in encoded.items() if isinstance(tensor, OrbitalTensor)}
    decoded = {name: dequantize(tensor) for name, tensor in pending.items()}
    lowered = []
    for function in program.functions.values():
        with function:
            for op in list(function.operations):
                value = op.outputs[0].val if op.op_type == "const" else None
                if not isinstance(value, np.ndarray) or value.dtype != np.float32:
                    continue
                name = next((n for n in pending if decoded[n].shape == value.shape
                             and np.array_equal(decoded[n], value)), None)
                if name is None:
                    continue
                # the new ops carry the replaced constant's source scopes, which the converter requires
                scopes = [ScopeInfo(source=source, data=data) for source, data in op.scopes.items()]
                with mb.scope(*scopes):
                    _replace_const(mb, op, name, pending.pop(name))
                lowered.append(name)
    if pending:
        raise ExportError(f"coreml: orbital8: no weight constant of exactly the decoded value for "
                          f"{', '.join(sorted(pending))}; the converter changed it")
    return lowered


def _replace_const(mb: Any, op: Any, name: str, tensor: OrbitalTensor) -> None:
    """Rewire every consumer of ``op`` (the decoded weight's const) onto the LUT decode of ``tensor``."""
    out, columns = tensor.codes.shape
    constant = op.outputs[0]
    dense = mb.constexpr_lut_to_dense(indices=tensor.codes.reshape(-1), lut=tensor.tables[0],
                                      shape=np.array([out, columns], dtype=np.uint32), before_op=op,
                                      name=lut_op_name(name))
    scale = tensor.scale[:, None]
    offset = None if tensor.offset is None else tensor.offset[:, None]
    for child in list(constant.child_ops):
        if child.op_type == "gather" and child.x is constant and _gathers_rows(child):
            extra = {} if child.batch_dims is None else {"batch_dims": child.batch_dims}
            rows = mb.gather(x=dense, indices=child.indices, axis=0, before_op=child, **extra)
            result = mb.mul(x=rows, y=mb.gather(x=scale, indices=child.indices, axis=0, before_op=child),
                            before_op=child)
            if offset is not None:
                result = mb.add(x=result, y=mb.gather(x=offset, indices=child.indices, axis=0, before_op=child),
                                before_op=child)
            _swap_output(child, result)
    if constant.child_ops:
        weight = mb.mul(x=dense, y=scale, before_op=op)
        if offset is not None:
            weight = mb.add(x=weight, y=offset, before_op=op)
        if tuple(tensor.shape) != (out, columns):
            weight = mb.reshape(x=weight, shape=np.array(tensor.shape, dtype=np.int32), before_op=op)
        for child in list(constant.child_ops):
            if child.op_type == "linear" and child.weight is constant and child.x is not constant:
                result = mb.matmul(x=child.x, y=weight, transpose_y=True, before_op=child)
                if child.bias is not None:
                    result = mb.add(x=result, y=child.bias, before_op=child)
                _swap_output(child, result)
                continue
            for param, var in child.inputs.items():
                if var is constant and child.input_spec.input_types[param].const:
                    raise ExportError(f"coreml: orbital8: {name}: op {child.op_type} ({child.name}) needs a "
                                      f"constant {param!r}; the decoded weight is computed")
        op.enclosing_block.replace_uses_of_var_after_op(anchor_op=weight.op, old_var=constant, new_var=weight)
    op.enclosing_block.remove_ops([op])


def _gathers_rows(op: Any) -> bool:
    axis = 0 if op.axis is None else int(op.axis.val)
    return axis in (0, -op.x.rank) and (op.batch_dims is None or int(op.batch_dims.val) == 0)


def _swap_output(op: Any, new_var: Any) -> None:
    """Make ``new_var`` (computed just before ``op``) replace ``op``'s only output, then drop ``op``."""
    block = op.enclosing_block
    block.replace_uses_of_var_after_op(anchor_op=op, old_var=op.outputs[0], new_var=new_var)
    block.remove_ops([op])


def _native_pipeline(pipeline: Any, scheme: str, policy: QuantPolicy) -> Any:
    """``pipeline`` (a ``ct.PassPipeline``) with coremltools' ``scheme`` recipe ("int8" or "palette8") run
    as its last pass, so the weights are compressed during conversion.

    (``ct.optimize.coreml.linear_quantize_weights(mlmodel)`` would re-run the default passes on the
    converted model, ``common::fuse_linear_bias`` included, which crashes on this graph.) Tensors of
    fewer than ``policy.min_elements`` elements stay float: coremltools compresses a constant when its
    size is *above* ``weight_threshold``.
    """
    import coremltools.optimize.coreml as cto

    threshold = policy.min_elements - 1
    if scheme == "int8":
        name = "compression::linear_quantize_weights"
        op_config: Any = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8",
                                                     granularity="per_channel", weight_threshold=threshold)
    elif scheme == "palette8":
        name = "compression::palettize_weights"
        op_config = cto.OpPalettizerConfig(mode="kmeans", nbits=8, granularity="per_tensor",
                                           weight_threshold=threshold)
    else:
        raise ExportError(f"coreml: no native recipe for --quantize {scheme}")
    pipeline.append_pass(name)
    pipeline.set_options(name, {"config": cto.OptimizationConfig(global_config=op_config)})
    return pipeline


def saved_luts(package: Any, spec: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every ``constexpr_lut_to_dense`` of the saved package, by op name: (lut, indices as stored on disk).

    Reads the weight file the way Core ML does, so a check against the codes proves what ships.
    """
    from coremltools.libmilstoragepython import _BlobStorageReader

    weights = package / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    reader = _BlobStorageReader(str(weights))
    found = {}
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                if op.type != "constexpr_lut_to_dense":
                    continue
                attrs = {key: value for key, value in op.attributes.items()}
                lut = _blob(reader, attrs["lut"], "lut")
                indices = _blob(reader, attrs["indices"], "indices")
                found[op.outputs[0].name] = (lut, indices)
    return found


def _blob(reader: Any, value: Any, field: str) -> np.ndarray:
    from coremltools.proto import MIL_pb2

    kind = MIL_pb2.DataType.Name(value.type.tensorType.dataType)
    read = {"FLOAT32": reader.read_float_data, "UINT8": reader.read_uint8_data}.get(kind)
    if read is None or not value.HasField("blobFileValue"):
        raise ExportError(f"coreml: constexpr_lut_to_dense {field}: expected a {kind} blob in the weight file")
    return np.asarray(read(value.blobFileValue.offset))
