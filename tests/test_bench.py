"""Benchmarks: the harness end to end on a small trained model and a one-layer BERT, in seconds.

One suite runs once for the module (the small checkpoint's ONNX bundle, a quantization ONNX cannot
hold, a one-layer BERT baseline on ONNX at the same length, a two-length scaling sweep); the tests
read its results, validate them against the schema, render the report and compare two runs. No timing is
asserted: only that every figure is there, has the right shape, and that skipped rows say why.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from neurolite_sdk.benchmarks.report import ReportError, load_results, write_report
from neurolite_sdk.benchmarks.schema import SchemaError, validate
from neurolite_sdk.benchmarks.suite import BenchError, Suite, SuiteOptions, run_case, write_results
from neurolite_sdk.cli import main

TINY_BERT = dict(num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                 vocab_size=30522)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, small_checkpoint_dir: Path) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    options = SuiteOptions(source=small_checkpoint_dir, out=out, threads=1, length=32, formats=["onnx"],
                           quantize=("none", "palette8"), baselines=("bert-base",), baseline_formats=("onnx",),
                           scaling_lengths=(16, 32), scaling_backbones=("mixer",), runs=5, warmup=1,
                           scaling_runs=5, throughput_batch=4, gemm_size=256, command="pytest",
                           baseline_overrides=TINY_BERT)
    steps: list[tuple[str, int, int]] = []
    results = Suite(options, lambda description, done, total: steps.append((description, done, total))).run()
    write_results(results, out)
    assert steps[-1][1] == steps[-1][2]  # the progress callback reached its total
    return out, results


def rows(results: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    return [r for r in results["rows"] if all(r[k] == v for k, v in match.items())]


def test_results_validate_and_carry_machine_and_versions(bench: tuple[Path, dict[str, Any]]) -> None:
    out, results = bench
    validate(results)
    assert load_results(out)["rows"] == results["rows"]  # the file on disk is the document
    machine = results["machine"]
    assert machine["cpu"] and machine["threads"] == 1
    assert machine["versions"]["onnxruntime"] and machine["versions"]["torch"]
    assert results["gemm"]["status"] == "ok" and results["gemm"]["flops_per_s"] > 0


def test_neurolite_row_has_every_figure(bench: tuple[Path, dict[str, Any]]) -> None:
    _, results = bench
    (row,) = rows(results, group="checkpoint", format="onnx", quantize="none")
    assert row["status"] == "ok" and row["weights"] == "trained" and row["length"] == 16
    assert row["params"] > 0 and row["flops"] > 0 and row["size_bytes"] > 0
    m = row["measurement"]
    assert m["threads"] == 1 and m["latency"]["runs"] == 5
    assert m["latency"]["p10_ms"] <= m["latency"]["median_ms"] <= m["latency"]["p90_ms"]
    assert m["end_to_end"]["runs"] == 5 and m["throughput"]["batch"] == 4
    assert m["memory"]["peak_increase_mb"] is not None and m["load_s"] > 0
    assert m["accuracy"]["rows"] == 872 and 0.0 <= m["accuracy"]["accuracy"] <= 1.0
    assert m["versions"] == {"onnxruntime": results["machine"]["versions"]["onnxruntime"]}


def test_baseline_measured_by_the_same_harness(bench: tuple[Path, dict[str, Any]]) -> None:
    _, results = bench
    (row,) = rows(results, group="comparison", model="bert-base")
    assert row["status"] == "ok", row["reason"]
    assert row["family"] == "baseline" and row["format"] == "onnx" and row["length"] == 32
    assert row["measurement"]["latency"]["runs"] == 5 and row["flops"] > 0
    assert "end_to_end" not in row["measurement"]  # no tokenizer: graph-only, and the report says so
    # Our side of the comparison: the checkpoint's architecture at 32 tokens, random weights, verified export.
    (ours,) = rows(results, group="comparison", family="neurolite")
    assert ours["status"] == "ok" and ours["weights"] == "random" and ours["length"] == 32, ours["reason"]
    assert ours["parity"]["status"] == "passed" and "accuracy" not in ours["measurement"]


def test_unsupported_quantization_is_a_skipped_row(bench: tuple[Path, dict[str, Any]]) -> None:
    _, results = bench
    (row,) = rows(results, group="checkpoint", format="onnx", quantize="palette8")
    assert row["status"] == "skipped" and row["measurement"] is None
    assert "palette8 is not supported" in row["reason"]


def test_missing_runtime_is_skipped_never_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               bench: tuple[Path, dict[str, Any]]) -> None:
    out, results = bench
    # A worker whose onnxruntime cannot be imported, as on a machine without the onnx extra.
    shadow = tmp_path / "shadow" / "onnxruntime"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'onnxruntime'\", "
                                        "name='onnxruntime')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))
    (row,) = rows(results, group="checkpoint", format="onnx", quantize="none")
    case = {"kind": "bundle", "path": str(out / "bundles" / "checkpoint" / "onnx"), "length": 16,
            "texts": ["a text"], "warmup": 1, "runs": 5}
    result = run_case(case, threads=1)
    assert result["status"] == "skipped"
    assert "pip install 'neurolite-sdk[onnx]'" in result["reason"]
    assert "latency" not in result
    baseline = run_case({"kind": "onnx", "path": "unused.onnx", "length": 16, "warmup": 1, "runs": 5}, threads=1)
    assert baseline["status"] == "skipped" and "onnxruntime" in baseline["reason"]


def test_scaling_rows_and_report(bench: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, results = bench
    mixer = rows(results, group="scaling", model="mixer")
    assert sorted(r["length"] for r in mixer) == [16, 32] and all(r["status"] == "ok" for r in mixer)
    (bert,) = rows(results, group="scaling", model="bert-base")
    assert [p["length"] for p in bert["measurement"]["scaling"]] == [16, 32]
    report, plot = write_report(out, out_dir=tmp_path)
    text = report.read_text(encoding="utf-8")
    assert "## Comparison at 32 tokens" in text
    summary = text.split("## Comparison at 32 tokens")[1].split("##")[0]
    assert "| ckpt arch (random weights) | onnx |" in summary
    assert "| bert-base | onnx |" in summary and "x |" in summary  # the baseline row carries its ratio
    assert "## Scaling with sequence length" in text and "| mixer |" in text
    assert "skipped: onnx: --quantize palette8 is not supported" in text  # skipped rows print their reason
    assert "## FLOP efficiency" in text and "Machine peak:" in text
    assert plot is not None and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schema_names_the_bad_field(bench: tuple[Path, dict[str, Any]]) -> None:
    _, results = bench
    broken = copy.deepcopy(results)
    i = next(i for i, row in enumerate(broken["rows"]) if row["measurement"])
    del broken["rows"][i]["measurement"]["latency"]["median_ms"]
    with pytest.raises(SchemaError, match=rf"\$\.rows\[{i}\]\.measurement\.latency: missing field 'median_ms'"):
        validate(broken)
    broken = copy.deepcopy(results)
    broken["rows"][0]["status"] = "fast"
    with pytest.raises(SchemaError, match=r"\$\.rows\[0\]\.status: 'fast' is not one of"):
        validate(broken)


def test_cli_report_compare(bench: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out, results = bench
    old = copy.deepcopy(results)
    for row in old["rows"]:
        if row["measurement"]:
            row["measurement"]["latency"]["median_ms"] *= 2
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(old), encoding="utf-8")
    runner = CliRunner()
    done = runner.invoke(main, ["report", str(out / "results.json"), "--compare", str(old_path),
                                "--out", str(tmp_path / "report")])
    assert done.exit_code == 0, done.output
    text = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    section = text.split("## Compared with")[1]
    assert "| checkpoint/" in section and "0.50x" in section


def test_bad_input_is_one_clear_line(tmp_path: Path, small_checkpoint_dir: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["report", str(tmp_path)])
    assert done.exit_code == 1 and "no results file" in done.output
    (tmp_path / "results.json").write_text('{"schema": "neurolite-bench/1"}', encoding="utf-8")
    with pytest.raises(ReportError, match="missing field 'created'"):
        load_results(tmp_path)
    with pytest.raises(BenchError, match="pass --eval FILE"):
        Suite(SuiteOptions(source=small_checkpoint_dir, out=tmp_path, eval_path=tmp_path / "none.tsv"))


def test_existing_scripts_still_run_as_files() -> None:
    import subprocess

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "reasoning_bench.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
