"""Reading the reasoning package's JSON files with errors that point at the offending spot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from neurolite_sdk.errors import json_loads


def read_json(path: str | Path, error: type[ValueError]) -> Any:
    """Parse the JSON file at ``path``; raise ``error`` naming the file (and line and column if malformed).

    ``error`` is the caller's error type (``RuleError`` or ``BayesError``), so that every failure to
    load a rules file or a network surfaces as that package's documented error.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except (ValueError, RecursionError):  # a number past Python's 4,300 digits, nesting past the stack
        return json_loads(text, error, f"{path}")
