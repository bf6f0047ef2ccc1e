"""Benchmark results measured on a phone: checked, kept beside the host's, and read back for the report.

The Android and iOS benchmark entry points (android_demo/, ios_demo/, docs/mobile.md) write the
results schema of ``neurolite bench`` (``neurolite-bench/1``, benchmarks/schema.py) plus a ``device``
record: the device's name, platform, model, OS version, ABI and runtime versions. ``neurolite bench
--from-device FILE.json`` checks such a file (errors name the JSON path of the field) and copies it to
``OUT/devices/``; ``neurolite report OUT`` then shows its rows beside the host's, marked with the device.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from neurolite_sdk.atomic import atomic_write_text
from neurolite_sdk.benchmarks.schema import RESULTS_SCHEMA, SchemaError, validate
from neurolite_sdk.errors import NeuroLiteError

DEVICES_DIR = "devices"
STRING = {"type": "string"}
DEVICE = {
    "type": "object",
    "required": ["name", "platform", "model", "os", "os_version", "abi", "runtimes"],
    "properties": {"name": STRING, "platform": STRING, "model": STRING, "manufacturer": {"type": ["string", "null"]},
                   "os": STRING, "os_version": STRING, "abi": STRING, "soc": {"type": ["string", "null"]},
                   "runtimes": {"type": "object"}}}
DEVICE_RESULTS_SCHEMA = copy.deepcopy(RESULTS_SCHEMA)
DEVICE_RESULTS_SCHEMA["required"] = [*RESULTS_SCHEMA["required"], "device"]
DEVICE_RESULTS_SCHEMA["properties"]["device"] = DEVICE


class DeviceResultsError(NeuroLiteError):
    """A device results file that cannot be used; the message names the file and the field."""


def validate_device_results(document: Any) -> None:
    """Raise ``SchemaError`` naming the first field of ``document`` that breaks the device results schema."""
    validate(document, DEVICE_RESULTS_SCHEMA)


def read_device_results(path: str | Path) -> dict[str, Any]:
    """Read and check one device results file; ``DeviceResultsError`` names the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise DeviceResultsError(f"{path}: no such file (bring it back from the device first: docs/mobile.md)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DeviceResultsError(f"{path}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise DeviceResultsError(f"{path}: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from exc
    try:
        validate_device_results(document)
    except SchemaError as exc:
        raise DeviceResultsError(f"{path}: {exc}") from exc
    return document


def device_file_name(document: dict[str, Any]) -> str:
    """``<device name>-<created>.json`` with every character outside [A-Za-z0-9._-] as '-'."""
    parts = (re.sub(r"[^A-Za-z0-9._-]+", "-", part).strip("-") for part in (document["device"]["name"],
                                                                           document["created"]))
    return "-".join(part for part in parts if part) + ".json"


def import_device_results(paths: list[Path], out: Path, overwrite: bool = False) -> list[tuple[Path, dict[str, Any]]]:
    """Check every file first (nothing is written if one is bad), then copy each to ``out/devices/``.

    A file of the same device and time already there is replaced only with ``overwrite``.
    """
    documents = [read_device_results(path) for path in paths]
    targets = [out / DEVICES_DIR / device_file_name(document) for document in documents]
    for target in targets:
        if target.exists() and not overwrite:
            raise DeviceResultsError(f"{target}: already imported; pass --overwrite to replace it")
    if len(set(targets)) != len(targets):
        raise DeviceResultsError("two files are of the same device and time; import one of them")
    for target, document in zip(targets, documents, strict=True):
        atomic_write_text(target, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    return list(zip(targets, documents, strict=True))


def load_devices(bench_dir: Path) -> list[dict[str, Any]]:
    """Every device results file imported into ``bench_dir`` (checked again: they may be old), by name."""
    folder = bench_dir / DEVICES_DIR
    return [read_device_results(path) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
