"""What every command shares: the console, thread settings, and turning user errors into one line."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.lines import iter_lines

console = Console(highlight=False)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Bad input becomes ``Error: <message>`` and exit code 1; a bug keeps its traceback. An ``OSError`` is the
    machine's answer about a path (no space left, a name too long, an I/O error), one line naming the path."""
    try:
        yield
    except (NeuroLiteError, FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        raise click.ClickException(f"{where}{exc.strerror or exc}") from exc


# Characters that would move the cursor, end or split the line, or reorder what a terminal shows: C0 and C1
# controls, DEL, the line and paragraph separators, and the bidirectional marks, embeddings, overrides and
# isolates (the "Trojan Source" characters).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with those characters written as escapes (``\\x1b``, ``\\u202e``), for terminal output."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", text)


def shown(text: str) -> str:
    """``printable(text)`` with rich markup escaped, for ``console.print`` and table cells."""
    return escape(printable(text))


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
    """Fix the intra-op thread count and record it. Default: ``$OMP_NUM_THREADS`` when it holds a positive
    integer (the user's standing choice, which torch itself honours), else every core this process may use."""
    count = threads or _omp_threads() or len(os.sched_getaffinity(0))
    os.environ["NEUROLITE_THREADS"] = str(count)
    import torch

    torch.set_num_threads(count)
    return count


def _omp_threads() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, split at ``\\n`` only (``neurolite_sdk.lines``), blank ones skipped; a
    decoding error names the line."""
    return [line for _, line in iter_lines(path) if line.strip()]


def check_texts(texts: tuple[str, ...], file_path: Path | None) -> int:
    """How many texts ``iter_texts`` will give: the TEXT arguments plus the non-blank lines of ``--file``,
    read once before any output so that a decoding error (naming its line) comes first; at least one."""
    count = len(texts) + (sum(1 for _, line in iter_lines(file_path) if line.strip()) if file_path else 0)
    if not count:
        raise click.UsageError("give at least one TEXT argument or --file")
    return count


def iter_texts(texts: tuple[str, ...], file_path: Path | None) -> Iterator[str]:
    """The TEXT arguments then the non-blank lines of ``--file``, a line at a time (memory flat in its length)."""
    yield from texts
    if file_path is not None:
        yield from (line for _, line in iter_lines(file_path) if line.strip())


@contextlib.contextmanager
def json_array() -> Iterator[Callable[[Any], None]]:
    """Print a JSON array as its items come: ``[``, one item per line, ``]``. The array is closed even when
    the command fails midway, so stdout is always valid JSON; the exit status says whether it is complete."""
    count = 0

    def write(item: Any) -> None:
        nonlocal count
        try:
            text = json.dumps(item, ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            raise click.ClickException(f"--json: the result holds NaN or Infinity, which JSON cannot carry "
                                       f"({exc})") from exc
        # U+2028 and U+2029 are valid raw inside a JSON string, but str.splitlines and JavaScript end a line at
        # them: escaped, each item stays on its own line for every reader.
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        click.echo(("[\n" if count == 0 else ",\n") + text, nl=False)
        count += 1

    try:
        yield write
    finally:
        click.echo("\n]" if count else "[]")
