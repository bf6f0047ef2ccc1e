"""The runtime on real bundles: predictions across backends, shapes, planning, torch-free use, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
import torch

from neurolite_sdk.exporters import ExportResult, exporter_formats
from neurolite_sdk.runtime import (
    BundleError,
    PlatformUnsupportedError,
    PredictionInputError,
    RuntimeNotInstalledError,
    load,
    read_bundle,
)
from neurolite_sdk.runtime.backends import runnable_formats
from neurolite_sdk.runtime.bundle import DimRange, Signature, TensorSpec
from neurolite_sdk.runtime.planner import plan, run_plan
from neurolite_sdk.training.checkpoint import Checkpoint

# every format with an exporter and a backend that predicts on this platform (Core ML: macOS only)
RUNNABLE = [fmt for fmt in exporter_formats() if fmt in runnable_formats()]
WORDS = ("the film is a gorgeous witty seductive movie with plot twists and clichés all over its long "
         "runtime").split()


def pytorch_logits(checkpoint: Checkpoint, texts: list[str]) -> np.ndarray:
    batch = checkpoint.model.featurizer(texts)
    with torch.no_grad():
        logits = checkpoint.model(torch.from_numpy(batch.features), torch.from_numpy(batch.mask))["logits"]
    return logits.numpy()


def test_backends_agree_with_each_other_and_pytorch(exports: dict[str, ExportResult],
                                                    small_checkpoint: Checkpoint,
                                                    eval_texts: list[str]) -> None:
    texts = eval_texts[:40]
    expected = pytorch_logits(small_checkpoint, texts)
    predictions = {fmt: load(exports[fmt].bundle).predict(texts) for fmt in RUNNABLE}
    reference = predictions["onnx"]
    truncated = small_checkpoint.model.featurizer(texts).truncated
    assert truncated.any() and not truncated.all()  # dev texts run past max_length=16 tokens and not
    for fmt, rows in predictions.items():
        assert [p.label for p in rows] == [small_checkpoint.labels[k] for k in expected.argmax(axis=1)], fmt
        assert [p.truncated for p in rows] == truncated.tolist()
        for row, ref in zip(rows, reference, strict=True):
            assert row.probabilities == pytest.approx(ref.probabilities, abs=1e-5)
            assert row.score == max(row.probabilities.values())


@pytest.mark.parametrize("fmt", RUNNABLE)
@pytest.mark.parametrize(("batch", "length"), [(1, 1), (3, 7), (17, 16)])
def test_any_batch_and_length(fmt: str, batch: int, length: int, exports: dict[str, ExportResult],
                              small_checkpoint: Checkpoint) -> None:
    """Batch 1, 3, 17 and lengths 1, 7, max: native on dynamic formats, padded and split on fixed ones."""
    texts = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(length)) for i in range(batch)]
    predictor = load(exports[fmt].bundle, threads=1)
    features = predictor.featurize(texts)
    assert features.mask.shape == (batch, length) and not features.truncated.any()
    np.testing.assert_allclose(predictor.logits(texts), pytorch_logits(small_checkpoint, texts), atol=1e-4)


def test_dynamic_formats_run_every_shape_natively(exports: dict[str, ExportResult]) -> None:
    backend = load(exports["onnx"].bundle).backend
    for batch, length in [(1, 1), (3, 7), (17, 16)]:
        inputs = {"features": np.zeros((batch, length, 8), np.int32),
                  "mask": np.ones((batch, length), np.float32)}
        outputs = backend.run("forward", inputs)
        assert list(outputs) == ["logits"] and outputs["logits"].shape == (batch, 2)
    with pytest.raises(PredictionInputError, match="missing mask"):
        backend.run("forward", {"features": np.zeros((1, 1, 8), np.int32)})
    with pytest.raises(PredictionInputError, match=r"inputs\['features'\]: dtype float64, expected int32"):
        backend.run("forward", {"features": np.zeros((1, 1, 8)), "mask": np.ones((1, 1), np.float32)})
    with pytest.raises(PredictionInputError, match=r"axis 1 \(length\) has size 17, expected \[1, 16\]"):
        backend.run("forward", {"features": np.zeros((1, 17, 8), np.int32),
                                "mask": np.ones((1, 17), np.float32)})


def test_long_texts_are_truncated_and_say_so(exports: dict[str, ExportResult]) -> None:
    predictor = load(exports["tflite"].bundle)
    long_text = " ".join(WORDS * 2)  # 36 tokens, max_length 16
    short, long = predictor.predict(["a short one", long_text])
    assert not short.truncated and long.truncated


def test_planner_pads_and_splits_to_fit_fixed_shapes() -> None:
    def signature(name: str, batch: DimRange, length: DimRange) -> Signature:
        spec = TensorSpec("mask", "float32", ("batch", "length"))
        return Signature(name, (spec,), (TensorSpec("logits", "float32", ("batch", 2)),), batch, length)

    fixed = [signature(f"b{b}_l{n}", DimRange(b, b), DimRange(n, n)) for b in (1, 8) for n in (4, 16)]
    steps = plan(fixed, batch=17, length=5)
    assert [(s.signature.name, s.start, s.stop, s.batch, s.length) for s in steps] == [
        ("b8_l16", 0, 8, 8, 16), ("b8_l16", 8, 16, 8, 16), ("b1_l16", 16, 17, 1, 16)]
    assert [s.signature.name for s in plan(fixed, batch=3, length=2)] == ["b1_l4"] * 3
    only_eight = [signature("b8", DimRange(8, 8), DimRange(16, 16))]
    assert [(s.stop - s.start, s.batch) for s in plan(only_eight, batch=3, length=16)] == [(3, 8)]  # padded
    dynamic = [signature("forward", DimRange(1, None), DimRange(1, 16))]
    assert [(s.batch, s.length) for s in plan(dynamic, batch=300, length=7)] == [(300, 7)]
    with pytest.raises(PredictionInputError, match="longest signature takes 16"):
        plan(dynamic, batch=1, length=17)


def test_run_plan_passes_fitting_inputs_through_and_copies_every_output() -> None:
    """One step that needs no padding runs the caller's arrays as they are; otherwise rows and tokens are padded;
    either way the outputs are the caller's own (a backend may reuse its output buffer: ExecuTorch does)."""
    spec = TensorSpec("mask", "float32", ("batch", "length"))
    fixed = Signature("b2_l4", (spec,), (TensorSpec("logits", "float32", ("batch", 2)),), DimRange(2, 2),
                      DimRange(4, 4))

    class Runner:
        def __init__(self) -> None:
            self.buffer = np.zeros((2, 2), np.float32)
            self.feeds: list[np.ndarray] = []

        def run(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            self.feeds.append(inputs["mask"])
            self.buffer[:] = inputs["mask"].sum(axis=1, keepdims=True)
            return {"logits": self.buffer}

    runner = Runner()
    mask = np.ones((2, 4), np.float32)
    out = run_plan(runner, plan([fixed], 2, 4), {"mask": mask})["logits"]
    assert runner.feeds[-1] is mask and out.tolist() == [[4, 4], [4, 4]]
    runner.buffer[:] = -1
    assert out.tolist() == [[4, 4], [4, 4]]  # a copy, not the backend's buffer
    short = run_plan(runner, plan([fixed], 1, 3), {"mask": np.ones((1, 3), np.float32)})["logits"]
    assert runner.feeds[-1].shape == (2, 4) and runner.feeds[-1].sum() == 3 and short.tolist() == [[3, 3]]


def test_runtime_import_and_onnx_tflite_runs_are_torch_free(exports: dict[str, ExportResult]) -> None:
    script = ("import sys\n"
              "import neurolite_sdk.runtime as runtime\n"
              "assert 'torch' not in sys.modules, 'import neurolite_sdk.runtime imported torch'\n"
              f"for path in {[str(exports['onnx'].bundle), str(exports['tflite'].bundle)]!r}:\n"
              "    predictions = runtime.load(path, threads=1).predict(['a gorgeous movie', 'dull'])\n"
              "    assert len(predictions) == 2\n"
              "heavy = ('torch', 'executorch', 'coremltools')\n"
              "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
              "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_empty_text_list_and_bad_threads(exports: dict[str, ExportResult]) -> None:
    predictor = load(exports["onnx"].bundle)
    with pytest.raises(PredictionInputError, match="texts: empty list"):
        predictor.predict([])
    with pytest.raises(PredictionInputError, match="threads: must be a positive integer"):
        load(exports["onnx"].bundle, threads=0)
    with pytest.raises(BundleError, match="backend 'tflite' cannot run .* format is 'onnx'"):
        load(exports["onnx"].bundle, backend="tflite")


# ---------------------------------------------------------------------------------------------- bad bundles
@pytest.fixture
def onnx_copy(exports: dict[str, ExportResult], tmp_path: Path) -> Path:
    copy = tmp_path / "onnx"
    shutil.copytree(exports["onnx"].bundle, copy)
    return copy


def edit_manifest(bundle: Path, **changes: object) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    (bundle / "manifest.json").write_text(json.dumps({**manifest, **changes}), encoding="utf-8")


def test_missing_bundle_and_manifest(tmp_path: Path, onnx_copy: Path) -> None:
    with pytest.raises(BundleError, match="no such bundle directory"):
        load(tmp_path / "nowhere")
    (onnx_copy / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"manifest.json: missing; .* is not a NeuroLite bundle"):
        load(onnx_copy)


def test_malformed_manifest(onnx_copy: Path) -> None:
    (onnx_copy / "manifest.json").write_text('{"schema_version": 1, "format": ', encoding="utf-8")
    with pytest.raises(BundleError, match="manifest.json: invalid JSON at line 1"):
        load(onnx_copy)
    (onnx_copy / "manifest.json").write_text('{"schema_version": 1, "format": "onnx"}', encoding="utf-8")
    with pytest.raises(BundleError, match="missing field 'files'"):
        load(onnx_copy)


def test_newer_schema(onnx_copy: Path) -> None:
    edit_manifest(onnx_copy, schema_version=3)
    with pytest.raises(BundleError, match="schema_version 3 is newer than this SDK reads \\(2\\); upgrade"):
        load(onnx_copy)


def test_modified_model_file_is_named(onnx_copy: Path) -> None:
    model = onnx_copy / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.onnx: SHA-256 does not match manifest\.json"):
        load(onnx_copy)


def test_truncated_model_file(exports: dict[str, ExportResult], tmp_path: Path) -> None:
    copy = tmp_path / "tflite"
    shutil.copytree(exports["tflite"].bundle, copy)
    model = copy / "model.tflite"
    model.write_bytes(model.read_bytes()[:1000])
    with pytest.raises(BundleError, match=r"model\.tflite: truncated: 1,000 bytes, manifest\.json records"):
        load(copy)


def test_bundle_from_another_featurizer_version(onnx_copy: Path) -> None:
    manifest = json.loads((onnx_copy / "manifest.json").read_text(encoding="utf-8"))
    edit_manifest(onnx_copy, featurizer={**manifest["featurizer"], "spec": {**manifest["featurizer"]["spec"],
                                                                            "version": "0.9"}})
    with pytest.raises(BundleError, match="exported with featurizer spec '0.9', this SDK implements"):
        load(onnx_copy)
    edit_manifest(onnx_copy, featurizer={**manifest["featurizer"], "digest": "0" * 64})
    with pytest.raises(BundleError, match="featurizer.digest does not match"):
        load(onnx_copy)


def test_runtime_package_not_installed_names_the_extra(exports: dict[str, ExportResult],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an environment without it sees on import
    with pytest.raises(RuntimeNotInstalledError, match=r"pip install 'neurolite-sdk\[onnx\]'"):
        load(exports["onnx"].bundle)


@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on macOS")
def test_coreml_needs_macos(exports: dict[str, ExportResult]) -> None:
    bundle = read_bundle(exports["coreml"].bundle)  # the bundle itself verifies here
    assert bundle.entry.name == "model.mlpackage"
    with pytest.raises(PlatformUnsupportedError, match="needs macOS"):
        load(exports["coreml"].bundle)
