"""Soft targets for the student: which teacher, fitted how, on what text, with what fallbacks.

``tfidf``: the cross-fitted TF-IDF + LR teacher (seconds; on tiny or skewed data it falls back as
``teacher.fit_teacher`` describes, and if it cannot be fitted at all the run trains on hard labels,
saying so). ``minilm``: a pretrained transformer fine-tuned on the training split
(``transformer_teacher``), its weights and outputs cached by ``teacher_cache``. Either teacher also
labels the augmented samples of ``augment`` when ``AugmentSettings.copies`` > 0: rows that carry the
teacher's soft labels only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from neurolite_sdk.training.augment import AugmentSettings, augment
from neurolite_sdk.training.teacher import TeacherError, fit_teacher
from neurolite_sdk.training.teacher_cache import TeacherCache, default_cache_root, file_digest, texts_digest
from neurolite_sdk.training.transformer_teacher import PRETRAINED, FineTuneSettings, TransformerTeacher

TEACHERS = ("tfidf", *PRETRAINED, *(f"tfidf+{name}" for name in PRETRAINED), "none")


@dataclass
class TeacherJob:
    name: str = "tfidf"
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    fine_tune: FineTuneSettings = field(default_factory=FineTuneSettings)
    cache_root: Path | None = None  # default: teacher_cache.default_cache_root()
    temperature: float = 1.0  # soft targets = softmax(teacher logits / temperature)
    unlabelled: list[str] = field(default_factory=list)  # more text for the teacher to label (soft labels only)

    def __post_init__(self) -> None:
        if self.name not in TEACHERS:
            raise TeacherError(f"teacher {self.name!r} is unknown; choose one of {', '.join(TEACHERS)}")


@dataclass
class TeacherTargets:
    train_probabilities: np.ndarray  # float32 [N, C], one row per training row
    extra_texts: list[str]  # augmented samples as the student reads them, then the unlabelled texts
    extra_probabilities: np.ndarray  # float32 [M, C]
    report: dict[str, Any]
    eval_probabilities: np.ndarray | None = None  # float32 [E, C], the teacher on the eval rows


def teacher_targets(job: TeacherJob, train_texts: Sequence[str], train_labels: np.ndarray,
                    eval_texts: Sequence[str], eval_labels: np.ndarray, label_names: Sequence[str],
                    console: Console) -> TeacherTargets | None:
    """The teacher's soft targets for the training rows and the augmented samples; None = no teacher."""
    if job.name == "none":
        return None
    if job.fine_tune.max_rows is not None and job.name == "tfidf":
        console.print("[yellow]teacher:[/yellow] --teacher-max-rows applies to a pretrained teacher; the TF-IDF "
                      "teacher fits every training row")
    samples = augment(train_texts, job.augment)
    if job.augment.copies:
        console.print(f"augmentation: {len(samples):,} new samples from {len(train_texts):,} training rows "
                      f"(up to {job.augment.copies} each; mask {job.augment.p_mask}, swap {job.augment.p_swap}, "
                      f"n-gram {job.augment.p_ngram})")
    args = (job, train_texts, train_labels, eval_texts, eval_labels, label_names, samples, console)
    if job.name == "tfidf":
        return _linear_targets(*args)
    if job.name in PRETRAINED:
        return _transformer_targets(*args)
    return _ensemble_targets(*args)


def _ensemble_targets(job: TeacherJob, train_texts, train_labels, eval_texts, eval_labels, label_names, samples,
                      console: Console) -> TeacherTargets | None:
    """``tfidf+NAME``: the mean of the two teachers' probabilities (each fitted as on its own)."""
    from dataclasses import replace

    linear = _linear_targets(job, train_texts, train_labels, eval_texts, eval_labels, label_names, samples, console)
    pretrained = _transformer_targets(replace(job, name=job.name.split("+", 1)[1]), train_texts, train_labels,
                                      eval_texts, eval_labels, label_names, samples, console)
    if linear is None:
        return pretrained
    mean = [(a + b) / 2 for a, b in ((linear.train_probabilities, pretrained.train_probabilities),
                                     (linear.extra_probabilities, pretrained.extra_probabilities),
                                     (linear.eval_probabilities, pretrained.eval_probabilities))]
    accuracy = float((mean[2].argmax(1) == eval_labels).mean()) if len(eval_labels) else float("nan")
    console.print(f"teacher: {job.name} (mean of the two): eval accuracy {accuracy * 100:.2f}%")
    report = {"kind": f"mean of {linear.report['kind']} and {pretrained.report['kind']}", "name": job.name,
              "eval_accuracy": accuracy, "parts": [linear.report, pretrained.report],
              "seconds": linear.report["seconds"] + pretrained.report["seconds"],
              "augmented_rows": len(samples), "augment": job.augment.to_dict()}
    return TeacherTargets(mean[0], pretrained.extra_texts, mean[1].astype(np.float32), report, mean[2])


def _linear_targets(job: TeacherJob, train_texts, train_labels, eval_texts, eval_labels, label_names, samples,
                    console: Console) -> TeacherTargets | None:
    try:
        teacher = fit_teacher(train_texts, train_labels, len(label_names), seed=job.fine_tune.seed,
                              label_names=label_names)
    except (TeacherError, ValueError) as exc:  # ValueError: scikit-learn refusing data no fallback covers
        console.print(f"[yellow]teacher:[/yellow] the TF-IDF teacher cannot be fitted on this data ({exc}); "
                      "training on the labels alone")
        return None
    for note in teacher.notes:
        console.print(f"[yellow]teacher:[/yellow] {note}")
    started = time.perf_counter()
    extra_texts = samples.student_texts() + list(job.unlabelled)
    extra = teacher.predict_proba(extra_texts) if extra_texts else np.zeros((0, len(label_names)), np.float32)
    eval_probabilities = teacher.predict_proba(eval_texts)
    accuracy = float((eval_probabilities.argmax(1) == eval_labels).mean())
    console.print(f"teacher: {teacher.description}: eval accuracy {accuracy * 100:.2f}% ({teacher.seconds:.1f} s)")
    report = {"kind": teacher.description, "name": "tfidf", "eval_accuracy": accuracy, "seconds": teacher.seconds,
              "label_seconds": time.perf_counter() - started, "notes": teacher.notes,
              "augmented_rows": len(samples), "unlabelled_rows": len(job.unlabelled),
              "augment": job.augment.to_dict()}
    return TeacherTargets(teacher.train_probabilities, extra_texts, extra.astype(np.float32), report,
                          eval_probabilities)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(1, keepdims=True)
    out = np.exp(scaled)
    return (out / out.sum(1, keepdims=True)).astype(np.float32)


def _transformer_targets(job: TeacherJob, train_texts, train_labels, eval_texts, eval_labels, label_names,
                         samples, console: Console) -> TeacherTargets:
    import torch
    import transformers

    spec = PRETRAINED[job.name]
    settings = job.fine_tune
    teacher = TransformerTeacher(spec, len(label_names), settings)
    rows = len(train_texts) if settings.max_rows is None else min(settings.max_rows, len(train_texts))
    fit_texts, fit_labels = list(train_texts[:rows]), np.asarray(train_labels[:rows])
    document = {"teacher": spec.name, "package": spec.package, "weights_sha256": file_digest(teacher.weights_file()),
                "train": texts_digest(fit_texts, fit_labels.tolist()), "train_rows": rows,
                # the rows themselves are in the key ("train", "train_rows"), so max_rows, which only
                # picks them, is not: a teacher fine-tuned on the first 2,000 rows of a file is the same
                # whether the student then trains on those rows or on the whole file
                "labels": list(label_names),
                "fine_tune": {**{k: v for k, v in settings.to_dict().items() if k != "label_precision"},
                              "max_rows": None},
                "versions": {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__}}
    cache = TeacherCache(job.cache_root or default_cache_root(), document)
    text_sets = {"training rows": list(train_texts), "augmented samples": samples.teacher_texts(teacher.mask_token),
                 "eval rows": list(eval_texts), "unlabelled rows": list(job.unlabelled)}
    precision = teacher.label_precision()
    logits = {name: cache.load_logits(texts, precision) if texts else np.zeros((0, len(label_names)), np.float32)
              for name, texts in text_sets.items()}
    todo = {name: teacher.tokenize(texts) for name, texts in text_sets.items() if logits[name] is None and texts}
    state = cache.load_weights() if todo and cache.has_weights() else None
    for note in cache.notes:
        console.print(f"[yellow]teacher:[/yellow] {note}")
    report: dict[str, Any] = {"kind": spec.description, "name": spec.name, "cache": str(cache.path),
                              "cache_key": cache.key, "cache_notes": list(cache.notes),
                              "fine_tune": settings.to_dict(), "fine_tune_rows": rows,
                              "augmented_rows": len(samples), "unlabelled_rows": len(job.unlabelled),
                              "augment": job.augment.to_dict(), "temperature": job.temperature,
                              "label_precision": precision,
                              "fine_tuned_now": bool(todo) and state is None,
                              "outputs_from_cache": {k: v is not None for k, v in logits.items()}}
    fine_tune_seconds = label_seconds = 0.0
    if todo:
        fit_tokens = teacher.tokenize(fit_texts) if state is None else []
        label_tokens = [t for tokens in todo.values() for t in tokens]
        estimate = teacher.estimate(fit_tokens, label_tokens)
        work = []
        if state is None:
            work.append(f"fine-tuning on {rows:,} rows x {settings.epochs} epochs ({estimate.train_steps:,} steps "
                        f"of {settings.batch_size}; one step {estimate.step_seconds:.2f} s)")
        work.append(f"labelling {len(label_tokens):,} texts")
        console.print(f"teacher {spec.name}: {' and '.join(work)}: estimated {_minutes(estimate.seconds)} on "
                      f"{torch.get_num_threads()} threads (cache: {cache.path})")
        report["estimate_seconds"] = estimate.seconds
        if state is not None:
            teacher.load_state_dict(state)
            console.print(f"teacher {spec.name}: fine-tuned weights from the cache {cache.path}")
        else:
            with _progress(console) as progress:
                task = progress.add_task(f"teacher {spec.name} fine-tuning", total=1, info="")

                def on_step(step: int, total: int, loss: float) -> None:
                    progress.update(task, completed=step, total=total, info=f"loss {loss:.4f}")

                fine_tune_seconds = teacher.fine_tune(fit_tokens, fit_labels, on_step)
            cache.save_weights(teacher.state_dict())
    else:
        console.print(f"teacher {spec.name}: every output from the cache {cache.path}")
    for name, tokens in todo.items():
        started = time.perf_counter()
        with _progress(console) as progress:
            task = progress.add_task(f"teacher {spec.name} labelling {name}", total=len(tokens), info="")
            logits[name] = teacher.logits(tokens, on_batch=lambda n, t=task: progress.advance(t, n))
        label_seconds += time.perf_counter() - started
        cache.save_logits(text_sets[name], logits[name], precision)
    num_labels = len(label_names)
    eval_logits = logits["eval rows"] if eval_texts else np.zeros((0, num_labels), np.float32)
    accuracy = float((eval_logits.argmax(1) == eval_labels).mean()) if len(eval_labels) else float("nan")
    train_accuracy = float((logits["training rows"].argmax(1) == train_labels).mean())
    report.update(eval_accuracy=accuracy, train_accuracy=train_accuracy, seconds=fine_tune_seconds,
                  label_seconds=label_seconds)
    console.print(f"teacher: {spec.name} ({rows:,} rows): eval accuracy {accuracy * 100:.2f}%, training rows "
                  f"{train_accuracy * 100:.2f}% (fine-tune "
                  f"{_minutes(fine_tune_seconds) if report['fine_tuned_now'] else 'cached'}, labelling "
                  f"{_minutes(label_seconds) if todo else 'cached'})")
    extra = np.concatenate([logits["augmented samples"], logits["unlabelled rows"]])
    return TeacherTargets(_softmax(logits["training rows"], job.temperature),
                          samples.student_texts() + list(job.unlabelled),
                          _softmax(extra, job.temperature), report, _softmax(eval_logits, job.temperature))
