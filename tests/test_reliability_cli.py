"""Reliability of the CLI, training and reasoning side (issue 14): nothing on disk is lost, output locations
are checked before any work, and bad input is one line naming the file, field or line.

Every test drives the real ``neurolite`` command (click's CliRunner or a subprocess) on tiny real data: a
few SST-2 rows and a model of a few thousand parameters, so each training run takes about a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from neurolite_sdk.atomic import BUNDLE, CHECKPOINT, OutputError, atomic_directory, check_output_dir
from neurolite_sdk.cli import main

# A model of a few thousand parameters: training on 80 rows takes about a second.
TINY = dict(num_buckets=256, embedding_dim=16, hidden_size=16, num_mixer_layers=1, max_length=16,
            token_mixing_dim=8, channel_mixing_dim=32)
TINY_SET = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory, sst2_small: tuple[Path, Path]) -> tuple[Path, Path]:
    """80 SST-2 training rows and 80 dev rows (parity needs 64), with the header."""
    folder = tmp_path_factory.mktemp("tiny-data")
    for source, name, rows in ((sst2_small[0], "train.tsv", 80), (sst2_small[1], "dev.tsv", 80)):
        lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / name).write_text("".join(lines[: rows + 1]), encoding="utf-8")
    return folder / "train.tsv", folder / "dev.tsv"


def train_args(tiny_data: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    return ["train", "--train", str(tiny_data[0]), "--eval", str(tiny_data[1]), "--out", str(out), "--epochs", "1",
            "--no-distill", "--threads", "1", *TINY_SET, *extra]


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(main, args)


def one_line_error(result: Result) -> str:
    """The command failed with exactly one line, ``Error: ...``, and no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_data: tuple[Path, Path]) -> Path:
    out = tmp_path_factory.mktemp("reliability") / "ckpt"
    result = invoke(train_args(tiny_data, out))
    assert result.exit_code == 0, result.output
    return out


# ------------------------------------------------------------------------------------------------ defect 1
def test_train_refuses_a_directory_that_is_not_a_checkpoint(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    out = tmp_path / "photos"
    (out / "2024").mkdir(parents=True)
    (out / "2024" / "beach.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    before = snapshot(out)
    for extra in ((), ("--overwrite",)):  # --overwrite replaces checkpoints only, never anything else
        line = one_line_error(invoke(train_args(tiny_data, out, *extra)))
        assert line == f"Error: {out}: not empty and not a NeuroLite checkpoint; refusing to replace it " \
                       "(give a new or empty directory)"
        assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]  # no staging left beside it


def test_the_out_check_runs_before_any_work(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "file").write_text("x", encoding="utf-8")
    # The training file does not exist: the output check must be the one that answers, before reading data.
    args = ["train", "--train", str(tmp_path / "missing.tsv"), "--eval", str(tiny_data[1]), "--out", str(out)]
    assert f"{out}: not empty and not a NeuroLite checkpoint" in one_line_error(invoke(args))


def test_an_existing_checkpoint_is_replaced_only_with_overwrite(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    out = tmp_path / "ckpt"
    assert invoke(train_args(tiny_data, out, "--seed", "1")).exit_code == 0
    before = snapshot(out)
    line = one_line_error(invoke(train_args(tiny_data, out, "--seed", "2")))
    assert line == f"Error: {out}: already holds a NeuroLite checkpoint; pass --overwrite to replace it"
    assert snapshot(out) == before
    result = invoke(train_args(tiny_data, out, "--seed", "2", "--overwrite"))
    assert result.exit_code == 0, result.output
    after = snapshot(out)
    assert sorted(after) == sorted(before) and after["model.safetensors"] != before["model.safetensors"]
    assert json.loads(after["training.json"])["settings"]["seed"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_an_empty_directory_is_written(tmp_path: Path, tiny_data: tuple[Path, Path]) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert invoke(train_args(tiny_data, out)).exit_code == 0
    assert (out / "model.safetensors").is_file()


def test_export_refuses_foreign_and_existing_bundles(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "app"
    (out / "onnx").mkdir(parents=True)
    (out / "onnx" / "model.onnx").write_bytes(b"the app's own model")  # a directory, but no bundle manifest
    before = snapshot(out)
    export = ["export", str(checkpoint), "--format", "onnx", "--out", str(out), "--no-verify"]
    for extra in ((), ("--overwrite",)):
        line = one_line_error(invoke([*export, *extra]))
        assert line.startswith(f"Error: {out / 'onnx'}: not empty and not a NeuroLite bundle")
        assert snapshot(out) == before
    fresh = tmp_path / "bundles"
    assert invoke(["export", str(checkpoint), "--format", "onnx", "--out", str(fresh), "--no-verify"]).exit_code == 0
    bundle = snapshot(fresh / "onnx")
    line = one_line_error(invoke(["export", str(checkpoint), "--format", "onnx", "--out", str(fresh)]))
    assert line == f"Error: {fresh / 'onnx'}: already holds a NeuroLite bundle; pass --overwrite to replace it"
    assert snapshot(fresh / "onnx") == bundle
    replaced = invoke(["export", str(checkpoint), "--format", "onnx", "--out", str(fresh), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((fresh / "onnx" / "manifest.json").read_text(encoding="utf-8"))["parity"]["verify"] is True


def test_export_all_checks_every_destination_first(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "tflite").mkdir(parents=True)
    (out / "tflite" / "keep.txt").write_text("x", encoding="utf-8")
    line = one_line_error(invoke(["export", str(checkpoint), "--format", "all", "--out", str(out), "--no-verify"]))
    assert f"{out / 'tflite'}: not empty and not a NeuroLite bundle" in line
    assert sorted(p.name for p in out.iterdir()) == ["tflite"]  # not one format exported before the refusal


def test_bench_and_quantize_report_refuse_foreign_directories(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "work"
    out.mkdir()
    (out / "thesis.tex").write_text("x", encoding="utf-8")
    line = one_line_error(invoke(["bench", str(checkpoint), "--out", str(out), "--quick", "--overwrite"]))
    assert line.startswith(f"Error: {out}: not empty and not a NeuroLite bench directory")
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "results.json").write_text("{}", encoding="utf-8")
    line = one_line_error(invoke(["bench", str(checkpoint), "--out", str(bench), "--quick"]))
    assert line == f"Error: {bench}: already holds a NeuroLite bench directory; pass --overwrite to replace it"
    (out / "onnx-none").mkdir()
    (out / "onnx-none" / "a.txt").write_text("x", encoding="utf-8")
    line = one_line_error(invoke(["quantize-report", str(checkpoint), "--formats", "onnx", "--schemes", "none",
                                  "--out", str(out), "--overwrite"]))
    assert line.startswith(f"Error: {out / 'onnx-none'}: not empty and not a NeuroLite bundle")
    assert sorted(p.name for p in out.iterdir()) == ["onnx-none", "thesis.tex"]


def test_the_library_refuses_too(checkpoint: Path, tmp_path: Path) -> None:
    from neurolite_sdk.training.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(checkpoint)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("1,2\n", encoding="utf-8")
    with pytest.raises(OutputError, match="not empty and not a NeuroLite checkpoint"):
        save_checkpoint(foreign, ckpt.model, ckpt.labels, overwrite=True)
    assert snapshot(foreign) == {"data.csv": b"1,2\n"}
    with pytest.raises(OutputError, match="already holds a NeuroLite checkpoint"):
        save_checkpoint(checkpoint, ckpt.model, ckpt.labels)
    check_output_dir(checkpoint, CHECKPOINT, overwrite=True)
    with pytest.raises(OutputError, match="not empty and not a NeuroLite bundle"):
        check_output_dir(checkpoint, BUNDLE, overwrite=True)  # a checkpoint is not a bundle


def test_a_directory_that_appears_during_the_work_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with pytest.raises(OutputError, match="not empty and not a NeuroLite checkpoint"):
        with atomic_directory(target, CHECKPOINT, overwrite=True) as staging:
            (staging / "config.json").write_text("{}", encoding="utf-8")
            target.mkdir()  # someone else wrote here meanwhile
            (target / "theirs.txt").write_text("theirs", encoding="utf-8")
    assert snapshot(target) == {"theirs.txt": b"theirs"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
