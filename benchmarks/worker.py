"""One measurement case in a fresh process: ``python -m neurolite_sdk.benchmarks.worker CASE.json RESULT.json``.

A fresh process per case is what makes two figures honest: the cold load time (no warm caches, no
session left over from an earlier case) and the peak memory increase (the process's high-water mark
after load and every run, minus its resident size just before the load; the mark is reset through
``/proc/self/clear_refs`` so imports made before the load never count). The runtime library's own
import is measured separately.

Kinds of case (``kind`` in the JSON):
- ``bundle``: a NeuroLite bundle through ``neurolite_sdk.runtime``: graph-only latency (the backend's
  ``run`` on the signature the planner picks), end-to-end latency (``Predictor.predict``: featurizer,
  planner, graph, softmax, labels), throughput, and accuracy on an eval file after the timings.
- ``onnx`` / ``executorch``: a baseline model file (``input_ids``, ``attention_mask``) on onnxruntime
  or ExecuTorch with the same thread settings as the runtime's backends; graph-only.
- ``gemm``: the machine's matrix-multiply peak at the case's thread count (a timed large fp32 GEMM).

The worker imports torch only for ExecuTorch and GEMM cases, so an ONNX case's memory is onnxruntime's.
A runtime that is missing or cannot run here makes the result ``skipped`` with the reason.
"""

from __future__ import annotations

import json
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BUSY_SPREAD = 1.5  # p90 / p10 above this: the timings were disturbed (a busy machine), and say so


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m neurolite_sdk.benchmarks.worker CASE.json RESULT.json", file=sys.stderr)
        return 2
    case = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    threads = int(case["threads"])
    result = measure(case, threads)
    from neurolite_sdk.atomic import atomic_write_text

    atomic_write_text(argv[1], json.dumps(result, indent=1) + "\n")
    return 0


def measure(case: dict[str, Any], threads: int) -> dict[str, Any]:
    from neurolite_sdk.runtime.errors import BackendUnavailableError, RuntimeNotInstalledError

    started_rss = _status_kib("VmRSS")
    began = time.perf_counter()
    try:
        runner = RUNNERS[case["kind"]](case, threads)
        return runner.measure(case, started_rss, time.perf_counter() - began)
    except (RuntimeNotInstalledError, BackendUnavailableError) as exc:  # Core ML fails at load, off macOS
        return {"status": "skipped", "reason": str(exc)}


# --------------------------------------------------------------------------------------------- statistics
def timed(call: Callable[[], object], warmup: int, runs: int) -> list[float]:
    """Seconds per call of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def latency_stats(seconds: list[float]) -> dict[str, Any]:
    """Median, p10, p90 and mean in milliseconds; ``busy`` when p90/p10 exceeds ``BUSY_SPREAD``."""
    ms = np.asarray(seconds) * 1e3
    p10, median, p90 = (float(np.percentile(ms, q)) for q in (10, 50, 90))
    return {"median_ms": median, "p10_ms": p10, "p90_ms": p90, "mean_ms": float(ms.mean()),
            "min_ms": float(ms.min()), "runs": int(ms.size), "spread": p90 / p10 if p10 > 0 else None,
            "busy": bool(p10 > 0 and p90 / p10 > BUSY_SPREAD)}


# --------------------------------------------------------------------------------------------- memory
def _status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` figure in KiB (VmRSS, VmHWM), or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> str:
    """Reset the high-water mark to the current RSS (Linux >= 4.0); say how the peak will be read."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return "VmHWM after reset (clear_refs 5)"
    except OSError:
        return "VmHWM (not resettable here: includes the imports)"


def _memory(before_kib: int | None, method: str, import_kib: int | None) -> dict[str, Any]:
    peak = _status_kib("VmHWM")
    if before_kib is None or peak is None:
        import resource

        return {"peak_increase_mb": None, "method": "unavailable", "ru_maxrss_mb":
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "import_mb": None}
    return {"peak_increase_mb": max(0, peak - before_kib) / 1024, "before_load_mb": before_kib / 1024,
            "peak_mb": peak / 1024, "method": method,
            "import_mb": None if import_kib is None else import_kib / 1024}


# --------------------------------------------------------------------------------------------- runners
class Runner(ABC):
    """One case, measured in this process; ``measure`` returns the case's result record."""

    def __init__(self, case: dict[str, Any], threads: int) -> None:
        self.threads = threads

    @abstractmethod
    def measure(self, case: dict[str, Any], started_rss: int | None, import_s: float) -> dict[str, Any]:
        """The result record: status, timings, memory, versions."""


class ModelRunner(Runner):
    """The shared sequence for a model: cold load, batch-1 latency, throughput, scaling, memory.
    Subclasses load the model and build the call for a length and batch."""

    end_to_end = False

    @abstractmethod
    def load(self, case: dict[str, Any]) -> None:
        """Load the case's model (timed as the cold load)."""

    @abstractmethod
    def graph_call(self, length: int, batch: int) -> Callable[[], object]:
        """A call running the graph once on inputs of this length and batch."""

    def extra(self, case: dict[str, Any], length: int, warmup: int, runs: int) -> dict[str, Any]:
        return {}

    def measure(self, case: dict[str, Any], started_rss: int | None, import_s: float) -> dict[str, Any]:
        import_kib = None if started_rss is None else (_status_kib("VmRSS") or 0) - started_rss
        before = _status_kib("VmRSS")
        method = _reset_peak()
        start = time.perf_counter()
        self.load(case)
        load_s = time.perf_counter() - start
        warmup, runs = int(case["warmup"]), int(case["runs"])
        main_length = int(case["length"])
        result: dict[str, Any] = {"status": "ok", "reason": None, "threads": self.threads,
                                  "import_s": import_s, "load_s": load_s}
        result["latency"] = latency_stats(timed(self.graph_call(main_length, 1), warmup, runs))
        result.update(self.extra(case, main_length, warmup, runs))
        batch = int(case.get("throughput_batch") or 0)
        if batch > 1:
            call = self.graph_call(main_length, batch)
            seconds = timed(call, 1, int(case.get("throughput_runs", 5)))
            result["throughput"] = {"batch": batch, "median_ms": float(np.median(seconds) * 1e3),
                                    "items_per_s": batch / float(np.median(seconds)),
                                    "runs": len(seconds)}
        result["scaling"] = [{"length": n, "latency": latency_stats(timed(self.graph_call(n, 1), 2, runs))}
                             for n in case.get("scaling_lengths", [])]
        result["memory"] = _memory(before, method, import_kib)
        result["versions"] = self.versions()
        return result

    def versions(self) -> dict[str, str]:
        return {}


class BundleRunner(ModelRunner):
    """A NeuroLite bundle through the runtime; the text is real (from the eval data), cut to the length."""

    def __init__(self, case: dict[str, Any], threads: int) -> None:
        super().__init__(case, threads)
        from neurolite_sdk import runtime
        from neurolite_sdk.runtime.backends import backend_class
        from neurolite_sdk.runtime.bundle import read_bundle

        self.runtime = runtime
        self.bundle = read_bundle(case["path"])
        self.backend_class = backend_class(self.bundle.format)
        self.backend_class.import_runtime()

    def load(self, case: dict[str, Any]) -> None:
        from neurolite_sdk.runtime.native_output import native_output_captured

        with native_output_captured():
            self.predictor = self.runtime.load(case["path"], threads=self.threads)
        self.texts = list(case["texts"])
        self.text = self.texts[0]

    def _inputs(self, length: int, batch: int) -> tuple[str, dict[str, np.ndarray]]:
        from neurolite_sdk.runtime.planner import plan

        features = self.predictor.featurize([self.text] * batch, max_length=length)
        if features.features.shape[1] < length:
            raise ValueError(f"benchmark text has {features.features.shape[1]} tokens, fewer than {length}")
        step = plan(self.bundle.signatures, batch, length)[0]
        return step.signature.name, self.predictor.graph_inputs(features)  # a memory graph: an empty memory too

    def graph_call(self, length: int, batch: int) -> Callable[[], object]:
        name, feed = self._inputs(length, batch)
        if self.bundle.signature(name).batch.max is not None and batch > self.bundle.signature(name).batch.max:
            return lambda: self.predictor.run(feed)  # static batch: the planner splits, as in production
        return lambda: self.predictor.backend.run(name, feed)

    def extra(self, case: dict[str, Any], length: int, warmup: int, runs: int) -> dict[str, Any]:
        """End to end on a different text each call (the featurizer's token cache sees new words, as an
        app's would), every text at least ``length`` tokens and cut to it."""
        name, _ = self._inputs(length, 1)
        if not case.get("end_to_end", True):
            return {"signature": name}
        texts = self.texts
        calls = iter(range(warmup + runs))
        e2e = latency_stats(timed(lambda: self.predictor.predict([texts[next(calls) % len(texts)]]), warmup, runs))
        return {"signature": name, "end_to_end": e2e}

    def accuracy(self, eval_path: str, columns: dict[str, Any] | None = None,
                 label_names: dict[str, str] | None = None) -> dict[str, Any]:
        from neurolite_sdk.training.data import load_dataset, rename_labels

        data = rename_labels(load_dataset(Path(eval_path), **(columns or {})), label_names)
        predictions = self.predictor.predict(list(data.texts))
        hits = sum(p.label == truth for p, truth in zip(predictions, data.labels, strict=True))
        return {"eval_path": eval_path, "rows": len(data), "accuracy": hits / len(data)}

    def measure(self, case: dict[str, Any], started_rss: int | None, import_s: float) -> dict[str, Any]:
        result = super().measure(case, started_rss, import_s)
        if case.get("eval_path"):
            result["accuracy"] = self.accuracy(case["eval_path"], case.get("eval_columns"), case.get("label_names"))
        return result

    def versions(self) -> dict[str, str]:
        return {self.backend_class.distribution: self.backend_class.version()}


class OnnxFileRunner(ModelRunner):
    """A baseline ``model.onnx`` on onnxruntime, session options as the runtime's ONNX backend sets them."""

    def __init__(self, case: dict[str, Any], threads: int) -> None:
        super().__init__(case, threads)
        try:
            import onnxruntime
        except ModuleNotFoundError as exc:
            from neurolite_sdk.runtime.errors import RuntimeNotInstalledError

            raise RuntimeNotInstalledError("onnx", "onnxruntime", "onnx") from exc
        self.ort = onnxruntime

    def load(self, case: dict[str, Any]) -> None:
        from neurolite_sdk.runtime.backends.onnx import SPINNING_STOP

        options = self.ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry(SPINNING_STOP, "1")  # as the runtime's backend runs it
        self.session = self.ort.InferenceSession(case["path"], options, providers=["CPUExecutionProvider"])

    def graph_call(self, length: int, batch: int) -> Callable[[], object]:
        feed = _token_inputs(batch, length)
        return lambda: self.session.run(None, feed)

    def versions(self) -> dict[str, str]:
        return {"onnxruntime": self.ort.__version__}


class ExecutorchFileRunner(ModelRunner):
    """A baseline ``model.pte`` (static [1, length]) on ExecuTorch's runtime; a batch is a loop of calls."""

    def __init__(self, case: dict[str, Any], threads: int) -> None:
        super().__init__(case, threads)
        from neurolite_sdk.runtime.backends import backend_class

        backend_class("executorch").import_runtime()
        import torch
        from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
        from executorch.runtime import Runtime

        self.torch, self.runtime = torch, Runtime
        _unsafe_reset_threadpool(threads)

    def load(self, case: dict[str, Any]) -> None:
        self.method = self.runtime.get().load_program(case["path"]).load_method("forward")

    def graph_call(self, length: int, batch: int) -> Callable[[], object]:
        args = [self.torch.from_numpy(v) for v in _token_inputs(1, length).values()]
        return lambda: [self.method.execute(args) for _ in range(batch)]

    def versions(self) -> dict[str, str]:
        import importlib.metadata

        return {"executorch": importlib.metadata.version("executorch")}


class GemmRunner(Runner):
    """The machine's fp32 matrix-multiply rate at this thread count: best of the timed runs of an
    n x n x n product (2 n^3 FLOPs), the figure the models' achieved FLOP/s are compared with."""

    def __init__(self, case: dict[str, Any], threads: int) -> None:
        super().__init__(case, threads)
        import torch

        torch.set_num_threads(threads)
        self.torch = torch

    def measure(self, case: dict[str, Any], started_rss: int | None, import_s: float) -> dict[str, Any]:
        n = int(case.get("size", 1024))
        a, b = self.torch.randn(n, n), self.torch.randn(n, n)
        seconds = timed(lambda: self.torch.mm(a, b), 2, int(case["runs"]))
        best = min(seconds)
        return {"status": "ok", "reason": None, "threads": self.threads, "size": n,
                "flops_per_s": 2 * n ** 3 / best, "median_flops_per_s": 2 * n ** 3 / float(np.median(seconds)),
                "versions": {"torch": self.torch.__version__}}


def _token_inputs(batch: int, length: int) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(0).integers(1000, 30000, size=(batch, length), dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones((batch, length), dtype=np.int64)}


RUNNERS: dict[str, Callable[[dict[str, Any], int], Runner]] = {
    "bundle": BundleRunner, "onnx": OnnxFileRunner, "executorch": ExecutorchFileRunner, "gemm": GemmRunner}


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main(sys.argv[1:]))
