"""Atomic writes: a file or a whole directory appears complete, or not at all.

Checkpoints and bundles are directories of several files; a crash or Ctrl-C half-way must never
leave a directory that looks valid. Everything is written into a temporary sibling (same file
system, so the final ``os.replace`` is atomic) and renamed into place only when complete.

Replacing a directory deletes what was there, so every writer names the kind of directory it writes
(an ``OutputKind``): a non-empty directory that is not of that kind is never replaced, and one that is
is replaced only when the caller says so (``overwrite``, the CLI's ``--overwrite``).
``check_output_dir`` is the same check, run by the commands before any work.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from neurolite_sdk.errors import NeuroLiteError


class OutputError(NeuroLiteError):
    """An output location that cannot or must not be written; the message names the path."""


@dataclass(frozen=True)
class OutputKind:
    """A kind of directory the SDK writes: its name in messages, and how to recognise one on disk."""

    noun: str
    recognise: Callable[[Path], bool]


def _has_files(*names: str) -> Callable[[Path], bool]:
    return lambda path: all((path / name).is_file() for name in names)


def _is_bundle(path: Path) -> bool:
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and {"schema_version", "format", "files"} <= set(manifest)


BENCH_ENTRIES = frozenset({"results.json", "report.md", "scaling.png", "bundles", "models", "devices"})


def _is_bench_directory(path: Path) -> bool:
    names = {p.name for p in path.iterdir() if not p.name.startswith(".")}
    return bool(names) and names <= BENCH_ENTRIES


CHECKPOINT_FILES = ("config.json", "model.safetensors", "labels.json", "featurizer.json")
CHECKPOINT = OutputKind("checkpoint", _has_files(*CHECKPOINT_FILES))
BUNDLE = OutputKind("bundle", _is_bundle)
BENCH_DIRECTORY = OutputKind("bench directory", _is_bench_directory)
BASELINE_MODEL = OutputKind("baseline model", lambda p: (p / "model.onnx").is_file() or (p / "model.pte").is_file())


def check_output_dir(path: str | Path, kind: OutputKind, *, overwrite: bool = False) -> None:
    """Refuse ``path`` unless writing a ``kind`` there loses nothing the caller did not ask to replace.

    An absent or empty directory is fine; a non-empty one must be a ``kind`` and ``overwrite`` set.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory")
    if not path.is_dir() or not any(path.iterdir()):
        return
    if not kind.recognise(path):
        raise OutputError(f"{path}: not empty and not a NeuroLite {kind.noun}; refusing to replace it "
                          f"(give a new or empty directory)")
    if not overwrite:
        raise OutputError(f"{path}: already holds a NeuroLite {kind.noun}; pass --overwrite to replace it")


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | Path, kind: OutputKind, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``path``.

    ``path`` is checked (``check_output_dir``) before and again just before the swap, so a directory
    that is not a ``kind`` is never replaced, and one that is only with ``overwrite``.
    """
    path = Path(path)
    check_output_dir(path, kind, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield staging
        check_output_dir(path, kind, overwrite=overwrite)  # it may have appeared while we worked
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = None
    if path.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        os.replace(path, retired / path.name)
    os.replace(staging, path)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
