"""Labelled text from the Hugging Face ``datasets`` library: a hub data set or one saved with ``save_to_disk``.

Two spellings reach here from ``load_dataset`` (and so from every ``--train``/``--eval``/``--data``):

* ``hf:REPO:SPLIT`` or ``hf:REPO:CONFIG:SPLIT``, e.g. ``hf:stanfordnlp/sst2:train``: loaded with
  ``datasets.load_dataset`` (downloaded once into the ``datasets`` cache, then read offline from it);
* a folder written by ``Dataset.save_to_disk`` (``state.json`` + ``dataset_info.json``): loaded with
  ``datasets.load_from_disk``. A ``DatasetDict`` folder holds one such folder per split: name the split
  folder (``DIR/train``).

Columns are picked as for the files (``--text-col`` / ``--label-col``, default sentence|text and label);
a ``ClassLabel`` column keeps its integer value as the label string, as the SST-2 TSV files have it
(``--label-names`` names them). Row numbers in messages are 1-based row indices.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PREFIX = "hf:"
EXTRA = "pip install 'neurolite-sdk[data]'"


def is_hf_spec(path: str | Path) -> bool:
    return str(path).startswith(PREFIX)


def is_saved_dataset(path: Path) -> bool:
    """A folder written by ``save_to_disk``: a ``Dataset`` (state.json) or a ``DatasetDict`` (dataset_dict.json)."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def parse_spec(spec: str) -> tuple[str, str | None, str]:
    """``hf:REPO[:CONFIG]:SPLIT`` -> (repo, config, split); a malformed one is an error naming it."""
    from neurolite_sdk.training.data import DataError

    parts = spec[len(PREFIX):].split(":")
    if len(parts) not in (2, 3) or not all(p.strip() for p in parts):
        raise DataError(f"{spec}: expected hf:REPO:SPLIT or hf:REPO:CONFIG:SPLIT (e.g. hf:stanfordnlp/sst2:train)")
    if len(parts) == 2:
        return parts[0], None, parts[1]
    return parts[0], parts[1], parts[2]


def _datasets_module(source: str) -> Any:
    from neurolite_sdk.training.data import DataError

    try:
        import datasets
    except ImportError as exc:
        raise DataError(f"{source}: reading a Hugging Face data set needs the datasets package ({EXTRA})") from exc
    return datasets


def load_hf_rows(source: str | Path) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """The rows of an ``hf:`` spec or a saved folder as (1-based row, record) pairs, and the source's name."""
    from neurolite_sdk.training.data import DataError

    datasets = _datasets_module(str(source))
    if is_hf_spec(source):
        spec = str(source)
        repo, config, split = parse_spec(spec)
        try:
            table = datasets.load_dataset(repo, config, split=split)
        except Exception as exc:  # noqa: BLE001 (hub, network and split errors come in many types)
            raise DataError(f"{spec}: cannot load from the Hugging Face hub ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from exc
        name = spec
    else:
        folder = Path(source)
        if (folder / "dataset_dict.json").is_file():
            try:
                splits = json.loads((folder / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
            except (OSError, ValueError, AttributeError):
                splits = []
            raise DataError(f"{folder}: a DatasetDict saved to disk; name one split's folder "
                            f"({', '.join(str(folder / s) for s in splits) or f'{folder}/SPLIT'})")
        try:
            table = datasets.load_from_disk(str(folder))
        except Exception as exc:  # noqa: BLE001 (arrow, JSON and file errors)
            raise DataError(f"{folder}: not a readable dataset saved with save_to_disk ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from exc
        name = str(folder)
    if isinstance(table, datasets.DatasetDict):
        raise DataError(f"{name}: holds the splits {', '.join(table)}; name one")
    rows = [(index, record) for index, record in enumerate(table, start=1)]
    return name, rows
