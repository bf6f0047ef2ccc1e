"""Text generation: the causal byte-level model, its step graph in every format, the runtime's generate."""

from __future__ import annotations

from pathlib import Path

import mmh3
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from neurolite_sdk.cli import main
from neurolite_sdk.exporters.step_graph import EXPORTERS as STEP_EXPORTERS
from neurolite_sdk.generation.api import generate_bytes, generate_text
from neurolite_sdk.generation.checkpoint import GenerationCheckpointError, load_generator
from neurolite_sdk.generation.config import GenerationConfig, GenerationConfigError
from neurolite_sdk.generation.featurizer import (
    GenerationInputError,
    featurize_bytes,
    murmur3_ngrams,
    step_features,
)
from neurolite_sdk.generation.sampling import DecodingSettings, Sampler
from neurolite_sdk.generation.train import GenerationTrainJob, evaluate, train_generator
from neurolite_sdk.modeling.causal import CausalNeuroLiteLM
from neurolite_sdk.public_data import data_path
from neurolite_sdk.runtime.backends import runnable_formats

TINY = dict(num_buckets=1024, ngram_orders=[1, 2, 3, 5], embedding_dim=16, hidden_size=32, num_layers=2,
            conv_width=3, channel_mixing_dim=64, context_length=256)
PROMPT = "KING RICHARD III:\nNow is the winter"
# the step-graph formats whose runtime predicts on this platform (Core ML: macOS only)
RUNNABLE = [fmt for fmt in STEP_EXPORTERS if fmt in runnable_formats()]


@pytest.fixture(scope="module")
def text_slice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The first 400 lines of Tiny Shakespeare to train on, the next 100 held out (copies in a temp dir)."""
    lines = data_path("tinyshakespeare", "input.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    folder = tmp_path_factory.mktemp("gen-text")
    (folder / "train.txt").write_text("".join(lines[:400]), encoding="utf-8")
    (folder / "held.txt").write_text("".join(lines[400:500]), encoding="utf-8")
    return folder / "train.txt", folder / "held.txt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, text_slice: tuple[Path, Path]) -> tuple[Path, dict]:
    torch.set_num_threads(1)
    train_path, held_path = text_slice
    out = tmp_path_factory.mktemp("gen-ckpt") / "ckpt"
    report = train_generator(GenerationTrainJob(train_path=train_path, eval_path=held_path, out_dir=out,
                                                config=GenerationConfig(**TINY), batch_size=8, seq_len=64,
                                                learning_rate=1e-2, max_steps=60, seed=0), log=lambda _: None)
    return out, report


@pytest.fixture(scope="module")
def model(trained: tuple[Path, dict]) -> CausalNeuroLiteLM:
    return load_generator(trained[0]).model


# ----------------------------------------------------------------------------------------- featurizer
def test_vectorized_murmur3_matches_reference() -> None:
    data = np.frombuffer("naïve café, 東京 ok\x00\xff".encode() + bytes(range(200, 256)), dtype=np.uint8)
    for n in range(1, 12):
        hashes = murmur3_ngrams(data, n, 123)
        assert [int(h) for h in hashes] == [mmh3.hash(bytes(data[i:i + n]), 123, signed=False)
                                            for i in range(len(data) - n + 1)]


def test_step_features_equal_bulk_features() -> None:
    config = GenerationConfig(**TINY).featurizer_config()
    text = PROMPT.encode()
    bulk = featurize_bytes(text, config)
    assert bulk.shape == (len(text), 4) and bulk.dtype == np.int32
    for t in range(len(text)):
        np.testing.assert_array_equal(bulk[t], step_features(text[: t + 1], config)[0])
    assert (bulk >= 0).all() and (bulk < config.num_buckets).all()


# ---------------------------------------------------------------------------------------------- model
def test_training_lowers_the_loss_and_checkpoint_round_trips(trained: tuple[Path, dict], model) -> None:
    path, report = trained
    history = report["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 1.0  # from ~ln 256 = 5.5 nats down
    assert report["eval"]["bits_per_byte"] < 6.0  # better than uniform (8 bits) on held-out text
    # The reloaded checkpoint scores the held-out text exactly as the model did right after training.
    again = evaluate(model, Path(report["eval_path"]).read_bytes()[: report["eval_bytes"]])
    assert again["nats_per_byte"] == pytest.approx(report["eval"]["nats_per_byte"], rel=1e-5)


def test_causal_future_bytes_do_not_change_past_logits(model: CausalNeuroLiteLM) -> None:
    config = model.config.featurizer_config()
    a = PROMPT.encode()
    b = a[:20] + b"XYZ completely different ending"
    with torch.no_grad():
        la, _, _ = model(torch.from_numpy(featurize_bytes(a, config))[None])
        lb, _, _ = model(torch.from_numpy(featurize_bytes(b, config))[None])
    torch.testing.assert_close(la[:, :20], lb[:, :20], rtol=0, atol=1e-6)
    assert (la[:, 20] - lb[:, 20]).abs().max() > 1e-3  # and the changed position does change


def test_step_graph_equals_full_forward(model: CausalNeuroLiteLM) -> None:
    features = torch.from_numpy(featurize_bytes(PROMPT.encode(), model.config.featurizer_config()))[None]
    with torch.no_grad():
        full, conv_full, rec_full = model(features)
        conv, rec = model.initial_state(1)
        steps = []
        for t in range(features.shape[1]):
            logits, conv, rec = model.step(features[:, t], conv, rec)
            steps.append(logits)
        first, c1, r1 = model(features[:, :11])
        rest, c2, r2 = model(features[:, 11:], c1, r1)
    torch.testing.assert_close(torch.stack(steps, 1), full, rtol=0, atol=1e-4)
    torch.testing.assert_close(conv, conv_full, rtol=0, atol=1e-5)
    torch.testing.assert_close(rec, rec_full, rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.cat([first, rest], 1), full, rtol=0, atol=1e-4)


def test_generation_is_seeded_and_prompt_paths_agree(model: CausalNeuroLiteLM) -> None:
    settings = DecodingSettings(max_new_tokens=40, temperature=0.9, top_k=30, top_p=0.95, seed=7)
    once = generate_bytes(model, PROMPT, settings)
    assert once == generate_bytes(model, PROMPT, settings)
    assert once == generate_bytes(model, PROMPT, settings, stepwise_prompt=True)
    assert len(once) == 40
    other = generate_bytes(model, PROMPT, DecodingSettings(max_new_tokens=40, temperature=0.9, top_k=30, seed=8))
    assert other != once
    greedy = generate_text(model, PROMPT, 20, temperature=0)
    assert greedy == generate_text(model, PROMPT, 20, temperature=0, seed=99)  # greedy ignores the seed


def test_sampler_cuts() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05] + [1e-9] * 252))
    top1 = Sampler(DecodingSettings(temperature=1.0, top_k=1, seed=0))
    assert {top1(logits) for _ in range(20)} == {0}
    nucleus = Sampler(DecodingSettings(temperature=1.0, top_p=0.75, seed=0))  # 0.5 + 0.3 reach it
    assert {nucleus(logits) for _ in range(200)} == {0, 1}
    assert Sampler(DecodingSettings(temperature=0))(logits) == 0


# -------------------------------------------------------------------------------------------- exports
@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory, model: CausalNeuroLiteLM) -> dict[str, dict]:
    from neurolite_sdk.exporters.step_graph import export_step_bundle

    folder = tmp_path_factory.mktemp("gen-bundles")
    return {fmt: {"path": folder / fmt, "manifest": export_step_bundle(model, fmt, folder / fmt)}
            for fmt in STEP_EXPORTERS}


@pytest.mark.parametrize("fmt", RUNNABLE)
def test_export_parity_and_runtime_generate(bundles: dict, model: CausalNeuroLiteLM, fmt: str) -> None:
    from neurolite_sdk.runtime.generation import generate, load_step_bundle

    manifest = bundles[fmt]["manifest"]
    parity = manifest["parity"]
    assert parity["passed"] and parity["max_abs_logit_diff"] <= 1e-4 and parity["greedy_bytes_identical"]
    assert parity["steps"] > 40
    bundle = load_step_bundle(bundles[fmt]["path"])
    for kwargs in ({"temperature": 0.0}, {"temperature": 0.8, "top_k": 40, "top_p": 0.9, "seed": 5}):
        assert generate(bundle, PROMPT, 48, **kwargs) == generate_text(model, PROMPT, 48, **kwargs)


@pytest.mark.parametrize("fmt", RUNNABLE)
def test_runtime_generate_in_a_fresh_process(bundles: dict, model: CausalNeuroLiteLM, fmt: str) -> None:
    """A process that only opens the bundle (no export before it; an ExecuTorch program once outlived its buffer)."""
    import json
    import subprocess
    import sys

    code = ("import json, sys; from neurolite_sdk.runtime.generation import generate; "
            f"print(json.dumps(generate(sys.argv[1], {PROMPT!r}, 300, temperature=0.7, top_k=20, seed=2)))")
    result = subprocess.run([sys.executable, "-c", code, str(bundles[fmt]["path"])], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    text = json.loads(result.stdout.strip().splitlines()[-1])
    assert text == generate_text(model, PROMPT, 300, temperature=0.7, top_k=20, seed=2)


def test_coreml_export_is_structural(bundles: dict) -> None:
    manifest = bundles["coreml"]["manifest"]
    assert manifest["parity"]["passed"] is None and "macOS" in manifest["parity"]["skipped"]
    assert (bundles["coreml"]["path"] / "model.mlpackage").is_dir()
    assert manifest["details"]["structure"].startswith("inputs, outputs")


def test_damaged_bundle_is_refused(bundles: dict, tmp_path: Path) -> None:
    import shutil

    from neurolite_sdk.runtime.generation import StepBundleError, load_step_bundle

    copy = tmp_path / "onnx"
    shutil.copytree(bundles["onnx"]["path"], copy)
    with open(copy / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(StepBundleError, match="SHA-256"):
        load_step_bundle(copy)


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "field"), [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "x" * 300}, "prompt"),  # TINY context_length is 256 bytes
    ({"temperature": float("nan")}, "temperature"),
    ({"temperature": float("inf")}, "temperature"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": -1}, "top_k"),
])
def test_bad_generation_arguments_name_the_field(model: CausalNeuroLiteLM, kwargs: dict, field: str) -> None:
    args = {"prompt": PROMPT, **kwargs}
    prompt = args.pop("prompt")
    with pytest.raises(GenerationInputError, match=rf"^{field}:"):
        generate_text(model, prompt, 4, **args)


def test_bad_config_names_the_field() -> None:
    with pytest.raises(GenerationConfigError, match="^mixer:"):
        GenerationConfig(mixer="attention")
    with pytest.raises(GenerationConfigError, match="^ngram_orders:"):
        GenerationConfig(ngram_orders=[2, 2])


# ----------------------------------------------------------------------------------------------- CLI
def test_cli_train_generate_and_export(tmp_path: Path, text_slice: tuple[Path, Path], trained) -> None:
    runner = CliRunner()
    train_path, held_path = text_slice
    out = tmp_path / "ckpt"
    result = runner.invoke(main, ["train", "--task", "generation", "--train", str(train_path), "--eval",
                                  str(held_path), "--out", str(out), "--max-steps", "3", "--batch-size", "4",
                                  "--seq-len", "32", "--threads", "1", "--set", "hidden_size=16",
                                  "--set", "embedding_dim=8", "--set", "num_buckets=256", "--set", "num_layers=1"])
    assert result.exit_code == 0, result.output
    assert "held-out perplexity" in result.output and load_generator(out).config.hidden_size == 16
    result = runner.invoke(main, ["generate", str(trained[0]), "ROMEO:", "--max-new-tokens", "16", "--temperature",
                                  "0"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ROMEO:") and result.output.rstrip("\n") == \
        "ROMEO:" + generate_text(trained[0], "ROMEO:", 16, temperature=0)
    bundle = tmp_path / "bundle"
    result = runner.invoke(main, ["export-generator", str(trained[0]), "--format", "onnx", "--out", str(bundle)])
    assert result.exit_code == 0 and "parity passed" in " ".join(result.output.split()), result.output
    result = runner.invoke(main, ["generate", str(bundle), "ROMEO:", "--max-new-tokens", "16", "--temperature", "0"])
    assert result.exit_code == 0 and result.output.rstrip("\n") == \
        "ROMEO:" + generate_text(trained[0], "ROMEO:", 16, temperature=0)


@pytest.mark.parametrize(("args", "needle"), [
    (["--temperature", "nan"], "--temperature"),
    (["--top-p", "0"], "--top-p"),
    (["--top-p", "1.5"], "--top-p"),
])
def test_cli_bad_decoding_options(trained, args: list[str], needle: str) -> None:
    result = CliRunner().invoke(main, ["generate", str(trained[0]), "ROMEO:", *args])
    assert result.exit_code == 2 and needle in result.output


def test_cli_empty_and_long_prompt(trained) -> None:
    for prompt, needle in (("", "prompt: is empty"), ("y" * 257, "prompt: 257 bytes is longer")):
        result = CliRunner().invoke(main, ["generate", str(trained[0]), prompt])
        assert result.exit_code == 1 and needle in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_checkpoint_kinds_are_not_mixed_up(trained, tmp_path: Path) -> None:
    from neurolite_sdk.config import NeuroLiteConfig
    from neurolite_sdk.modeling.model import NeuroLiteForClassification
    from neurolite_sdk.training.checkpoint import save_checkpoint

    runner = CliRunner()
    result = runner.invoke(main, ["predict", str(trained[0]), "hello"])
    assert result.exit_code == 1 and "text-generation checkpoint" in result.output and "neurolite generate" in \
        result.output
    classifier = tmp_path / "classifier"
    config = NeuroLiteConfig(num_buckets=64, embedding_dim=8, hidden_size=8, num_mixer_layers=1, max_length=8,
                             token_mixing_dim=4, channel_mixing_dim=8)
    save_checkpoint(classifier, NeuroLiteForClassification(config, num_labels=2), ["neg", "pos"])
    result = runner.invoke(main, ["generate", str(classifier), "hello"])
    assert result.exit_code == 1 and "classification checkpoint" in result.output and "neurolite predict" in \
        result.output
    with pytest.raises(GenerationCheckpointError):
        load_generator(classifier)
    bundle = tmp_path / "classifier-bundle"  # what `neurolite export` writes: a manifest.json beside the model
    bundle.mkdir()
    (bundle / "manifest.json").write_text('{"schema_version": 1, "format": "onnx", "files": {}}', encoding="utf-8")
    result = runner.invoke(main, ["generate", str(bundle), "hello"])
    assert result.exit_code == 1 and "classifier bundle" in result.output and "neurolite run" in result.output


def test_cli_train_generation_bad_config(tmp_path: Path, text_slice: tuple[Path, Path]) -> None:
    train_path, held_path = text_slice
    base = ["train", "--task", "generation", "--train", str(train_path), "--eval", str(held_path), "--out",
            str(tmp_path / "out")]
    result = CliRunner().invoke(main, [*base, "--set", "mixer=attention"])
    assert result.exit_code == 1 and "mixer: must be one of" in result.output
    broken = tmp_path / "config.json"
    broken.write_text('{"hidden_size": 16,', encoding="utf-8")
    result = CliRunner().invoke(main, [*base, "--config", str(broken)])
    assert result.exit_code == 1 and f"{broken}: invalid JSON" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()
