"""Soak: mixed calls on shared Predictors for a long time; throughput and memory over time, no growth.

    python benchmarks/soak.py --bundles DIR [--minutes 10] [--threads 4] [--formats onnx tflite executorch]
        [--interval 15]

DIR holds one bundle per format (``neurolite export CKPT --format all --out DIR``). One Predictor per
format is shared by --threads threads; each thread loops over random calls: a single sentence, a batch
of 2 to 64, a long text (past max_length, truncated), an empty text, on a random format. Texts are SST-2
train sentences. Every --interval seconds a line reports the calls and texts per second of that window
and the process RSS; a probe text's probabilities are re-checked against their first value on every
format (a drift would show a corrupted state). At the end: RSS after warm-up (the first sample past
--warmup seconds), at the end and the drift between them, the least-squares slope of RSS over the
samples after warm-up (MB per minute), totals, errors and probe mismatches.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import threading
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from neurolite_sdk.public_data import data_path
from neurolite_sdk.runtime import Predictor, load

PROBE = "a gorgeous , witty , seductive movie ."


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", type=Path, required=True)
    parser.add_argument("--formats", nargs="+", default=["onnx", "tflite", "executorch"])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the reference RSS sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lines = data_path("sst2", "train.tsv").read_text(encoding="utf-8").split("\n")[1:]
    texts = [line.split("\t")[0] for line in lines if line.strip()]
    predictors: dict[str, Predictor] = {fmt: load(args.bundles / fmt, threads=1) for fmt in args.formats}
    probes = {fmt: p.predict([PROBE])[0].probabilities for fmt, p in predictors.items()}
    print(f"# {platform.platform()}, {len(os.sched_getaffinity(0))} cores usable, python {platform.python_version()}; "
          f"onnxruntime {version('onnxruntime')}, ai-edge-litert {version('ai-edge-litert')}, executorch "
          f"{version('executorch')}")
    print(f"# {args.minutes:g} min, {args.threads} threads sharing one Predictor per format ({', '.join(predictors)}), "
          f"one intra-op thread per instance; RSS after loading {rss_mb():,.0f} MB")
    print("| t s | calls/s | texts/s | RSS MB | errors | probe mismatches |")
    print("|---|---|---|---|---|---|")
    counts = {"calls": 0, "texts": 0, "errors": 0, "mismatches": 0}
    guard = threading.Lock()
    first_error: list[str] = []
    deadline = time.monotonic() + args.minutes * 60

    def work(k: int) -> None:
        rng = random.Random(args.seed * 1000 + k)
        while time.monotonic() < deadline:
            fmt = rng.choice(args.formats)
            kind = rng.random()
            if kind < 0.4:
                call = [rng.choice(texts)]
            elif kind < 0.8:
                call = rng.sample(texts, rng.randint(2, 64))
            elif kind < 0.95:
                call = [" ".join(rng.sample(texts, 12))]  # far past max_length: truncated
            else:
                call = ["", "   "]
            try:
                predictors[fmt].predict(call)
                with guard:
                    counts["calls"] += 1
                    counts["texts"] += len(call)
            except Exception as exc:  # counted and reported: the soak is also a hunt for failures
                with guard:
                    counts["errors"] += 1
                    if not first_error:
                        first_error.append(f"{fmt}: {type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(args.threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    samples: list[tuple[float, float]] = []
    last = {"calls": 0, "texts": 0}
    last_time = started
    while any(worker.is_alive() for worker in workers):
        time.sleep(min(args.interval, max(0.0, deadline - time.monotonic()) + 0.5))
        now = time.monotonic()
        for fmt, predictor in predictors.items():
            if predictor.predict([PROBE])[0].probabilities != probes[fmt]:
                with guard:
                    counts["mismatches"] += 1
        with guard:
            window = {key: counts[key] - last[key] for key in last}
            last = {key: counts[key] for key in last}
            errors, mismatches = counts["errors"], counts["mismatches"]
        rss = rss_mb()
        samples.append((now - started, rss))
        seconds = max(now - last_time, 1e-9)
        last_time = now
        print(f"| {now - started:,.0f} | {window['calls'] / seconds:,.0f} | {window['texts'] / seconds:,.0f} | "
              f"{rss:,.0f} | {errors} | {mismatches} |", flush=True)
    settled = [(t, rss) for t, rss in samples if t >= args.warmup] or samples
    times, values = np.array([t for t, _ in settled]) / 60, np.array([rss for _, rss in settled])
    slope = float(np.polyfit(times, values, 1)[0]) if len(settled) > 2 else float("nan")
    elapsed = time.monotonic() - started
    print(f"# {elapsed / 60:.1f} min: {counts['calls']:,} calls, {counts['texts']:,} texts "
          f"({counts['calls'] / elapsed:,.0f} calls/s, {counts['texts'] / elapsed:,.0f} texts/s); errors "
          f"{counts['errors']}, probe mismatches {counts['mismatches']}")
    print(f"# RSS after warm-up ({settled[0][0]:.0f} s) {settled[0][1]:,.0f} MB, at the end {settled[-1][1]:,.0f} MB, "
          f"drift {settled[-1][1] - settled[0][1]:+,.1f} MB, min {values.min():,.0f} max {values.max():,.0f} MB, "
          f"slope {slope:+.2f} MB/min")
    if first_error:
        print(f"# first error: {first_error[0]}")


if __name__ == "__main__":
    main()
