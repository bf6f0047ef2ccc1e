"""``neurolite pretrain``: unlabelled text in, a pretrained NeuroLite encoder out (training/pretrain.py)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from neurolite_sdk.cli.common import FiniteFloatRange, configure_threads, console, user_errors


@click.command()
@click.option("--preset", default="tiny", show_default=True, type=click.Choice(["tiny", "small", "base"]),
              help="The model shape the encoder is for (neurolite train --preset must match).")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="Override a config field.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Encoder directory (default: $NEUROLITE_CACHE/encoders/PRESET, where --init pretrained looks).")
@click.option("--text", "text_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Unlabelled text, one text per line (a .tsv: its first column); repeatable. Default: the "
                   "training texts of SST-2 and SNIPS, WikiText-2 valid + test and Tiny Shakespeare.")
@click.option("--words", default=30_000, show_default=True, type=click.IntRange(min=100),
              help="Vocabulary size: the most frequent words seen at least twice.")
@click.option("--targets", "targets_kind", default="sentence", show_default=True,
              type=click.Choice(["sentence", "word-mean"]),
              help="What each text learns to match: the pretrained sentence model's embedding of the whole text "
                   "(sentence), or the mean of its words' vectors (word-mean: no sentence pass, the first recipe).")
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", "learning_rate", default=2e-3, show_default=True, type=FiniteFloatRange(min=0, min_open=True))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="CPU threads (default: $OMP_NUM_THREADS, else all cores).")
def pretrain_command(preset: str, overrides: tuple[str, ...], out_dir: Path | None, text_files: tuple[Path, ...],
                     words: int, targets_kind: str, epochs: int, batch_size: int, learning_rate: float, seed: int,
                     threads: int | None) -> None:
    """Pre-train the featurizer table, projection and backbone on unlabelled text against a pretrained
    sentence model's word and sentence vectors; neurolite train --init uses the result."""
    with user_errors():
        configure_threads(threads)
        import torch
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from neurolite_sdk.cli.train import _parse_overrides
        from neurolite_sdk.config import NeuroLiteConfig
        from neurolite_sdk.training.pretrain import (
            PretrainSettings,
            default_corpus,
            pretrain_encoder,
            read_corpus,
            save_encoder,
            sentence_vectors,
            targets_for,
            user_encoder_dir,
            vocabulary,
            word_vectors,
        )
        from neurolite_sdk.training.teacher_cache import texts_digest
        from neurolite_sdk.training.transformer_teacher import PRETRAINED

        PRETRAINED["minilm"].model_path()  # a missing package is named before any work
        started = time.perf_counter()
        config = NeuroLiteConfig.from_preset(preset, **_parse_overrides(overrides))
        settings = PretrainSettings(words=words, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                    seed=seed)
        sources = [(str(p), p) for p in text_files] if text_files else default_corpus()
        texts = read_corpus([p for _, p in sources])
        vocab = vocabulary(texts, words)
        console.print(f"corpus: {len(texts):,} texts from {', '.join(n for n, _ in sources)}; vocabulary "
                      f"{len(vocab):,} words")

        def progress() -> Progress:
            return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console)

        with progress() as bar:
            task = bar.add_task("minilm word vectors", total=len(vocab), info="")
            vectors = word_vectors(vocab, on_batch=lambda n: bar.advance(task, n))
            sentences = None
            if targets_kind == "sentence":
                whole = bar.add_task("minilm sentence vectors", total=len(texts), info="")
                sentences = sentence_vectors(texts, on_batch=lambda n: bar.advance(whole, n))
        rows, targets = targets_for(texts, vocab, vectors, sentences)
        with progress() as bar:
            task = bar.add_task("pre-training", total=1, info="")

            def on_step(step: int, total: int, loss: float) -> None:
                if step % 20 == 0 or step == total:
                    bar.update(task, completed=step, total=total, info=f"cosine loss {loss:.4f}")

            state, report = pretrain_encoder(config, rows, targets, settings, on_step)
        out = out_dir or user_encoder_dir(preset)
        report.update(preset=preset, settings=settings.to_dict(), targets=targets_kind, threads=torch.get_num_threads(),
                      corpus=[n for n, _ in sources],
                      corpus_texts=len(texts), corpus_digest=texts_digest(texts), vocabulary=len(vocab),
                      total_seconds=time.perf_counter() - started)
        save_encoder(out, config, state, report)
        console.print(f"[bold]pretrained encoder[/bold] {out}: cosine loss by epoch "
                      f"{', '.join(f'{x:.4f}' for x in report['epoch_cosine_loss'])}; {report['rows']:,} rows; "
                      f"{report['total_seconds']:.0f} s. Use it: neurolite train --preset {preset} --init "
                      f"{'pretrained' if out_dir is None else out}")
