"""Exporters: export a small trained model to every format, then check files, manifest and parity.

Read as the pipeline: export -> bundle on disk -> manifest -> the model file's own metadata -> parity
against PyTorch through the runtime. Core ML is checked structurally here (it runs only on macOS).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from neurolite_sdk.cli.export_commands import export_command, run_command
from neurolite_sdk.exporters import (
    ExportError,
    ExportResult,
    ParityError,
    export_bundle,
    exporter_formats,
    get_exporter,
    parity_texts,
)
from neurolite_sdk.exporters import parity as parity_module
from neurolite_sdk.exporters.model_card import CARD_FILES
from neurolite_sdk.featurizer import FEATURIZER_VERSION
from neurolite_sdk.runtime.bundle import WRITTEN_SCHEMA_VERSION, sha256_file
from neurolite_sdk.runtime.selftest import TEST_VECTORS_NAME
from neurolite_sdk.training.checkpoint import Checkpoint, CheckpointError, load_checkpoint

FORMATS = exporter_formats()  # the registry's, so a format added there is tested here


def embedded_metadata(fmt: str, entry: Path) -> dict[str, str]:
    """Read the metadata back from the model file with each format's own tool."""
    if fmt == "onnx":
        import onnx

        return {p.key: p.value for p in onnx.load(str(entry)).metadata_props}
    if fmt == "executorch":
        from executorch.runtime import Runtime

        program = Runtime.get().load_program(entry)
        names = [n for n in program.method_names if n.startswith("neurolite_")]
        return {name: program.load_method(name).execute([])[0] for name in names}
    if fmt == "coreml":
        import coremltools as ct

        return dict(ct.models.MLModel(str(entry), skip_model_load=True).user_defined_metadata)
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(entry.read_bytes(), 0)
    entries = (model.Metadata(i) for i in range(model.MetadataLength()))
    # the project's own entries are text; TFLITE_METADATA (the standard metadata) is a flatbuffer
    return {e.Name().decode(): bytes(model.Buffers(e.Buffer()).DataAsNumpy()).decode() for e in entries
            if e.Name().decode().startswith("neurolite_")}


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_writes_a_verified_bundle(fmt: str, exports: dict[str, ExportResult],
                                         small_checkpoint: Checkpoint) -> None:
    result = exports[fmt]
    bundle = result.bundle
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    config = small_checkpoint.model.config
    # Files: the entry exists and every file on disk is listed with its size and SHA-256.
    assert manifest["schema_version"] == WRITTEN_SCHEMA_VERSION and manifest["format"] == fmt
    entry = get_exporter(fmt).entry
    assert manifest["entry"] == entry and (bundle / entry).exists()
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for name, record in manifest["files"].items():
        assert record == {"bytes": (bundle / name).stat().st_size, "sha256": sha256_file(bundle / name)}
    # the model's bytes: everything but the model card and the test vectors (documentation and a self-test)
    extras = {*CARD_FILES, TEST_VECTORS_NAME}
    assert extras <= set(manifest["files"])
    assert result.total_bytes == sum(r["bytes"] for n, r in manifest["files"].items() if n not in extras) > 0
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".")]  # no staging left behind
    # What the runtime needs, and what says where the file came from.
    assert manifest["labels"] == small_checkpoint.labels
    featurizer = config.featurizer_config()
    assert manifest["featurizer"] == {"spec": featurizer.to_dict(), "digest": featurizer.digest(),
                                      "version": FEATURIZER_VERSION}
    assert manifest["config"] == config.to_dict()
    assert {"torch", "neurolite-sdk", "exporter", "runtime"} <= set(manifest["tools"])
    assert manifest["export"]["precision"] == "fp32" and manifest["export"]["seconds"] > 0
    for signature in manifest["signatures"]:
        assert [(t["name"], t["dtype"], t["shape"]) for t in signature["inputs"]] == [
            ("features", "int32", ["batch", "length", config.num_hashes]),
            ("mask", "float32", ["batch", "length"])]
        assert [(t["name"], t["shape"]) for t in signature["outputs"]] == [("logits", ["batch", 2])]
    # The model file carries the featurizer spec and the labels itself.
    metadata = embedded_metadata(fmt, bundle / entry)
    assert metadata["neurolite_featurizer_digest"] == featurizer.digest()
    assert json.loads(metadata["neurolite_featurizer"]) == featurizer.to_dict()
    assert json.loads(metadata["neurolite_labels"]) == small_checkpoint.labels
    # Parity on real text: passed under the fp32 bar, or (Core ML off macOS) skipped and saying why.
    parity = manifest["parity"]
    assert parity["verify"] is True and parity["thresholds"] == {"max_abs_logit": 1e-4, "top1_agreement": 1.0,
                                                                 "fp32_top1_agreement": None}
    if fmt == "coreml" and sys.platform != "darwin":
        assert parity["status"] == "skipped" and parity["reason"] == "needs macOS"
        assert parity["max_abs_logit"] is None and parity["texts"] == 0
        structure = manifest["export"]["details"]["structure"]
        assert structure["status"] == "passed" and structure["inputs"] == ["features", "mask"]
        assert structure["ops"]["gather"] >= 1 and "FLOAT16" not in structure["tensor_types"]
        return
    assert parity["status"] == "passed", parity
    assert parity["texts"] >= 64 and "dev.tsv" in parity["source"]
    assert parity["max_abs_logit"] <= 1e-4 and parity["top1_agreement"] == 1.0
    assert set(parity["signatures"]) == {s["name"] for s in manifest["signatures"]}


def test_shapes_each_format_claims(exports: dict[str, ExportResult]) -> None:
    """Dynamic where the format allows it; fixed shapes (padded and split by the runtime) where not."""
    def claims(fmt: str) -> dict[str, tuple[list, list]]:
        manifest = json.loads((exports[fmt].bundle / "manifest.json").read_text(encoding="utf-8"))
        return {s["name"]: (s["batch"], s["length"]) for s in manifest["signatures"]}

    assert claims("onnx") == {"forward": ([1, None], [1, 16])}
    assert claims("coreml") == {"main": ([1, 64], [1, 16])}
    assert claims("executorch") == {"forward": ([1, 1], [16, 16]), "forward_l4": ([1, 1], [4, 4])}
    assert claims("tflite") == {f"b{b}_l{n}": ([b, b], [n, n]) for b in (1, 8) for n in (4, 16)}


def test_executorch_reports_delegation_and_enforces_the_allow_list(
        exports: dict[str, ExportResult], small_checkpoint: Checkpoint, tmp_path: Path) -> None:
    details = exports["executorch"].details
    assert set(details.methods) == {"forward", "forward_l4"}
    for delegation in details.methods.values():
        assert delegation.delegated_ops > 50 and delegation.delegate_subgraphs >= 1
        assert {"embedding", "sum"} <= set(delegation.portable_ops) <= set(details.allowed_portable)
    # Allowing only the gather, not the sum over K: the export fails and names the op and the flag.
    with pytest.raises(ExportError, match=r"sum.*--allow-portable"):
        export_bundle(small_checkpoint, "executorch", tmp_path / "strict", texts=None, verify=False,
                      allow_portable=("embedding",))
    assert not (tmp_path / "strict").exists()


def test_coreml_fp16_on_request(small_checkpoint: Checkpoint, tmp_path: Path) -> None:
    result = export_bundle(small_checkpoint, "coreml", tmp_path / "coreml16", texts=None, verify=False,
                           precision="fp16")
    structure = result.details.structure
    assert result.details.compute_precision == "fp16" and structure.tensor_types["FLOAT16"] > 0
    assert result.parity["status"] == "skipped" and result.parity["verify"] is False
    with pytest.raises(ExportError, match="precision 'fp16' is not supported"):
        export_bundle(small_checkpoint, "onnx", tmp_path / "onnx16", texts=None, verify=False,
                      precision="fp16")


def test_failed_parity_writes_nothing(small_checkpoint: Checkpoint, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    texts = parity_texts(small_checkpoint)
    impossible = parity_module.Thresholds(max_abs_logit=0.0, top1_agreement=1.0)
    monkeypatch.setitem(parity_module.THRESHOLDS, ("fp32", "none"), impossible)  # no float file is bit-exact
    with pytest.raises(ParityError, match=r"onnx: parity failed .* max \|delta logit\|.*no bundle written"):
        export_bundle(small_checkpoint, "onnx", tmp_path / "onnx", texts=texts)
    assert list(tmp_path.iterdir()) == []


def test_parity_needs_enough_real_texts(small_checkpoint: Checkpoint, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="at least 64 texts, got 3"):
        parity_texts(small_checkpoint, ["a", "b", "c"], source="few.txt")
    moved = Checkpoint(small_checkpoint.model, small_checkpoint.labels,
                       {"eval_path": str(tmp_path / "gone.tsv")}, small_checkpoint.path)
    with pytest.raises(ExportError, match="pass --texts FILE"):
        parity_texts(moved)


def test_checkpoint_from_another_featurizer_version(small_checkpoint_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "old-ckpt"
    shutil.copytree(small_checkpoint_dir, copy)
    spec = json.loads((copy / "featurizer.json").read_text(encoding="utf-8"))
    (copy / "featurizer.json").write_text(json.dumps({**spec, "version": "0.9"}), encoding="utf-8")
    result = CliRunner().invoke(export_command, [str(copy), "--format", "onnx", "--out",
                                                 str(tmp_path / "out")])
    assert result.exit_code == 1 and "featurizer version '0.9'" in result.output
    with pytest.raises(CheckpointError, match="featurizer version"):
        load_checkpoint(copy)
    assert not (tmp_path / "out").exists()


def test_interrupted_export_leaves_no_bundle(small_checkpoint_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # The converter's modules are imported up front: a Ctrl-C landing inside a C extension's import
    # (protobuf's) can crash the interpreter outright, which no cleanup survives; this is about the export.
    # Ctrl-C as a terminal delivers it: a process started in the background by a non-interactive shell (as
    # `bash .ci/run &` is) inherits SIGINT ignored, and Python then keeps ignoring it.
    script = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
              "import onnx, onnxscript, torch.onnx\n"
              "from neurolite_sdk.exporters import export_bundle\n"
              "from neurolite_sdk.training.checkpoint import load_checkpoint\n"
              f"export_bundle(load_checkpoint({str(small_checkpoint_dir)!r}), 'onnx', {str(out / 'onnx')!r}, "
              "texts=None, verify=False)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out.exists() and any(p.name.endswith(".partial") for p in out.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, "the export never started staging"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGINT)  # Ctrl-C half-way through the export
    assert process.wait(timeout=120) != 0
    assert list(out.iterdir()) == []  # neither a bundle nor its staging directory


def test_cli_export_table_no_verify_and_run(small_checkpoint_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundles"
    wide = CliRunner(env={"COLUMNS": "200"})  # the table as a wide terminal shows it
    result = wide.invoke(export_command, [str(small_checkpoint_dir), "--format", "onnx", "--out", str(out),
                                          "--no-verify"])
    assert result.exit_code == 0, result.output
    for heading in ("format", "bytes", "MB", "max |Δlogit|", "top-1", "parity", "export s"):
        assert heading in result.output
    assert "skipped: --no-verify" in result.output
    manifest = json.loads((out / "onnx" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parity"]["verify"] is False and manifest["export"]["verify"] is False
    size = (out / "onnx" / "model.onnx").stat().st_size
    assert f"{size:,}" in result.output
    ran = CliRunner().invoke(run_command, [str(out / "onnx"), "what a film", "--json"])
    assert ran.exit_code == 0, ran.output
    rows = json.loads(ran.output)
    assert rows[0]["text"] == "what a film" and rows[0]["label"] in ("0", "1")
    assert np.isclose(sum(rows[0]["probabilities"].values()), 1.0)
    bad = CliRunner().invoke(export_command, [str(small_checkpoint_dir), "--format", "all", "--out", str(out),
                                              "--precision", "fp16"])
    assert bad.exit_code == 2 and "not supported by executorch, onnx, tflite" in bad.output
