"""What every command shares: the console, thread settings, and turning user errors into one line."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

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
