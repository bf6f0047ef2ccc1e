"""TFLite: litert-torch, one static signature per (batch, length) pair, weights shared between them.

litert-torch 0.10 cannot convert this graph with a dynamic dimension (the Bloom gather's reshape
needs concrete sizes), so the file holds signatures ``b{batch}_l{length}`` for batch 1 and 8 at
length max_length and max_length / 4; the runtime picks the shortest length that fits and pads. Inputs
are passed by keyword and the graph returns a dict, so signatures name their tensors "features",
"mask" and "logits" (not ``args_0`` / ``output_0``); the export checks that they do.

The featurizer spec, its digest and the labels go into the flatbuffer's metadata table, one entry per
key, where LiteRT tooling (and ``Model.Metadata`` in any flatbuffer reader) finds them. Beside them goes
the standard TFLite Model Metadata (``metadata_schema.fbs``, file identifier ``M001``), written directly:
the tflite-support metadata writer cannot be installed beside this toolchain (it pins an older protobuf),
so this module builds the same flatbuffer with the ``flatbuffers`` runtime, following the schema's field
order (schema version 1.1.0; only fields present since 1.0.0 are written, so ``min_parser_version`` is
1.0.0). It holds the model's name, description, version, author and licence; per subgraph (one per
signature) the name and a description of each input and output tensor; the labels as ``labels.txt``, an
associated file of type ``TENSOR_AXIS_LABELS`` on the ``logits`` output. The metadata goes into the
model's ``metadata`` table under ``TFLITE_METADATA``, and the associated file is packed into the model
file as a zip archive appended after the flatbuffer (what the TFLite metadata populator does; the
interpreter ignores the trailing archive, and ``zipfile.ZipFile("model.tflite")`` lists it).

**orbital8.** litert-torch 0.10 cannot carry the codes itself: uint8 constants fail in its MLIR lowering,
and an int8-coded decode is constant-folded back into float weights (docs/design.md). So the model with the
*decoded* weights (``CodedWeights.decoded``, the one the quantization plan built) is converted as usual and
the flatbuffer is then rewritten (``ai_edge_litert``'s schema object API): every float constant whose bytes
are exactly a coded tensor's decoded weight, in the same shape, is replaced by the ops

    CAST(codes uint8 [out, n] -> int32) -> GATHER(T float32 [256], axis 0) -> MUL(scale [out, 1])
    -> ADD(offset [out, 1])                       (the ADD only when the tensor has an offset)

at the head of every subgraph that reads it, which is ``T[code]·scale (+ offset)`` in float32, in that
order (``docs/orbital8.md``). The codes, table, scale and offset buffers are shared by the subgraphs
(signatures), like the float weights were; the old float buffer is emptied. The decode runs at every
invocation (TFLite has no load-time constant ops); its output lives in the arena.

A float constant the converter changed (a slice of a weight for a shorter signature, a transposed copy)
has no exact match and stays float; the code check reads the written file back and reports the coded
tensors stored as codes and those kept float.

**int8** is LiteRT's dynamic-range recipe (``ai_edge_quantizer``'s ``dynamic_wi8_afp32``: per-channel
symmetric int8 weights, activations quantized on the fly), applied to the converted flatbuffer, on the
tensors ``QuantPolicy``'s size rule selects, and to every per-signature slice of a token mixing weight the rule
selects (a 16-token signature holds 16 x 64 of tiny's 64 x 64). Every export is written with each distinct
string and quantization table stored once, and tensor names without Python package paths
(``_pack_shared``, ``_compact_names``): the subgraphs, one per signature, each held their own copies, which
made the int8 file 0.378 of fp32 on ``tiny`` (now 0.299). The int8 Bloom table is then read by GATHER ->
DEQUANTIZE -> MUL instead of the hybrid EMBEDDING_LOOKUP the recipe leaves (``_gather_int8_rows``: the same
values, and XNNPACK runs it).
"""

from __future__ import annotations

import copy
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flatbuffers
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
from neurolite_sdk.exporters.graph import (
    ClassifierGraph,
    classifier_signature,
    example_kwargs,
    static_lengths,
)
from neurolite_sdk.exporters.model_card import Description
from neurolite_sdk.modeling.layers import norms_by_mean
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.quantization import OrbitalTensor, QuantPolicy, dequantize
from neurolite_sdk.quantization.policy import EncodedState
from neurolite_sdk.runtime.bundle import DimRange, Signature

FILE = "model.tflite"
BATCH_SIZES = (1, 8)
INT8_RECIPE = ("ai_edge_quantizer dynamic_wi8_afp32: per-channel symmetric int8 weights, activations quantized "
               "on the fly")
METADATA_NAME = "TFLITE_METADATA"
LABELS_FILE = "labels.txt"
MIN_PARSER_VERSION = "1.0.0"
TENSOR_AXIS_LABELS = 2  # AssociatedFileType
FEATURE_PROPERTIES = 1  # ContentProperties union: FeatureProperties

# vtable slots of the Model Metadata schema, in schema order (a union takes two: its type, then its value)
_ASSOCIATED_FILE = {"name": 0, "description": 1, "type": 2}
_CONTENT = {"content_properties_type": 0, "content_properties": 1}
_TENSOR = {"name": 0, "description": 1, "content": 3, "associated_files": 6}
_SUBGRAPH = {"name": 0, "description": 1, "input_tensor_metadata": 2, "output_tensor_metadata": 3}
_MODEL = {"name": 0, "description": 1, "version": 2, "subgraph_metadata": 3, "author": 4, "license": 5,
          "min_parser_version": 7}


@register_exporter("tflite")
class TfliteExporter(Exporter):
    entry = FILE
    extra = "tflite"
    requires = ("litert-torch", "ai-edge-litert")
    quantizations = ("none", "int8", "orbital8")

    def signatures(self, job: ExportJob) -> tuple[Signature, ...]:
        return tuple(classifier_signature(f"b{b}_l{n}", job.model, DimRange(b, b), DimRange(n, n))
                     for n in static_lengths(job.model.config.max_length) for b in BATCH_SIZES)

    def export_fp32(self, job: ExportJob, signatures: tuple[Signature, ...]) -> bytes:
        return _convert(job.model, signatures)

    def native_quantize(self, job: ExportJob, signatures: tuple[Signature, ...]) -> tuple[bytes, NativeRecipe]:
        flatbuffer = _native_int8(_convert(job.model, signatures), job.policy, _token_mixing_coded(job))
        flatbuffer = _gather_int8_rows(flatbuffer)
        return flatbuffer, NativeRecipe("int8", INT8_RECIPE, coded_tensors=_int8_weights(flatbuffer))

    def lower_orbital8(self, job: ExportJob, signatures: tuple[Signature, ...], coded: CodedWeights) -> bytes:
        return _lower_codes(_convert(coded.decoded, signatures), coded.encoded)

    def check_codes(self, job: ExportJob, draft: bytes, path: Path, coded: CodedWeights) -> CodeCheck:
        """A coded tensor is stored when the file holds its codes and no buffer of its decoded floats."""
        from ai_edge_litert import schema_py_generated as schema

        model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
        buffers = {np.asarray(b.data, dtype=np.uint8).tobytes() for b in model.buffers if b.data is not None}
        tensors = {name: t for name, t in coded.encoded.items() if isinstance(t, OrbitalTensor)}
        stored = [name for name, t in tensors.items()
                  if t.codes.tobytes() in buffers and dequantize(t).tobytes() not in buffers]
        return CodeCheck(coded_tensors=len(tensors), stored_tensors=len(stored),
                         code_bytes=sum(tensors[name].codes.nbytes for name in stored),
                         float_tensors=tuple(sorted(set(tensors) - set(stored))))

    def write(self, job: ExportJob, signatures: tuple[Signature, ...], draft: bytes, out_dir: Path) -> TfliteDetails:
        flatbuffer = _with_metadata(draft, job.metadata, job.description)
        details = TfliteDetails(signatures=[s.name for s in signatures], metadata=sorted(job.metadata))
        if job.description is not None:  # the standard Model Metadata's associated file
            flatbuffer = _attach_labels(flatbuffer, job.labels)
            details.model_metadata = {"name": METADATA_NAME, "associated_files": [LABELS_FILE]}
        (out_dir / FILE).write_bytes(flatbuffer)
        _check_names(out_dir / FILE, signatures)
        return details


@dataclass
class TfliteDetails(ExportDetails):
    signatures: list[str] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)  # the keys of the project's metadata entries
    model_metadata: dict[str, Any] | None = None  # the standard Model Metadata entry and its associated files

    def notes(self, fmt: str) -> list[str]:
        return [f"{fmt}: static signatures {', '.join(self.signatures)}"]


def _convert(model: NeuroLiteForClassification, signatures: tuple[Signature, ...]) -> bytes:
    """litert-torch's flatbuffer of ``model``, one signature per static shape, the weights shared."""
    import litert_torch

    graph = ClassifierGraph(model).eval()
    converter = litert_torch.Converter()
    with norms_by_mean(model):  # LiteRT runs the norms' statistics faster as MEAN than as FULLY_CONNECTED
        for signature in signatures:
            sample = example_kwargs(model, signature.batch.min, signature.length.min)  # a multimodal graph's too
            converter.signature(signature.name, graph, sample_kwargs=sample)
        return converter.convert().model_content()


def _with_metadata(flatbuffer: bytes, metadata: dict[str, str], description: Description | None = None) -> bytes:
    """The model with one metadata entry (name -> UTF-8 buffer) per key appended to its metadata table, and
    with ``description``, the standard TFLite Model Metadata under ``TFLITE_METADATA``."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    model.metadata = list(model.metadata or [])
    entries: dict[str, bytes] = {name: value.encode("utf-8") for name, value in metadata.items()}
    if description is not None:
        entries[METADATA_NAME] = _build_metadata(model, description)
    for name, value in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(value, dtype=np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    _compact_names(model)
    return _pack_shared(model, len(flatbuffer) + 1024)


def _compact_names(model: Any) -> None:
    """Shorten the converter's tensor names, which spell each module's full Python path once per fused op
    (``neurolite_sdk.exporters.graph.ClassifierGraph/neurolite_sdk.modeling.model.NeuroLiteForClassification_model/
    ...;...``, up to 635 characters; 44 KB a signature on ``tiny``): each path keeps its modules' class and
    attribute names (``NeuroLiteForClassification_model/MixerBlock_0/MixerTokenMixing_token_mixing``), each
    distinct path once. Signature inputs and outputs are named by the export (no path) and stay as they are."""
    for subgraph in model.subgraphs or []:
        for tensor in subgraph.tensors or []:
            name = tensor.name.decode("utf-8") if isinstance(tensor.name, bytes) else tensor.name
            if name and "/" in name:
                pieces: list[str] = []
                for piece in name.split(";"):
                    parts = [part.rsplit(".", 1)[-1] for part in piece.split("/")]
                    if len(parts) > 1 and parts[0] == "ClassifierGraph":
                        parts = parts[1:]
                    if "/".join(parts) not in pieces:
                        pieces.append("/".join(parts))
                tensor.name = ";".join(pieces)


class _SharingBuilder(flatbuffers.Builder):  # type: ignore[misc]
    """A builder whose ``CreateString`` (what the object API packs every string with) writes each string once."""

    __slots__ = ("strings",)

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.strings: dict[Any, int] = {}

    def CreateString(self, s: Any, encoding: str = "utf-8", errors: str = "strict") -> int:  # noqa: N802
        if s not in self.strings:
            self.strings[s] = super().CreateString(s, encoding, errors)
        return self.strings[s]


def _pack_shared(model: Any, size: int) -> bytes:
    """``model`` (the object API's ``ModelT``) as a flatbuffer that stores each distinct string and each distinct
    quantization table once. A LiteRT file holds one subgraph per signature, each with its own copy of every
    tensor's name and quantization parameters: per-channel int8 keeps a float scale and an int64 zero point per
    channel, 49 KB per subgraph for the Bloom table's 4,096 rows; four signatures made the int8 file 0.378 of
    fp32. A flatbuffer may point at one table or string from many places (the format is a DAG; the verifier
    bounds-checks each reference), so the runtime reads the same model."""
    def key(array: Any, dtype: Any) -> bytes | None:
        return None if array is None else np.asarray(array, dtype=dtype).tobytes()

    def packed_once(pack: Any) -> Any:
        offsets: dict[int, int] = {}

        def call(builder: Any) -> int:
            if id(builder) not in offsets:
                offsets[id(builder)] = pack(builder)
            return offsets[id(builder)]
        return call

    shared: dict[tuple[Any, ...], Any] = {}
    for subgraph in model.subgraphs or []:
        for tensor in subgraph.tensors or []:
            q = tensor.quantization
            if q is None or q.details is not None:
                continue
            found = (key(q.scale, np.float32), key(q.zeroPoint, np.int64), key(q.min, np.float32),
                     key(q.max, np.float32), q.quantizedDimension)
            if found not in shared:
                q.Pack = packed_once(q.Pack)  # (an instance attribute: TensorT.Pack calls quantization.Pack)
                shared[found] = q
            tensor.quantization = shared[found]
    builder = _SharingBuilder(size)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _check_names(path: Path, signatures: tuple[Signature, ...]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    found = Interpreter(model_path=str(path)).get_signature_list()
    expected = {s.name: {"inputs": sorted(t.name for t in s.inputs), "outputs": sorted(t.name for t in s.outputs)}
                for s in signatures}
    actual = {name: {"inputs": sorted(io["inputs"]), "outputs": sorted(io["outputs"])}
              for name, io in found.items()}
    if actual != expected:
        raise ExportError(f"tflite: {path}: signatures {actual} differ from the expected {expected}")


def _token_mixing_coded(job: ExportJob) -> bool:
    """Whether the model has MLP-Mixer token mixing whose weights the job's policy codes."""
    from neurolite_sdk.modeling.mixers import MixerTokenMixing

    return any(isinstance(m, MixerTokenMixing) and job.policy.keep_reason(f"{name}.w1", m.w1.detach().numpy()) is None
               for name, m in job.model.named_modules())


def _native_int8(flatbuffer: bytes, policy: QuantPolicy, token_mixing_coded: bool = False) -> bytes:
    """``flatbuffer`` with LiteRT's dynamic-range int8 recipe applied to weights of at least
    ``policy.min_elements`` elements (and to every slice of the MLP-Mixer token mixing weights when
    ``token_mixing_coded``: the policy codes them)."""
    from ai_edge_quantizer import quantizer, recipe

    rules = recipe.dynamic_wi8_afp32()
    for rule in rules:
        rule["op_config"]["min_weight_elements"] = policy.min_elements
    if token_mixing_coded:
        # A signature shorter than max_length holds a row slice of each token mixing weight (16 x 64 for 64 x 64
        # on tiny), under min_elements; the policy codes the whole tensor, so its slices too.
        sliced = copy.deepcopy(rules[0])
        sliced["regex"], sliced["op_config"]["min_weight_elements"] = ".*MixerTokenMixing.*", 0
        rules.append(sliced)
    result = quantizer.Quantizer(bytearray(flatbuffer), rules).quantize(enable_progress_report=False)
    quantized = _inline_buffers(bytes(result.quantized_model))
    if token_mixing_coded:
        _check_token_mixing_int8(quantized)
    return quantized


def _check_token_mixing_int8(flatbuffer: bytes) -> None:
    """``ExportError`` unless every FULLY_CONNECTED op of the token mixing (found by the converter's tensor
    names, as the slice rule finds them) reads int8 weights. A converter that named them differently would
    leave them float without a word, and the file over the size the policy promises."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    codes = {i: max(c.builtinCode, c.deprecatedBuiltinCode) for i, c in enumerate(model.operatorCodes)}
    kinds: dict[bool, int] = {True: 0, False: 0}
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            names = [_text(subgraph.tensors[i].name) for i in op.outputs]
            if codes[op.opcodeIndex] == schema.BuiltinOperator.FULLY_CONNECTED and any(
                    "MixerTokenMixing" in name for name in names):
                kinds[subgraph.tensors[op.inputs[1]].type == schema.TensorType.INT8] += 1
    if kinds[False] or not kinds[True]:
        raise ExportError(f"tflite: int8: {kinds[True]} token mixing products read int8 weights and {kinds[False]} "
                          f"float ones; the policy codes all of them (the converter's tensor names may have changed)")


LOOKUP = "int8_lookup"  # the name scope of the tensors _gather_int8_rows adds


def _gather_int8_rows(flatbuffer: bytes) -> bytes:
    """``flatbuffer`` with each EMBEDDING_LOOKUP of a row-wise int8 table (the Bloom table after the int8
    recipe) written as GATHER of the int8 rows -> DEQUANTIZE -> MUL by the gathered rows' scales.

    Why: LiteRT runs the int8 lookup with its builtin hybrid kernel, which cost `tiny` 50-70 us a
    call at 64 tokens, so int8 gained little at 2 threads (0.80-0.90x fp32); the GATHER copies int8
    rows and XNNPACK takes the DEQUANTIZE and MUL, as fast as the fp32 lookup (benchmarks/RESULTS.md).
    The result is bit for bit the same (``int8 · scale`` in float32). The table's per-row scales move
    from its quantization parameters (a float and an int64 zero point a row) to one float buffer
    [rows, 1] shared by the subgraphs; the table keeps the int8 bytes with a unit scale, which
    DEQUANTIZE reads.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    ops = _OpCodes(schema, model)
    builtin = schema.BuiltinOperator.EMBEDDING_LOOKUP
    lookup = next((i for i, code in enumerate(model.operatorCodes)
                   if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin), None)
    if lookup is None:
        return flatbuffer
    scales: dict[int, int] = {}  # table buffer -> buffer of its row scales
    for subgraph in model.subgraphs:
        operators = []
        for op in subgraph.operators:
            table = subgraph.tensors[op.inputs[1]] if op.opcodeIndex == lookup else None
            if table is None or not _row_wise_int8(schema, table):
                operators.append(op)
                continue
            ids, output = op.inputs[0], op.outputs[0]
            if table.buffer not in scales:
                row_scales = np.asarray(table.quantization.scale, dtype=np.float32).reshape(-1, 1)
                scales[table.buffer] = _add_buffer(schema, model, row_scales)
            table.quantization = _unit_quantization(schema)
            shape = [int(d) for d in subgraph.tensors[output].shape]
            rows = _add_tensor(schema, subgraph, "rows", schema.TensorType.INT8, shape, scope=LOOKUP)
            subgraph.tensors[rows].quantization = _unit_quantization(schema)
            values = _add_tensor(schema, subgraph, "values", schema.TensorType.FLOAT32, shape, scope=LOOKUP)
            table_scales = _add_tensor(schema, subgraph, "scales", schema.TensorType.FLOAT32,
                                       [int(table.shape[0]), 1], scales[table.buffer], scope=LOOKUP)
            row_scales_out = _add_tensor(schema, subgraph, "row_scales", schema.TensorType.FLOAT32, shape[:-1] + [1],
                                         scope=LOOKUP)
            gather = schema.GatherOptionsT()
            gather.axis, gather.batchDims = 0, 0
            operators += [ops.make("GATHER", [op.inputs[1], ids], [rows], "GatherOptions", gather, version=2),
                          ops.make("DEQUANTIZE", [rows], [values], "DequantizeOptions", schema.DequantizeOptionsT(),
                                   version=2),
                          ops.make("GATHER", [table_scales, ids], [row_scales_out], "GatherOptions", gather),
                          ops.make("MUL", [values, row_scales_out], [output], "MulOptions", schema.MulOptionsT())]
        subgraph.operators = operators
    if not scales:
        return flatbuffer
    builder = flatbuffers.Builder(len(flatbuffer))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _row_wise_int8(schema: Any, tensor: Any) -> bool:
    """An int8 constant [rows, dim] quantized symmetrically with one scale per row."""
    q = tensor.quantization
    return (tensor.type == schema.TensorType.INT8 and len(tensor.shape) == 2 and q is not None
            and q.scale is not None and len(q.scale) == int(tensor.shape[0]) and q.quantizedDimension == 0
            and (q.zeroPoint is None or not np.any(np.asarray(q.zeroPoint))))


def _unit_quantization(schema: Any) -> Any:
    q = schema.QuantizationParametersT()
    q.scale, q.zeroPoint = np.array([1.0], dtype=np.float32), np.array([0], dtype=np.int64)
    return q


def _int8_weights(flatbuffer: bytes) -> int:
    """The int8 constants of the quantized model (distinct buffers of INT8 tensors holding data)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    return len({t.buffer for subgraph in model.subgraphs for t in subgraph.tensors
                if t.type == schema.TensorType.INT8 and t.buffer and model.buffers[t.buffer].data is not None
                and len(model.buffers[t.buffer].data)})


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


def _lower_codes(flatbuffer: bytes, encoded: EncodedState) -> bytes:
    """``flatbuffer`` (converted from the decoded-weight model) with every coded weight it holds exactly
    stored as its codes and decoded by ops.

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
    return bytes(builder.Output())


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

    def make(self, op: str, inputs: list[int], outputs: list[int], options_type: str, options: Any,
             version: int = 1) -> Any:
        """One operator; ``version`` is the op version its input types need (TFLite's op_version.cc:
        GATHER and DEQUANTIZE of int8 are 2); the model's code for ``op`` is raised to it."""
        operator = self.schema.OperatorT()
        operator.opcodeIndex = self._index(getattr(self.schema.BuiltinOperator, op))
        code = self.model.operatorCodes[operator.opcodeIndex]
        code.version = max(code.version, version)
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


def _add_tensor(schema: Any, subgraph: Any, name: str, dtype: int, shape: list[int], buffer: int = 0,
                scope: str = "orbital8") -> int:
    tensor = schema.TensorT()
    tensor.name = f"{scope}/{len(subgraph.tensors)}/{name}"
    tensor.type, tensor.shape, tensor.buffer = dtype, np.array(shape, dtype=np.int32), buffer
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def _vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _table(builder: flatbuffers.Builder, slots: int, fields: dict[int, tuple[str, Any]]) -> int:
    """A table from ``{slot: (kind, value)}``; kind is "offset" (already built) or "byte"."""
    builder.StartObject(slots)
    for slot, (kind, value) in sorted(fields.items(), reverse=True):
        if kind == "offset":
            builder.PrependUOffsetTRelativeSlot(slot, value, 0)
        else:
            builder.PrependUint8Slot(slot, value, 0)
    return builder.EndObject()


def _tensor(builder: flatbuffers.Builder, name: str, description: str, labels_file: bool) -> int:
    name_offset, description_offset = builder.CreateString(name), builder.CreateString(description)
    files = None
    if labels_file:
        file_name = builder.CreateString(LABELS_FILE)
        file_description = builder.CreateString("The labels, one per line, in the order of the logits.")
        associated = _table(builder, 3, {_ASSOCIATED_FILE["name"]: ("offset", file_name),
                                         _ASSOCIATED_FILE["description"]: ("offset", file_description),
                                         _ASSOCIATED_FILE["type"]: ("byte", TENSOR_AXIS_LABELS)})
        files = _vector(builder, [associated])
    properties = _table(builder, 0, {})  # FeatureProperties has no fields
    content = _table(builder, 3, {_CONTENT["content_properties_type"]: ("byte", FEATURE_PROPERTIES),
                                  _CONTENT["content_properties"]: ("offset", properties)})
    fields = {_TENSOR["name"]: ("offset", name_offset), _TENSOR["description"]: ("offset", description_offset),
              _TENSOR["content"]: ("offset", content)}
    if files is not None:
        fields[_TENSOR["associated_files"]] = ("offset", files)
    return _table(builder, 7, fields)


def _build_metadata(model: Any, description: Description) -> bytes:
    """The ``M001`` flatbuffer for ``model`` (an ``ai_edge_litert`` schema ``ModelT``)."""
    texts = {**description.input_description, **description.output_description}
    builder = flatbuffers.Builder(4096)
    by_subgraph = {signature.subgraphIndex: signature for signature in (model.signatureDefs or [])}
    subgraphs = []
    for index, subgraph in enumerate(model.subgraphs):
        signature = by_subgraph.get(index)
        names = {}
        if signature is not None:
            names = {tensor_map.tensorIndex: _text(tensor_map.name)
                     for tensor_map in (*(signature.inputs or []), *(signature.outputs or []))}
        built: dict[str, list[int]] = {"inputs": [], "outputs": []}
        for side, tensor_indices in (("inputs", subgraph.inputs), ("outputs", subgraph.outputs)):
            for tensor_index in (tensor_indices if tensor_indices is not None else []):
                name = names.get(int(tensor_index)) or _text(subgraph.tensors[tensor_index].name)
                built[side].append(_tensor(builder, name, texts.get(name, name), labels_file=name == "logits"))
        inputs, outputs = built["inputs"], built["outputs"]
        key = _text(signature.signatureKey) if signature is not None else f"subgraph {index}"
        subgraph_name = builder.CreateString(key)
        subgraph_description = builder.CreateString(f"signature {key}: {description.description}")
        subgraphs.append(_table(builder, 7, {
            _SUBGRAPH["name"]: ("offset", subgraph_name),
            _SUBGRAPH["description"]: ("offset", subgraph_description),
            _SUBGRAPH["input_tensor_metadata"]: ("offset", _vector(builder, inputs)),
            _SUBGRAPH["output_tensor_metadata"]: ("offset", _vector(builder, outputs))}))
    subgraph_vector = _vector(builder, subgraphs)
    strings = {key: builder.CreateString(value) for key, value in (
        ("name", description.name), ("description", description.description), ("version", description.version),
        ("author", description.author), ("license", description.license),
        ("min_parser_version", MIN_PARSER_VERSION))}
    root = _table(builder, 8, {**{_MODEL[key]: ("offset", offset) for key, offset in strings.items()},
                               _MODEL["subgraph_metadata"]: ("offset", subgraph_vector)})
    builder.Finish(root, file_identifier=b"M001")
    return bytes(builder.Output())


def _attach_labels(flatbuffer: bytes, labels: list[str]) -> bytes:
    """The model with ``labels.txt`` in a zip archive appended (stored, not compressed)."""
    stream = io.BytesIO(flatbuffer)
    stream.seek(0, io.SEEK_END)
    with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as archive:
        info = zipfile.ZipInfo(LABELS_FILE, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: the same bytes every export
        archive.writestr(info, "".join(f"{label}\n" for label in labels))
    return stream.getvalue()


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
