"""What every command shares: the console, thread settings, and turning user errors into one line."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.lines import iter_lines

console = Console(highlight=False)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Bad input becomes ``Error: <message>`` and exit code 1; a bug keeps its traceback."""
    try:
        yield
    except (NeuroLiteError, FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError) as exc:
        raise click.ClickException(str(exc)) from exc


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan``, ``inf`` and ``-inf`` (NaN passes every range check)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        result = super().convert(value, param, ctx)
        if not math.isfinite(result):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return result


def echo_json(document: Any) -> None:
    """Print ``document`` as JSON every parser accepts. ``json.dumps`` writes NaN and Infinity by default,
    which are not JSON; the commands refuse non-finite values earlier, and this is the last guard."""
    try:
        text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise click.ClickException(f"--json: the result holds NaN or Infinity, which JSON cannot carry ({exc})") \
            from exc
    click.echo(text)


def configure_threads(threads: int | None) -> int:
    """Fix the intra-op thread count (default: every core this process may use) and record it."""
    count = threads or len(os.sched_getaffinity(0))
    os.environ["NEUROLITE_THREADS"] = str(count)
    import torch

    torch.set_num_threads(count)
    return count


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, split at ``\\n`` only (``neurolite_sdk.lines``), blank ones skipped; a
    decoding error names the line."""
    return [line for _, line in iter_lines(path) if line.strip()]


def gather_texts(texts: tuple[str, ...], file_path: Path | None) -> list[str]:
    """The TEXT arguments then the lines of ``--file``; at least one, or a usage error."""
    items = list(texts)
    if file_path is not None:
        items.extend(read_lines(file_path))
    if not items:
        raise click.UsageError("give at least one TEXT argument or --file")
    return items
