"""Where the public data sets (SST-2, SNIPS, WikiText-2, Tiny Shakespeare) are read from.

They are fetched material, never committed into the project: in this workplace they lie in
``../shared/data`` beside the checkout; elsewhere point ``NEUROLITE_DATA`` at a folder with the same
layout (``sst2/train.tsv``, ``sst2/dev.tsv``, ``snips/{train,valid,test}/{seq.in,label}``, ...).
Tests, ``make demo``, the examples and the benchmarks all resolve paths here.
"""

from __future__ import annotations

import os
from pathlib import Path

from neurolite_sdk.errors import NeuroLiteError

ENV = "NEUROLITE_DATA"
_REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The folder holding the public data sets: ``$NEUROLITE_DATA``, else ``../shared/data``."""
    configured = os.environ.get(ENV)
    folder = Path(configured) if configured else _REPO.parent / "shared" / "data"
    if not folder.is_dir():
        raise NeuroLiteError(f"{folder}: no public data folder here; set {ENV} to a folder holding sst2/ and "
                             f"snips/ (the layout is in the README, section Data)")
    return folder


def data_path(*parts: str) -> Path:
    """A path inside ``data_dir()``, e.g. ``data_path("sst2", "dev.tsv")``."""
    return data_dir().joinpath(*parts)
