"""The training job behind ``neurolite train``: data -> featurizer -> (teacher) -> model -> checkpoint."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from neurolite_sdk.config import ConfigError, NeuroLiteConfig
from neurolite_sdk.modeling.model import NeuroLiteForClassification, count_parameters
from neurolite_sdk.training.checkpoint import save_checkpoint
from neurolite_sdk.training.data import DataError, TextDataset, encode_labels, load_dataset
from neurolite_sdk.training.trainer import EpochRecord, TrainSettings, encode_texts, train


@dataclass
class TrainJob:
    train_path: Path
    eval_path: Path
    out_dir: Path
    preset: str = "tiny"
    config_path: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    text_col: str | None = None
    label_col: str | None = None
    fmt: str | None = None
    epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 0.05
    distill: bool = True
    token_dropout: float = 0.1
    seed: int = 0
    max_rows: int | None = None


def build_config(job: TrainJob) -> NeuroLiteConfig:
    if job.config_path is not None:
        try:
            data = json.loads(job.config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{job.config_path}: invalid JSON at line {exc.lineno} column {exc.colno}") from exc
        try:
            return NeuroLiteConfig.from_dict({**data, **job.overrides})
        except ConfigError as exc:
            raise ConfigError(f"{job.config_path}: {exc}") from exc
    return NeuroLiteConfig.from_preset(job.preset, **_checked_overrides(job.overrides))


def _checked_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    known = set(NeuroLiteConfig.__dataclass_fields__)
    for key in overrides:
        if key not in known:
            raise ConfigError(f"{key}: unknown config field (known fields: {', '.join(sorted(known))})")
    return overrides


def run_training(job: TrainJob, console: Console | None = None) -> dict[str, Any]:
    """Run the job and write the checkpoint; returns the training report (also saved as training.json)."""
    console = console or Console(quiet=True)
    started = time.perf_counter()
    config = build_config(job)
    train_data = load_dataset(job.train_path, job.text_col, job.label_col, job.fmt)
    eval_data = load_dataset(job.eval_path, job.text_col, job.label_col, job.fmt)
    if job.max_rows is not None:
        train_data = _head(train_data, job.max_rows)
    label_names = sorted(set(train_data.labels))
    if len(label_names) < 2:
        raise DataError(f"{train_data.source}: needs at least two distinct labels, found {label_names}")
    train_labels = np.asarray(encode_labels(train_data, label_names))
    eval_labels = np.asarray(encode_labels(eval_data, label_names))

    torch.manual_seed(job.seed)  # the initial weights too, so that --seed makes the whole run repeatable
    model = NeuroLiteForClassification(config, num_labels=len(label_names))
    console.print(f"model: preset={job.preset} backbone={config.backbone} parameters={count_parameters(model):,}; "
                  f"train rows={len(train_data):,} eval rows={len(eval_data):,} labels={len(label_names)}")
    train_set = encode_texts(model.featurizer, train_data.texts)
    eval_set = encode_texts(model.featurizer, eval_data.texts)

    soft_targets, teacher_report = None, None
    settings = TrainSettings(epochs=job.epochs, batch_size=job.batch_size, learning_rate=job.learning_rate,
                             weight_decay=job.weight_decay, token_dropout=job.token_dropout, seed=job.seed)
    if job.distill:
        from neurolite_sdk.training.teacher import fit_teacher

        teacher = fit_teacher(train_data.texts, train_labels, len(label_names), seed=job.seed)
        soft_targets = teacher.train_probabilities
        teacher_accuracy = float((teacher.predict_proba(eval_data.texts).argmax(1) == eval_labels).mean())
        teacher_report = {"kind": teacher.description, "eval_accuracy": teacher_accuracy,
                          "seconds": teacher.seconds}
        console.print(f"teacher: {teacher.description}: eval accuracy {teacher_accuracy * 100:.2f}% "
                      f"({teacher.seconds:.1f} s)")
        settings.distill_weight, settings.distill_temperature = 0.5, 1.0

    with _progress(console) as progress:
        task = progress.add_task("training", total=settings.epochs * -(-len(train_set) // settings.batch_size),
                                 loss=float("nan"), acc=float("nan"))

        def on_step(step: int, total: int, loss: float, accuracy: float) -> None:
            if step % 20 == 0 or step == total:
                progress.update(task, completed=step, loss=loss, acc=accuracy * 100)

        def on_epoch(record: EpochRecord) -> None:
            progress.console.print(f"epoch {record.epoch}: train loss {record.train_loss:.4f} acc "
                                   f"{record.train_accuracy * 100:.2f}% | eval loss {record.eval_loss:.4f} acc "
                                   f"{record.eval_accuracy * 100:.2f}% | {record.seconds:.0f} s")

        result = train(model, train_set, train_labels, eval_set, eval_labels, settings, soft_targets,
                       on_step=on_step, on_epoch=on_epoch)

    report = {**result.to_dict(), "preset": job.preset, "parameters": count_parameters(model),
              "train_path": str(job.train_path), "eval_path": str(job.eval_path), "train_rows": len(train_data),
              "eval_rows": len(eval_data), "settings": settings.__dict__, "teacher": teacher_report,
              "total_seconds": time.perf_counter() - started}
    save_checkpoint(job.out_dir, model, label_names, report)
    return report


def _head(data: TextDataset, rows: int) -> TextDataset:
    return TextDataset(data.texts[:rows], data.labels[:rows], data.lines[:rows], data.source)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.2f}%"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
