"""The SDK's base error: anything a user can fix by changing their input.

Every module raises a subclass (``DataError``, ``ConfigError``, ``CheckpointError``, ...) whose
message names the file, field or line. The CLI turns exactly these into one-line errors; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json


class NeuroLiteError(ValueError):
    """Bad input, with a message that says what and where."""


def json_loads(text: str, error: type[NeuroLiteError], where: str) -> object:
    """``json.loads`` with every failure raised as ``error`` naming ``where``: malformed JSON (line and column),
    a number of more digits than Python converts (``ValueError``), nesting deeper than the interpreter's
    stack (``RecursionError``). Python's NaN and Infinity extensions are accepted here; the readers refuse
    them where a number must be finite."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except ValueError as exc:  # "Exceeds the limit (4300 digits) for integer string conversion ..."
        raise error(f"{where}: invalid JSON: {str(exc).split(';')[0]}") from exc
    except RecursionError:
        raise error(f"{where}: invalid JSON: nested too deeply to read") from None
