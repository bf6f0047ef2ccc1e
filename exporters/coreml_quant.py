"""Core ML quantized weights: orbital8 lowered onto ``constexpr_lut_to_dense``, and the native recipes.

**orbital8.** The model with the *decoded* weights is converted as usual (to a MIL program), so the graph
is the fp32 graph; then each coded weight's fp32 ``const`` (found by its exact decoded value, which the
converter keeps bit for bit) is replaced by

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
multiply back into an fp32 constant; the exporter still checks the saved spec for that (``coreml.py``).

**int8** is ``linear_quantize_weights`` (per-channel symmetric int8, ``constexpr_affine_dequantize``);
**palette8** is ``palettize_weights`` (k-means, one 256-entry table per tensor, ``constexpr_lut_to_dense``).
Both code the tensors ``QuantPolicy``'s size rule selects (at least 4,096 elements), as orbital8 does.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from neurolite_sdk.exporters.base import ExportError
from neurolite_sdk.quantization import OrbitalTensor, QuantPolicy, dequantize
from neurolite_sdk.quantization.policy import EncodedState

LUT_SUFFIX = "_orbital8_lut"  # the constexpr_lut_to_dense of coded tensor NAME is named safe(NAME) + LUT_SUFFIX


def lut_op_name(tensor_name: str) -> str:
    """The name of the ``constexpr_lut_to_dense`` op that holds ``tensor_name``'s codes."""
    return re.sub(r"[^A-Za-z0-9_]", "_", tensor_name) + LUT_SUFFIX


def lower_orbital8(program: Any, encoded: EncodedState) -> list[str]:
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


def native_pipeline(pipeline: Any, scheme: str, policy: QuantPolicy) -> Any:
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
