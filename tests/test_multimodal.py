"""Multimodal input (issue 18): shapes per modality subset, presence-mask invariance, bad input, the host
audio front end against librosa, text models unchanged, and exported parity through the runtime."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from neurolite_sdk.config import ConfigError, NeuroLiteConfig
from neurolite_sdk.modeling.model import NeuroLiteForClassification, NeuroLiteModel
from neurolite_sdk.multimodal_audio import log_mel_spectrogram, mel_filterbank, mel_power
from neurolite_sdk.multimodal_digits import SAMPLE_RATE, espeak_available, speak
from neurolite_sdk.multimodal_inputs import MODALITIES, MultimodalSpec, graph_inputs
from neurolite_sdk.runtime.errors import PredictionInputError

torch.set_num_threads(1)
NEEDS_ESPEAK = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (apt-get install "
                                                                 "espeak-ng; .ci/run installs it)")


def _config(**overrides) -> NeuroLiteConfig:
    base = dict(use_multimodal_input=True, hidden_size=32, max_length=8, num_buckets=256, embedding_dim=16,
                num_mixer_layers=1, token_mixing_dim=8, channel_mixing_dim=32, dropout=0.0)
    return NeuroLiteConfig(**{**base, **overrides})


def _items(n: int, seed: int = 0) -> dict:
    """scikit-learn's bundled handwritten digits as images and as 5-frame videos (the digit drifting one
    pixel a frame), half-second noise waveforms as audio, captions as text."""
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    images = (load_digits().images[seed:seed + n] / 16.0).astype(np.float32)[:, None]
    return {"text": [f"a handwritten digit number {i}" for i in range(n)], "image": images,
            "audio": [rng.standard_normal(8_000).astype(np.float32) * 0.1 for _ in range(n)],
            "video": np.stack([np.stack([np.roll(img, t, axis=2) for t in range(5)]) for img in images])}


FUSIONS = [("adaptive", False), ("adaptive", True), ("tokens", True), ("sequence", False), ("sequence", True)]
SEQUENCE = dict(max_length=12, multimodal_audio_frames=16)  # text 1 + image 4 patches + audio 4 steps + video 3


def _fusion_config(fusion: str, cross: bool) -> NeuroLiteConfig:
    extra = SEQUENCE if fusion == "sequence" else {}
    return _config(multimodal_fusion=fusion, use_cross_modal_attention=cross, **extra)


@pytest.mark.parametrize("fusion,cross", FUSIONS)
def test_every_subset_of_modalities_gives_logits_of_the_right_shape(fusion, cross):
    model = NeuroLiteForClassification(_fusion_config(fusion, cross), 10).eval()
    items = _items(3)
    for size in range(1, 5):
        for subset in itertools.combinations(MODALITIES, size):
            with torch.no_grad():
                logits = model(multimodal_inputs={m: items[m] for m in subset})["logits"]
                out = model.neurolite(multimodal_inputs={m: items[m] for m in subset}, return_dict=True)
            assert logits.shape == (3, 10) and torch.isfinite(logits).all(), subset
            assert out["hidden_states"].shape == (3, {"adaptive": 1, "tokens": 4, "sequence": 12}[fusion], 32)
            assert out["mask"].shape == out["hidden_states"].shape[:2]
            if fusion == "sequence":  # the presence mask spread over each modality's own tokens
                owners = ["text"] + ["image"] * 4 + ["audio"] * 4 + ["video"] * 3
                assert torch.equal(out["mask"], torch.tensor([[float(m in subset) for m in owners]] * 3))
            reps = out["individual_modality_representations"]
            assert list(reps) == list(MODALITIES) and all(r.shape == (3, 32) for r in reps.values())
            for i, name in enumerate(MODALITIES):  # absent modalities' representations are zero, present ones not
                assert bool(reps[name].abs().sum() > 0) == (name in subset)
                assert torch.equal(out["presence"][:, i], torch.full((3,), float(name in subset)))


@pytest.mark.parametrize("fusion,cross", FUSIONS)
def test_an_absent_modality_contents_cannot_change_the_output(fusion, cross):
    model = NeuroLiteForClassification(_fusion_config(fusion, cross), 10).eval()
    spec = model.neurolite.multimodal.spec
    arrays, _ = graph_inputs(spec, model.featurizer, _items(4))
    tensors = {name: torch.from_numpy(value) for name, value in arrays.items()}
    presence = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]], dtype=torch.float32)
    features, mask = tensors.pop("features"), tensors.pop("mask")
    with torch.no_grad():
        reference = model(features, mask, modalities={**tensors, "presence": presence})["logits"]
        rng = torch.Generator().manual_seed(1)
        changed = {name: torch.randn(value.shape, generator=rng) * 100 for name, value in tensors.items()}
        other_text = torch.randint(0, 256, features.shape, generator=rng, dtype=torch.int32)
        absent = {name: torch.where(presence[:, i].reshape(-1, *[1] * (tensors[name].dim() - 1)) > 0,
                                    tensors[name], changed[name])
                  for i, name in enumerate(MODALITIES) if name != "text"}
        text_absent = presence[:, 0].reshape(-1, 1, 1) == 0
        moved = model(torch.where(text_absent, other_text, features), mask * presence[:, :1],
                      modalities={**absent, "presence": presence})["logits"]
        present_changed = model(features, mask, modalities={**changed, "presence": presence})["logits"]
    assert torch.equal(reference, moved)  # bit for bit
    assert not torch.allclose(reference, present_changed)  # the same change to present modalities does matter


def test_training_step_reaches_every_encoder():
    model = NeuroLiteForClassification(_config(use_cross_modal_attention=True), 10)
    out = model(multimodal_inputs=_items(4), labels=torch.tensor([0, 1, 2, 3]))
    out["loss"].backward()
    for name in ("image.stem.weight", "audio.conv1.weight", "video.position", "cross_attention.query.weight",
                 "score.0.weight", "text_norm.weight"):
        grad = dict(model.neurolite.multimodal.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    sequence = NeuroLiteForClassification(_fusion_config("sequence", True), 10)
    sequence(multimodal_inputs=_items(4), labels=torch.tensor([0, 1, 2, 3]))["loss"].backward()
    for name in ("image.stem.weight", "image.position", "audio.conv1.weight", "audio.position", "video.position",
                 "cross_attention.query.weight", "modality_embedding", "text_norm.weight"):
        grad = dict(sequence.neurolite.multimodal.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


@pytest.mark.parametrize("inputs,message", [
    ({"image": np.zeros((2, 1, 16, 16))}, r"image\[0\]: shape \(1, 16, 16\), expected \[1, 8, 8\]"),
    ({"image": np.zeros((2, 3, 8, 8))}, r"image\[0\]: shape \(3, 8, 8\), expected \[1, 8, 8\]"),
    ({"audio": [np.zeros(100), np.zeros(8000)]}, r"audio\[0\]: audio too short: .*100 samples, expected at least 400"),
    ({"audio": np.zeros((2, 1, 30, 32))}, r"audio\[0\]: shape \(1, 30, 32\), expected .*\[48, 32\]"),
    ({"video": np.zeros((2, 2, 1, 8, 8))}, r"video\[0\]: 2 frames, expected at least 3"),
    ({"video": np.zeros((2, 4, 8, 8))}, r"video\[0\]: shape \(4, 8, 8\), expected \[frames >= 3, 1, 8, 8\]"),
    ({"image": np.full((2, 1, 8, 8), np.nan)}, r"image\[0\]: contains NaN"),
    ({"text": ["a", "b"], "image": np.zeros((3, 1, 8, 8))}, r"image: 3 items, but text has 2"),
    ({"text": ["a", None], "audio": [None, None]}, r"item 1: no modality given"),
    ({"depth": np.zeros((2, 1, 8, 8))}, r"depth: not a modality this model takes"),
])
def test_bad_input_names_the_modality_and_the_expected_shape(inputs, message):
    model = NeuroLiteForClassification(_config(), 10).eval()
    with pytest.raises(PredictionInputError, match=message):
        model(multimodal_inputs=inputs)


def test_a_modality_the_config_does_not_enable_is_refused():
    model = NeuroLiteForClassification(_config(multimodal_modalities=["text", "image"]), 10).eval()
    assert "audio" not in dict(model.named_modules()) and model.neurolite.multimodal.audio is None
    with pytest.raises(PredictionInputError, match=r"audio: not a modality this model takes \(it takes text, image\)"):
        model(multimodal_inputs={"audio": [np.zeros(8000)]})


def test_config_validation_and_text_models_unchanged():
    text = NeuroLiteConfig()
    assert not any("modal" in key for key in text.to_dict())  # config.json bytes as before the feature
    assert not any(k.startswith("multimodal") for k in NeuroLiteModel(text).state_dict())
    config = _config(use_cross_modal_attention=True, multimodal_modalities=["image", "audio"])
    assert NeuroLiteConfig.from_json(config.to_json()) == config
    for bad, field in [(dict(multimodal_modalities=["smell"]), "multimodal_modalities"),
                       (dict(multimodal_image_patch_size=3), "multimodal_image_patch_size"),
                       (dict(cross_modal_num_heads=3, use_cross_modal_attention=True), "cross_modal_num_heads"),
                       (dict(multimodal_fusion="concat"), "multimodal_fusion"),
                       (dict(multimodal_fusion="sequence"), "max_length"),  # 20 tokens, max_length 8
                       (dict(use_multimodal_input=False, use_cross_modal_attention=True), "use_cross_modal_attention")]:
        with pytest.raises(ConfigError, match=f"^{field}:"):
            _config(**bad)


def _speech() -> np.ndarray:
    return speak("seven", "en", 50, 160)


@NEEDS_ESPEAK
def test_log_mel_matches_librosa_on_speech():
    librosa = pytest.importorskip("librosa", reason="librosa is the reference (pip install librosa)")
    clip = _speech()
    n_fft, hop = SAMPLE_RATE // 40, SAMPLE_RATE // 100
    reference = librosa.feature.melspectrogram(y=clip.astype(np.float64), sr=SAMPLE_RATE, n_fft=n_fft, hop_length=hop,
                                               n_mels=32, center=True, pad_mode="constant")
    ours = mel_power(clip, SAMPLE_RATE, 32)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-9 * reference.max())
    np.testing.assert_allclose(mel_filterbank(SAMPLE_RATE, n_fft, 32),
                               librosa.filters.mel(sr=SAMPLE_RATE, n_fft=n_fft, n_mels=32), rtol=1e-6, atol=1e-9)
    logs = log_mel_spectrogram(clip, SAMPLE_RATE, 32)
    expected = np.log(reference + 1e-6).T
    np.testing.assert_allclose(logs, (expected - expected.mean()) / expected.std(), atol=1e-4)
    assert abs(float(logs.mean())) < 1e-5 and abs(float(logs.std()) - 1.0) < 1e-5


def test_spec_reads_a_manifest_config():
    config = _config(multimodal_modalities=["audio", "text"])
    spec = MultimodalSpec.from_config(json.loads(config.to_json()))
    assert spec == MultimodalSpec.from_config(config) and spec.graph_names() == ("presence", "audio")


def test_onnx_bundle_matches_pytorch_and_predicts_from_a_dict(tmp_path):
    pytest.importorskip("onnxruntime")
    from neurolite_sdk.exporters.multimodal import export_multimodal_bundle
    from neurolite_sdk.runtime import load

    torch.manual_seed(0)
    model = NeuroLiteForClassification(_config(use_cross_modal_attention=True), 10).eval()
    items = _items(70, seed=3)
    items["image"] = [img if i % 3 else None for i, img in enumerate(items["image"])]  # per-item absence
    items["text"] = [t if i % 4 else None for i, t in enumerate(items["text"])]
    manifest = export_multimodal_bundle(model, [str(i) for i in range(10)], "onnx", tmp_path / "bundle", items)
    assert manifest["parity"]["status"] == "passed" and manifest["parity"]["max_abs_logit"] <= 1e-4
    inputs = [s["name"] for s in manifest["signatures"][0]["inputs"]]
    assert inputs == ["features", "mask", "presence", "image", "audio", "video"]
    predictor = load(tmp_path / "bundle")
    subset = {"image": items["image"][:5], "audio": items["audio"][:5]}
    predictions = predictor.predict(subset)
    with torch.no_grad():
        expected = model(multimodal_inputs=subset)["logits"].numpy().argmax(axis=1)
    assert [p.label for p in predictions] == [str(k) for k in expected]
    assert all(p.empty for p in predictions)  # no text given
    with pytest.raises(PredictionInputError, match=r"video\[0\]: 1 frames, expected at least 3"):
        predictor.predict({"video": [np.zeros((1, 1, 8, 8))]})
    with pytest.raises(PredictionInputError, match=r"predict_iter: .* is multimodal"):
        predictor.predict_iter(["a text"])
    texts_only = predictor.predict(["a handwritten digit number 1", "a handwritten digit number 2"])
    with torch.no_grad():
        expected = model(multimodal_inputs={"text": ["a handwritten digit number 1", "a handwritten digit number 2"]})
    assert [p.label for p in texts_only] == [str(k) for k in expected["logits"].numpy().argmax(axis=1)]


def test_a_saved_multimodal_checkpoint_round_trips_its_config_exactly(tmp_path):
    from neurolite_sdk.config import MULTIMODAL_FIELDS
    from neurolite_sdk.training.checkpoint import load_checkpoint, save_checkpoint

    # every multimodal field at its default but the switch: all of them are written while multimodal is on,
    # so the checkpoint never depends on a default a later version might change
    config = _config()
    written = json.loads(config.to_json())
    assert set(MULTIMODAL_FIELDS) <= set(written)
    assert written["multimodal_fusion"] == "adaptive" and written["multimodal_image_size"] == 8
    torch.manual_seed(0)
    model = NeuroLiteForClassification(config, 10).eval()
    save_checkpoint(tmp_path / "ckpt", model, [str(i) for i in range(10)])
    on_disk = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert {k: on_disk[k] for k in MULTIMODAL_FIELDS} == {k: getattr(config, k) for k in MULTIMODAL_FIELDS}
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.model.config == config and loaded.model.config.to_json() == config.to_json()
    items = _items(6, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(multimodal_inputs=items)["logits"],
                                   model(multimodal_inputs=items)["logits"], rtol=0, atol=0)
    # a non-default value survives too, and the text-only config still writes none of the fields
    other = _config(multimodal_fusion="tokens", multimodal_modalities=["audio", "text"], multimodal_audio_frames=24)
    assert NeuroLiteConfig.from_json(other.to_json()) == other
    assert not set(MULTIMODAL_FIELDS) & set(json.loads(NeuroLiteConfig().to_json()))
