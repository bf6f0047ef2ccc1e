"""One convention for options that take several values, and old spellings kept as hidden aliases.

Several values: ``--format onnx,tflite`` (comma-separated), repeatable (``--format onnx --format tflite``),
or both; ``all`` where the command allows it. The data options are ``--train`` and ``--eval`` everywhere
(``neurolite eval`` keeps ``--data``); renamed options keep their old spelling as a hidden alias
(``quantize-report --formats/--schemes``), so scripts written against earlier releases still run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click


class CommaList(click.ParamType):
    """Values separated by commas, each one of ``choices`` (``all`` expands to every choice if allowed)."""

    def __init__(self, choices: Iterable[str], allow_all: bool = False) -> None:
        self.choices = tuple(choices)
        self.allow_all = allow_all
        self.name = ",".join(self.choices) + ("|all" if allow_all else "")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        items: list[str] = []
        for item in (v.strip() for v in str(value).split(",")):
            if not item:
                continue
            expanded = self.choices if self.allow_all and item == "all" else (item,)
            for name in expanded:
                if name not in self.choices:
                    self.fail(f"{item!r} is not one of {', '.join(self.choices)}"
                              f"{', all' if self.allow_all else ''}", param, ctx)
                if name not in items:
                    items.append(name)
        return tuple(items)


def joined(*groups: Iterable[tuple[str, ...]] | None) -> tuple[str, ...]:
    """The values of a repeatable ``CommaList`` option (and of its hidden aliases), flattened, first seen kept."""
    out: list[str] = []
    for group in groups:
        for values in group or ():
            for value in (values if isinstance(values, tuple) else (values,)):
                if value not in out:
                    out.append(value)
    return tuple(out)
