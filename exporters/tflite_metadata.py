"""The standard TFLite Model Metadata (``metadata_schema.fbs``, file identifier ``M001``), written directly.

The tflite-support metadata writer cannot be installed beside this toolchain (it pins an older
protobuf), so this module builds the same flatbuffer with the ``flatbuffers`` runtime, following the
schema's field order (schema version 1.1.0; only fields present since 1.0.0 are written, so
``min_parser_version`` is 1.0.0). What it holds: the model's name, description, version, author and
licence; per subgraph (one per signature) the name and a description of each input and output tensor;
the labels as ``labels.txt``, an associated file of type ``TENSOR_AXIS_LABELS`` on the ``logits``
output. The metadata goes into the model's ``metadata`` table under ``TFLITE_METADATA``, and the
associated file is packed into the model file as a zip archive appended after the flatbuffer (what the
TFLite metadata populator does; the interpreter ignores the trailing archive, and
``zipfile.ZipFile("model.tflite")`` lists it).
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import flatbuffers

from neurolite_sdk.exporters.model_card import Description

METADATA_NAME = "TFLITE_METADATA"
LABELS_FILE = "labels.txt"
MIN_PARSER_VERSION = "1.0.0"
TENSOR_AXIS_LABELS = 2  # AssociatedFileType
FEATURE_PROPERTIES = 1  # ContentProperties union: FeatureProperties

# vtable slots, in schema order (a union takes two: its type, then its value)
_ASSOCIATED_FILE = {"name": 0, "description": 1, "type": 2}
_CONTENT = {"content_properties_type": 0, "content_properties": 1}
_TENSOR = {"name": 0, "description": 1, "content": 3, "associated_files": 6}
_SUBGRAPH = {"name": 0, "description": 1, "input_tensor_metadata": 2, "output_tensor_metadata": 3}
_MODEL = {"name": 0, "description": 1, "version": 2, "subgraph_metadata": 3, "author": 4, "license": 5,
          "min_parser_version": 7}


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


def build_metadata(model: Any, description: Description) -> bytes:
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


def attach_labels(flatbuffer: bytes, labels: list[str]) -> bytes:
    """The model with ``labels.txt`` in a zip archive appended (stored, not compressed)."""
    stream = io.BytesIO(flatbuffer)
    stream.seek(0, io.SEEK_END)
    with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as archive:
        info = zipfile.ZipInfo(LABELS_FILE, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: the same bytes every export
        archive.writestr(info, "".join(f"{label}\n" for label in labels))
    return stream.getvalue()


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
