"""End-to-end / graph-only time of the runtime, per format, with the native and the Python featurizer.

    python benchmarks/runtime_overhead.py CHECKPOINT --out DIR [--formats onnx,tflite,executorch]
                                          [--runs 400] [--rounds 3] [--threads 2] [--eval TSV]

The figure is ``neurolite bench``'s "end-to-end vs graph" (docs/benchmarks.md): the graph alone (the
backend's ``run`` on featurized input, batch 1, at the checkpoint's ``max_length``) against
``Predictor.predict`` on one real text per call (16 eval texts of at least ``max_length`` tokens,
cycled, so the featurizer's cache warms as in an app). Both come from the bench worker's own
``BundleRunner`` (neurolite_sdk/benchmarks/worker.py), in a fresh process per case, after warm-up.

Two ways of timing them, both printed:
- paired (the headline): the process alternates one graph call and one end-to-end call, ``--runs``
  times, so both see the same machine from one moment to the next; the ratio is median(end-to-end) /
  median(graph), with the p10-p90 of the per-pair ratios. On a shared machine this is the figure that
  stays put: the load moves both halves of a pair alike.
- as ``neurolite bench`` does it (the bench worker's ``measure``): every graph call, then every
  end-to-end call; on a quiet machine the two agree, on a busy one this one wanders.
Beside the ratio of medians: the ratio of the p10s and of the minima of the paired runs (on a busy
machine the fastest calls are the ones nothing interrupted, the closest to a quiet machine), and the
minimum overhead (fastest end-to-end minus fastest graph call). Then, per format and featurizer, where
the time of an end-to-end call goes (backend, planner and input checks, featurizer, the rest), from the
fastest 10% of calls, each made right after a graph call as in the paired runs.
Each format is measured with ``NEUROLITE_FEATURIZER=native`` and ``=python``, in alternating rounds.
Writes DIR/runtime_overhead.json. The checkpoint is exported once per format into DIR/bundles/FORMAT
(parity-checked; reused when present).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

TARGET = 1.15
FORMATS = ("onnx", "tflite", "executorch")


def export(checkpoint: Any, fmt: str, out: Path, eval_path: Path) -> Path:
    """The checkpoint as a ``fmt`` bundle in OUT/bundles/FMT, parity-checked as ``neurolite bench`` does."""
    from neurolite_sdk.exporters import export_bundle, parity_texts
    from neurolite_sdk.exporters.parity import PARITY_TEXTS
    from neurolite_sdk.training.data import load_dataset

    target = out / "bundles" / fmt
    if (target / "manifest.json").is_file():
        return target
    started = time.perf_counter()
    texts = parity_texts(checkpoint, load_dataset(eval_path).texts[:PARITY_TEXTS], source=str(eval_path))
    export_bundle(checkpoint, fmt, target, texts=texts, verify=True, overwrite=True)
    print(f"exported {fmt} to {target} in {time.perf_counter() - started:.0f} s", flush=True)
    return target


def paired_worker(case_path: Path, result_path: Path) -> None:
    """In a fresh process: the bench worker's BundleRunner, graph and end-to-end calls alternating."""
    from neurolite_sdk.benchmarks.worker import BundleRunner, latency_stats

    case = json.loads(case_path.read_text(encoding="utf-8"))
    runner = BundleRunner(case, int(case["threads"]))
    runner.load(case)
    length, texts = int(case["length"]), case["texts"]
    graph = runner.graph_call(length, 1)
    predict = runner.predictor.predict
    for i in range(int(case["warmup"])):
        graph()
        predict([texts[i % len(texts)]])
    graph_s, e2e_s = [], []
    for i in range(int(case["runs"])):
        started = time.perf_counter()
        graph()
        middle = time.perf_counter()
        predict([texts[i % len(texts)]])
        graph_s.append(middle - started)
        e2e_s.append(time.perf_counter() - middle)
    ratios = np.array(e2e_s) / np.array(graph_s)
    result = {"status": "ok", "graph": latency_stats(graph_s), "end_to_end": latency_stats(e2e_s),
              "pair_ratio": {q: float(np.percentile(ratios, p)) for q, p in (("p10", 10), ("median", 50), ("p90", 90))},
              "featurizer": type(runner.predictor.featurizer).__name__}
    result_path.write_text(json.dumps(result), encoding="utf-8")


def breakdown_worker(case_path: Path, result_path: Path) -> None:
    """In a fresh process: where an end-to-end call's time goes, from the fastest 10% of paired calls (the
    ones nothing interrupted). Each phase is timed by wrapping the Predictor's own methods."""
    from neurolite_sdk.benchmarks.worker import BundleRunner

    case = json.loads(case_path.read_text(encoding="utf-8"))
    runner = BundleRunner(case, int(case["threads"]))
    runner.load(case)
    predictor, texts = runner.predictor, case["texts"]
    graph = runner.graph_call(int(case["length"]), 1)
    last: dict[str, float] = {}

    def timed(name: str, call: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = call(*args, **kwargs)
            last[name] = time.perf_counter() - started
            return result
        return wrapper

    predictor.featurize = timed("featurize", predictor.featurize)  # type: ignore[method-assign]
    predictor.run = timed("run", predictor.run)  # type: ignore[method-assign]
    for i in range(int(case["warmup"])):
        graph()
        predictor.predict([texts[i % len(texts)]])
    predictor.backend.run = timed("backend", predictor.backend.run)  # type: ignore[method-assign]
    rows = []
    for i in range(int(case["runs"])):
        graph()
        started = time.perf_counter()
        predictor.predict([texts[i % len(texts)]])
        rows.append((time.perf_counter() - started, last["featurize"], last["run"], last["backend"]))
    times = np.array(rows) * 1e6
    total, featurize, run, backend = times[np.argsort(times[:, 0])[:max(1, len(times) // 10)]].mean(axis=0)
    result = {"status": "ok", "total_us": total, "backend_run_us": backend, "planner_us": run - backend,
              "featurize_us": featurize, "rest_us": total - run - featurize,
              "featurizer": type(predictor.featurizer).__name__}
    result_path.write_text(json.dumps(result), encoding="utf-8")


def run_paired(case: dict[str, Any], threads: int, out: Path, mode: str = "--paired-worker",
               extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "NEUROLITE_THREADS": str(threads), **(extra_env or {})}
    case_path, result_path = out / "paired-case.json", out / "paired-result.json"
    case_path.write_text(json.dumps({**case, "threads": threads}), encoding="utf-8")
    result_path.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, __file__, mode, str(case_path), str(result_path)], env=env,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0 or not result_path.is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return {"status": "failed", "reason": f"exit {done.returncode}: {lines[-1] if lines else 'no output'}"}
    return json.loads(result_path.read_text(encoding="utf-8"))


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] in ("--paired-worker", "--breakdown-worker"):
        (paired_worker if sys.argv[1] == "--paired-worker" else breakdown_worker)(Path(sys.argv[2]), Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval", type=Path, default=None, help="texts (default: the checkpoint's eval data)")
    args = parser.parse_args()

    from neurolite_sdk.benchmarks.suite import long_texts, machine_info, run_case
    from neurolite_sdk.featurizer_native import ENV_VAR, featurizer_implementation
    from neurolite_sdk.training.checkpoint import load_checkpoint

    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = load_checkpoint(args.checkpoint)
    length = checkpoint.model.config.max_length
    eval_path = args.eval or Path(checkpoint.training["eval_path"])
    texts = long_texts(eval_path, length)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    bundles = {fmt: export(checkpoint, fmt, args.out, eval_path) for fmt in formats}
    print(f"{args.checkpoint}: max_length {length}, {args.threads} threads, {args.runs} runs after {args.warmup} "
          f"warm-up, {args.rounds} rounds; python {platform.python_version()}; load average {os.getloadavg()}")
    print(f"featurizers: native = {featurizer_implementation('native')}; python = pure Python reference")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {fmt: {"native": [], "python": []} for fmt in formats}
    saved = os.environ.get(ENV_VAR)
    try:
        for round_ in range(args.rounds):
            for fmt in formats:
                for impl in ("native", "python") if round_ % 2 == 0 else ("python", "native"):
                    os.environ[ENV_VAR] = impl  # the workers inherit it: Predictor's create_featurizer obeys
                    case = {"kind": "bundle", "path": str(bundles[fmt]), "length": length, "texts": texts,
                            "warmup": args.warmup, "runs": args.runs, "throughput_batch": 0, "eval_path": None}
                    paired = run_paired(case, args.threads, args.out)
                    bench = run_case(case, args.threads)
                    if paired.get("status") != "ok" or bench.get("status") != "ok":
                        print(f"  {fmt} {impl}: paired {paired.get('reason')}; bench {bench.get('reason')}")
                        continue
                    g, e = paired["graph"]["median_ms"], paired["end_to_end"]["median_ms"]
                    bg, be = bench["latency"]["median_ms"], bench["end_to_end"]["median_ms"]
                    results[fmt][impl].append({"paired": paired, "bench": {"graph": bench["latency"],
                                                                           "end_to_end": bench["end_to_end"]}})
                    print(f"  round {round_ + 1} {fmt:<10} {impl:<6} paired: graph {g:.3f} ms, e2e {e:.3f} ms, "
                          f"{e / g:.3f}x | as bench: {bg:.3f} / {be:.3f} ms, {be / bg:.3f}x", flush=True)
    finally:
        if saved is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = saved

    summary: dict[str, Any] = {}
    print(f"\n{'format':<11}{'featurizer':<11}{'graph ms (p10-p90)':<24}{'end-to-end ms (p10-p90)':<24}"
          f"{'e2e/graph':>10} {'pairs p10-p90':>14} {'overhead':>10} {'as bench':>9} {'p10s':>7} {'mins':>7} "
          f"{'min ovh':>8}")
    for fmt in formats:
        for impl in ("native", "python"):
            rounds = results[fmt][impl]
            if not rounds:
                continue
            ratios = [r["paired"]["end_to_end"]["median_ms"] / r["paired"]["graph"]["median_ms"] for r in rounds]
            bench_ratios = [r["bench"]["end_to_end"]["median_ms"] / r["bench"]["graph"]["median_ms"] for r in rounds]
            middle = rounds[int(np.argsort(ratios)[len(ratios) // 2])]["paired"]  # the round with the median ratio
            g, e = middle["graph"], middle["end_to_end"]
            paired = [(r["paired"]["graph"], r["paired"]["end_to_end"]) for r in rounds]
            entry = {"ratio": float(np.median(ratios)), "round_ratios": ratios, "pair_ratio": middle["pair_ratio"],
                     "graph": g, "end_to_end": e, "overhead_ms": e["median_ms"] - g["median_ms"],
                     "p10_ratio": float(np.median([b["p10_ms"] / a["p10_ms"] for a, b in paired])),
                     "min_ratio": float(np.median([b["min_ms"] / a["min_ms"] for a, b in paired])),
                     "min_overhead_ms": float(np.median([b["min_ms"] - a["min_ms"] for a, b in paired])),
                     "bench_ratio": float(np.median(bench_ratios)), "bench_round_ratios": bench_ratios}
            summary.setdefault(fmt, {})[impl] = entry
            pair = middle["pair_ratio"]
            print(f"{fmt:<11}{impl:<11}{g['median_ms']:.3f} ({g['p10_ms']:.3f}-{g['p90_ms']:.3f}){'':<3}"
                  f"{e['median_ms']:.3f} ({e['p10_ms']:.3f}-{e['p90_ms']:.3f}){'':<3}{entry['ratio']:>9.3f}x "
                  f"{pair['p10']:>6.2f}-{pair['p90']:<6.2f} {entry['overhead_ms'] * 1e3:>7.0f} us "
                  f"{entry['bench_ratio']:>8.3f}x {entry['p10_ratio']:>6.3f}x {entry['min_ratio']:>6.3f}x "
                  f"{entry['min_overhead_ms'] * 1e3:>5.0f} us")
    print("\nwhere the end-to-end time goes (fastest 10% of predict calls, each after a graph call; microseconds):")
    for fmt in formats:
        for impl in ("native", "python"):
            case = {"kind": "bundle", "path": str(bundles[fmt]), "length": length, "texts": texts,
                    "warmup": args.warmup, "runs": args.runs}
            parts = run_paired(case, args.threads, args.out, "--breakdown-worker", {ENV_VAR: impl})
            if parts.get("status") != "ok":
                print(f"  {fmt} {impl}: {parts.get('reason')}")
                continue
            summary.setdefault(fmt, {}).setdefault(impl, {})["breakdown"] = parts
            print(f"  {fmt:<11}{impl:<7} total {parts['total_us']:6.0f} = backend.run {parts['backend_run_us']:6.0f} "
                  f"+ planner and checks {parts['planner_us']:4.0f} + featurize {parts['featurize_us']:4.0f} "
                  f"+ softmax, Prediction and call layers {parts['rest_us']:4.0f}")
    native = {fmt: s["native"]["ratio"] for fmt, s in summary.items() if "ratio" in s.get("native", {})}
    verdict = "meets" if native and max(native.values()) <= TARGET else "MISSES"
    print(f"target end-to-end / graph <= {TARGET}x with the native featurizer on every format (paired): {verdict} it "
          f"({', '.join(f'{fmt} {r:.3f}x' for fmt, r in native.items())}); load average now {os.getloadavg()}")
    (args.out / "runtime_overhead.json").write_text(json.dumps(
        {"command": " ".join(["python", "benchmarks/runtime_overhead.py", *sys.argv[1:]]),
         "machine": machine_info(args.threads), "length": length, "summary": summary, "rounds": results},
        indent=1) + "\n", encoding="utf-8")
    return 0 if verdict == "meets" else 1


if __name__ == "__main__":
    sys.exit(main())
