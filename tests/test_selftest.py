"""Every bundle carries end-to-end vectors (text -> features -> logits) and passes them on this machine;
a bundle whose vectors disagree with what its featurizer or graph computes fails, naming the case."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from neurolite_sdk.exporters import ExportResult, exporter_formats
from neurolite_sdk.runtime import load
from neurolite_sdk.runtime.backends import runnable_formats
from neurolite_sdk.runtime.errors import BundleError
from neurolite_sdk.runtime.selftest import TEST_VECTORS_NAME, read_test_vectors, run_self_test

# every format with an exporter and a backend that predicts on this platform (Core ML: macOS only)
RUNNABLE = [fmt for fmt in exporter_formats() if fmt in runnable_formats()]


@pytest.mark.parametrize("fmt", RUNNABLE)
def test_bundle_passes_its_own_vectors(exports: dict[str, ExportResult], fmt: str) -> None:
    predictor = load(exports[fmt].bundle)
    document = read_test_vectors(predictor)
    assert TEST_VECTORS_NAME in predictor.bundle.manifest["files"]  # checksummed like the model file
    assert "runtime" in document["logits_source"]
    texts = [case["text"] for case in document["cases"]]
    assert "" in texts and any(case["truncated"] for case in document["cases"])
    report = run_self_test(predictor)
    assert report.passed, report.failures
    assert report.max_abs_logit <= report.tolerance


def test_coreml_vectors_come_from_pytorch(exports: dict[str, ExportResult]) -> None:
    document = json.loads((exports["coreml"].bundle / TEST_VECTORS_NAME).read_text(encoding="utf-8"))
    assert document["logits_source"].startswith("the PyTorch model") and "macOS" in document["logits_source"]


def _rewrite_vectors(bundle: Path, edit) -> None:
    path = bundle / TEST_VECTORS_NAME
    document = json.loads(path.read_text(encoding="utf-8"))
    edit(document)
    data = (json.dumps(document, ensure_ascii=False) + "\n").encode()
    path.write_bytes(data)
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"][TEST_VECTORS_NAME].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def test_wrong_vectors_fail_naming_the_case(exports: dict[str, ExportResult], tmp_path: Path) -> None:
    bundle = tmp_path / "onnx"
    shutil.copytree(exports["onnx"].bundle, bundle)

    def corrupt(document: dict) -> None:
        document["cases"][2]["features"][0][0] += 1
        document["cases"][3]["logits"][0] += 0.5

    _rewrite_vectors(bundle, corrupt)
    report = run_self_test(load(bundle))
    assert not report.passed
    assert any(f.startswith("cases[2]") and "features differ" in f for f in report.failures)
    assert any(f.startswith("cases[3]") and "delta logit" in f for f in report.failures)


def test_vectors_of_another_featurizer_are_refused(exports: dict[str, ExportResult], tmp_path: Path) -> None:
    bundle = tmp_path / "onnx"
    shutil.copytree(exports["onnx"].bundle, bundle)
    _rewrite_vectors(bundle, lambda d: d.update(featurizer_digest="0" * 64))
    with pytest.raises(BundleError, match="featurizer_digest differs"):
        run_self_test(load(bundle))
