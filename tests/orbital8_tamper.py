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

import numpy as np

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.quantization import pack_state, unpack_state
from neurolite_sdk.quantization.int8 import Int8Codec
from neurolite_sdk.runtime.bundle import read_bundle
from neurolite_sdk.runtime.weights import decode_rows, parse_weights, read_safetensors

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


def int8_variant(source: Path, target: Path) -> dict[str, bytes]:
    """A copy of ``source`` whose smallest coded tensor is stored as ``int8`` codes (``code·scale``), the other
    scheme ``runtime/weights.py`` decodes, so a reader's int8 path is checked on a real file layout. The rebuilt
    files' SHA-256 are recomputed from ``Region.values`` (the runtime's own placement); ``read_bundle`` must accept
    the copy. Returns what it rebuilds, by path."""
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    weights = parse_weights(manifest["weights"], str(target))
    state = unpack_state(*read_safetensors((target / weights.codes).read_bytes(), weights.codes))
    name = min({r.tensor for f in weights.files for r in f.regions}, key=lambda n: state[n].codes.size)
    state[name] = Int8Codec().encode(decode_rows(state[name]).reshape(state[name].shape), name)
    arrays, metadata = pack_state(state)
    from safetensors.numpy import save

    (target / weights.codes).write_bytes(save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata))
    _rehash(target, manifest, weights.codes)
    for entry, record in zip(weights.files, manifest["weights"]["files"], strict=True):
        shell, pieces, taken, cursor = zlib.decompress((target / entry.shell).read_bytes()), [], 0, 0
        for region in sorted(entry.regions, key=lambda r: r.offset):
            values = region.values(decode_rows(state[region.tensor])).tobytes()
            pieces += [shell[taken:taken + region.offset - cursor], values]
            taken += region.offset - cursor
            cursor = region.offset + len(values)
        record["sha256"] = hashlib.sha256(b"".join([*pieces, shell[taken:]])).hexdigest()
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    bundle = read_bundle(target)
    assert any(getattr(t, "scheme", None) == "int8" for t in unpack_state(*read_safetensors(
        (target / weights.codes).read_bytes(), weights.codes)).values())
    return {f.path: bundle.read(f.path) for f in weights.files}
