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

from neurolite_sdk.atomic import CHECKPOINT, check_output_dir
from neurolite_sdk.config import ConfigError, NeuroLiteConfig
from neurolite_sdk.modeling.model import NeuroLiteForClassification, count_parameters
from neurolite_sdk.reasoning import BayesError, BayesianBeliefNetwork, RuleError, SymbolicRuleEngine
from neurolite_sdk.reasoning.json_io import read_json
from neurolite_sdk.reasoning.model_facts import NETWORK_FILE, RULES_FILE, ModelFacts, predicate_metrics
from neurolite_sdk.training.checkpoint import save_checkpoint
from neurolite_sdk.training.data import DataError, TextDataset, encode_labels, load_dataset
from neurolite_sdk.training.trainer import EpochRecord, TrainSettings, encode_texts, predict_predicates, train


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
    overwrite: bool = False  # replace an existing checkpoint at out_dir (never a directory of anything else)


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
    check_output_dir(job.out_dir, CHECKPOINT, overwrite=job.overwrite)  # before any work, not after training
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
    reasoning, model_facts = _reasoning_files(config)
    train_targets = eval_targets = None
    if model_facts is not None and model_facts.predicates:
        train_targets = model_facts.cue_labels(train_data.texts)
        eval_targets = model_facts.cue_labels(eval_data.texts)

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
                       on_step=on_step, on_epoch=on_epoch, predicate_targets=train_targets)
    predicate_report = None
    if model_facts is not None and eval_targets is not None:
        predicate_report = predicate_metrics(predict_predicates(model, eval_set), eval_targets,
                                             model_facts.predicate_names, model_facts.threshold)
        micro = predicate_report["micro"]
        console.print(f"predicate head on {job.eval_path} (against the cue labels): micro precision "
                      f"{micro['precision']:.3f} recall {micro['recall']:.3f} F1 {micro['f1']:.3f}")

    report = {**result.to_dict(), "preset": job.preset, "parameters": count_parameters(model),
              "train_path": str(job.train_path), "eval_path": str(job.eval_path), "train_rows": len(train_data),
              "eval_rows": len(eval_data), "settings": settings.__dict__, "teacher": teacher_report,
              "predicates": predicate_report, "total_seconds": time.perf_counter() - started}
    save_checkpoint(job.out_dir, model, label_names, report, reasoning, overwrite=job.overwrite)
    return report


def _reasoning_files(config: NeuroLiteConfig) -> tuple[dict[str, Any], ModelFacts | None]:
    """The rules and network documents the checkpoint will carry, and the rules' model section.

    Fills ``config.symbolic_predicates`` from the rules file's ``model.predicates`` (before the model
    is built, so the head has one output per predicate); a config that already names predicates
    must name the same ones, in the same order.
    """
    docs: dict[str, Any] = {}
    model_facts = None
    if config.use_symbolic_module:
        if config.symbolic_rules_file is None:
            raise ConfigError("symbolic_rules_file: use_symbolic_module is on but no rules file is given")
        engine = SymbolicRuleEngine.from_json(config.symbolic_rules_file)
        model_facts = engine.model_facts
        names = list(model_facts.predicate_names) if model_facts is not None else []
        if config.symbolic_predicates and config.symbolic_predicates != names:
            raise ConfigError(f"symbolic_predicates: {config.symbolic_predicates} differ from the predicates "
                              f"{names} of {config.symbolic_rules_file}")
        config.symbolic_predicates = names
        docs[RULES_FILE] = read_json(config.symbolic_rules_file, RuleError)
    if config.use_bayesian_module:
        network = (BayesianBeliefNetwork.from_json(config.bayesian_network_file)
                   if config.bayesian_network_file is not None else BayesianBeliefNetwork.from_config(config))
        docs[NETWORK_FILE] = (read_json(config.bayesian_network_file, BayesError)
                              if config.bayesian_network_file is not None else network.to_dict())
    return docs, model_facts


def _head(data: TextDataset, rows: int) -> TextDataset:
    return TextDataset(data.texts[:rows], data.labels[:rows], data.lines[:rows], data.source)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.2f}%"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)
