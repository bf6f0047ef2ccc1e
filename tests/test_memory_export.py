"""Export parity of a memory-enabled model on the static-shape formats: LiteRT and ExecuTorch through the
runtime (logits and every memory output within 1e-4 of PyTorch, a session's state carried like PyTorch's),
Core ML structurally (it predicts only on macOS). ONNX and the session API: tests/test_memory.py. Three
exports: about 2-3 minutes here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_memory import MEMORY as SHARED
from test_memory import sst2_texts

from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.exporters import ExportResult, ParityTexts, export_bundle, exporter_formats
from neurolite_sdk.modeling.memory import STATE
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.runtime import load
from neurolite_sdk.training.checkpoint import Checkpoint

MEMORY = {**SHARED, "max_length": 32}  # test_memory's small memory model, shorter texts for the slower formats


@pytest.fixture(scope="module")
def memory_exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Checkpoint, dict[str, ExportResult]]:
    torch.manual_seed(0)
    model = NeuroLiteForClassification(NeuroLiteConfig(**MEMORY), num_labels=3).eval()
    checkpoint = Checkpoint(model=model, labels=["a", "b", "c"])
    out = tmp_path_factory.mktemp("memory-bundles")
    texts = ParityTexts(sst2_texts(80), "sst2 dev (80 texts)")
    return checkpoint, {fmt: export_bundle(checkpoint, fmt, out / fmt, texts=texts)
                        for fmt in ("executorch", "tflite", "coreml") if fmt in exporter_formats()}


@pytest.mark.parametrize("fmt", ["executorch", "tflite"])
def test_memory_model_parity(fmt: str, memory_exports: tuple[Checkpoint, dict[str, ExportResult]]) -> None:
    checkpoint, results = memory_exports
    parity = results[fmt].parity
    assert parity["status"] == "passed" and parity["max_abs_logit"] <= 1e-4 and parity["top1_agreement"] == 1.0
    assert len(parity["signatures"]) >= 2 and all(s["max_abs_memory"] <= 1e-4 for s in parity["signatures"].values())
    # a session through the bundle's static signatures, against PyTorch's own session
    texts = sst2_texts(30)[20:]
    session = load(results[fmt].bundle).session()
    session.predict(texts)
    state = None
    with torch.no_grad():
        for text in texts:
            state = checkpoint.model(input_texts=[text], memory=state, update_memory=True)["memory"]
    for name in STATE:
        np.testing.assert_allclose(session.state[name], state[name].numpy(), atol=1e-5, rtol=0)


def test_memory_model_coreml_is_structural_only(memory_exports: tuple[Checkpoint, dict[str, ExportResult]]) -> None:
    result = memory_exports[1]["coreml"]
    assert result.parity["status"] == "skipped" and result.parity["reason"] == "needs macOS"
    assert (Path(result.bundle) / "model.mlpackage").is_dir()
