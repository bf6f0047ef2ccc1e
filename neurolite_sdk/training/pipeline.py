"""The training job behind ``neurolite train``: data -> featurizer -> (teacher) -> model -> checkpoint."""

from __future__ import annotations

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
from neurolite_sdk.errors import json_loads
from neurolite_sdk.modeling.model import NeuroLiteForClassification, count_parameters
from neurolite_sdk.reasoning import BayesError, BayesianBeliefNetwork, RuleError, SymbolicRuleEngine
from neurolite_sdk.reasoning.json_io import read_json
from neurolite_sdk.reasoning.model_facts import NETWORK_FILE, RULES_FILE, ModelFacts, predicate_metrics
from neurolite_sdk.training.checkpoint import save_checkpoint
from neurolite_sdk.training.data import (
    DataError,
    TextDataset,
    encode_eval_labels,
    encode_labels,
    label_mapping,
    load_dataset,
    load_texts,
    rename_labels,
)
from neurolite_sdk.training.distill import TeacherJob, teacher_targets
from neurolite_sdk.training.distributed import World
from neurolite_sdk.training.trainer import (
    EncodedTexts,
    EpochRecord,
    TrainSettings,
    encode_texts,
    predict_predicates,
    train,
)

# the default peak learning rate: a pretrained encoder fine-tuned at 3e-3 loses much of what it was
# taught (2,000 SST-2 rows, 2 epochs: 74.31% at 3e-3, 75.69% at 1e-3; benchmarks/RESULTS.md, issue 13)
FINE_TUNE_LR = 1e-3
SCRATCH_LR = 3e-3


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
    learning_rate: float | None = None  # None: FINE_TUNE_LR from a pretrained encoder, SCRATCH_LR from random
    weight_decay: float = 0.05
    distill: bool = True  # False: no teacher at all (the same as teacher="none")
    teacher: str = "tfidf"  # tfidf | minilm | tfidf+minilm | none (distill.TEACHERS)
    augment: int = 0  # augmented samples per training row for the teacher to label (Tang et al. 2019)
    distill_weight: float = 0.5
    distill_temperature: float = 1.0
    teacher_epochs: int = 3
    teacher_max_rows: int | None = None  # fine-tune a transformer teacher on the first N rows only
    teacher_batch_size: int = 32
    teacher_lr: float = 1e-4
    teacher_cache: Path | None = None  # default: $NEUROLITE_CACHE/teachers or ~/.cache/neurolite/teachers
    teacher_precision: str = "auto"  # labelling: auto (bf16 where the CPU has it) | bf16 | fp32
    unlabelled_path: Path | None = None  # more text (labels ignored) for the teacher to label for the student
    init: str = "auto"  # auto | scratch | pretrained (the preset's encoder) | a `neurolite pretrain` folder
    token_dropout: float = 0.1
    seed: int = 0
    max_rows: int | None = None
    label_names: list[str] | dict[str, str] | None = None  # names for the sorted label values, or value -> name
    overwrite: bool = False  # replace an existing checkpoint at out_dir (never a directory of anything else)


def _teacher_job(job: TrainJob) -> TeacherJob:
    from neurolite_sdk.training.augment import AugmentSettings
    from neurolite_sdk.training.transformer_teacher import PRETRAINED, FineTuneSettings

    name = job.teacher if job.distill else "none"
    if name.split("+")[-1] in PRETRAINED:
        PRETRAINED[name.split("+")[-1]].model_path()  # a missing package is named now, before any work
    return TeacherJob(name=name,
                      augment=AugmentSettings(copies=job.augment, seed=job.seed),
                      fine_tune=FineTuneSettings(epochs=job.teacher_epochs, batch_size=job.teacher_batch_size,
                                                 learning_rate=job.teacher_lr, max_rows=job.teacher_max_rows,
                                                 label_precision=job.teacher_precision, seed=job.seed),
                      cache_root=job.teacher_cache, temperature=job.distill_temperature,
                      unlabelled=load_texts(job.unlabelled_path, job.text_col) if job.unlabelled_path else [])


def build_config(job: TrainJob) -> NeuroLiteConfig:
    if job.config_path is not None:
        try:
            text = job.config_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{job.config_path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
        data = json_loads(text, ConfigError, str(job.config_path))
        if not isinstance(data, dict):
            raise ConfigError(f"{job.config_path}: expected a JSON object of config fields, got {type(data).__name__}")
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
    world = World.from_env()  # torchrun: one process of several (distributed.py); else a single process
    console = console if console is not None and world.is_main else Console(quiet=True)
    started = time.perf_counter()
    if world.is_main:
        check_output_dir(job.out_dir, CHECKPOINT, overwrite=job.overwrite)  # before any work, not after training
    config = build_config(job)
    teacher_job = _teacher_job(job)
    train_data = load_dataset(job.train_path, job.text_col, job.label_col, job.fmt)
    eval_data = load_dataset(job.eval_path, job.text_col, job.label_col, job.fmt)
    if job.max_rows is not None:
        train_data = _head(train_data, job.max_rows)
    renamed = label_mapping(sorted(set(train_data.labels)), job.label_names, train_data.source)
    train_data, eval_data = rename_labels(train_data, renamed), rename_labels(eval_data, renamed)
    label_names = sorted(set(train_data.labels), key=lambda name: list(renamed.values()).index(name)
                         if name in renamed.values() else -1) if renamed else sorted(set(train_data.labels))
    if len(label_names) < 2:
        raise DataError(f"{train_data.source}: needs at least two distinct labels, found {label_names}")
    train_labels = np.asarray(encode_labels(train_data, label_names))
    eval_codes, unseen = encode_eval_labels(eval_data, label_names)
    eval_labels = np.asarray(eval_codes)
    if unseen.rows:
        console.print(f"[yellow]warning:[/yellow] {unseen.message(len(eval_data))}")
    reasoning, model_facts = _reasoning_files(config)
    world.check_agreement(_agreement(job, config, train_data, eval_data))
    train_targets = eval_targets = None
    if model_facts is not None and model_facts.predicates:
        train_targets = model_facts.cue_labels(train_data.texts)
        eval_targets = model_facts.cue_labels(eval_data.texts)

    torch.manual_seed(job.seed)  # the initial weights too, so that --seed makes the whole run repeatable
    model = NeuroLiteForClassification(config, num_labels=len(label_names))
    init_report = _initialise(model, job, console)
    console.print(f"model: preset={job.preset} backbone={config.backbone} parameters={count_parameters(model):,}; "
                  f"train rows={len(train_data):,} eval rows={len(eval_data):,} labels={len(label_names)}")
    train_set = encode_texts(model.featurizer, train_data.texts)
    eval_set = encode_texts(model.featurizer, eval_data.texts)

    soft_targets, teacher_report = None, None
    learning_rate = job.learning_rate
    if learning_rate is None:
        learning_rate = SCRATCH_LR if init_report is None else FINE_TUNE_LR
    settings = TrainSettings(epochs=job.epochs, batch_size=job.batch_size, learning_rate=learning_rate,
                             weight_decay=job.weight_decay, token_dropout=job.token_dropout, seed=job.seed)
    # the teacher runs once, on rank 0, and its targets go to every rank
    targets = world.broadcast(teacher_targets(teacher_job, train_data.texts, train_labels, eval_data.texts,
                                              eval_labels, label_names, console) if world.is_main else None)
    if targets is not None:
        teacher_report = targets.report
        soft_targets = np.concatenate([targets.train_probabilities, targets.extra_probabilities])
        if targets.extra_texts:  # augmented samples: the teacher's soft labels only (label -1)
            extra = encode_texts(model.featurizer, targets.extra_texts)
            train_set = EncodedTexts(train_set.features + extra.features,
                                     np.concatenate([train_set.lengths, extra.lengths]))
            train_labels = np.concatenate([train_labels, np.full(len(extra), -1, dtype=train_labels.dtype)])
            if train_targets is not None:
                train_targets = np.concatenate([train_targets, model_facts.cue_labels(targets.extra_texts)])
        settings.distill_weight, settings.distill_temperature = job.distill_weight, job.distill_temperature

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
                       on_step=on_step, on_epoch=on_epoch, predicate_targets=train_targets, world=world)
    predicate_report = None
    if model_facts is not None and eval_targets is not None:
        predicate_report = predicate_metrics(predict_predicates(model, eval_set), eval_targets,
                                             model_facts.predicate_names, model_facts.threshold)
        micro = predicate_report["micro"]
        console.print(f"predicate head on {job.eval_path} (against the cue labels): micro precision "
                      f"{micro['precision']:.3f} recall {micro['recall']:.3f} F1 {micro['f1']:.3f}")

    report = {**result.to_dict(), "preset": job.preset, "parameters": count_parameters(model),
              "train_path": str(job.train_path), "eval_path": str(job.eval_path), "train_rows": len(train_data),
              "data": {"text_col": job.text_col, "label_col": job.label_col, "fmt": job.fmt},
              "label_names": renamed or None,
              "eval_rows": len(eval_data), "eval_unseen_label_rows": unseen.rows,
              "eval_unseen_labels": unseen.counts, "settings": settings.__dict__, "teacher": teacher_report,
              "predicates": predicate_report, "init": init_report, "processes": world.size,
              "total_seconds": time.perf_counter() - started}
    if config.use_continual_adapter:  # the replay buffer `train --continue` draws from (training/continual.py)
        from neurolite_sdk.training.continual import REPLAY_FILE, training_replay

        replay = training_replay(config.continual_adapter_buffer_size, train_data.texts, train_data.labels, job.seed)
        reasoning = {**reasoning, REPLAY_FILE: replay.to_dict()}
    if world.is_main:
        save_checkpoint(job.out_dir, model, label_names, report, reasoning, overwrite=job.overwrite)
    world.barrier()
    return report


def _initialise(model: NeuroLiteForClassification, job: TrainJob, console: Console) -> dict[str, Any] | None:
    """Start the encoder from a pretrained one (``--init``); the classification head stays fresh.

    ``auto``: the preset's pretrained encoder (built by ``neurolite pretrain``, else shipped with the
    package) when there is one of this model's shape, else random weights, saying why.
    ``pretrained``: the same, but its absence or another shape is an error.
    """
    if job.init == "scratch":
        return None
    from neurolite_sdk.training.pretrain import PretrainError, encoder_candidates, encoder_mismatch, load_encoder

    if job.init in ("auto", "pretrained"):
        candidates = encoder_candidates(job.preset)
        if not candidates:
            message = (f"no pretrained encoder for preset {job.preset!r}; build one with "
                       f"`neurolite pretrain --preset {job.preset}`")
            if job.init == "pretrained":
                raise PretrainError(message)
            console.print(f"init: random weights ({message})")
            return None
        fitting = [c for c in candidates if not encoder_mismatch(c, model.config)]
        if not fitting and job.init == "auto":
            console.print(f"init: random weights (the pretrained encoder {candidates[0]} has another shape: "
                          f"{', '.join(encoder_mismatch(candidates[0], model.config))})")
            return None
        path = (fitting or candidates)[0]  # "pretrained" with none fitting: load_encoder names the difference
    else:
        path = Path(job.init)
    report = load_encoder(model, path)
    console.print(f"init: encoder from {path} (pretrained on {report.get('corpus_texts', 0):,} texts, "
                  f"vocabulary {report.get('vocabulary', 0):,} words)")
    return {"path": str(path), "corpus": report.get("corpus"), "corpus_digest": report.get("corpus_digest")}


def _agreement(job: TrainJob, config: NeuroLiteConfig, train_data: TextDataset, eval_data: TextDataset) -> dict:
    """What every torchrun process must have been given alike: data by content, config, settings."""
    from neurolite_sdk.training.teacher_cache import texts_digest

    settings = {k: v for k, v in vars(job).items() if k not in ("train_path", "eval_path", "out_dir", "config_path",
                                                                 "teacher_cache", "overrides", "unlabelled_path")}
    return {"train data": texts_digest(train_data.texts, train_data.labels),
            "eval data": texts_digest(eval_data.texts, eval_data.labels), "config": config.to_json(),
            **{k: repr(v) for k, v in settings.items()}}


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
