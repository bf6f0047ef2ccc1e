"""TFLite quantized weights: orbital8 written into the flatbuffer as codes + decode ops, and the native recipe.

**orbital8.** litert-torch 0.10 cannot carry the codes itself: uint8 constants fail in its MLIR lowering,
and an int8-coded decode is constant-folded back into float weights (docs/design.md). So the model with the
*decoded* weights is converted as usual and the flatbuffer is then rewritten (``ai_edge_litert``'s
schema object API): every float constant whose bytes are exactly a coded tensor's decoded weight, in the
same shape, is replaced by the ops

    CAST(codes uint8 [out, n] -> int32) -> GATHER(T float32 [256], axis 0) -> MUL(scale [out, 1])
    -> ADD(offset [out, 1])                       (the ADD only when the tensor has an offset)

at the head of every subgraph that reads it, which is ``T[code]·scale (+ offset)`` in float32, in that
order (``docs/orbital8.md``). The codes, table, scale and offset buffers are shared by the subgraphs
(signatures), like the float weights were; the old float buffer is emptied. The decode runs at every
invocation (TFLite has no load-time constant ops); its output lives in the arena.

A float constant the converter changed (a slice of a weight for a shorter signature, a transposed copy)
has no exact match and stays float; the exporter reports how many coded tensors were lowered.

**int8** is LiteRT's dynamic-range recipe (``ai_edge_quantizer``'s ``dynamic_wi8_afp32``: per-channel
symmetric int8 weights, activations quantized on the fly), applied to the converted flatbuffer, on the
tensors ``QuantPolicy``'s size rule selects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurolite_sdk.exporters.base import ExportError
from neurolite_sdk.quantization import OrbitalTensor, QuantPolicy, dequantize
from neurolite_sdk.quantization.policy import EncodedState


def native_int8(flatbuffer: bytes, policy: QuantPolicy) -> bytes:
    """``flatbuffer`` with LiteRT's dynamic-range int8 recipe applied to weights of at least
    ``policy.min_elements`` elements."""
    from ai_edge_quantizer import quantizer, recipe

    rules = recipe.dynamic_wi8_afp32()
    for rule in rules:
        rule["op_config"]["min_weight_elements"] = policy.min_elements
    result = quantizer.Quantizer(bytearray(flatbuffer), rules).quantize(enable_progress_report=False)
    return _inline_buffers(bytes(result.quantized_model))


def _inline_buffers(flatbuffer: bytes) -> bytes:
    """The model with every buffer's bytes inside the flatbuffer: the quantizer stores them after it (by
    offset and size), which the object API's repacking (``tflite._with_metadata``) would drop."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    for buffer in model.buffers:
        if buffer.offset > 1:
            buffer.data = np.frombuffer(flatbuffer[buffer.offset:buffer.offset + buffer.size], dtype=np.uint8)
            buffer.offset = buffer.size = 0
    builder = flatbuffers.Builder(len(flatbuffer))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def lower_orbital8(flatbuffer: bytes, encoded: EncodedState) -> tuple[bytes, list[str]]:
    """``flatbuffer`` (converted from the decoded-weight model) with every coded weight stored as its codes
    and decoded by ops; returns the new flatbuffer and the coded tensor names lowered.

    ``ExportError`` when no coded tensor matched (nothing would shrink: never a silent float file).
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    coded = {name: t for name, t in encoded.items() if isinstance(t, OrbitalTensor)}
    by_bytes = {dequantize(t).tobytes(): name for name, t in coded.items()}
    matched: dict[int, str] = {}  # float buffer index -> coded tensor name
    for index, buffer in enumerate(model.buffers):
        if buffer.data is not None and len(buffer.data) > 0:
            name = by_bytes.get(np.asarray(buffer.data, dtype=np.uint8).tobytes())
            if name is not None:
                matched[index] = name
    if not matched:
        raise ExportError("tflite: orbital8: no float constant of the converted model is exactly a decoded "
                          "weight; the codes cannot be stored")
    if model.buffers[0].data is not None and len(model.buffers[0].data):
        raise ExportError("tflite: buffer 0 is not the empty buffer the schema reserves")
    shared = {}  # coded tensor name -> buffer indices of its codes, table, scale, offset
    for index, name in matched.items():
        tensor = coded[name]
        model.buffers[index].data = None  # the float weight is gone; its tensors become decode outputs
        arrays = [tensor.codes, tensor.tables[0], tensor.scale[:, None]]
        arrays += [] if tensor.offset is None else [tensor.offset[:, None]]
        shared[name] = [_add_buffer(schema, model, array) for array in arrays]
    ops = _OpCodes(schema, model)
    for subgraph in model.subgraphs:
        decode = []
        for position, weight in enumerate(subgraph.tensors):
            name = matched.get(weight.buffer)
            if name is None:
                continue
            if tuple(int(d) for d in weight.shape) != tuple(coded[name].shape):
                raise ExportError(f"tflite: orbital8: {name}: stored as shape {list(weight.shape)}, coded as "
                                  f"{list(coded[name].shape)}")
            weight.buffer = 0
            decode += _decode_ops(schema, subgraph, ops, position, coded[name], shared[name])
        subgraph.operators = decode + list(subgraph.operators)
    builder = flatbuffers.Builder(len(flatbuffer))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), sorted(set(matched.values()))


def _decode_ops(schema: Any, subgraph: Any, ops: _OpCodes, output: int, tensor: OrbitalTensor,
                buffers: list[int]) -> list[Any]:
    """CAST, GATHER, MUL (and ADD) computing subgraph tensor ``output`` from the shared buffers."""
    shape = list(tensor.codes.shape)
    float32, int32, uint8 = schema.TensorType.FLOAT32, schema.TensorType.INT32, schema.TensorType.UINT8
    codes = _add_tensor(schema, subgraph, "codes", uint8, shape, buffers[0])
    index = _add_tensor(schema, subgraph, "index", int32, shape)
    table = _add_tensor(schema, subgraph, "table", float32, [256], buffers[1])
    rows = _add_tensor(schema, subgraph, "table_rows", float32, shape)
    scale = _add_tensor(schema, subgraph, "scale", float32, [shape[0], 1], buffers[2])
    cast = schema.CastOptionsT()
    cast.inDataType, cast.outDataType = uint8, int32
    gather = schema.GatherOptionsT()
    gather.axis, gather.batchDims = 0, 0
    operators = [ops.make("CAST", [codes], [index], "CastOptions", cast),
                 ops.make("GATHER", [table, index], [rows], "GatherOptions", gather)]
    if tensor.offset is None:
        operators.append(ops.make("MUL", [rows, scale], [output], "MulOptions", schema.MulOptionsT()))
        return operators
    scaled = _add_tensor(schema, subgraph, "scaled", float32, shape)
    offset = _add_tensor(schema, subgraph, "offset", float32, [shape[0], 1], buffers[3])
    operators.append(ops.make("MUL", [rows, scale], [scaled], "MulOptions", schema.MulOptionsT()))
    operators.append(ops.make("ADD", [scaled, offset], [output], "AddOptions", schema.AddOptionsT()))
    return operators


class _OpCodes:
    """The model's operator-code table, extended on demand, and operator construction."""

    def __init__(self, schema: Any, model: Any) -> None:
        self.schema, self.model = schema, model

    def make(self, op: str, inputs: list[int], outputs: list[int], options_type: str, options: Any) -> Any:
        operator = self.schema.OperatorT()
        operator.opcodeIndex = self._index(getattr(self.schema.BuiltinOperator, op))
        operator.inputs, operator.outputs = inputs, outputs
        operator.builtinOptionsType = getattr(self.schema.BuiltinOptions, options_type)
        operator.builtinOptions = options
        return operator

    def _index(self, builtin: int) -> int:
        for index, code in enumerate(self.model.operatorCodes):
            if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
                return index
        code = self.schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
        self.model.operatorCodes.append(code)
        return len(self.model.operatorCodes) - 1


def _add_buffer(schema: Any, model: Any, array: np.ndarray) -> int:
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(np.ascontiguousarray(array).tobytes(), dtype=np.uint8)
    model.buffers.append(buffer)
    return len(model.buffers) - 1


def _add_tensor(schema: Any, subgraph: Any, name: str, dtype: int, shape: list[int], buffer: int = 0) -> int:
    tensor = schema.TensorT()
    tensor.name = f"orbital8/{len(subgraph.tensors)}/{name}"
    tensor.type, tensor.shape, tensor.buffer = dtype, np.array(shape, dtype=np.int32), buffer
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1
