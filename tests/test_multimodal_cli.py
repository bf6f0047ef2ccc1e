"""Multimodal checkpoints and bundles on the command line (issue 18): ``neurolite export`` with parity on
items, ``neurolite run --items`` (a JSON Lines file with .npy and .wav values), and one-line refusals."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from neurolite_sdk.cli import main
from neurolite_sdk.config import NeuroLiteConfig
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.multimodal_inputs import MultimodalSpec
from neurolite_sdk.multimodal_items import generated_items, read_items
from neurolite_sdk.runtime.errors import PredictionInputError
from neurolite_sdk.training.checkpoint import save_checkpoint

torch.set_num_threads(1)
RATE = 16_000


def _checkpoint(tmp_path, fusion: str = "sequence"):
    extra = dict(max_length=12, multimodal_audio_frames=16) if fusion == "sequence" else {}
    config = NeuroLiteConfig(use_multimodal_input=True, use_cross_modal_attention=True, multimodal_fusion=fusion,
                             hidden_size=32, max_length=extra.pop("max_length", 8), num_buckets=256,
                             embedding_dim=16, num_mixer_layers=1, token_mixing_dim=8, channel_mixing_dim=32,
                             dropout=0.0, **extra)
    torch.manual_seed(0)
    model = NeuroLiteForClassification(config, 10).eval()
    return save_checkpoint(tmp_path / "ckpt", model, [str(i) for i in range(10)]), model


def _write_wav(path, samples: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def _items_file(tmp_path) -> tuple:
    """Five items: lists, .npy paths and .wav paths, each with a different subset of modalities."""
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(0)
    images = (load_digits().images[:5] / 16.0).astype(np.float32)[:, None]
    clip = (np.sin(np.arange(8_000) * 0.05) * 0.3 + rng.standard_normal(8_000) * 0.05).astype(np.float32)
    _write_wav(tmp_path / "clip.wav", clip)
    np.save(tmp_path / "img2.npy", images[2])
    video = np.stack([np.roll(images[3], t, axis=2) for t in range(4)])
    np.save(tmp_path / "video.npy", video)
    rows = [{"text": "a handwritten seven", "image": images[0].tolist()},
            {"audio": "clip.wav"},
            {"image": "img2.npy", "audio": "clip.wav", "text": "two"},
            {"video": "video.npy"},
            {"text": "nine", "image": images[4].tolist(), "audio": clip[:4000].tolist(), "video": video.tolist()}]
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    expected = {"text": ["a handwritten seven", None, "two", None, "nine"],
                "image": [images[0], None, images[2], None, images[4]],
                "audio": [None, clip, clip, None, clip[:4000]],
                "video": [None, None, None, video, video]}
    return path, expected


def test_export_then_run_items_through_the_runtime(tmp_path):
    pytest.importorskip("onnxruntime")
    checkpoint, model = _checkpoint(tmp_path)
    result = CliRunner().invoke(main, ["export", str(checkpoint), "--format", "onnx", "--out", str(tmp_path / "b"),
                                       "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    bundle = report["bundles"][0]
    assert bundle["status"] == "ok" and bundle["parity"]["status"] == "passed"
    assert bundle["parity"]["max_abs_logit"] <= 1e-4 and bundle["parity"]["texts"] == 128
    assert "every subset of text, image, audio, video" in report["parity_items"]
    manifest = json.loads((tmp_path / "b" / "onnx" / "manifest.json").read_text())
    assert [s["name"] for s in manifest["signatures"][0]["inputs"]] == ["features", "mask", "presence", "image",
                                                                        "audio", "video"]

    items_path, expected_items = _items_file(tmp_path)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "b" / "onnx"), "--items", str(items_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    with torch.no_grad():
        logits = model(multimodal_inputs=expected_items)["logits"].numpy()
    assert [r["label"] for r in rows] == [str(k) for k in logits.argmax(axis=1)]
    assert [r["modalities"] for r in rows] == [["text", "image"], ["audio"], ["text", "image", "audio"], ["video"],
                                               ["text", "image", "audio", "video"]]
    probabilities = np.array([[r["probabilities"][str(k)] for k in range(10)] for r in rows])
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probabilities, shifted / shifted.sum(axis=1, keepdims=True), atol=1e-5)

    text = CliRunner().invoke(main, ["run", str(tmp_path / "b" / "onnx"), "--items", str(items_path)])
    assert text.exit_code == 0 and "item 2 (audio)" in text.output and "item 5 (text+image+audio+video)" in text.output

    # parity on the user's own items: fewer than 64 is refused, naming the count
    small = CliRunner().invoke(main, ["export", str(checkpoint), "--format", "onnx", "--out", str(tmp_path / "c"),
                                      "--items", str(items_path)])
    assert small.exit_code != 0 and "parity_items: 5 items, parity needs at least 64" in small.output
    assert not (tmp_path / "c" / "onnx").exists()


@pytest.mark.parametrize("args,message", [
    (["--quantize", "int8"], "--quantize int8: the checkpoint is multimodal; multimodal exports are not quantized"),
    (["--no-verify"], "--no-verify: the checkpoint is multimodal; a multimodal export always checks parity"),
    (["--precision", "fp16", "--format", "coreml"], "--precision fp16: the checkpoint is multimodal"),
])
def test_export_refuses_what_a_multimodal_checkpoint_cannot_take(tmp_path, args, message):
    checkpoint, _ = _checkpoint(tmp_path, fusion="adaptive")
    argv = ["export", str(checkpoint), "--out", str(tmp_path / "b"), *args]
    if "--format" not in args:
        argv += ["--format", "onnx"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code != 0 and message in " ".join(result.output.split())
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_items_file_errors_name_the_file_line_and_modality(tmp_path):
    spec = MultimodalSpec.from_config(NeuroLiteConfig(use_multimodal_input=True, multimodal_modalities=["text",
                                                                                                       "audio"]))
    _write_wav(tmp_path / "fast.wav", np.zeros(8_000, dtype=np.float32), rate=22_050)
    cases = [('{"text": "a"}\nnot json\n', r"items.jsonl line 2: not JSON"),
             ('{"image": [[0]]}\n', r"line 1: image: not a modality this model takes \(it takes text, audio\)"),
             ('{"audio": "fast.wav"}\n', r"line 1: audio: .*fast.wav: 22050 Hz, the model takes 16000 Hz"),
             ('{"audio": "missing.npy"}\n', r"line 1: audio: .*missing.npy is not a file"),
             ('{"text": 3}\n', r"line 1: text: expected a string, got int"),
             ('{"audio": [[1, 2], [3]]}\n', r"line 1: audio: expected nested lists of numbers of one shape"),
             ('\n\n', r"items.jsonl: no items")]
    for content, message in cases:
        (tmp_path / "items.jsonl").write_text(content)
        with pytest.raises(PredictionInputError, match=message):
            read_items(tmp_path / "items.jsonl", spec)


def test_generated_items_cover_every_subset_and_are_deterministic():
    spec = MultimodalSpec.from_config(NeuroLiteConfig(use_multimodal_input=True))
    items = generated_items(spec)
    subsets = {tuple(m for m in spec.modalities if items[m][i] is not None) for i in range(128)}
    assert len(subsets) == 15
    again = generated_items(spec)
    assert all(np.array_equal(a, b) if a is not None else b is None
               for m in spec.modalities for a, b in zip(items[m], again[m], strict=True))


def test_items_are_refused_with_texts_and_for_text_checkpoints(tmp_path):
    (tmp_path / "items.jsonl").write_text('{"text": "a"}\n')
    both = CliRunner().invoke(main, ["run", str(tmp_path), "some text", "--items", str(tmp_path / "items.jsonl")])
    assert both.exit_code != 0 and "--items: give items or texts (TEXTS, --file), not both" in both.output
    torch.manual_seed(0)
    text_model = NeuroLiteForClassification(NeuroLiteConfig(hidden_size=32, max_length=8, num_buckets=256,
                                                            embedding_dim=16, num_mixer_layers=1), 2)
    checkpoint = save_checkpoint(tmp_path / "text", text_model, ["neg", "pos"])
    result = CliRunner().invoke(main, ["export", str(checkpoint), "--format", "onnx", "--out", str(tmp_path / "b"),
                                       "--items", str(tmp_path / "items.jsonl")])
    assert result.exit_code != 0 and "takes text only (use --texts for its parity texts)" in result.output
