"""Standard metadata and a model card in every bundle (issue 15, item 5), on the session's exports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from neurolite_sdk.exporters import ExportResult
from neurolite_sdk.exporters.model_card import CARD_JSON, CARD_MD, data_info, render_markdown
from neurolite_sdk.runtime.bundle import read_bundle
from neurolite_sdk.training.checkpoint import Checkpoint


def _card(result: ExportResult) -> dict:
    return json.loads((result.bundle / CARD_JSON).read_text(encoding="utf-8"))


def test_every_bundle_lists_its_card_with_sha256(exports: dict[str, ExportResult],
                                                  small_checkpoint: Checkpoint) -> None:
    for fmt, result in exports.items():
        manifest = json.loads((result.bundle / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["model_card"] == [CARD_JSON, CARD_MD], fmt
        for name in (CARD_JSON, CARD_MD, "test_vectors.json"):
            digest = hashlib.sha256((result.bundle / name).read_bytes()).hexdigest()
            assert manifest["files"][name]["sha256"] == digest, (fmt, name)
        read_bundle(result.bundle)  # the runtime's checks pass with the new files
        card = _card(result)
        training = small_checkpoint.training
        assert card["format"] == fmt and card["labels"] == small_checkpoint.labels
        assert card["evaluation"]["accuracy"] == training["best_eval_accuracy"]
        assert card["training_data"]["rows"] == training["train_rows"] == 500
        assert card["training_data"]["name"] == "SST-2 (GLUE)" and "research use" in card["training_data"]["licence"]
        entry = manifest["entry"]
        assert card["size"]["entry_bytes"] == sum(r["bytes"] for n, r in manifest["files"].items()
                                                  if n == entry or n.startswith(entry + "/")) > 0
        assert card["quantization"]["scheme"] == "none" and card["parity"]["status"] in ("passed", "skipped")
        markdown = (result.bundle / CARD_MD).read_text(encoding="utf-8")
        assert markdown == render_markdown(card)
        assert "## Intended use" in markdown and "## Limits" in markdown
        assert card["training_data"]["licence"] in markdown
    onnx_latency = _card(exports["onnx"])["latency"]
    assert onnx_latency["measured"] and 0 < onnx_latency["median_ms"] <= onnx_latency["p95_ms"]
    if "coreml" in exports and not _card(exports["coreml"])["latency"]["measured"]:
        assert _card(exports["coreml"])["latency"]["reason"]


def test_data_licence_is_named_or_said_unknown() -> None:
    assert data_info("hf:stanfordnlp/sst2:train")["name"] == "SST-2 (GLUE)"
    assert data_info("/data/snips/train")["citation"].startswith("Coucke")
    assert data_info("mine.csv")["licence"].startswith("not recorded") and data_info("mine.csv")["name"] is None


def test_onnx_standard_metadata(exports: dict[str, ExportResult]) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = exports["onnx"].bundle / "model.onnx"
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["model_author"].startswith("trained with NeuroLite SDK")
    assert "research use" in props["model_license"] and "neurolite_featurizer_digest" in props
    assert proto.producer_name == "neurolite-sdk" and proto.model_version == 1
    assert "SST-2" in proto.doc_string
    assert {i.name: i.doc_string for i in proto.graph.input}["mask"].startswith("float32")
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    assert meta.description == proto.doc_string and meta.producer_name == "neurolite-sdk"
    assert meta.custom_metadata_map["model_license"] == props["model_license"]


def test_coreml_standard_metadata(exports: dict[str, ExportResult]) -> None:
    ct = pytest.importorskip("coremltools")
    if "coreml" not in exports:
        pytest.skip("coremltools not installed")
    spec = ct.models.MLModel(str(exports["coreml"].bundle / "model.mlpackage"), skip_model_load=True).get_spec()
    metadata = spec.description.metadata
    assert metadata.author.startswith("trained with NeuroLite SDK") and "research use" in metadata.license
    assert metadata.versionString and "SST-2" in metadata.shortDescription
    described = {f.name: f.shortDescription for f in (*spec.description.input, *spec.description.output)}
    assert described["features"].startswith("int32") and described["logits"].startswith("float32")
    assert metadata.userDefined["neurolite_labels"] == json.dumps(["0", "1"])


def test_card_names_unknown_data(tmp_path: Path) -> None:
    from neurolite_sdk.exporters.model_card import describe

    description = describe({"train_path": "mine.csv", "best_eval_accuracy": 0.5, "eval_path": "dev.csv"},
                           ["a", "b"], 16, 4)
    assert "mine.csv" in description.description and "not recorded" in description.license


def _field(tab: object, slot: int) -> int:
    return tab.Offset(4 + 2 * slot)


def _string(tab: object, slot: int) -> str | None:
    offset = _field(tab, slot)
    return tab.String(offset + tab.Pos).decode("utf-8") if offset else None


def _tables(tab: object, slot: int) -> list:
    from flatbuffers.table import Table

    offset = _field(tab, slot)
    if not offset:
        return []
    start = tab.Vector(offset)
    return [Table(tab.Bytes, tab.Indirect(start + 4 * i)) for i in range(tab.VectorLen(offset))]


def test_tflite_model_metadata(exports: dict[str, ExportResult], small_checkpoint: Checkpoint) -> None:
    """The standard TFLite Model Metadata (metadata_schema.fbs field order), read back field by field, and the
    labels as an associated file in the zip archive after the flatbuffer."""
    import zipfile

    if "tflite" not in exports:
        pytest.skip("the tflite extra is not installed")
    from ai_edge_litert import schema_py_generated as schema
    from flatbuffers import encode, number_types, packer, util
    from flatbuffers.table import Table

    path = exports["tflite"].bundle / "model.tflite"
    raw = path.read_bytes()
    model = schema.ModelT.InitFromPackedBuf(raw, 0)
    entry = next(m for m in model.metadata if m.name in (b"TFLITE_METADATA", "TFLITE_METADATA"))
    buf = bytes(model.buffers[entry.buffer].data)
    assert util.BufferHasIdentifier(buf, 0, b"M001")
    root = Table(buf, encode.Get(packer.uoffset, buf, 0))
    # ModelMetadata: name 0, description 1, version 2, subgraph_metadata 3, author 4, license 5, min_parser_version 7
    assert _string(root, 0).startswith("neurolite-") and "SST-2" in _string(root, 1)
    assert _string(root, 4).startswith("trained with NeuroLite SDK") and "research use" in _string(root, 5)
    assert _string(root, 7) == "1.0.0" and _string(root, 2)
    subgraphs = _tables(root, 3)
    assert len(subgraphs) == len(model.subgraphs) == len(model.signatureDefs)
    for subgraph, signature in zip(subgraphs, sorted(model.signatureDefs, key=lambda s: s.subgraphIndex),
                                   strict=True):
        key = signature.signatureKey.decode() if isinstance(signature.signatureKey, bytes) else signature.signatureKey
        assert _string(subgraph, 0) == key
        inputs, outputs = _tables(subgraph, 2), _tables(subgraph, 3)  # TensorMetadata: name 0, description 1
        assert sorted(_string(t, 0) for t in inputs) == ["features", "mask"]
        assert {_string(t, 0): _string(t, 1) for t in inputs}["mask"].startswith("float32")
        logits = next(t for t in outputs if _string(t, 0) == "logits")
        (labels_file,) = _tables(logits, 6)  # associated_files; AssociatedFile: name 0, description 1, type 2
        assert _string(labels_file, 0) == "labels.txt"
        assert labels_file.Get(number_types.Uint8Flags, _field(labels_file, 2) + labels_file.Pos) == 2  # AXIS_LABELS
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["labels.txt"]
        assert archive.read("labels.txt").decode("utf-8").splitlines() == small_checkpoint.labels
