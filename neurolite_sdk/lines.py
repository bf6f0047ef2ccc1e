"""Lines of a text file, split where editors, ``wc -l`` and JSON Lines split them: at ``\\n`` only.

``str.splitlines`` also breaks at ``\\r``, ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, U+0085, U+2028 and U+2029,
which are ordinary characters inside a line of text data (and valid, unescaped, inside a JSON string):
a three-line file holding them would become more "lines" than it has. Here a line ends at ``\\n``; a
``\\r`` just before it (a CRLF file) is dropped; a final ``\\n`` ends the last line rather than starting
an empty one; every other character, ``\\r`` elsewhere included, belongs to its line. A UTF-8 byte
order mark at the start of the file is dropped.

What a blank line (empty, or only whitespace) means is the reader's choice, and each says it: ``--file``
inputs and JSONL skip them, the SNIPS layout refuses them (its two files pair up line by line).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from neurolite_sdk.errors import NeuroLiteError


class TextFileError(NeuroLiteError):
    """A text file that cannot be read as UTF-8 lines; the message names the file and line."""


def split_lines(text: str) -> list[str]:
    """``text`` split at ``\\n`` (and ``\\r\\n``) only; ``"a\\nb\\n"`` -> ``["a", "b"]``."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 file, read a line at a time (memory flat in the file's length)."""
    path = Path(path)
    if path.is_dir():
        raise TextFileError(f"{path}: is a directory, expected a file")
    with path.open("rb") as handle:  # binary iteration splits at b"\n" only; UTF-8 never has 0x0A inside a character
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise TextFileError(f"{path}: line {number}: not valid UTF-8 ({exc.reason} at byte "
                                    f"{exc.start} of the line)") from exc
            if line.endswith("\n"):
                line = line[:-1]
            yield number, line[:-1] if line.endswith("\r") else line
