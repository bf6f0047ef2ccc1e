"""``neurolite run``: an exported bundle -> labels, through the torch-free runtime of its format."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import click

from neurolite_sdk.cli.common import check_texts, console, iter_texts, json_array, shown, user_errors

if TYPE_CHECKING:
    from neurolite_sdk.runtime import Prediction


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1)
@click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read texts from a UTF-8 file, one per line (read as it is predicted: any length).")
@click.option("--items", "items_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Multimodal bundles: items to predict, a JSON Lines file, one object of modalities per line "
                   "(text, image, audio, video; docs/multimodal.md).")
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="Runtime threads (default: the runtime's own).")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON array, one object per line, as the texts are predicted.")
def run_command(bundle: Path, texts: tuple[str, ...], file_path: Path | None, threads: int | None,
                as_json: bool, items_path: Path | None = None) -> None:
    """Predict the label of each TEXT with an exported BUNDLE, through the runtime of its format.

    Texts are predicted in batches and printed as they go, so memory does not grow with their number.
    """
    with user_errors():
        if items_path is not None:
            if texts or file_path is not None:
                raise click.UsageError("--items: give items or texts (TEXTS, --file), not both")
            _run_items(bundle, items_path, threads, as_json)
            return
        check_texts(texts, file_path)  # the whole file decodes (or the error names its line) before any output
        from neurolite_sdk.runtime import load
        from neurolite_sdk.runtime.native_output import native_output_captured
        from neurolite_sdk.runtime.predictor import BATCH_SIZE

        with native_output_captured():
            predictor = load(bundle, threads=threads)
        limit = predictor.bundle.featurizer.max_length
        stream = iter_texts(texts, file_path)
        with json_array() if as_json else contextlib.nullcontext() as write:
            while chunk := list(itertools.islice(stream, BATCH_SIZE)):
                with native_output_captured():
                    predictions = predictor.predict(chunk)
                for text, prediction in zip(chunk, predictions, strict=True):
                    if write is not None:
                        write({"text": text, **prediction.to_dict()})
                    else:
                        print_prediction(text, prediction, limit)


def _run_items(bundle: Path, items_path: Path, threads: int | None, as_json: bool) -> None:
    """A multimodal bundle on a JSON Lines file of items: the whole file is checked before any output."""
    from neurolite_sdk.multimodal_items import read_items
    from neurolite_sdk.runtime import load
    from neurolite_sdk.runtime.errors import PredictionInputError
    from neurolite_sdk.runtime.native_output import native_output_captured
    from neurolite_sdk.runtime.predictor import BATCH_SIZE

    with native_output_captured():
        predictor = load(bundle, threads=threads)
    if predictor.multimodal is None:
        raise PredictionInputError(f"--items: {bundle} takes text only; pass texts (TEXTS or --file)")
    items = read_items(items_path, predictor.multimodal)
    count = len(next(iter(items.values())))
    given = [[m for m in items if items[m][i] is not None] for i in range(count)]
    with json_array() if as_json else contextlib.nullcontext() as write:
        for start in range(0, count, BATCH_SIZE):
            chunk = {m: values[start:start + BATCH_SIZE] for m, values in items.items()}
            with native_output_captured():
                predictions = predictor.predict(chunk)
            for offset, prediction in enumerate(predictions):
                index = start + offset
                if write is not None:
                    write({"item": index + 1, "modalities": given[index], **prediction.to_dict()})
                else:
                    console.print(f"[bold]{shown(prediction.label)}[/bold] {prediction.score:.3f}  item "
                                  f"{index + 1} ({'+'.join(given[index])})")


def print_prediction(text: str, prediction: Prediction, limit: int) -> None:
    note = f" (truncated to {limit} tokens)" if prediction.truncated else \
        " (empty: no tokens, the label means nothing)" if prediction.empty else ""
    console.print(f"[bold]{shown(prediction.label)}[/bold] {prediction.score:.3f}  {shown(text)}{note}")
    if prediction.derived is not None:  # the bundle's rules: what they derived (--json has the proofs)
        derived = ", ".join(entry["fact"] for entry in prediction.derived) or "nothing"
        console.print(f"  facts: {shown(', '.join(prediction.facts or []))} -> derived: {shown(derived)}")
    if prediction.posteriors is not None:
        posteriors = "; ".join(f"{variable}: " + ", ".join(f"{state} {p:.3f}" for state, p in states.items())
                               for variable, states in prediction.posteriors["posteriors"].items())
        console.print(f"  posteriors: {shown(posteriors)}")
