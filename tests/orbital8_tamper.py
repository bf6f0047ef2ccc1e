"""Copies of an orbital8 load-form bundle (manifest schema 2), each broken in one way that only the rebuild of the
model file can notice, and how the Python runtime refuses each: the app libraries' readers (web, Android) must
refuse the same copies naming the same file or field (tests/test_web_demo.py, tests/test_android_host.py).

Every changed file gets its manifest record updated (size and SHA-256), so the per-file check passes and the
refusal comes from the ``weights`` section: the rebuilt file's SHA-256, a region that does not fit, a shell
that does not inflate, a schema version too old for the section.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.runtime.bundle import read_bundle

CODES = "weights.orbital8.safetensors"


def _rehash(bundle: Path, manifest: dict[str, Any], name: str) -> None:
    data = (bundle / name).read_bytes()
    manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _flip_code(bundle: Path, manifest: dict[str, Any]) -> None:
    """One code byte of the largest tensor (the Bloom table) changed: every file checks, the rebuild does not."""
    data = bytearray((bundle / CODES).read_bytes())
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    start, stop = max((v["data_offsets"] for k, v in header.items() if k.endswith(".codes")), key=lambda o: o[1] - o[0])
    at = 8 + int.from_bytes(data[:8], "little") + (start + stop) // 2
    data[at] = (data[at] + 1) % 256 or 1
    (bundle / CODES).write_bytes(bytes(data))
    _rehash(bundle, manifest, CODES)


def _too_many_rows(bundle: Path, manifest: dict[str, Any]) -> None:
    manifest["weights"]["files"][0]["regions"][0]["rows"] = 1 << 20


def _not_zlib(bundle: Path, manifest: dict[str, Any]) -> None:
    shell = manifest["weights"]["files"][0]["shell"]
    data = zlib.decompress((bundle / shell).read_bytes())
    (bundle / shell).write_bytes(b"\x00\x01" + data[:4096])  # not a zlib header
    _rehash(bundle, manifest, shell)


def _short_shell(bundle: Path, manifest: dict[str, Any]) -> None:
    """A shell that inflates to fewer bytes than the manifest's size and regions leave."""
    shell = manifest["weights"]["files"][0]["shell"]
    data = zlib.decompress((bundle / shell).read_bytes())
    (bundle / shell).write_bytes(zlib.compress(data[:-1], 9))
    _rehash(bundle, manifest, shell)


def _old_schema(bundle: Path, manifest: dict[str, Any]) -> None:
    manifest["schema_version"] = 1


BREAKS: dict[str, tuple[Callable[[Path, dict[str, Any]], None], str]] = {
    # name: (how, the words every reader's message must hold)
    "flipped_code": (_flip_code, "rebuilt from its shell and codes, it differs from the file the manifest records"),
    "too_many_rows": (_too_many_rows, f"rows {1 << 20} outside 1.."),
    "not_zlib": (_not_zlib, "does not decompress"),
    "short_shell": (_short_shell, "bytes or more, the manifest's size and regions leave"),
    "old_schema": (_old_schema, "weights: needs schema_version 2, the manifest says 1"),
}


def broken_load_bundles(source: Path, out: Path) -> list[dict[str, str]]:
    """One broken copy of ``source`` per entry of ``BREAKS``: ``{name, dir, says, python}`` where ``python`` is
    the Python runtime's refusal (``read_bundle``'s message), which must hold ``says``."""
    cases = []
    for name, (breaks, says) in BREAKS.items():
        target = out / name
        shutil.copytree(source, target)
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
        breaks(target, manifest)
        (target / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        try:
            read_bundle(target)
        except NeuroLiteError as exc:
            message = str(exc)
        else:
            raise AssertionError(f"{name}: the Python runtime read the broken copy")
        assert says in message, (name, message)
        cases.append({"name": name, "dir": str(target), "says": says, "python": message})
    return cases
