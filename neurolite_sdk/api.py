"""The Python API: the ``neurolite`` commands as functions that return objects.

    import neurolite_sdk as nl

    run = nl.train("train.tsv", "dev.tsv", out="runs/tiny")          # neurolite train --train --eval --out
    nl.evaluate(run.checkpoint, "dev.tsv").accuracy                   # neurolite eval CHECKPOINT --data
    bundles = nl.export(run.checkpoint, "onnx", out="runs/bundles")   # neurolite export --format --out
    nl.load(bundles["onnx"].bundle).predict(["a witty movie"])        # neurolite run BUNDLE TEXT...
    nl.bench(run.checkpoint, out="runs/bench", quick=True)            # neurolite bench SOURCE --out --quick

Each function takes the command's options as keyword arguments of the same name (``--text-col`` is
``text_col``, ``--set`` is ``overrides``, ``--lr`` is ``lr``), with the same defaults, and ``out`` means
what ``--out`` means there: the checkpoint directory for ``train``, the directory receiving one bundle
per format (``OUT/<format>/``) for ``export``, the results directory for ``bench``. They print nothing
unless ``verbose=True``; a bad input raises ``NeuroLiteError`` (or a subclass) with the one-line message
the command would print. The commands call these functions, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurolite_sdk.errors import NeuroLiteError

if TYPE_CHECKING:
    from neurolite_sdk.exporters import ExportResult
    from neurolite_sdk.runtime import Predictor
    from neurolite_sdk.training.checkpoint import Checkpoint

ALL_FORMATS = "all"


def _console(verbose: bool) -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, quiet=not verbose)


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _checkpoint(checkpoint: str | Path | Checkpoint) -> Checkpoint:
    from neurolite_sdk.training.checkpoint import Checkpoint, load_checkpoint

    return checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)


@dataclass
class TrainResult:
    """What ``train`` wrote: the checkpoint (loaded), its directory and the training report."""

    checkpoint: Checkpoint
    path: Path
    report: dict[str, Any]

    @property
    def accuracy(self) -> float:
        """The best eval accuracy (the kept epoch's)."""
        return float(self.report["best_eval_accuracy"])

    @property
    def metrics(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "best_epoch": self.report["best_epoch"],
                "eval_rows": self.report["eval_rows"], "train_rows": self.report["train_rows"]}


def train(train: str | Path, eval: str | Path, out: str | Path, *, preset: str = "tiny",  # noqa: A002
          config: str | Path | None = None, overrides: dict[str, Any] | None = None, text_col: str | None = None,
          label_col: str | None = None, format: str | None = None, epochs: int = 4,  # noqa: A002
          batch_size: int = 64, lr: float | None = None, weight_decay: float = 0.05, distill: bool = True,
          teacher: str = "tfidf", augment: int = 0, distill_weight: float = 0.5, distill_temperature: float = 1.0,
          teacher_epochs: int = 3, teacher_max_rows: int | None = None, teacher_lr: float = 1e-4,
          teacher_cache: str | Path | None = None, token_dropout: float = 0.1, seed: int = 0,
          threads: int | None = None, max_rows: int | None = None, overwrite: bool = False,
          label_names: Sequence[str] | dict[str, str] | None = None, verbose: bool = False) -> TrainResult:
    """``neurolite train``: train a classifier on labelled text (a file, a SNIPS folder, ``hf:REPO:SPLIT`` or a
    ``save_to_disk`` folder) and write the checkpoint ``out``. ``lr=None``: 1e-3 when the encoder starts from
    the pretrained one (the default), 3e-3 from random weights."""
    from neurolite_sdk.training.checkpoint import load_checkpoint
    from neurolite_sdk.training.pipeline import TrainJob, run_training

    _set_threads(threads)
    job = TrainJob(train_path=Path(train), eval_path=Path(eval), out_dir=Path(out), preset=preset,
                   config_path=Path(config) if config is not None else None, overrides=dict(overrides or {}),
                   text_col=text_col, label_col=label_col, fmt=format, epochs=epochs, batch_size=batch_size,
                   learning_rate=lr, weight_decay=weight_decay, distill=distill, teacher=teacher, augment=augment,
                   distill_weight=distill_weight, distill_temperature=distill_temperature,
                   teacher_epochs=teacher_epochs, teacher_max_rows=teacher_max_rows, teacher_lr=teacher_lr,
                   teacher_cache=Path(teacher_cache) if teacher_cache is not None else None,
                   token_dropout=token_dropout, seed=seed, max_rows=max_rows, overwrite=overwrite,
                   label_names=dict(label_names) if isinstance(label_names, dict) else
                   (list(label_names) if label_names is not None else None))
    report = run_training(job, console=_console(verbose))
    return TrainResult(checkpoint=load_checkpoint(job.out_dir), path=job.out_dir, report=report)


@dataclass
class EvalResult:
    """``evaluate``'s metrics; ``to_dict()`` is what ``neurolite eval --json`` prints."""

    checkpoint: str
    data: str
    rows: int
    accuracy: float
    per_label: dict[str, dict[str, float]]
    confusion: list[list[int]]
    labels: list[str]

    @property
    def metrics(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "per_label": self.per_label}

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "data": self.data, "rows": self.rows, "accuracy": self.accuracy,
                "per_label": self.per_label, "confusion": self.confusion, "labels": self.labels}


def evaluate(checkpoint: str | Path | Checkpoint, data: str | Path, *, text_col: str | None = None,
             label_col: str | None = None, format: str | None = None,  # noqa: A002
             threads: int | None = None) -> EvalResult:
    """``neurolite eval``: accuracy, per-label precision/recall and the confusion matrix on labelled ``data``."""
    import numpy as np

    from neurolite_sdk.training.data import encode_labels, load_dataset, rename_labels
    from neurolite_sdk.training.trainer import encode_texts, predict_proba

    _set_threads(threads)
    ckpt = _checkpoint(checkpoint)
    dataset = rename_labels(load_dataset(data, text_col, label_col, format), ckpt.training.get("label_names"))
    truth = np.asarray(encode_labels(dataset, ckpt.labels))
    predicted = predict_proba(ckpt.model, encode_texts(ckpt.model.featurizer, dataset.texts)).argmax(1)
    n = len(ckpt.labels)
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    per_label = {}
    for i, name in enumerate(ckpt.labels):
        tp = confusion[i, i]
        per_label[name] = {"precision": float(tp / max(1, confusion[:, i].sum())),
                           "recall": float(tp / max(1, confusion[i].sum())), "support": int(confusion[i].sum())}
    name = str(ckpt.path) if ckpt.path is not None else str(checkpoint)
    return EvalResult(checkpoint=name, data=str(data), rows=len(dataset),
                      accuracy=float((predicted == truth).mean()), per_label=per_label,
                      confusion=confusion.tolist(), labels=list(ckpt.labels))


@dataclass
class ExportRun:
    """``export``'s bundles by format (``ExportResult``: bundle directory, files, parity, size)."""

    out: Path
    bundles: dict[str, ExportResult] = field(default_factory=dict)

    def __getitem__(self, fmt: str) -> ExportResult:
        return self.bundles[fmt]

    def __iter__(self) -> Any:
        return iter(self.bundles.values())


def export_formats(format: str | Iterable[str]) -> list[str]:  # noqa: A002
    """``all``, one name, a comma-separated list or a list of names -> the formats, checked against the registry."""
    from neurolite_sdk.exporters import exporter_formats

    known = exporter_formats()
    names = [format] if isinstance(format, str) else list(format)
    formats: list[str] = []
    for item in names:
        for name in (part.strip() for part in item.split(",")):
            if not name:
                continue
            chosen = known if name == ALL_FORMATS else [name]
            for fmt in chosen:
                if fmt not in known:
                    raise NeuroLiteError(f"--format {name}: unknown format; valid formats: {', '.join(known)}, all")
                if fmt not in formats:
                    formats.append(fmt)
    if not formats:
        raise NeuroLiteError("--format: no format given")
    return formats


def export(checkpoint: str | Path | Checkpoint, format: str | Iterable[str], out: str | Path, *,  # noqa: A002
           overwrite: bool = False, texts: Sequence[str] | str | Path | None = None, verify: bool = True,
           precision: str = "fp32", allow_portable: Sequence[str] | None = None, quantize: str = "none",
           text_col: str | None = None, verbose: bool = False) -> ExportRun:
    """``neurolite export``: one verified bundle per format in ``out/<format>/``. ``texts`` are the parity texts
    (a list, or a file with one per line; default: the checkpoint's eval data). The first format that fails
    raises (``ExportError``, ``ParityError``); the bundles written before it stay."""
    from neurolite_sdk.atomic import BUNDLE, check_output_dir
    from neurolite_sdk.exporters import export_bundle, parity_texts
    from neurolite_sdk.lines import iter_lines

    formats = export_formats(format)
    out = Path(out)
    for name in formats:  # every destination before any work
        check_output_dir(out / name, BUNDLE, overwrite=overwrite)
    ckpt = _checkpoint(checkpoint)
    parity = None
    if verify:
        if isinstance(texts, (str, Path)):
            given = [line for _, line in iter_lines(Path(texts)) if line.strip()]
            parity = parity_texts(ckpt, given, source=str(texts))
        else:
            parity = parity_texts(ckpt, list(texts) if texts is not None else None, text_col=text_col)
    console = _console(verbose)
    run = ExportRun(out=out)
    for name in formats:
        console.print(f"exporting {name} ...")
        run.bundles[name] = export_bundle(ckpt, name, out / name, texts=parity, verify=verify, precision=precision,
                                          allow_portable=tuple(allow_portable) if allow_portable else None,
                                          quantize=quantize, overwrite=overwrite)
    return run


def load(bundle: str | Path, threads: int | None = None, backend: str | None = None,
         instances: int | None = None) -> Predictor:
    """``neurolite run``'s runtime: a bundle -> a ``Predictor`` (``.predict(texts)`` -> ``Prediction`` list)."""
    from neurolite_sdk.runtime import load as runtime_load

    return runtime_load(bundle, threads=threads, backend=backend, instances=instances)


@dataclass
class BenchResult:
    """``bench``'s results (the ``results.json`` document) and where they were written."""

    out: Path
    path: Path
    results: dict[str, Any]

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self.results["rows"])


def bench(source: str | Path | Checkpoint, out: str | Path, *, threads: int = 2, length: int = 256,
          format: str | Iterable[str] | None = None, quantize: str | Iterable[str] = "none",  # noqa: A002
          baselines: str | Iterable[str] = ("bert-base", "distilbert", "mobilebert"), runs: int = 50,
          eval: str | Path | None = None, quick: bool = False, overwrite: bool = False,  # noqa: A002
          text_col: str | None = None, label_col: str | None = None,
          verbose: bool = False, suite_options: dict[str, Any] | None = None) -> BenchResult:
    """``neurolite bench``: measure a checkpoint or bundle (and transformer baselines); writes ``out/results.json``.
    ``suite_options`` sets further ``benchmarks.suite.SuiteOptions`` fields (scaling lengths, warm-up runs...)."""
    from neurolite_sdk.atomic import BENCH_DIRECTORY, check_output_dir
    from neurolite_sdk.benchmarks.suite import Suite, SuiteOptions, write_results

    source_path = source.path if hasattr(source, "path") and not isinstance(source, (str, Path)) else source
    if source_path is None:
        raise NeuroLiteError("bench: the checkpoint has no directory (save it first)")
    source_path, out = Path(source_path), Path(out)
    if not source_path.is_dir():
        raise NeuroLiteError(f"{source_path}: not a checkpoint or bundle directory")
    check_output_dir(out, BENCH_DIRECTORY, overwrite=overwrite)
    options = SuiteOptions(source=source_path, out=out, threads=threads, length=length,
                           quantize=tuple(_names(quantize)) or ("none",), baselines=tuple(_names(baselines)),
                           runs=runs, eval_path=Path(eval) if eval is not None else None, text_col=text_col,
                           label_col=label_col,
                           formats=_names(format) if format is not None else None,
                           command="neurolite_sdk.bench (Python API)")
    if quick:
        options.quicken()
        options.length = _model_length(source_path)
    for key, value in (suite_options or {}).items():
        if not hasattr(options, key):
            raise NeuroLiteError(f"suite_options: {key!r} is not a SuiteOptions field")
        setattr(options, key, value)
    console = _console(verbose)
    results = Suite(options, lambda description, done, total: console.print(f"{description} {done}/{total}")).run()
    return BenchResult(out=out, path=write_results(results, out), results=results)


def report(results: str | Path, compare: str | Path | None = None, out: str | Path | None = None) -> Path:
    """``neurolite report``: write report.md (and scaling.png) from a bench directory; returns report.md's path."""
    from neurolite_sdk.benchmarks.report import write_report

    path, _ = write_report(results, compare=compare, out_dir=out)
    return Path(path)


def _names(value: str | Iterable[str]) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def _model_length(source: Path) -> int:
    import json

    for name in ("config.json", "manifest.json"):
        if (source / name).is_file():
            document = json.loads((source / name).read_text(encoding="utf-8"))
            return int(document.get("config", document)["max_length"])
    return 256
