"""What onnxruntime's worker threads cost between calls: spinning kept (its default) vs stopped after each call.

    python benchmarks/ort_spinning.py BUNDLE [--threads 2] [--calls 600] [--processes 4] [--out FILE.json]

BUNDLE is an ONNX bundle (``neurolite export --format onnx``). With more than one intra-op thread, the
workers of an onnxruntime session keep spinning on the CPU after ``run`` returns, waiting for the next
call; ``session.force_spinning_stop`` (what ``runtime/backends/onnx.py`` sets) stops them when the call
returns. Each mode is measured in ``--processes`` fresh processes, the modes alternating, on the bundle's
test-vector features (real texts, cycled):

- alone: one session, ``--calls`` calls back to back (median and p10-p90, ms);
- pair: two sessions of the model in one process, called in turn (two models in one app), with the
  share of calls over 2 ms: a call that lands while the other session's workers spin waits for a CPU;
- idle CPU: the CPU time the process burns in the 200 ms after one call (ms of CPU per call).

Writes ``--out`` (JSON) when given. Figures in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MODES = ("spin", "stop")
SLOW_MS = 2.0


def _feeds(bundle: Path) -> list[dict[str, np.ndarray]]:
    vectors = json.loads((bundle / "test_vectors.json").read_text(encoding="utf-8"))
    feeds = []
    for case in vectors["cases"]:
        features = np.asarray(case["features"], dtype=np.int32)[None]
        feeds.append({"features": features, "mask": np.ones(features.shape[:2], dtype=np.float32)})
    return feeds


def _session(model: bytes, threads: int, mode: str) -> Any:
    import onnxruntime as ort

    from neurolite_sdk.runtime.backends.onnx import SPINNING_STOP

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    if mode == "stop":
        options.add_session_config_entry(SPINNING_STOP, "1")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _spread(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"median_ms": float(np.median(a)), "p10_ms": float(np.percentile(a, 10)),
            "p90_ms": float(np.percentile(a, 90)), "over_2ms": float(np.mean(a > SLOW_MS))}


def worker(bundle: Path, threads: int, calls: int, mode: str) -> dict[str, Any]:
    model = (bundle / "model.onnx").read_bytes()
    feeds = _feeds(bundle)
    first, second = _session(model, threads, mode), _session(model, threads, mode)
    for i in range(100):
        first.run(None, feeds[i % len(feeds)])
        second.run(None, feeds[i % len(feeds)])
    alone = []
    for i in range(calls):
        started = time.perf_counter()
        first.run(None, feeds[i % len(feeds)])
        alone.append((time.perf_counter() - started) * 1e3)
    pair: list[float] = []
    for i in range(calls):
        for session in (first, second):
            started = time.perf_counter()
            session.run(None, feeds[i % len(feeds)])
            pair.append((time.perf_counter() - started) * 1e3)
    idle = []
    for i in range(10):
        first.run(None, feeds[i % len(feeds)])
        cpu = time.process_time()
        time.sleep(0.2)
        idle.append((time.process_time() - cpu) * 1e3)
    return {"alone": _spread(alone), "pair": _spread(pair), "idle_cpu_ms": float(np.mean(idle))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (args.bundle / "model.onnx").is_file():
        parser.error(f"{args.bundle}: no model.onnx (an ONNX bundle from `neurolite export --format onnx`)")
    if args.worker:
        print(json.dumps(worker(args.bundle, args.threads, args.calls, args.worker)))
        return
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for _ in range(args.processes):
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, str(args.bundle), "--threads", str(args.threads),
                                  "--calls", str(args.calls), "--worker", mode],
                                 check=True, capture_output=True, text=True).stdout
            runs[mode].append(json.loads(out))
    print(f"{args.bundle}: {args.threads} threads, {args.calls} calls a case, {args.processes} processes a mode")
    print("mode  | alone: median ms (p10-p90) per process | pair: median ms, p90, calls > 2 ms | idle CPU ms/call")
    for mode in MODES:
        alone = ", ".join(f"{r['alone']['median_ms']:.3f} ({r['alone']['p10_ms']:.3f}-{r['alone']['p90_ms']:.3f})"
                          for r in runs[mode])
        pair = ", ".join(f"{r['pair']['median_ms']:.3f}/{r['pair']['p90_ms']:.2f}/{r['pair']['over_2ms'] * 100:.1f}%"
                         for r in runs[mode])
        idle = ", ".join(f"{r['idle_cpu_ms']:.1f}" for r in runs[mode])
        print(f"{mode:5} | {alone} | {pair} | {idle}")
    if args.out:
        args.out.write_text(json.dumps({"bundle": str(args.bundle), "threads": args.threads, "calls": args.calls,
                                        "runs": runs}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
