"""orbital8 decoded at load vs in the graph vs fp32 (and native int8): latency, throughput, size, cold load, memory.

    python benchmarks/orbital8_load.py CHECKPOINT --out DIR [--formats onnx,tflite,executorch]
                                       [--forms none,load,graph,int8] [--runs 300] [--threads 1]
                                       [--batches 16,32,64] [--eval TSV]

Every form of a format is exported once into DIR/bundles/FORMAT-FORM (parity-checked; reused when present),
then measured in one fresh process per format, every form loaded side by side and called in turn (one call
of each per round, the order rotating), so the machine's load moves all of them alike: the headline is
the ratio of each form's median to fp32's in the same process, with the p10-p90 of the per-round ratios.
Graph-only at batch 1 (the backend's ``run`` on the signature the planner picks, as the bench worker's
``BundleRunner`` does), throughput at each ``--batches`` size through ``Predictor.run`` (planner included:
formats with static batches split), warm load time (``runtime.load``: read, verify, rebuild, create the
session) interleaved the same way; then per bundle, in a fresh process each, the bench worker's cold load
and peak memory increase. Sizes: the bundle's model bytes (its files less manifest, model card and test
vectors), as ``ExportResult.total_bytes`` counts them. Writes DIR/orbital8_load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("onnx", "tflite", "executorch")
FORMS = ("none", "load", "graph", "int8")  # fp32; orbital8 decoded at load; orbital8 in the graph; native int8
NOT_MODEL = ("manifest.json", "model_card.json", "model_card.md", "test_vectors.json")


def export(checkpoint: Any, fmt: str, form: str, out: Path, eval_path: Path) -> Path:
    from neurolite_sdk.exporters import export_bundle, parity_texts
    from neurolite_sdk.exporters.parity import PARITY_TEXTS
    from neurolite_sdk.training.data import load_dataset

    target = out / "bundles" / f"{fmt}-{form}"
    if (target / "manifest.json").is_file():
        return target
    options: dict[str, Any] = {}
    if form in ("load", "graph"):
        options = {"quantize": "orbital8", "orbital8_decode": form}
    elif form == "int8":
        options = {"quantize": "int8"}
    started = time.perf_counter()
    texts = parity_texts(checkpoint, load_dataset(eval_path).texts[:PARITY_TEXTS], source=str(eval_path))
    export_bundle(checkpoint, fmt, target, texts=texts, verify=True, overwrite=True, **options)
    print(f"exported {fmt} {form} in {time.perf_counter() - started:.0f} s", flush=True)
    return target


def model_bytes(bundle: Path) -> int:
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return sum(record["bytes"] for name, record in manifest["files"].items() if name not in NOT_MODEL)


def _spread(values: list[float]) -> dict[str, float]:
    return {q: float(np.percentile(values, p)) for q, p in (("p10", 10), ("median", 50), ("p90", 90))}


def interleaved_worker(case_path: Path, result_path: Path) -> None:
    """In a fresh process: every form of one format loaded, then called in rotating turns."""
    from neurolite_sdk import runtime
    from neurolite_sdk.benchmarks.worker import BundleRunner, latency_stats
    from neurolite_sdk.runtime.native_output import native_output_captured

    case = json.loads(case_path.read_text(encoding="utf-8"))
    threads, length, runs = int(case["threads"]), int(case["length"]), int(case["runs"])
    forms = list(case["bundles"])
    runners = {}
    for form, path in case["bundles"].items():
        runners[form] = BundleRunner({**case, "path": path}, threads)
        runners[form].load({**case, "path": path})
    calls = {form: runner.graph_call(length, 1) for form, runner in runners.items()}
    for _ in range(int(case["warmup"])):
        for call in calls.values():
            call()
    times: dict[str, list[float]] = {form: [] for form in forms}
    for i in range(runs):
        for form in forms[i % len(forms):] + forms[:i % len(forms)]:
            started = time.perf_counter()
            calls[form]()
            times[form].append(time.perf_counter() - started)
    result: dict[str, Any] = {"status": "ok", "forms": {}}
    for form in forms:
        entry: dict[str, Any] = {"latency": latency_stats(times[form])}
        if form != "none" and "none" in times:
            entry["ratio_to_fp32"] = float(np.median(times[form]) / np.median(times["none"]))
            # the fastest calls are the ones the machine disturbed least: on a shared machine, the steadier figure
            entry["p10_ratio_to_fp32"] = float(np.percentile(times[form], 10) / np.percentile(times["none"], 10))
            entry["round_ratios"] = _spread(list(np.array(times[form]) / np.array(times["none"])))
        result["forms"][form] = entry
    for batch in case["batches"]:  # throughput: Predictor.run over a batch of real texts (the planner splits)
        feeds = {}
        for form, runner in runners.items():
            features = runner.predictor.featurize([runner.texts[i % len(runner.texts)] for i in range(batch)],
                                                  max_length=length)
            feeds[form] = {"features": features.features, "mask": features.mask}
        per: dict[str, list[float]] = {form: [] for form in forms}
        for form in forms:
            runners[form].predictor.run(feeds[form])
        for i in range(int(case["throughput_rounds"])):
            for form in forms[i % len(forms):] + forms[:i % len(forms)]:
                started = time.perf_counter()
                runners[form].predictor.run(feeds[form])
                per[form].append(time.perf_counter() - started)
        for form in forms:
            rates = [batch / s for s in per[form]]
            result["forms"][form].setdefault("throughput", {})[str(batch)] = _spread(rates)
    loads: dict[str, list[float]] = {form: [] for form in forms}  # warm loads: files cached, modules imported
    with native_output_captured():
        for i in range(int(case["load_rounds"])):
            for form in forms[i % len(forms):] + forms[:i % len(forms)]:
                started = time.perf_counter()
                runtime.load(case["bundles"][form], threads=threads)
                loads[form].append(time.perf_counter() - started)
    for form in forms:
        result["forms"][form]["load_ms"] = _spread([s * 1e3 for s in loads[form]])
    result_path.write_text(json.dumps(result), encoding="utf-8")


def run_worker(case: dict[str, Any], threads: int, out: Path) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "NEUROLITE_THREADS": str(threads)}
    case_path, result_path = out / "interleaved-case.json", out / "interleaved-result.json"
    case_path.write_text(json.dumps({**case, "threads": threads}), encoding="utf-8")
    result_path.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, __file__, "--worker", str(case_path), str(result_path)], env=env,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0 or not result_path.is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"status": "failed", "reason": f"exit {done.returncode}: {lines[-1] if lines else 'no output'}"}
    return json.loads(result_path.read_text(encoding="utf-8"))


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        interleaved_worker(Path(sys.argv[2]), Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--forms", default=",".join(FORMS))
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="16,32,64")
    parser.add_argument("--throughput-rounds", type=int, default=20)
    parser.add_argument("--load-rounds", type=int, default=15)
    parser.add_argument("--eval", type=Path, default=None, help="texts (default: the checkpoint's eval data)")
    args = parser.parse_args()

    from neurolite_sdk.benchmarks.suite import long_texts, machine_info, run_case
    from neurolite_sdk.training.checkpoint import load_checkpoint

    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = load_checkpoint(args.checkpoint)
    length = checkpoint.model.config.max_length
    eval_path = args.eval or Path(checkpoint.training["eval_path"])
    texts = long_texts(eval_path, length, count=64)
    formats = [f for f in args.formats.split(",") if f]
    forms = [f for f in args.forms.split(",") if f]
    batches = [int(b) for b in args.batches.split(",") if b]
    print(f"{args.checkpoint}: max_length {length}, {args.threads} thread(s), {args.runs} interleaved runs; "
          f"load average {os.getloadavg()}", flush=True)
    summary: dict[str, Any] = {}
    for fmt in formats:
        bundles = {}
        for form in forms:
            try:
                bundles[form] = str(export(checkpoint, fmt, form, args.out, eval_path))
            except Exception as exc:  # noqa: BLE001 (a form a format cannot hold: recorded, the others measured)
                print(f"  {fmt} {form}: not exported ({type(exc).__name__}: {str(exc)[:200]})", flush=True)
        case = {"bundles": bundles, "length": length, "texts": texts, "warmup": args.warmup, "runs": args.runs,
                "batches": batches, "throughput_rounds": args.throughput_rounds, "load_rounds": args.load_rounds}
        result = run_worker(case, args.threads, args.out)
        if result.get("status") != "ok":
            print(f"  {fmt}: {result.get('reason')}", flush=True)
            continue
        fp32_bytes = model_bytes(Path(bundles["none"])) if "none" in bundles else None
        for form, path in bundles.items():
            entry = result["forms"][form]
            entry["bytes"] = model_bytes(Path(path))
            entry["ratio_bytes"] = entry["bytes"] / fp32_bytes if fp32_bytes else None
            cold = run_case({"kind": "bundle", "path": path, "length": length, "texts": texts, "warmup": 5,
                             "runs": 20, "throughput_batch": 0, "eval_path": None, "end_to_end": False}, args.threads)
            if cold.get("status") == "ok":
                entry["cold_load_ms"] = cold["load_s"] * 1e3
                entry["peak_increase_mb"] = cold["memory"]["peak_increase_mb"]
            manifest = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
            parity = manifest["parity"]
            entry["parity"] = {k: parity.get(k) for k in ("status", "max_abs_logit", "fp32_top1_agreement")}
        summary[fmt] = result["forms"]
        print(f"\n{fmt}: form   bytes (vs fp32)        batch-1 ms (p10-p90)     vs fp32 (round p10-p90)   "
              f"p10s    warm load ms  cold load ms  peak MB  texts/s at {'/'.join(map(str, batches))}")
        for form, entry in result["forms"].items():
            lat, ratio = entry["latency"], entry.get("round_ratios")
            rel = (f"{entry['ratio_to_fp32']:.3f}x ({ratio['p10']:.2f}-{ratio['p90']:.2f})" if ratio else "1")
            rel += f"  {entry.get('p10_ratio_to_fp32', 1.0):.3f}x"
            rates = "/".join(f"{entry['throughput'][str(b)]['median']:.0f}" for b in batches)
            ratio_bytes = entry["ratio_bytes"] or 0.0
            cold, peak = entry.get("cold_load_ms", float("nan")), entry.get("peak_increase_mb", float("nan"))
            print(f"  {form:<6} {entry['bytes']:>10,} ({ratio_bytes:.3f})  {lat['median_ms']:.3f} "
                  f"({lat['p10_ms']:.3f}-{lat['p90_ms']:.3f})   {rel:<32}  {entry['load_ms']['median']:>8.1f}  "
                  f"{cold:>11.1f}  {peak:>7.1f}  {rates}", flush=True)
    (args.out / "orbital8_load.json").write_text(json.dumps(
        {"command": " ".join(["python", "benchmarks/orbital8_load.py", *sys.argv[1:]]),
         "machine": machine_info(args.threads), "length": length, "summary": summary}, indent=1) + "\n",
        encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
