"""``neurolite train``: labelled text in, checkpoint out."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
from rich.console import Console

from neurolite_sdk.cli.common import FiniteFloatRange, configure_threads, console, echo_json, user_errors
from neurolite_sdk.config import ConfigError
from neurolite_sdk.errors import json_loads


@click.command()
@click.option("--train", "train_path", required=True, type=click.Path(path_type=Path),
              help="Training data: .tsv, .csv, .jsonl, or a SNIPS folder (seq.in + label).")
@click.option("--eval", "eval_path", required=True, type=click.Path(path_type=Path),
              help="Evaluation data, same layout; the best epoch on it is kept.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Checkpoint directory: new or empty, or an existing checkpoint with --overwrite.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing checkpoint at --out (a directory of anything else is never replaced).")
@click.option("--preset", default="tiny", show_default=True,
              type=click.Choice(["tiny", "small", "base", "base_symbolic"]), help="Model size.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A config.json to start from instead of a preset.")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE",
              help="Override a config field (a JSON value or a bare word), e.g. --set backbone=fnet --set dropout=0.2.")
@click.option("--text-col", default=None, help="Text column (default: sentence or text).")
@click.option("--label-col", default=None, help="Label column (default: label).")
@click.option("--format", "fmt", type=click.Choice(["tsv", "csv", "jsonl", "snips"]), default=None,
              help="Input format (default: from the file name).")
@click.option("--epochs", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", "learning_rate", default=None, type=FiniteFloatRange(min=0, min_open=True),
              help="Peak learning rate (default: 1e-3 when the encoder starts pretrained, 3e-3 from random weights; "
                   "--task generation: 3e-3).")
@click.option("--weight-decay", default=0.05, show_default=True, type=FiniteFloatRange(min=0))
@click.option("--distill/--no-distill", default=True, show_default=True,
              help="Distil from a teacher fitted on the same training data (--no-distill: --teacher none).")
@click.option("--teacher", default="tfidf", show_default=True,
              type=click.Choice(["tfidf", "minilm", "tfidf+minilm", "none"]),
              help="tfidf: TF-IDF + logistic regression (seconds). minilm: all-MiniLM-L6-v2 fine-tuned on the "
                   "training data (minutes to hours on CPU; pip install 'neurolite-sdk[teacher]'); its weights "
                   "and outputs are cached by a hash of data and settings. tfidf+minilm: the mean of both.")
@click.option("--augment", default=0, show_default=True, type=click.IntRange(min=0),
              help="Augmented samples per training row (masking, word swaps, n-grams; Tang et al. 2019), "
                   "labelled by the teacher.")
@click.option("--distill-weight", default=0.5, show_default=True, type=FiniteFloatRange(0, 1),
              help="Weight of the teacher's soft labels against the true labels.")
@click.option("--distill-temperature", default=1.0, show_default=True, type=FiniteFloatRange(min=0, min_open=True))
@click.option("--unlabelled", "unlabelled_path", default=None, type=click.Path(path_type=Path),
              help="More text (a .txt, one per line, or a data file's text column; labels ignored) for the teacher "
                   "to label; the student learns its soft labels.")
@click.option("--teacher-epochs", default=3, show_default=True, type=click.IntRange(min=1),
              help="Fine-tuning epochs of a transformer teacher.")
@click.option("--teacher-max-rows", default=None, type=click.IntRange(min=2),
              help="Fine-tune a transformer teacher on the first N training rows only (it still labels all).")
@click.option("--teacher-lr", default=1e-4, show_default=True, type=FiniteFloatRange(min=0, min_open=True))
@click.option("--teacher-precision", default="auto", show_default=True, type=click.Choice(["auto", "bf16", "fp32"]),
              help="Labelling precision of a transformer teacher: auto = bf16 where the CPU has it (~2x faster).")
@click.option("--teacher-cache", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Teacher cache folder (default: $NEUROLITE_CACHE/teachers or ~/.cache/neurolite/teachers).")
@click.option("--init", "init", default="auto", show_default=True, metavar="auto|scratch|pretrained|DIR",
              help="Where the encoder starts. pretrained: the preset's pretrained encoder (one built by `neurolite "
                   "pretrain --preset PRESET` into $NEUROLITE_CACHE/encoders/PRESET, else the one shipped for tiny). "
                   "auto: that encoder when the model has its shape, else random weights (scratch). DIR: a "
                   "`neurolite pretrain --out DIR` folder.")
@click.option("--token-dropout", default=0.1, show_default=True, type=FiniteFloatRange(0, 1, max_open=True),
              help="Fraction of each training text's tokens hidden per step (a regulariser).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Makes runs repeatable: bit-identical with the same --threads, CPU family and library versions.")
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="CPU threads (default: $OMP_NUM_THREADS, else all cores; under torchrun, the cores divided by "
                   "the processes per node).")
@click.option("--max-rows", default=None, type=click.IntRange(min=1), help="Use only the first N training rows.")
@click.option("--task", default="classification", show_default=True,
              type=click.Choice(["classification", "generation"]),
              help="generation: a causal byte-level language model on plain text (--train/--eval: text files; the "
                   "same file for both holds out its last 10%%; --set takes GenerationConfig fields; "
                   "docs/generation.md).")
@click.option("--max-steps", default=None, type=click.IntRange(min=1),
              help="--task generation: steps (default: --epochs).")
@click.option("--seq-len", default=128, show_default=True, type=click.IntRange(min=2),
              help="--task generation: training window in bytes.")
@click.option("--label-names", default=None, metavar="NAMES|FILE.json",
              help="Name the labels: comma-separated names in the order of the sorted label values (0,1 -> "
                   "negative,positive), or a JSON file mapping value to name. Saved in the checkpoint.")
@click.option("--json", "as_json", is_flag=True,
              help="Classification: no progress; print the training report (training.json) and the checkpoint as JSON.")
@click.option("--continue", "continue_from", default=None, type=click.Path(path_type=Path), metavar="CKPT",
              help="Continue a checkpoint trained with --set use_continual_adapter=true on --train (new rows, new "
                   "labels welcome): only its adapter, head and norms learn, replaying its buffer; --epochs, "
                   "--batch-size and --seed apply.")
def train_command(train_path: Path, eval_path: Path, out_dir: Path, preset: str, config_path: Path | None,
                  overrides: tuple[str, ...], text_col: str | None, label_col: str | None, fmt: str | None,
                  epochs: int, batch_size: int, learning_rate: float | None, weight_decay: float, distill: bool,
                  teacher: str, augment: int, distill_weight: float, distill_temperature: float,
                  teacher_epochs: int, teacher_max_rows: int | None, teacher_lr: float, teacher_cache: Path | None,
                  teacher_precision: str, init: str, unlabelled_path: Path | None,
                  token_dropout: float, seed: int, threads: int | None, max_rows: int | None,
                  overwrite: bool, task: str = "classification", max_steps: int | None = None,
                  seq_len: int = 128, as_json: bool = False, label_names: str | None = None,
                  continue_from: Path | None = None) -> None:
    """Train a classifier on labelled text (or, with --task generation, a language model) and write a checkpoint."""
    with user_errors():
        if task == "generation":
            from neurolite_sdk.cli.generate_commands import train_generation

            return train_generation(train_path, eval_path, out_dir, config_path, _parse_overrides(overrides), epochs,
                                    batch_size, learning_rate or 3e-3, weight_decay, seed, threads, max_rows, overwrite,
                                    max_steps, seq_len)
        if continue_from is not None:
            return _continue(continue_from, train_path, eval_path, out_dir, epochs, batch_size, seed, overwrite,
                             text_col, label_col, fmt, threads, as_json)
        local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # torchrun: share the cores
        configure_threads(threads or (max(1, len(os.sched_getaffinity(0)) // local_processes)
                                      if local_processes > 1 else None))
        from neurolite_sdk.training.pipeline import TrainJob, run_training

        job = TrainJob(train_path=train_path, eval_path=eval_path, out_dir=out_dir, preset=preset,
                       config_path=config_path, overrides=_parse_overrides(overrides), text_col=text_col,
                       label_col=label_col, fmt=fmt, epochs=epochs, batch_size=batch_size,
                       learning_rate=learning_rate, weight_decay=weight_decay, distill=distill,
                       teacher=teacher, augment=augment, distill_weight=distill_weight,
                       distill_temperature=distill_temperature, teacher_epochs=teacher_epochs,
                       teacher_max_rows=teacher_max_rows, teacher_lr=teacher_lr, teacher_cache=teacher_cache,
                       teacher_precision=teacher_precision, init=init, unlabelled_path=unlabelled_path,
                       token_dropout=token_dropout, seed=seed, max_rows=max_rows, overwrite=overwrite,
                       label_names=_label_names(label_names))
        started = time.perf_counter()
        report = run_training(job, console=Console(stderr=True, quiet=True) if as_json else console)
        if os.environ.get("RANK", "0") != "0":  # torchrun: rank 0 speaks for the world
            return
        if as_json:
            echo_json({"checkpoint": str(out_dir), **report})
            return
        unseen = report.get("eval_unseen_label_rows", 0)
        counted = f" ({unseen} rows with labels unseen in training counted as errors)" if unseen else ""
        console.print(f"[bold]best eval accuracy[/bold] {report['best_eval_accuracy'] * 100:.2f}%{counted} "
                      f"(epoch {report['best_epoch']}) on {eval_path}; trained in "
                      f"{time.perf_counter() - started:.0f} s with {os.environ.get('NEUROLITE_THREADS', '?')} "
                      f"threads; checkpoint: {out_dir}")


def _continue(checkpoint: Path, train_path: Path, eval_path: Path, out_dir: Path, epochs: int, batch_size: int,
              seed: int, overwrite: bool, text_col: str | None, label_col: str | None, fmt: str | None,
              threads: int | None, as_json: bool) -> None:
    configure_threads(threads)
    from neurolite_sdk.training.continual import run_continue

    report = run_continue(checkpoint, train_path, eval_path, out_dir, epochs=epochs, batch_size=batch_size,
                          seed=seed, overwrite=overwrite, text_col=text_col, label_col=label_col, fmt=fmt)
    if as_json:
        echo_json({"checkpoint": str(out_dir), **report})
        return
    step = report["continual"]
    drift = (f"drift flagged at batch {step['drift_batch']} of the new data" if step["drift_batch"]
             else "no drift flagged")
    console.print(f"[bold]continued[/bold] {checkpoint} on {train_path}: {step['new_rows']:,} new rows with "
                  f"{step['replay_rows']} replayed, {step['steps']} steps in {step['seconds']:.0f} s; {drift}; "
                  f"eval accuracy {report['continual_eval_accuracy'] * 100:.2f}% on {eval_path}; labels "
                  f"{', '.join(step['labels'])}; checkpoint: {out_dir}")


def _parse_overrides(pairs: tuple[str, ...]) -> dict:
    overrides = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"expected FIELD=VALUE, got {pair!r}", param_hint="--set")
        key, raw = pair.split("=", 1)
        try:
            overrides[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key.strip()] = raw  # a bare word is a string: --set backbone=fnet
        except (ValueError, RecursionError):  # a number past Python's 4,300 digits, nesting past the stack
            overrides[key.strip()] = json_loads(raw, ConfigError, f"--set {key.strip()}")
    return overrides


def _label_names(value: str | None) -> list[str] | dict[str, str] | None:
    """``--label-names``: a JSON file (value -> name) or comma-separated names."""
    if value is None:
        return None
    if value.endswith(".json"):
        path = Path(value)
        try:
            mapping = json_loads(path.read_text(encoding="utf-8"), ConfigError, str(path))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
        if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
            raise ConfigError(f"{path}: expected a JSON object mapping label values to names (strings)")
        return {str(key): name for key, name in mapping.items()}
    return [name.strip() for name in value.split(",")]
