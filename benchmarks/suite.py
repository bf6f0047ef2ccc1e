"""The benchmark suite: plan the cases, build and export what they measure, run each in a fresh process.

Three groups of rows, every one measured by the same worker at the same thread count:

- ``checkpoint``: the trained checkpoint (or the given bundle) in every format and quantization, at its
  own ``max_length``, with accuracy on its eval set through the runtime.
- ``comparison``: at one sequence length (default 256), the checkpoint's architecture (its own weights
  when the length is its ``max_length``, otherwise the same config with ``max_length`` = length and
  random weights: latency does not depend on weight values) in every format, beside the transformer
  baselines in ONNX and ExecuTorch, for the ratios.
- ``scaling``: latency against sequence length on ONNX for the NeuroLite backbones (one export per
  length, ``max_length`` = length, random weights) and the baselines (one export with a dynamic length,
  up to their 512 positions).

A format whose runtime is missing or cannot run here, or an export that refuses an option, becomes
a ``skipped`` row with the reason; an export or run that breaks becomes ``failed`` with the error.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neurolite_sdk.atomic import atomic_write_text
from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.training.data import recorded_columns
from neurolite_sdk.training.hf_data import is_hf_spec

SCHEMA = "neurolite-bench/1"
RESULTS_FILE = "results.json"
SCALING_LENGTHS = (32, 64, 128, 256, 512, 1024, 2048)
BACKBONES = ("mixer", "hypermixer", "fnet")
BASELINE_FORMATS = ("onnx", "executorch")
CASE_TIMEOUT_S = 900
VERSIONED = ("neurolite-sdk", "torch", "numpy", "onnx", "onnxruntime", "onnxscript", "executorch", "coremltools",
             "litert-torch", "ai-edge-litert", "transformers")


class BenchError(NeuroLiteError):
    """A benchmark that cannot be set up (bad source, no text to measure with); names the path or option."""


@dataclass
class SuiteOptions:
    """What to measure. ``formats`` None means every registered format; ``quick`` is applied by ``quick()``."""

    source: Path
    out: Path
    threads: int = 2
    length: int = 256
    formats: list[str] | None = None
    quantize: tuple[str, ...] = ("none",)
    baselines: tuple[str, ...] = ("bert-base", "distilbert", "mobilebert")
    baseline_formats: tuple[str, ...] = BASELINE_FORMATS
    scaling_lengths: tuple[int, ...] = SCALING_LENGTHS
    scaling_backbones: tuple[str, ...] = BACKBONES
    scaling_baselines: bool = True
    runs: int = 50
    warmup: int = 10
    scaling_runs: int = 20
    throughput_batch: int = 16
    gemm_size: int = 2048
    eval_path: Path | None = None
    text_col: str | None = None  # eval data columns; default: the ones training recorded (training.json "data")
    label_col: str | None = None
    quick: bool = False
    command: str = ""
    baseline_overrides: dict[str, Any] = field(default_factory=dict)  # tests shrink the baselines
    teacher: bool = True  # a row for the transformer teacher the checkpoint was distilled from, if any

    def quicken(self) -> SuiteOptions:
        """``--quick`` (about a minute): ONNX only, the checkpoint's own length, one baseline (DistilBERT)
        in ONNX only, no quantized rows, scaling of the Mixer backbone and the baseline at three lengths
        with 10 runs each, throughput batch 8 (latency keeps 50 runs)."""
        self.formats, self.quantize, self.quick = ["onnx"], ("none",), True
        self.baselines, self.baseline_formats = ("distilbert",), ("onnx",)
        self.scaling_lengths, self.scaling_backbones, self.scaling_runs = (64, 256, 1024), ("mixer",), 10
        self.throughput_batch = 8
        return self


Progress = Callable[[str, int, int], None]


# ------------------------------------------------------------------------------------------------ machine
def machine_info(threads: int) -> dict[str, Any]:
    """CPU model, cores, load, platform and tool versions: what a reader needs to trust the figures."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "threads": threads, "platform": platform.platform(), "python": platform.python_version(),
            "load_average": list(os.getloadavg()), "versions": versions}


# ------------------------------------------------------------------------------------------------ worker
def run_case(case: dict[str, Any], threads: int, timeout: int = CASE_TIMEOUT_S) -> dict[str, Any]:
    """Run one case in a fresh ``python -m neurolite_sdk.benchmarks.worker`` and return its JSON result.

    The child gets the thread count through the environment as well (OpenMP, MKL), so no library in
    it starts more threads than the runtime was given. A crash or timeout is a ``failed`` result.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "NEUROLITE_THREADS": str(threads)}
    with tempfile.TemporaryDirectory(prefix="neurolite-bench-") as tmp:
        case_path, result_path = Path(tmp) / "case.json", Path(tmp) / "result.json"
        case_path.write_text(json.dumps({**case, "threads": threads}), encoding="utf-8")
        try:
            done = subprocess.run([sys.executable, "-m", "neurolite_sdk.benchmarks.worker", str(case_path),
                                   str(result_path)], env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "reason": f"worker timed out after {timeout} s"}
        if done.returncode != 0 or not result_path.is_file():
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            return {"status": "failed", "reason": f"worker exit {done.returncode}: "
                                                  f"{lines[-1] if lines else 'no output'}"}
        return json.loads(result_path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------ texts
def long_texts(eval_path: Path, length: int, count: int = 16, columns: dict[str, Any] | None = None) -> list[str]:
    """``count`` real texts of at least ``length`` tokens, each joining consecutive eval texts from a
    different starting row (so each end-to-end call featurizes new words)."""
    from neurolite_sdk.featurizer import tokenize
    from neurolite_sdk.training.data import load_dataset

    texts = load_dataset(eval_path, **(columns or {})).texts
    sizes = [len(tokenize(t)) for t in texts]
    if sum(sizes) < length:
        raise BenchError(f"{eval_path}: {sum(sizes)} tokens in all, fewer than the {length} a benchmark text needs")
    out = []
    for start in range(count):
        i, parts, tokens = (start * 37) % len(texts), [], 0
        while tokens < length:
            parts.append(texts[i])
            tokens += sizes[i]
            i = (i + 1) % len(texts)
        out.append(" ".join(parts))
    return out


# ------------------------------------------------------------------------------------------------ models
def count_flops(model: Any, inputs: tuple[Any, ...]) -> int:
    """FLOPs of one forward pass as PyTorch's ``FlopCounterMode`` counts them (2 per multiply-add of
    matrix products and convolutions; elementwise ops, gathers and softmax are not counted)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return int(counter.get_total_flops())


def neurolite_flops(model: Any, length: int) -> int:
    from neurolite_sdk.exporters.graph import example_inputs

    return count_flops(model, example_inputs(model, 1, length))


def random_checkpoint(config: Any, labels: list[str], **changes: Any) -> Any:
    """The same architecture with ``changes`` to its config (``max_length``, ``backbone``), random weights."""
    import torch

    from neurolite_sdk.config import NeuroLiteConfig
    from neurolite_sdk.modeling.model import NeuroLiteForClassification
    from neurolite_sdk.training.checkpoint import Checkpoint

    torch.manual_seed(0)
    changed = NeuroLiteConfig.from_dict({**config.to_dict(), **changes})
    return Checkpoint(model=NeuroLiteForClassification(changed, num_labels=len(labels)).eval(), labels=labels)


def _size_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------------------ the suite
class Suite:
    """Plans and runs the cases for ``options``; ``run()`` returns the results document."""

    def __init__(self, options: SuiteOptions, progress: Progress | None = None) -> None:
        self.options = options
        self.progress = progress or (lambda description, done, total: None)
        self.rows: list[dict[str, Any]] = []
        self.done = 0
        self.source = self._source()

    # ---------------------------------------------------------------- setup
    def _source(self) -> dict[str, Any]:
        """The checkpoint (exported here) or bundle (measured as it is) the suite starts from."""
        from neurolite_sdk.benchmarks.teacher_row import recorded_teacher
        from neurolite_sdk.config import NeuroLiteConfig
        from neurolite_sdk.training.checkpoint import load_checkpoint

        path = self.options.source
        if (path / "manifest.json").is_file():
            from neurolite_sdk.runtime.bundle import read_bundle

            bundle = read_bundle(path)
            config = NeuroLiteConfig.from_dict(bundle.manifest["config"])
            origin = bundle.manifest.get("export", {}).get("checkpoint")
            checkpoint = None
            labels = list(bundle.labels)
            eval_path = self.options.eval_path or self._eval_of(Path(origin) if origin else None)
            training = self._training_of(Path(origin) if origin else None)
        else:
            checkpoint = load_checkpoint(path)
            config, labels, bundle = checkpoint.model.config, list(checkpoint.labels), None
            eval_path = self.options.eval_path or (Path(checkpoint.training["eval_path"])
                                                   if checkpoint.training.get("eval_path") else None)
            training = checkpoint.training
        if eval_path is None or not (is_hf_spec(eval_path) or Path(eval_path).exists()):  # a file, folder or hf:
            raise BenchError(f"{path}: no eval data to take benchmark texts and accuracy from "
                             f"({eval_path or 'none recorded'}); pass --eval FILE")
        recorded = recorded_columns(training)
        columns = {"text_col": self.options.text_col or recorded["text_col"],
                   "label_col": self.options.label_col or recorded["label_col"],
                   "fmt": recorded["fmt"] if self.options.eval_path is None else None}
        return {"checkpoint": checkpoint, "bundle": bundle, "config": config, "labels": labels,
                "eval_path": Path(eval_path), "columns": columns, "name": path.name,
                "label_names": training.get("label_names") if isinstance(training.get("label_names"), dict) else None,
                "teacher": recorded_teacher(training) if self.options.teacher else None}

    @staticmethod
    def _training_of(checkpoint_dir: Path | None) -> dict[str, Any]:
        if checkpoint_dir is None or not (checkpoint_dir / "training.json").is_file():
            return {}
        recorded = json.loads((checkpoint_dir / "training.json").read_text(encoding="utf-8"))
        return recorded if isinstance(recorded, dict) else {}

    @staticmethod
    def _eval_of(checkpoint_dir: Path | None) -> Path | None:
        if checkpoint_dir is None or not (checkpoint_dir / "training.json").is_file():
            return None
        recorded = json.loads((checkpoint_dir / "training.json").read_text(encoding="utf-8")).get("eval_path")
        return Path(recorded) if recorded else None

    def formats(self) -> list[str]:
        from neurolite_sdk.exporters import exporter_formats

        return list(self.options.formats) if self.options.formats else exporter_formats()

    def total_steps(self) -> int:
        o = self.options
        export_rows = 1 if self.source["bundle"] is not None else len(self.formats()) * len(o.quantize)
        comparison = 0 if o.length == self.source["config"].max_length else len(self.formats())
        baselines = len(o.baselines) * len(o.baseline_formats)
        scaling = len(o.scaling_backbones) * len(o.scaling_lengths) + (len(o.baselines) if o.scaling_baselines else 0)
        teacher = 1 if self.source["teacher"] is not None else 0
        return 1 + export_rows + teacher + comparison + baselines + scaling

    def _step(self, description: str) -> None:
        self.progress(description, self.done, self.total)
        self.done += 1

    # ---------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        o = self.options
        started = time.perf_counter()
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.total = self.total_steps()
        o.out.mkdir(parents=True, exist_ok=True)
        machine = machine_info(o.threads)
        self._step("matrix-multiply peak")
        gemm = run_case({"kind": "gemm", "size": o.gemm_size, "runs": 5}, o.threads)
        self.texts = {n: long_texts(self.source["eval_path"], n, columns=self.source["columns"])
                      for n in {self.source["config"].max_length, o.length, *o.scaling_lengths}}
        self.checkpoint_rows()
        self.teacher_rows()
        self.comparison_rows()
        self.baseline_rows()
        self.scaling_rows()
        # Again at the end: on a shared machine the first figure may have been taken under load; the
        # higher of the two is the peak the models are compared with, and both are kept.
        last = run_case({"kind": "gemm", "size": o.gemm_size, "runs": 5}, o.threads)
        if last.get("status") == "ok" and (gemm.get("status") != "ok" or last["flops_per_s"] > gemm["flops_per_s"]):
            last["other_flops_per_s"], gemm = gemm.get("flops_per_s"), last
        elif gemm.get("status") == "ok":
            gemm["other_flops_per_s"] = last.get("flops_per_s")
        self.progress("done", self.total, self.total)
        machine["load_average_end"] = list(os.getloadavg())
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(o).items()}
        settings["formats"] = self.formats()
        return {"schema": SCHEMA, "created": created, "command": o.command, "machine": machine,
                "settings": settings, "gemm": gemm, "rows": self.rows,
                "wall_s": time.perf_counter() - started}

    def _measure(self, row: dict[str, Any], case: dict[str, Any]) -> None:
        result = run_case(case, self.options.threads)
        row["status"], row["reason"] = result.get("status", "failed"), result.get("reason")
        row["measurement"] = result if row["status"] == "ok" else None
        self.rows.append(row)

    def _bundle_case(self, bundle_dir: Path, length: int, *, accuracy: bool, runs: int,
                     throughput: bool = True) -> dict[str, Any]:
        o = self.options
        return {"kind": "bundle", "path": str(bundle_dir), "length": length, "texts": self.texts[length],
                "warmup": o.warmup, "runs": runs, "throughput_batch": o.throughput_batch if throughput else 0,
                "eval_path": str(self.source["eval_path"]) if accuracy else None,
                "eval_columns": self.source["columns"] if accuracy else None,
                "label_names": self.source["label_names"] if accuracy else None}

    def _export(self, checkpoint: Any, fmt: str, out_dir: Path, quantize: str, verify: bool) -> dict[str, Any]:
        """Export one bundle; returns the row fields (status, reason, size) the export decides."""
        from neurolite_sdk.exporters import ExportError, export_bundle
        from neurolite_sdk.runtime.errors import BackendUnavailableError

        options: dict[str, Any] = {} if quantize == "none" else {"quantize": quantize}
        # overwrite: bench's own bundles under --out (checked as a bench directory before the run); a
        # directory there that is not a bundle is still refused.
        try:
            texts = self._parity_texts(checkpoint) if verify else None
            result = export_bundle(checkpoint, fmt, out_dir, texts=texts, verify=verify, overwrite=True, **options)
        except TypeError as exc:
            return {"status": "skipped", "reason": f"export_bundle takes no quantize option here ({exc})"}
        except BackendUnavailableError as exc:
            return {"status": "skipped", "reason": str(exc)}
        except ExportError as exc:
            unsupported = quantize != "none" and "quantiz" in str(exc).lower()
            return {"status": "skipped" if unsupported else "failed", "reason": str(exc)}
        return {"status": "ok", "reason": None, "size_bytes": result.total_bytes, "parity": result.parity}

    def _parity_texts(self, checkpoint: Any) -> Any:
        """The first eval texts: the same real text for the trained model and the random-weight ones
        (whose checkpoints record no eval data)."""
        from neurolite_sdk.exporters import parity_texts
        from neurolite_sdk.exporters.parity import PARITY_TEXTS
        from neurolite_sdk.training.data import load_dataset

        texts = load_dataset(self.source["eval_path"], **self.source["columns"]).texts[:PARITY_TEXTS]
        return parity_texts(checkpoint, texts, source=str(self.source["eval_path"]))

    def _neurolite_rows(self, group: str, checkpoint: Any, model_name: str, weights: str, length: int,
                        formats: list[str], quantizes: tuple[str, ...], accuracy: bool) -> None:
        from neurolite_sdk.modeling.model import count_parameters

        config = checkpoint.model.config
        params = count_parameters(checkpoint.model)
        flops = neurolite_flops(checkpoint.model, length)
        for fmt in formats:
            for quantize in quantizes:
                self._step(f"{group}: {model_name} {fmt} {quantize} @{length}")
                bundle_dir = self.options.out / "bundles" / group / (fmt if quantize == "none" else f"{fmt}-{quantize}")
                row = self._row(group, model_name, "neurolite", config.backbone, fmt, quantize, length, weights,
                                params, flops)
                exported = self._export(checkpoint, fmt, bundle_dir, quantize, verify=True)
                row.update({k: v for k, v in exported.items() if k in ("size_bytes", "parity")})
                if exported["status"] != "ok":
                    row.update(status=exported["status"], reason=exported["reason"], measurement=None)
                    self.rows.append(row)
                    continue
                self._measure(row, self._bundle_case(bundle_dir, length, accuracy=accuracy, runs=self.options.runs))

    @staticmethod
    def _row(group: str, model: str, family: str, backbone: str, fmt: str, quantize: str, length: int,
             weights: str, params: int | None, flops: int | None) -> dict[str, Any]:
        return {"id": f"{group}/{model}/{fmt}/{quantize}/{length}", "group": group, "model": model,
                "family": family, "backbone": backbone, "format": fmt, "quantize": quantize, "length": length,
                "weights": weights, "params": params, "flops": flops, "size_bytes": None, "status": "failed",
                "reason": None, "measurement": None}

    def checkpoint_rows(self) -> None:
        source = self.source
        length = source["config"].max_length
        if source["bundle"] is not None:
            bundle = source["bundle"]
            self._step(f"checkpoint: {source['name']} {bundle.format}")
            row = self._row("checkpoint", source["name"], "neurolite", source["config"].backbone, bundle.format,
                            bundle.manifest.get("export", {}).get("quantize", "none"), length, "trained",
                            None, None)
            row["size_bytes"] = sum(record["bytes"] for record in bundle.manifest["files"].values())
            self._measure(row, self._bundle_case(bundle.path, length, accuracy=True, runs=self.options.runs))
            return
        self._neurolite_rows("checkpoint", source["checkpoint"], source["name"], "trained", length, self.formats(),
                             self.options.quantize, accuracy=True)

    def teacher_rows(self) -> None:
        """The transformer teacher the checkpoint was distilled from (``benchmarks/teacher_row.py``), on the
        same eval rows and at the checkpoint's length, exported to ONNX like the baselines."""
        from neurolite_sdk.benchmarks.baselines import example_inputs, parameter_count
        from neurolite_sdk.benchmarks.teacher_row import (
            export_teacher_onnx,
            load_teacher,
            onnx_accuracy,
            teacher_key,
        )
        from neurolite_sdk.training.data import load_dataset, rename_labels

        recorded, o = self.source["teacher"], self.options
        if recorded is None:
            return
        length = self.source["config"].max_length
        self._step(f"teacher: {recorded.name} onnx @{length}")
        row = self._row("checkpoint", f"teacher: {recorded.name}", "teacher", "transformer", "onnx", "none", length,
                        "trained", None, None)
        row["description"] = recorded.description
        try:
            teacher = load_teacher(recorded, len(self.source["labels"]))
            row["params"] = parameter_count(teacher.model)
            row["flops"] = count_flops(teacher.model, example_inputs(1, length))
            versions = {n: machine_info(1)["versions"].get(n) for n in ("torch", "transformers", "onnx")}
            entry = export_teacher_onnx(teacher, o.out / "models" / f"teacher-{recorded.name}-onnx",
                                        teacher_key(recorded, versions))
        except Exception as exc:  # weights gone or foreign, or a toolchain failure: record it, go on
            row.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
            self.rows.append(row)
            return
        row["size_bytes"] = _size_bytes(entry)
        self._measure(row, {"kind": "onnx", "path": str(entry), "length": length, "warmup": o.warmup,
                            "runs": o.runs, "throughput_batch": o.throughput_batch, "throughput_runs": 3})
        if row["status"] == "ok":
            data = rename_labels(load_dataset(self.source["eval_path"], **self.source["columns"]),
                                 self.source["label_names"])
            index = {label: i for i, label in enumerate(self.source["labels"])}
            truth = [index.get(label, -1) for label in data.labels]  # a label never trained on: an error
            row["measurement"]["accuracy"] = {"eval_path": str(self.source["eval_path"]),
                                              **onnx_accuracy(entry, teacher, list(data.texts), truth, o.threads)}

    def comparison_rows(self) -> None:
        """The checkpoint's architecture at the comparison length (skipped when that is its own length:
        the checkpoint rows are then the comparison)."""
        length = self.options.length
        if length == self.source["config"].max_length:
            return
        checkpoint = random_checkpoint(self.source["config"], self.source["labels"], max_length=length)
        self._neurolite_rows("comparison", checkpoint, f"{self.source['name']} arch", "random", length,
                             self.formats(), ("none",), accuracy=False)

    def _baseline_model(self, name: str) -> Any:
        from neurolite_sdk.benchmarks.baselines import build_baseline

        return build_baseline(name, **self.options.baseline_overrides)

    def _baseline_file(self, name: str, fmt: str, model: Any, length: int) -> Path:
        """The exported baseline, reused from an earlier run of the same versions and settings."""
        from neurolite_sdk.benchmarks.baselines import export_baseline_executorch, export_baseline_onnx

        versions = {n: machine_info(1)["versions"].get(n) for n in ("torch", "transformers", "executorch", "onnx")}
        shape = "dynamic" if fmt == "onnx" else f"l{length}"
        key = json.dumps({"name": name, "fmt": fmt, "shape": shape, "versions": versions,
                          "overrides": self.options.baseline_overrides}, sort_keys=True)
        folder = self.options.out / "models" / f"{name}-{fmt}-{shape}"
        entry = folder / ("model.onnx" if fmt == "onnx" else "model.pte")
        key_file = self.options.out / "models" / f"{name}-{fmt}-{shape}.key.json"
        if entry.is_file() and key_file.is_file() and key_file.read_text(encoding="utf-8") == key:
            return entry
        if fmt == "onnx":
            export_baseline_onnx(model, folder, max_length=model.model.config.max_position_embeddings)
        else:
            export_baseline_executorch(model, folder, length)
        atomic_write_text(key_file, key)
        return entry

    def baseline_rows(self) -> None:
        from neurolite_sdk.benchmarks.baselines import example_inputs, parameter_count
        from neurolite_sdk.runtime.backends import backend_class
        from neurolite_sdk.runtime.errors import RuntimeNotInstalledError

        o, length = self.options, self.options.length
        for name in o.baselines:
            model = self._baseline_model(name)
            limit = model.model.config.max_position_embeddings
            flops = count_flops(model, example_inputs(1, length)) if length <= limit else None
            for fmt in o.baseline_formats:
                self._step(f"baseline: {name} {fmt} @{length}")
                row = self._row("comparison", name, "baseline", "transformer", fmt, "none", length, "random",
                                parameter_count(model), flops)
                if length > limit:
                    row.update(status="skipped", reason=f"{length} tokens exceed the {limit} position embeddings")
                    self.rows.append(row)
                    continue
                try:
                    backend_class(fmt).import_runtime()
                    entry = self._baseline_file(name, fmt, model, length)
                except RuntimeNotInstalledError as exc:
                    row.update(status="skipped", reason=str(exc))
                    self.rows.append(row)
                    continue
                except Exception as exc:  # a toolchain failure on a third-party model: record it, go on
                    row.update(status="failed", reason=f"export: {type(exc).__name__}: {exc}")
                    self.rows.append(row)
                    continue
                row["size_bytes"] = _size_bytes(entry)
                self._measure(row, {"kind": fmt, "path": str(entry), "length": length, "warmup": o.warmup,
                                    "runs": o.runs, "throughput_batch": o.throughput_batch,
                                    "throughput_runs": 3})

    def scaling_rows(self) -> None:
        from neurolite_sdk.benchmarks.baselines import parameter_count
        from neurolite_sdk.modeling.model import count_parameters

        o = self.options
        for backbone in o.scaling_backbones:
            for length in o.scaling_lengths:
                self._step(f"scaling: {backbone} @{length}")
                checkpoint = random_checkpoint(self.source["config"], self.source["labels"], max_length=length,
                                               backbone=backbone)
                row = self._row("scaling", backbone, "neurolite", backbone, "onnx", "none", length, "random",
                                count_parameters(checkpoint.model), neurolite_flops(checkpoint.model, length))
                bundle_dir = o.out / "bundles" / "scaling" / f"{backbone}-{length}"
                exported = self._export(checkpoint, "onnx", bundle_dir, "none", verify=False)
                if exported["status"] != "ok":
                    row.update(status=exported["status"], reason=exported["reason"])
                    self.rows.append(row)
                    continue
                row["size_bytes"] = exported["size_bytes"]
                case = self._bundle_case(bundle_dir, length, accuracy=False, runs=o.scaling_runs, throughput=False)
                self._measure(row, {**case, "warmup": 5, "end_to_end": False})
        if not o.scaling_baselines:
            return
        for name in o.baselines:
            self._step(f"scaling: {name}")
            model = self._baseline_model(name)
            limit = model.model.config.max_position_embeddings
            lengths = [n for n in o.scaling_lengths if n <= limit]
            row = self._row("scaling", name, "baseline", "transformer", "onnx", "none", lengths[0], "random",
                            parameter_count(model), None)
            row["reason_lengths"] = (f"lengths above {limit} skipped: position embeddings stop there"
                                     if len(lengths) < len(o.scaling_lengths) else None)
            try:
                entry = self._baseline_file(name, "onnx", model, o.length)
            except Exception as exc:  # as in baseline_rows
                row.update(status="failed", reason=f"export: {type(exc).__name__}: {exc}")
                self.rows.append(row)
                continue
            row["size_bytes"] = _size_bytes(entry)
            self._measure(row, {"kind": "onnx", "path": str(entry), "length": lengths[0], "warmup": 2,
                                "runs": o.scaling_runs, "scaling_lengths": lengths})


def write_results(results: dict[str, Any], out: Path) -> Path:
    path = out / RESULTS_FILE
    atomic_write_text(path, json.dumps(results, indent=1) + "\n")
    return path
