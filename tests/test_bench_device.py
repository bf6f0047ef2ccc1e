"""`neurolite bench --from-device` and the report's on-device section (results written by android_demo/ and
ios_demo/ benchmarks, docs/mobile.md). The documents here are shaped as the Kotlin library writes them;
tests/test_android_host.py checks a document the library really wrote against the same schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from neurolite_sdk.benchmarks.device import (
    DeviceResultsError,
    import_device_results,
    read_device_results,
    validate_device_results,
)
from neurolite_sdk.benchmarks.report import write_report
from neurolite_sdk.benchmarks.schema import SchemaError
from neurolite_sdk.cli import main

LATENCY = {"median_ms": 0.42, "p10_ms": 0.4, "p90_ms": 0.5, "mean_ms": 0.44, "min_ms": 0.39, "runs": 50,
           "spread": 1.25, "busy": False}
CASE = "checkpoint/sst2-tiny/tflite/none/64"


def measurement(**changes: Any) -> dict[str, Any]:
    return {"status": "ok", "threads": 2, "load_s": 0.031, "signature": "b1_l16", "latency": dict(LATENCY),
            "end_to_end": {**LATENCY, "median_ms": 0.55}, "throughput": {"batch": 16, "median_ms": 2.0,
                                                                         "items_per_s": 8000.0},
            "memory": {"peak_increase_mb": 6.5, "method": "VmHWM after reset (clear_refs 5)"},
            "versions": {"runtime": "litert 2.3.0"},
            "self_test": {"passed": True, "cases": 17, "max_abs_logit": 2e-7, "tolerance": 1e-4, "failures": []},
            **changes}


def row(case: str = CASE, status: str = "ok", reason: str | None = None) -> dict[str, Any]:
    _, model, fmt, quantize, length = case.split("/")
    return {"id": case, "group": "checkpoint", "model": model, "family": "neurolite", "backbone": "mixer",
            "format": fmt, "quantize": quantize, "length": int(length), "weights": "trained", "params": None,
            "flops": None, "size_bytes": 2_000_000, "status": status, "reason": reason,
            "measurement": measurement() if status == "ok" else None}


def device_document(name: str = "Pixel 8 (husky)") -> dict[str, Any]:
    return {"schema": "neurolite-bench/1", "created": "2026-12-01T15:00:00Z",
            "command": "adb shell am start -n ai.neurolite.demo/.BenchmarkActivity --es bundles tflite",
            "machine": {"cpu": "Tensor G3", "cores": 9, "threads": 2, "platform": "Android 15 (API 35)",
                        "versions": {"litert": "2.3.0"}, "load_average": []},
            "settings": {"threads": 2, "length": 64, "runs": 50, "warmup": 10, "quick": False},
            "gemm": {"status": "skipped", "reason": "the matrix-multiply peak is not measured on devices"},
            "rows": [row(), row("checkpoint/sst2-tiny/coreml/none/64", "skipped",
                                "format 'coreml': this app has no runtime for it")],
            "wall_s": 12.5,
            "device": {"name": name, "platform": "android", "manufacturer": "Google", "model": "Pixel 8",
                       "os": "Android", "os_version": "15 (API 35)", "abi": "arm64-v8a", "soc": "Tensor G3",
                       "runtimes": {"litert": "2.3.0", "onnxruntime-android": "1.32.0"}}}


def host_document() -> dict[str, Any]:
    return {"schema": "neurolite-bench/1", "created": "2026-12-01T14:00:00+00:00", "command": "neurolite bench",
            "machine": {"cpu": "Host CPU", "threads": 2, "versions": {"onnxruntime": "1.32.0"},
                        "load_average": [0.5, 0.5, 0.5], "usable_cores": 2},
            "settings": {"threads": 2, "length": 64, "runs": 50, "quick": True, "warmup": 10, "scaling_runs": 10},
            "gemm": {"status": "skipped", "reason": "not measured"},
            "rows": [{**row(), "measurement": measurement(latency={**LATENCY, "median_ms": 0.3})}],
            "wall_s": 60.0}


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_valid_device_document_passes() -> None:
    validate_device_results(device_document())


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["device"].pop("abi"), "$.device: missing field 'abi'"),
    (lambda d: d.pop("device"), "$: missing field 'device'"),
    (lambda d: d["rows"][0]["measurement"]["latency"].pop("p10_ms"), "$.rows[0].measurement.latency: missing field"),
    (lambda d: d["rows"][0].update(status="great"), "$.rows[0].status: 'great' is not one of"),
    (lambda d: d["device"].update(runtimes="litert"), "$.device.runtimes: expected object"),
    (lambda d: d.update(schema="neurolite-bench/2"), "$.schema:"),
])
def test_errors_name_the_field(change: Any, field: str) -> None:
    document = copy.deepcopy(device_document())
    change(document)
    with pytest.raises(SchemaError) as error:
        validate_device_results(document)
    assert field in str(error.value)


def test_unreadable_files_say_why(tmp_path: Path) -> None:
    with pytest.raises(DeviceResultsError, match="no such file"):
        read_device_results(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{\"schema\": ", encoding="utf-8")
    with pytest.raises(DeviceResultsError, match="bad.json: not JSON"):
        read_device_results(tmp_path / "bad.json")


def test_cli_imports_then_reports_device_rows(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "bench"
    first = write(tmp_path / "pixel.json", device_document())
    second = write(tmp_path / "iphone.json", {**device_document("iPhone 15 Pro"), "created": "2026-12-01T16:00:00Z"})
    done = runner.invoke(main, ["bench", "--from-device", str(first), "--from-device", str(second), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "Pixel 8 (husky): 2 rows (1 ok, 1 skipped, 0 failed)" in done.output
    assert sorted(p.name for p in (out / "devices").iterdir()) == [
        "Pixel-8-husky-2026-12-01T15-00-00Z.json", "iPhone-15-Pro-2026-12-01T16-00-00Z.json"]
    again = runner.invoke(main, ["bench", "--from-device", str(first), "--out", str(out)])
    assert again.exit_code == 1 and "already imported; pass --overwrite" in again.output
    assert runner.invoke(main, ["bench", "--from-device", str(first), "--out", str(out), "--overwrite"]).exit_code == 0

    done = runner.invoke(main, ["report", str(out)])
    assert done.exit_code == 0, done.output
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "(devices)" in text and "## On-device results" in text
    assert "| **Pixel 8 (husky)** | sst2-tiny | tflite |" in text and "| **iPhone 15 Pro** |" in text
    assert "skipped: format 'coreml'" in text and "passed (17 cases" in text


def test_cli_refuses_a_bad_file_and_writes_nothing(tmp_path: Path) -> None:
    document = device_document()
    del document["rows"][0]["measurement"]["memory"]
    bad = write(tmp_path / "bad.json", document)
    good = write(tmp_path / "good.json", device_document())
    out = tmp_path / "bench"
    done = CliRunner().invoke(main, ["bench", "--from-device", str(good), "--from-device", str(bad), "--out", str(out)])
    assert done.exit_code == 1
    assert "bad.json: $.rows[0].measurement: missing field 'memory'" in done.output
    assert not (out / "devices").exists()


def test_cli_needs_a_source_or_a_device_file(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["bench", "--out", str(tmp_path / "bench")])
    assert done.exit_code == 2 and "--from-device FILE" in done.output


def test_report_puts_device_rows_beside_the_host_row(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    out.mkdir()
    write(out / "results.json", host_document())
    import_device_results([write(tmp_path / "pixel.json", device_document())], out)
    report, _ = write_report(out)
    section = report.read_text(encoding="utf-8").split("## On-device results")[1]
    lines = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert lines[0].startswith("| host (Host CPU) | sst2-tiny | tflite |") and "0.300" in lines[0]
    assert lines[1].startswith("| **Pixel 8 (husky)** | sst2-tiny | tflite |") and "0.420" in lines[1]
    assert "Google Pixel 8, Android 15 (API 35), arm64-v8a, Tensor G3" in section
