"""``report.md`` and ``scaling.png`` from a results file, and the comparison with an earlier one.

The report leads with the comparison table the seed README promised (parameters, size, latency,
memory, complexity, accuracy), rebuilt from the measurements, then the ratios against the baselines,
the issue's targets with the measured figure beside each, every row (skipped ones with their reason),
the scaling table with fitted log-log slopes, and the machine. Figures are never invented: a missing
measurement prints as "–" and a skipped row prints its reason.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from neurolite_sdk.atomic import atomic_write_text
from neurolite_sdk.benchmarks.schema import validate
from neurolite_sdk.errors import NeuroLiteError

REPORT_FILE = "report.md"
PLOT_FILE = "scaling.png"
SLOPE_RANGE = (256, 2048)  # the range for the linear-scaling target
TARGETS = {"latency_ms": 1.5, "bert-base": 100.0, "distilbert": 50.0, "mobilebert": 30.0, "e2e_ratio": 1.5,
           "memory_mb": 40.0, "slope": 1.2}
DASH = "–"


class ReportError(NeuroLiteError):
    """A results file that cannot be read; names the path and the problem."""


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate ``results.json`` (or the one inside directory ``path``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise ReportError(f"{path}: no results file (run `neurolite bench ... --out DIR` first)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from exc
    try:
        validate(document)
    except NeuroLiteError as exc:
        raise ReportError(f"{path}: {exc}") from exc
    return document


# ------------------------------------------------------------------------------------------------ figures
def ok_rows(results: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    return [r for r in results["rows"] if r["status"] == "ok" and all(r[k] == v for k, v in match.items())]


def median(row: dict[str, Any]) -> float:
    return float(row["measurement"]["latency"]["median_ms"])


def fastest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return min(rows, key=median) if rows else None


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The comparison at the suite's length: NeuroLite's fastest fp32 row and each baseline's fastest."""
    length = results["settings"]["length"]
    neurolite = [r for r in ok_rows(results, family="neurolite", length=length, quantize="none")
                 if r["group"] in ("checkpoint", "comparison")]
    baselines = {}
    for row in ok_rows(results, family="baseline", group="comparison", length=length):
        best = baselines.get(row["model"])
        if best is None or median(row) < median(best):
            baselines[row["model"]] = row
    return {"length": length, "neurolite": fastest(neurolite), "baselines": baselines}


def scaling_curves(results: dict[str, Any]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Model -> [(length, latency stats)], sorted by length, from the scaling group."""
    curves: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for row in ok_rows(results, group="scaling"):
        measurement = row["measurement"]
        points = ([(p["length"], p["latency"]) for p in measurement["scaling"]] if measurement.get("scaling")
                  else [(row["length"], measurement["latency"])])
        curves.setdefault(row["model"], []).extend(points)
    return {name: sorted(points, key=lambda p: p[0]) for name, points in curves.items()}


def slope(points: list[tuple[int, dict[str, Any]]], low: int, high: int) -> float | None:
    """Least-squares slope of log(median latency) against log(length) over lengths in [low, high]."""
    chosen = [(n, s["median_ms"]) for n, s in points if low <= n <= high]
    if len(chosen) < 2:
        return None
    x, y = np.log([n for n, _ in chosen]), np.log([t for _, t in chosen])
    return float(np.polyfit(x, y, 1)[0])


def curve_slope(points: list[tuple[int, dict[str, Any]]]) -> tuple[float | None, str]:
    """The slope over the issue's 256..2048 range; for a model that stops below 1024 tokens (the
    baselines, at 512), over its last factor of four (128..512)."""
    lengths = [n for n, _ in points]
    if len(lengths) < 2:
        return None, DASH
    high = min(max(lengths), SLOPE_RANGE[1])
    low = SLOPE_RANGE[0] if high >= 4 * SLOPE_RANGE[0] else high // 4
    if sum(low <= n <= high for n in lengths) < 2:
        low = min(lengths)
    return slope(points, low, high), f"{low}..{high}"


# ------------------------------------------------------------------------------------------------ format
def _ms(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _mb(value: int | float | None) -> str:
    return DASH if value is None else f"{value / 1e6:.2f} MB"


def _count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def _ratio(value: float | None) -> str:
    return DASH if value is None or not math.isfinite(value) else f"{value:.1f}x"


def _latency(stats: dict[str, Any] | None) -> str:
    if not stats:
        return DASH
    busy = " (busy)" if stats["busy"] else ""
    return f"{_ms(stats['median_ms'])} ({_ms(stats['p10_ms'])}–{_ms(stats['p90_ms'])}){busy}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |"
              for row in rows]
    return lines


def _memory(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return DASH
    value = row["measurement"]["memory"].get("peak_increase_mb")
    return DASH if value is None else f"{value:.1f} MB"


def _accuracy(row: dict[str, Any]) -> str:
    accuracy = (row.get("measurement") or {}).get("accuracy")
    return DASH if not accuracy else f"{accuracy['accuracy']:.2%} ({accuracy['rows']} rows)"


def _model_name(row: dict[str, Any]) -> str:
    weights = " (random weights)" if row["family"] == "neurolite" and row["weights"] == "random" else ""
    return f"{row['model']}{weights}"


# ------------------------------------------------------------------------------------------------ sections
def summary_section(results: dict[str, Any], slopes: dict[str, float | None]) -> list[str]:
    head = headline(results)
    length = head["length"]
    lines = [f"## Comparison at {length} tokens, batch 1, {results['machine']['threads']} threads", ""]
    ours = head["neurolite"]
    if ours is None:
        return [*lines, f"No NeuroLite row was measured at {length} tokens.", ""]
    rows = []
    for row in [ours, *head["baselines"].values()]:
        ratio = None if row is ours else median(row) / median(ours)
        size_ratio = (None if row is ours or not row["size_bytes"] or not ours["size_bytes"]
                      else row["size_bytes"] / ours["size_bytes"])
        complexity = slopes.get(row["backbone"] if row["family"] == "neurolite" else row["model"])
        rows.append([_model_name(row), row["format"], _count(row["params"]), _mb(row["size_bytes"]),
                     _latency(row["measurement"]["latency"]), _ratio(ratio), _ratio(size_ratio), _memory(row),
                     DASH if complexity is None else f"O(L^{complexity:.2f})", _accuracy(row)])
    header = ["model", "fastest format", "parameters", "size on disk", "latency ms, median (p10–p90)",
              "time vs NeuroLite", "size vs NeuroLite", "peak RAM increase", "measured complexity", "accuracy"]
    lines += _table(header, rows)
    lines += ["", "Ratios are baseline / NeuroLite, measured in the same run with the same runtime settings. "
                  "Baselines have random weights (their accuracy is not measured) and no tokenizer: their "
                  "latency is graph-only, as is NeuroLite's here. Complexity is the fitted log-log slope of "
                  "the scaling table.", ""]
    return lines


def targets_section(results: dict[str, Any], slopes: dict[str, float | None]) -> list[str]:
    head = headline(results)
    ours = head["neurolite"]
    rows = []
    length = head["length"]
    if ours is not None and length == 256:
        value = median(ours)
        rows.append([f"tiny @256 fastest format median ({ours['format']})", f"{value:.3f} ms",
                     f"<= {TARGETS['latency_ms']} ms", _verdict(value <= TARGETS["latency_ms"])])
        by_format = {r["format"]: r for r in ok_rows(results, family="neurolite", length=length, quantize="none")
                     if r["group"] in ("checkpoint", "comparison")}
        for name in ("bert-base", "distilbert", "mobilebert"):
            # The same runtime on both sides (the terms), then fastest against fastest.
            pairs = [(base, by_format.get(base["format"])) for base in ok_rows(results, family="baseline",
                                                                                   group="comparison", model=name,
                                                                                   length=length)]
            best = head["baselines"].get(name)
            if best is not None and best["format"] != ours["format"]:
                pairs.append((best, ours))
            for base, mine in pairs:
                if mine is None:
                    continue
                ratio = median(base) / median(mine)
                how = (f"both {base['format']}" if base["format"] == mine["format"]
                       else f"fastest: {base['format']} vs {mine['format']}")
                rows.append([f"{name} / tiny @256 ({how})", f"{ratio:.1f}x ({_ms(median(base))} / "
                             f"{_ms(median(mine))} ms)", f">= {TARGETS[name]:.0f}x", _verdict(ratio >= TARGETS[name])])
    for row in ok_rows(results, group="checkpoint", family="neurolite", quantize="none"):
        e2e = row["measurement"].get("end_to_end")
        if e2e:
            ratio = e2e["median_ms"] / median(row)
            rows.append([f"end-to-end / graph-only, {row['model']} {row['format']} @{row['length']}",
                         f"{ratio:.2f}x ({_ms(e2e['median_ms'])} / {_ms(median(row))} ms)",
                         f"<= {TARGETS['e2e_ratio']}x", _verdict(ratio <= TARGETS["e2e_ratio"])])
        if row["format"] == "onnx":
            mb = row["measurement"]["memory"].get("peak_increase_mb")
            if mb is not None:
                rows.append([f"peak memory increase, {row['model']} onnx (load + inference)", f"{mb:.1f} MB",
                             f"< {TARGETS['memory_mb']:.0f} MB", _verdict(mb < TARGETS["memory_mb"])])
    for backbone in ("mixer", "hypermixer"):
        value = slopes.get(backbone)
        if value is not None:
            rows.append([f"scaling slope, {backbone}, {SLOPE_RANGE[0]}..{SLOPE_RANGE[1]}", f"{value:.2f}",
                         f"< {TARGETS['slope']}", _verdict(value < TARGETS["slope"])])
    if not rows:
        return []
    return ["## The issue's targets", "", *_table(["target", "measured", "bar", ""], rows), ""]


def teacher_section(results: dict[str, Any]) -> list[str]:
    """The fine-tuned transformer teacher beside each fp32 format of the student, on the same eval rows."""
    teachers = ok_rows(results, group="checkpoint", family="teacher")
    if not teachers:
        return []
    students = ok_rows(results, group="checkpoint", family="neurolite", quantize="none")
    rows = []
    for teacher in teachers:
        t_acc = (teacher["measurement"].get("accuracy") or {}).get("accuracy")
        rows.append([_model_name(teacher), teacher["format"], _count(teacher["params"]), _mb(teacher["size_bytes"]),
                     _latency(teacher["measurement"]["latency"]), _ratio(None), _ratio(None), _accuracy(teacher),
                     DASH])
        for student in students:
            s_acc = (student["measurement"].get("accuracy") or {}).get("accuracy")
            size = (teacher["size_bytes"] / student["size_bytes"]
                    if teacher["size_bytes"] and student["size_bytes"] else None)
            delta = (DASH if t_acc is None or s_acc is None
                     else f"{(s_acc - t_acc) * 100:+.2f} points")
            rows.append([_model_name(student), student["format"], _count(student["params"]),
                         _mb(student["size_bytes"]), _latency(student["measurement"]["latency"]),
                         _ratio(median(teacher) / median(student)), _ratio(size), _accuracy(student), delta])
    header = ["model", "format", "parameters", "size on disk", "latency ms, median (p10–p90)",
              "teacher time / this", "teacher size / this", "accuracy", "accuracy vs teacher"]
    return ["## The teacher beside its student", "", *_table(header, rows), "",
            "The transformer the checkpoint was distilled from, fine-tuned on the same training data, exported to "
            "ONNX from its cached weights and scored on the same eval rows with its own tokenizer; latency is "
            "graph-only at the checkpoint's length for both (batch 1, same threads, same run). What the student's "
            "speed and size cost in accuracy.", ""]


def _verdict(passed: bool) -> str:
    return "met" if passed else "**missed**"


def flops_section(results: dict[str, Any]) -> list[str]:
    gemm = results["gemm"]
    if gemm.get("status") != "ok":
        return ["## FLOP efficiency", "", f"Matrix-multiply peak not measured: {gemm.get('reason')}", ""]
    peak = gemm["flops_per_s"]
    rows = []
    for row in ok_rows(results):
        if row["group"] == "scaling" or not row["flops"]:
            continue
        achieved = row["flops"] / (median(row) / 1e3)
        rows.append([_model_name(row), row["format"], row["quantize"], str(row["length"]),
                     f"{row['flops'] / 1e6:,.1f}", _ms(median(row)), f"{achieved / 1e9:.2f}", f"{achieved / peak:.1%}"])
    when = ", the higher of the runs at the start and the end" if "other_flops_per_s" in gemm else ""
    lines = ["## FLOP efficiency", "",
             f"Machine peak: {peak / 1e9:.1f} GFLOP/s (best of {gemm.get('size')}^3 fp32 GEMMs in torch at "
             f"{gemm['threads']} threads{when}). FLOPs per "
             f"inference from PyTorch's FlopCounterMode on the fp32 model (matrix products only, batch 1); "
             f"achieved = FLOPs / median latency.", ""]
    if any(float(r[-1].rstrip("%")) > 100 for r in rows):
        lines += ["Some cases exceed the measured peak: the GEMM ran while other processes held the cores "
                  "(a busy machine), or the case is quantized (int8 kernels beat the fp32 peak); read the "
                  "peak as a lower bound.", ""]
    return [*lines, *_table(["model", "format", "quant", "tokens", "MFLOPs", "median ms", "achieved GFLOP/s",
                             "of peak"], rows), ""]


def rows_section(results: dict[str, Any]) -> list[str]:
    header = ["group", "model", "format", "quant", "tokens", "status", "size", "params", "load ms", "latency ms",
              "end-to-end ms", "e2e / graph", "throughput /s", "peak RAM increase", "accuracy"]
    rows = []
    for row in results["rows"]:
        if row["group"] == "scaling":
            continue
        m = row["measurement"] or {}
        e2e = m.get("end_to_end")
        throughput = m.get("throughput")
        cells = [row["group"], _model_name(row), row["format"], row["quantize"], str(row["length"]),
                 row["status"] if row["status"] == "ok" else f"{row['status']}: {row['reason']}",
                 _mb(row["size_bytes"]), _count(row["params"]),
                 _ms(m["load_s"] * 1e3) if m else DASH, _latency(m.get("latency")), _latency(e2e),
                 _ratio(e2e["median_ms"] / m["latency"]["median_ms"]) if e2e else DASH,
                 f"{throughput['items_per_s']:,.0f} (batch {throughput['batch']})" if throughput else DASH,
                 _memory(row), _accuracy(row)]
        rows.append(cells)
    return ["## Every case", "", *_table(header, rows), "",
            "Latency: batch 1, warm, graph only (the runtime backend's run on the featurized input). "
            "End-to-end: `Predictor.predict` on a different real text each call (featurizer, planner, "
            "graph, softmax, labels). Load: cold, in a fresh process. Peak RAM increase: the process's "
            "high-water mark after load and every run, minus its RSS just before loading (runtime "
            "library import excluded). Throughput: the batch in one call where the format allows it, "
            "else a loop of batch-1 calls (static shapes). (busy): p90/p10 above 1.5.", ""]


def scaling_section(curves: dict[str, list[tuple[int, dict[str, Any]]]],
                    results: dict[str, Any]) -> list[str]:
    if not curves:
        return []
    lengths = sorted({n for points in curves.values() for n, _ in points})
    rows = []
    for name, points in curves.items():
        by_length = dict(points)
        value, span = curve_slope(points)
        rows.append([name, *[_ms(by_length[n]["median_ms"]) if n in by_length else DASH for n in lengths],
                     DASH if value is None else f"{value:.2f} ({span})"])
    notes = [f"- {r['model']}: {r['reason']}" for r in results["rows"]
             if r["group"] == "scaling" and r["status"] != "ok"]
    notes += [f"- {r['model']}: {r['reason_lengths']}" for r in results["rows"]
              if r["group"] == "scaling" and r.get("reason_lengths")]
    return ["## Scaling with sequence length (ONNX, batch 1, median ms)", "",
            *_table(["model", *[str(n) for n in lengths], "log-log slope (range)"], rows), "",
            "NeuroLite backbones: the checkpoint's config with `max_length` = length and `backbone` changed, "
            "random weights, one export per length. Baselines: one export with a dynamic length, up to "
            "their 512 position embeddings (not extended). FNet's token mixing is a DFT written as a "
            "[L, L] matrix product (docs/design.md, decision 3), so it is quadratic by construction.", *notes, "",
            f"![latency against sequence length]({PLOT_FILE})", ""]


def machine_section(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    busy = [r["id"] for r in ok_rows(results) if r["measurement"]["latency"]["busy"]]
    load = f"{m['load_average'][0]:.2f}" + (f" at start, {m['load_average_end'][0]:.2f} at end"
                                            if "load_average_end" in m else "")
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    lines = ["## Machine and method", "",
             f"- Date: {results['created']}; command: `{results['command']}`; wall time {results['wall_s']:.0f} s",
             f"- CPU: {m['cpu']} ({m.get('usable_cores')} usable cores); threads fixed at {m['threads']} for "
             f"every runtime; 1-minute load average {load}",
             f"- Versions: {versions}",
             f"- Runs: {results['settings']['runs']} timed after {results['settings']['warmup']} warm-up calls; "
             f"scaling {results['settings']['scaling_runs']} runs" + (" (--quick)" if results["settings"]["quick"]
                                                                       else "")]
    if busy:
        lines.append(f"- **Busy machine**: {len(busy)} of {len(ok_rows(results))} cases had p90/p10 above 1.5 "
                     f"(their spread is shown); medians are the figure to read.")
    return [*lines, ""]


def _self_test(row: dict[str, Any]) -> str:
    report = row.get("self_test") or (row.get("measurement") or {}).get("self_test")
    if not report:
        return DASH
    if report["passed"]:
        return f"passed ({report['cases']} cases, max \u0394logit {report['max_abs_logit']:.1e})"
    return f"**failed** ({len(report['failures'])} of {report['cases']})"


def _device_cells(where: str, row: dict[str, Any]) -> list[str]:
    m = row["measurement"] or {}
    e2e, throughput = m.get("end_to_end"), m.get("throughput")
    return [where, row["model"], row["format"], row["quantize"], str(row["length"]),
            row["status"] if row["status"] == "ok" else f"{row['status']}: {row['reason']}",
            _ms(m["load_s"] * 1e3) if m else DASH, _latency(m.get("latency")), _latency(e2e),
            _ratio(e2e["median_ms"] / m["latency"]["median_ms"]) if e2e else DASH,
            f"{throughput['items_per_s']:,.0f} (batch {throughput['batch']})" if throughput else DASH,
            _memory(row), _self_test(row)]


def devices_section(results: dict[str, Any] | None, devices: list[dict[str, Any]]) -> list[str]:
    """Rows measured on phones (``neurolite bench --from-device``), each case's host row first when the
    host measured the same case (same id: model, format, quantization, length), then every device's."""
    if not devices:
        return []
    host = {r["id"]: r for r in results["rows"]} if results else {}
    order: list[str] = []
    for document in devices:
        order += [r["id"] for r in document["rows"] if r["id"] not in order]
    rows = []
    for case in order:
        if case in host:
            rows.append(_device_cells(f"host ({results['machine']['cpu']})", host[case]))
        for document in devices:
            for row in document["rows"]:
                if row["id"] == case:
                    rows.append(_device_cells(f"**{document['device']['name']}**", row))
    header = ["measured on", "model", "format", "quant", "tokens", "status", "load ms", "latency ms",
              "end-to-end ms", "e2e / graph", "throughput /s", "peak RAM increase", "self-test"]
    lines = ["## On-device results", "", *_table(header, rows), "",
             "Device rows come from the Android and iOS benchmark entry points (docs/mobile.md), imported with "
             "`neurolite bench --from-device`; each is shown after the host's row of the same case, when the host "
             "measured it. On a device, load is the bundle's verification (SHA-256 of every file), the featurizer "
             "and the model load; latency is graph-only through the planner; end-to-end is text to label; memory "
             "is the app process's resident high-water mark; the self-test is the bundle's test vectors.", ""]
    for document in devices:
        d = document["device"]
        runtimes = ", ".join(f"{k} {v}" for k, v in d["runtimes"].items())
        maker = f"{d['manufacturer']} " if d.get("manufacturer") else ""
        lines.append(f"- **{d['name']}**: {maker}{d['model']}, {d['os']} {d['os_version']}, {d['abi']}"
                     f"{', ' + d['soc'] if d.get('soc') else ''}; {document['machine']['threads']} threads; "
                     f"runtimes: {runtimes}; {document['settings']['runs']} runs; measured {document['created']} "
                     f"with `{document['command']}`")
    return [*lines, ""]


def compare_section(results: dict[str, Any], old: dict[str, Any], old_name: str) -> list[str]:
    before = {r["id"]: r for r in old["rows"] if r["status"] == "ok"}
    rows = []
    for row in ok_rows(results):
        if row["id"] in before:
            was, now = median(before[row["id"]]), median(row)
            rows.append([row["id"], _ms(was), _ms(now), f"{now / was:.2f}x"])
    gone = sorted(set(before) - {r["id"] for r in ok_rows(results)})
    lines = [f"## Compared with {old_name} ({old['created']})", ""]
    if not rows:
        lines.append("No case was measured in both runs.")
    else:
        lines += _table(["case", "before ms", "now ms", "now / before"], rows)
    if gone:
        lines += ["", f"Measured before but not now: {', '.join(gone)}"]
    return [*lines, ""]


# ------------------------------------------------------------------------------------------------ plot
def plot_scaling(curves: dict[str, list[tuple[int, dict[str, Any]]]], path: Path, title: str) -> Path:
    """Log-log latency against length, one line per model, with p10–p90 bars; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, points in sorted(curves.items()):
        lengths = [n for n, _ in points]
        medians = [s["median_ms"] for _, s in points]
        errors = [[s["median_ms"] - s["p10_ms"] for _, s in points], [s["p90_ms"] - s["median_ms"] for _, s in points]]
        value, _ = curve_slope(points)
        label = name if value is None else f"{name} (slope {value:.2f})"
        axes.errorbar(lengths, medians, yerr=errors, marker="o", capsize=2, label=label)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("sequence length (tokens)")
    axes.set_ylabel("latency, batch 1 (ms)")
    axes.set_title(title, fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp)
    plt.close(figure)
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------------------------ entry
def write_report(results_path: str | Path, compare: str | Path | None = None,
                 out_dir: str | Path | None = None) -> tuple[Path, Path | None]:
    """Render ``report.md`` (and ``scaling.png`` when there are scaling rows) next to the results.

    Device results imported into the bench directory (``devices/``) get their own section; a directory
    holding only device results gets a report of those alone.
    """
    from neurolite_sdk.benchmarks.device import load_devices

    results_path = Path(results_path)
    bench_dir = results_path if results_path.is_dir() else results_path.parent
    devices = load_devices(bench_dir)
    out = Path(out_dir) if out_dir else bench_dir
    if devices and results_path.is_dir() and not (results_path / "results.json").is_file():
        names = ", ".join(document["device"]["name"] for document in devices)
        lines = ["# NeuroLite benchmark report (devices)", "",
                 f"{len(devices)} device result file(s): {names}. Generated by `neurolite report`; no host "
                 f"results.json here (measure the host with `neurolite bench SOURCE --out {bench_dir}`).", "",
                 *devices_section(None, devices)]
        report = out / REPORT_FILE
        atomic_write_text(report, "\n".join(lines))
        return report, None
    results = load_results(results_path)
    old = load_results(compare) if compare else None
    curves = scaling_curves(results)
    slopes = {name: curve_slope(points)[0] for name, points in curves.items()}
    m = results["machine"]
    lines = [f"# NeuroLite benchmark report ({'quick' if results['settings']['quick'] else 'full'})", "",
             f"{m['cpu']}, {m['threads']} threads, {results['created']}. Generated by `neurolite report` from "
             f"`results.json`; re-run with `{results['command']}`.", ""]
    lines += summary_section(results, slopes)
    lines += targets_section(results, slopes)
    lines += teacher_section(results)
    lines += rows_section(results)
    lines += devices_section(results, devices)
    lines += scaling_section(curves, results)
    lines += flops_section(results)
    if old is not None:
        lines += compare_section(results, old, str(compare))
    lines += machine_section(results)
    plot = None
    if curves:
        out.mkdir(parents=True, exist_ok=True)
        plot = plot_scaling(curves, out / PLOT_FILE, f"{m['cpu']}, {m['threads']} threads, ONNX Runtime")
    report = out / REPORT_FILE
    atomic_write_text(report, "\n".join(lines))
    return report, plot
