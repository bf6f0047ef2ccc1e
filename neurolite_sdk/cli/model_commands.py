"""``neurolite eval``, ``predict`` and ``info``: use and inspect a checkpoint."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from neurolite_sdk.cli.common import (
    check_texts,
    configure_threads,
    console,
    echo_json,
    iter_texts,
    json_array,
    shown,
    user_errors,
)


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--eval", "data_path", type=click.Path(path_type=Path),
              help="Labelled data: .tsv, .csv, .jsonl, a SNIPS folder, hf:REPO:SPLIT or a save_to_disk folder "
                   "(required; --data is the earlier spelling).")
@click.option("--data", "data_alias", type=click.Path(path_type=Path), hidden=True)
@click.option("--text-col", default=None)
@click.option("--label-col", default=None)
@click.option("--format", "fmt", type=click.Choice(["tsv", "csv", "jsonl", "snips"]), default=None)
@click.option("--threads", default=None, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def eval_command(checkpoint: Path, data_path: Path | None, text_col: str | None, label_col: str | None,
                 fmt: str | None, threads: int | None, as_json: bool, data_alias: Path | None = None) -> None:
    """Accuracy, per-label precision/recall and the confusion matrix of CHECKPOINT on labelled data."""
    if data_path is not None and data_alias is not None and data_path != data_alias:
        raise click.UsageError("--eval and --data name the same data; give one")
    data_path = data_path or data_alias
    if data_path is None:
        raise click.UsageError("Missing option '--eval'.")
    with user_errors():
        configure_threads(threads)
        import numpy as np

        from neurolite_sdk.training.checkpoint import load_checkpoint
        from neurolite_sdk.training.data import encode_labels, load_dataset, rename_labels
        from neurolite_sdk.training.trainer import encode_texts, predict_proba

        ckpt = load_checkpoint(checkpoint)
        data = rename_labels(load_dataset(data_path, text_col, label_col, fmt), ckpt.training.get("label_names"))
        truth = np.asarray(encode_labels(data, ckpt.labels))
        predicted = predict_proba(ckpt.model, encode_texts(ckpt.model.featurizer, data.texts)).argmax(1)
        n = len(ckpt.labels)
        confusion = np.zeros((n, n), dtype=int)
        np.add.at(confusion, (truth, predicted), 1)
        per_label = {}
        for i, name in enumerate(ckpt.labels):
            tp = confusion[i, i]
            per_label[name] = {"precision": float(tp / max(1, confusion[:, i].sum())),
                               "recall": float(tp / max(1, confusion[i].sum())), "support": int(confusion[i].sum())}
        result = {"checkpoint": str(checkpoint), "data": str(data_path), "rows": len(data),
                  "accuracy": float((predicted == truth).mean()), "per_label": per_label,
                  "confusion": confusion.tolist(), "labels": ckpt.labels}
    if as_json:
        echo_json(result)
        return
    table = Table(title=f"{checkpoint} on {data_path} ({len(data)} rows)")
    for column in ("label", "precision", "recall", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for name, row in per_label.items():
        table.add_row(shown(name), f"{row['precision']:.3f}", f"{row['recall']:.3f}", str(row["support"]))
    console.print(table)
    console.print(f"[bold]accuracy[/bold] {result['accuracy'] * 100:.2f}%")


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1)
@click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read texts from a UTF-8 file, one per line (read as it is predicted: any length).")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON array, one object per line, as the texts are predicted.")
def predict_command(checkpoint: Path, texts: tuple[str, ...], file_path: Path | None, as_json: bool) -> None:
    """Predict the label of each TEXT with CHECKPOINT.

    Texts are predicted in batches and printed as they go, so memory does not grow with their number.
    """
    with user_errors():
        check_texts(texts, file_path)  # the whole file decodes (or the error names its line) before any output
        configure_threads(None)
        import torch

        from neurolite_sdk.runtime.predictor import BATCH_SIZE
        from neurolite_sdk.training.checkpoint import load_checkpoint

        ckpt = load_checkpoint(checkpoint)
        stream = iter_texts(texts, file_path)
        with json_array() if as_json else contextlib.nullcontext() as write:
            while chunk := list(itertools.islice(stream, BATCH_SIZE)):
                batch = ckpt.model.featurizer(chunk)
                with torch.no_grad():
                    logits = ckpt.model(torch.from_numpy(batch.features), torch.from_numpy(batch.mask))["logits"]
                probs = torch.softmax(logits, dim=-1).numpy()
                # empty: no token reached the model (empty, whitespace only, or only characters the featurizer drops)
                for text, p, cut, mask in zip(chunk, probs, batch.truncated, batch.mask, strict=True):
                    row = {"text": text, "label": ckpt.labels[int(p.argmax())], "score": float(p.max()),
                           "probabilities": dict(zip(ckpt.labels, map(float, p), strict=False)),
                           "truncated": bool(cut), "empty": not mask.any()}
                    if write is not None:
                        write(row)
                        continue
                    note = " (truncated)" if row["truncated"] else " (empty: no tokens, the label means nothing)" \
                        if row["empty"] else ""
                    console.print(f"[bold]{shown(row['label'])}[/bold] {row['score']:.3f}  {shown(row['text'])}{note}")


@click.command()
@click.argument("checkpoint", required=False, type=click.Path(path_type=Path))
@click.option("--preset", type=click.Choice(["tiny", "small", "base", "base_symbolic"]), default=None,
              help="Describe a preset instead of a checkpoint.")
@click.option("--num-labels", default=2, show_default=True, type=click.IntRange(min=2),
              help="Head size for --preset.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info_command(checkpoint: Path | None, preset: str | None, num_labels: int, as_json: bool) -> None:
    """Exact parameter counts, per component, of CHECKPOINT or --preset."""
    with user_errors():
        if (checkpoint is None) == (preset is None):
            raise click.UsageError("give either CHECKPOINT or --preset")
        from neurolite_sdk.config import NeuroLiteConfig
        from neurolite_sdk.featurizer_native import featurizer_implementation
        from neurolite_sdk.modeling.model import NeuroLiteForClassification

        if checkpoint is not None:
            from neurolite_sdk.training.checkpoint import load_checkpoint

            ckpt = load_checkpoint(checkpoint)
            model, labels, training = ckpt.model, ckpt.labels, ckpt.training
        else:
            model = NeuroLiteForClassification(NeuroLiteConfig.from_preset(preset), num_labels=num_labels)
            labels, training = None, {}
        components = {
            "bloom projection": model.neurolite.projection, "positional": model.neurolite.positional,
            "mixer blocks": model.neurolite.blocks, "final norm": model.neurolite.final_norm, "head": model.head,
        }
        counts = {name: sum(p.numel() for p in module.parameters()) for name, module in components.items()}
        total = sum(p.numel() for p in model.parameters())
        info = {"source": str(checkpoint or f"preset {preset}"), "parameters": total, "components": counts,
                "fp32_megabytes": total * 4 / 1e6, "config": model.config.to_dict(), "labels": labels,
                "featurizer_digest": model.config.featurizer_config().digest(),
                "featurizer_implementation": featurizer_implementation(),
                "best_eval_accuracy": training.get("best_eval_accuracy")}
    if as_json:
        echo_json(info)
        return
    table = Table(title=info["source"])
    table.add_column("component")
    table.add_column("parameters", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{total:,}[/bold]")
    console.print(table)
    cfg = model.config
    console.print(f"backbone={cfg.backbone} layers={cfg.num_mixer_layers} hidden={cfg.hidden_size} "
                  f"buckets={cfg.num_buckets}x{cfg.embedding_dim} hashes={cfg.num_hashes} "
                  f"max_length={cfg.max_length} positional={cfg.positional}; fp32 size {info['fp32_megabytes']:.2f} MB")
    console.print(f"featurizer: {escape(info['featurizer_implementation'])}")
    if labels:
        console.print(f"labels: {', '.join(labels)}")
    if info["best_eval_accuracy"] is not None:
        console.print(f"best eval accuracy: {info['best_eval_accuracy'] * 100:.2f}%")
