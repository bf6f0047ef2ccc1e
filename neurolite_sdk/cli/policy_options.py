"""``--keep-float`` / ``--min-elements``: the quantization policy (``QuantPolicy``) from the command line,
shared by ``neurolite export`` and ``neurolite quantize-report``."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from neurolite_sdk.quantization.policy import QuantPolicy
    from neurolite_sdk.training.checkpoint import Checkpoint

F = TypeVar("F", bound=Callable[..., Any])


def policy_options(command: F) -> F:
    """The two options, as keyword arguments ``keep_float`` (a tuple) and ``min_elements`` (int or None)."""
    command = click.option(
        "--min-elements", type=click.IntRange(min=1), default=None,
        help="With --quantize: weights of fewer elements stay float [default: 4096; docs/orbital8.md].")(command)
    return click.option(
        "--keep-float", "keep_float", multiple=True, metavar="PATTERN",
        help="With --quantize: keep every weight whose name matches this glob pattern float (e.g. 'head.*'; "
             "repeatable). orbital8 and ExecuTorch's int8 obey it; the int8 recipes of ONNX, LiteRT and Core "
             "ML select by size only and refuse a pattern that keeps a weight they would quantize.")(command)


def quant_policy(ckpt: Checkpoint, checkpoint: Path, keep_float: tuple[str, ...],
                 min_elements: int | None) -> QuantPolicy | None:
    """The policy the options give (None: the default); a pattern that matches no weight of the checkpoint
    is a usage error (a typo would otherwise keep nothing float, silently)."""
    if not keep_float and min_elements is None:
        return None
    from neurolite_sdk.quantization.policy import QuantPolicy

    names = [name for name, _ in ckpt.model.named_parameters()]
    for pattern in keep_float:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in names):
            shown = ", ".join(names[:6]) + (f", ... ({len(names)} in all)" if len(names) > 6 else "")
            raise click.UsageError(f"--keep-float {pattern!r}: matches no weight of {checkpoint} (its names: {shown})")
    default = QuantPolicy()
    return QuantPolicy(min_elements=default.min_elements if min_elements is None else min_elements,
                       keep_float=tuple(keep_float))
