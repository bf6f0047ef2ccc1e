"""The ``neurolite`` command through click's CliRunner: the happy path and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from neurolite_sdk.cli import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, sst2_small: tuple[Path, Path]) -> Path:
    train_path, dev_path = sst2_small
    out = tmp_path_factory.mktemp("cli") / "ckpt"
    result = CliRunner().invoke(main, ["train", "--train", str(train_path), "--eval", str(dev_path), "--out", str(out),
                                       "--epochs", "2", "--no-distill", "--threads", "2"])
    assert result.exit_code == 0, result.output
    assert "best eval accuracy" in result.output
    return out


def test_train_writes_a_complete_checkpoint(checkpoint: Path) -> None:
    names = sorted(p.name for p in checkpoint.iterdir())
    assert names == ["config.json", "featurizer.json", "labels.json", "model.safetensors", "training.json"]
    assert not [p for p in checkpoint.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_eval_json(checkpoint: Path, sst2_small: tuple[Path, Path]) -> None:
    result = CliRunner().invoke(main, ["eval", str(checkpoint), "--data", str(sst2_small[1]), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == 872 and 0 <= report["accuracy"] <= 1
    assert sum(map(sum, report["confusion"])) == 872


def test_predict_json_and_text(checkpoint: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("a gorgeous , witty movie\n\nterrible , boring\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["predict", str(checkpoint), "what a film", "--file", str(texts), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["text"] for r in rows] == ["what a film", "a gorgeous , witty movie", "terrible , boring"]
    for row in rows:
        assert row["label"] in ("0", "1") and abs(sum(row["probabilities"].values()) - 1) < 1e-5
    plain = CliRunner().invoke(main, ["predict", str(checkpoint), "what a film"])
    assert plain.exit_code == 0 and "what a film" in plain.output


def test_info_preset_and_checkpoint(checkpoint: Path) -> None:
    from neurolite_sdk import NeuroLiteConfig, NeuroLiteForClassification
    from neurolite_sdk.modeling import count_parameters

    result = CliRunner().invoke(main, ["info", "--preset", "tiny", "--json"])
    assert result.exit_code == 0, result.output
    expected = count_parameters(NeuroLiteForClassification(NeuroLiteConfig.tiny(), num_labels=2))
    info = json.loads(result.output)
    assert info["parameters"] == expected == sum(info["components"].values())
    result = CliRunner().invoke(main, ["info", str(checkpoint)])
    assert result.exit_code == 0 and f"{expected:,}" in result.output


def run_bad(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    return result.output


def test_bad_inputs(tmp_path: Path, sst2_small: tuple[Path, Path], checkpoint: Path) -> None:
    train_path, dev_path = sst2_small
    out = tmp_path / "never"
    common = ["--eval", str(dev_path), "--out", str(out), "--epochs", "1", "--no-distill"]
    assert "no such file" in run_bad(["train", "--train", str(tmp_path / "nope.tsv"), *common])
    cols = tmp_path / "cols.tsv"
    cols.write_text("review\tstars\ngood\t1\nbad\t0\n", encoding="utf-8")
    assert "columns found: review, stars" in run_bad(["train", "--train", str(cols), *common])
    assert "'huge' is not one of" in run_bad(["train", "--train", str(train_path), "--preset", "huge", *common])
    assert "hidden_size:" in run_bad(["train", "--train", str(train_path), "--set", "hidden_size=0", *common])
    assert "hiden_size: unknown config field" in run_bad(["train", "--train", str(train_path), "--set",
                                                          "hiden_size=8", *common])
    latin = tmp_path / "latin.tsv"
    latin.write_bytes(b"sentence\tlabel\nbon\t1\n" + "très\t0\n".encode("latin-1"))
    assert "line 3: not valid UTF-8" in run_bad(["train", "--train", str(latin), *common])
    # an eval label never seen in training is a warning and an error row, not a stop (tests/test_teacher.py)
    assert not out.exists()  # nothing half-written
    assert "not a checkpoint directory" in run_bad(["predict", str(tmp_path / "nockpt"), "hi"])
    assert "give at least one TEXT" in run_bad(["predict", str(checkpoint)])
    assert "give either CHECKPOINT or --preset" in run_bad(["info"])


def test_checkpoint_from_another_featurizer_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(checkpoint, copy)
    doc = json.loads((copy / "featurizer.json").read_text())
    doc["version"] = "0.9"
    (copy / "featurizer.json").write_text(json.dumps(doc))
    assert "featurizer version '0.9'" in run_bad(["info", str(copy)])
    (copy / "model.safetensors").write_bytes((checkpoint / "model.safetensors").read_bytes()[:100])
    doc["version"] = json.loads((checkpoint / "featurizer.json").read_text())["version"]
    (copy / "featurizer.json").write_text(json.dumps(doc))
    assert "model.safetensors: cannot be read" in run_bad(["info", str(copy)])


def test_threads_default_honours_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import torch

    from neurolite_sdk.cli.common import configure_threads

    before = torch.get_num_threads()
    monkeypatch.delenv("NEUROLITE_THREADS", raising=False)  # configure_threads sets it; undone after the test
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert configure_threads(None) == 1 and torch.get_num_threads() == 1
        assert os.environ["NEUROLITE_THREADS"] == "1"
        assert configure_threads(2) == 2  # --threads wins over the environment
        for unusable in ("0", "two", ""):
            monkeypatch.setenv("OMP_NUM_THREADS", unusable)
            assert configure_threads(None) == len(os.sched_getaffinity(0))
    finally:
        torch.set_num_threads(before)
