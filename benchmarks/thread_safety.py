"""One Predictor shared by many threads: correctness and throughput of each way to make it safe.

    python benchmarks/thread_safety.py --bundles DIR [--formats onnx tflite executorch]
        [--threads 1 4 16] [--seconds 3] [--batch 1] [--unsafe-shared]

DIR holds one bundle per format (``neurolite export CKPT --format all --out DIR``). For each format and
strategy, T threads call ``predict(texts)`` (--batch sentences a call) on one shared Predictor for
--seconds, each on its own stream of SST-2 dev sentences; every answer is compared with a serial run
of the same calls (exact probabilities), and the calls and texts per second, the mismatched answers,
the errors, the model instances opened and the process RSS are printed. Each instance runs with one
intra-op thread, so throughput comes from the concurrent calls alone. Strategies (``runtime/instances.py``):

  lock        one instance, one call at a time (a pool of size 1)
  pool        up to one instance per core (the runtime's default for LiteRT and ExecuTorch)
  per-thread  one instance per calling thread (a pool as large as the thread count)
  shared      one instance, no synchronisation: the runtime's default for ONNX (onnxruntime documents
              ``run`` as thread-safe); for the other formats only with --unsafe-shared, to show the race
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

from neurolite_sdk.public_data import data_path
from neurolite_sdk.runtime import Predictor, read_bundle
from neurolite_sdk.runtime.backends import backend_class
from neurolite_sdk.runtime.instances import default_pool_size


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def predictor(bundle_dir: Path, strategy: str, threads: int) -> Predictor:
    bundle = read_bundle(bundle_dir)
    cls = backend_class(bundle.format)
    shared = strategy == "shared"
    if cls.shared_instance != shared:  # the same backend with the other synchronisation, for comparison
        cls = type(f"{cls.__name__}_{strategy}", (cls,), {"shared_instance": shared})
    size = {"lock": 1, "pool": default_pool_size(), "per-thread": threads, "shared": 1}[strategy]
    return Predictor(bundle, cls(bundle, 1, size))


def measure(bundle_dir: Path, strategy: str, threads: int, seconds: float, texts: list[str], batch: int,
            expected: dict[int, list[dict[str, float]]]) -> dict[str, float]:
    shared = predictor(bundle_dir, strategy, threads)
    shared.predict(texts[:1])
    calls = [0] * threads
    mismatches = [0] * threads
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    start = threading.Barrier(threads + 1)

    def work(k: int) -> None:
        start.wait()
        i = k * batch
        while time.perf_counter() < deadline:
            start_at = i % len(texts)  # a multiple of batch: the calls are the chunks of the serial run
            i += threads * batch
            try:
                answers = shared.predict(texts[start_at:start_at + batch])
            except Exception as exc:  # counted, not raised: the point is to see what a race does
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            calls[k] += 1
            mismatches[k] += sum(a.probabilities != e for a, e in zip(answers, expected[start_at], strict=True))

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    return {"calls_per_s": sum(calls) / elapsed, "texts_per_s": sum(calls) * batch / elapsed,
            "calls": sum(calls), "mismatches": sum(mismatches),
            "errors": len(errors), "instances": shared.backend.pool.opened, "rss_mb": rss_mb(),
            "first_error": errors[0] if errors else ""}


def cell(args: argparse.Namespace, texts: list[str]) -> dict[str, float]:
    """One (format, strategy, threads) measurement, in this (fresh) process."""
    fmt, strategy, threads = args.cell[0], args.cell[1], int(args.cell[2])
    bundle_dir = args.bundles / fmt
    serial = predictor(bundle_dir, "lock", 1)
    expected = {start: [p.probabilities for p in serial.predict(texts[start:start + args.batch])]
                for start in range(0, len(texts), args.batch)}
    del serial
    row = measure(bundle_dir, strategy, threads, args.seconds, texts, args.batch, expected)
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", type=Path, required=True)
    parser.add_argument("--formats", nargs="+", default=["onnx", "tflite", "executorch"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--texts", type=int, default=400, help="distinct SST-2 dev sentences cycled through")
    parser.add_argument("--batch", type=int, default=1, help="sentences per predict call")
    parser.add_argument("--unsafe-shared", action="store_true",
                        help="also share one unsynchronised instance on formats whose runtime is not thread-safe")
    parser.add_argument("--cell", nargs=3, metavar=("FORMAT", "STRATEGY", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    lines = data_path("sst2", "dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
    texts = [line.split("\t")[0] for line in lines if line.strip()][: args.texts]
    texts = texts[: len(texts) - len(texts) % args.batch]  # whole chunks, the same in every run
    if args.cell:
        print(json.dumps(cell(args, texts)))
        return
    print(f"# {platform.platform()}, {len(os.sched_getaffinity(0))} cores usable, python "
          f"{platform.python_version()}; onnxruntime {version('onnxruntime')}, ai-edge-litert "
          f"{version('ai-edge-litert')}, executorch {version('executorch')}")
    print(f"# {len(texts)} SST-2 dev sentences, {args.batch} a call, {args.seconds:g} s per cell, one intra-op "
          f"thread per instance; pool = {default_pool_size()} instances (one per core); each cell in a fresh "
          f"process (peak RSS is that process's)")
    print("| format | strategy | threads | calls/s | texts/s | calls | mismatched answers | errors | instances "
          "| peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    common = ["--bundles", str(args.bundles), "--seconds", str(args.seconds), "--texts", str(args.texts),
              "--batch", str(args.batch)]
    for fmt in args.formats:
        strategies = ["lock", "pool", "per-thread"]
        if backend_class(read_bundle(args.bundles / fmt).format).shared_instance or args.unsafe_shared:
            strategies.append("shared")
        for strategy in strategies:
            for threads in args.threads:
                done = subprocess.run([sys.executable, __file__, *common, "--cell", fmt, strategy, str(threads)],
                                      capture_output=True, text=True, check=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"| {fmt} | {strategy} | {threads} | {row['calls_per_s']:,.0f} | {row['texts_per_s']:,.0f} | "
                      f"{row['calls']:,} | {row['mismatches']:,} | {row['errors']:,} | {row['instances']} | "
                      f"{row['peak_rss_mb']:,.0f} |"
                      + (f" first error: {row['first_error'][:100]}" if row["errors"] else ""), flush=True)


if __name__ == "__main__":
    main()
