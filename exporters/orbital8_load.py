"""orbital8 decoded at load (``--orbital8-decode load``, the default): cut the coded weights out of an fp32 file.

The format exports the model holding the *decoded* weights as its ordinary fp32 file (same graph, same
speed as fp32). This module then finds, byte for byte, where each coded weight's values sit in the files
the exporter wrote, removes them, and stores what is left (the *shell*, zlib-compressed) beside one
safetensors file of codes, tables, scales and offsets (``pack_state``). The runtime rebuilds the exact
file at load (``runtime/weights.py``), checked against its SHA-256, before the session or interpreter is
created. Nothing here knows a format: ONNX initializers, LiteRT buffers, the .pte constant segment and
Core ML's ``weight.bin`` all store a weight as its float32 bytes, in one of the forms a ``Region``
describes (the first rows of ``W`` viewed as ``[out, n]``, transposed or not, times a float32 constant
or not). A coded weight found in none of them stays in the shell as float bytes, and the details say so.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import numpy as np

from neurolite_sdk.exporters.base import CodeCheck, ExportError
from neurolite_sdk.quantization import OrbitalTensor, pack_state
from neurolite_sdk.quantization.policy import EncodedState
from neurolite_sdk.runtime.weights import SHELL_SUFFIX, LoadTimeWeights, Region, RestoredFile, decode_rows

CODES_FILE = "weights.orbital8.safetensors"
ANCHOR_VALUES = 16  # floats a match must share before it is measured
MIN_FILE_BYTES = 4096  # files smaller than the smallest coded weight (64 x 64 floats is 16 KiB) hold none
SCALE_TOLERANCE = 1e-5  # relative: how close a scaled candidate's anchor must be before it is checked bit for bit


def split_coded_weights(staging: Path, entry: str, encoded: EncodedState) -> tuple[LoadTimeWeights, CodeCheck]:
    """Replace the files at or under ``entry`` in ``staging`` by shells plus ``CODES_FILE``.

    Returns the manifest's ``weights`` section and what was found. ``ExportError`` when no coded weight
    is found in any file (nothing would shrink: never a silent float file).
    """
    coded = {name: t for name, t in encoded.items() if isinstance(t, OrbitalTensor)}
    weights = {name: decode_rows(t) for name, t in coded.items()}
    root = staging / entry
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    files: list[RestoredFile] = []
    found: set[str] = set()
    for path in paths:
        data = path.read_bytes()
        if len(data) < MIN_FILE_BYTES:
            continue
        regions = find_regions(data, weights)
        if not regions:
            continue
        found.update(r.tensor for r in regions)
        name = path.relative_to(staging).as_posix()
        shell = zlib.compress(_without(data, regions, weights), 9)
        (staging / (name + SHELL_SUFFIX)).write_bytes(shell)
        path.unlink()
        files.append(RestoredFile(name, name + SHELL_SUFFIX, "zlib", len(data), hashlib.sha256(data).hexdigest(),
                                  tuple(regions)))
    if not files:
        raise ExportError(f"orbital8: none of the {len(coded)} coded weights is stored as float32 bytes in {entry}; "
                          f"the codes cannot replace them (export with --orbital8-decode graph)")
    stored = {name: t for name, t in encoded.items() if name in found}  # only what a region reads
    arrays, metadata = pack_state(stored)
    from safetensors.numpy import save

    (staging / CODES_FILE).write_bytes(save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata))
    check = CodeCheck(coded_tensors=len(coded), stored_tensors=len(found),
                      code_bytes=sum(coded[name].codes.nbytes for name in found),
                      float_tensors=tuple(sorted(set(coded) - found)))
    return LoadTimeWeights(CODES_FILE, tuple(files)), check


def find_regions(data: bytes, weights: dict[str, np.ndarray]) -> list[Region]:
    """Every place ``data`` stores one of ``weights`` (``[out, n]`` float32) in a form ``Region`` describes,
    largest weights first, non-overlapping, sorted by offset."""
    regions: list[Region] = []
    spans: list[tuple[int, int]] = []  # [start, end) of every region taken
    for name, weight in sorted(weights.items(), key=lambda item: -item[1].size):
        hits = _exact(data, name, weight, spans) or _scaled(data, name, weight, spans)
        regions += hits
        spans += [(r.offset, r.offset + _size(r, weight)) for r in hits]
    return sorted(regions, key=lambda r: r.offset)


def _exact(data: bytes, name: str, weight: np.ndarray, spans: list[tuple[int, int]],
           scale: float | None = None) -> list[Region]:
    """Regions holding ``weight[:rows]`` (or its transpose) times ``scale``, found from a 16-float anchor."""
    scaled = weight if scale is None else weight * np.float32(scale)
    hits: list[Region] = []
    taken = list(spans)
    for transpose in (False, True):
        first = scaled[:, 0] if transpose else scaled.reshape(-1)
        anchor = np.ascontiguousarray(first[:ANCHOR_VALUES]).tobytes()
        position = data.find(anchor)
        while position >= 0:
            region = _measure(data, position, name, scaled, transpose, scale)
            if region is not None:
                end = position + _size(region, weight)
                if not any(position < other_end and other_start < end for other_start, other_end in taken):
                    hits.append(region)
                    taken.append((position, end))
            position = data.find(anchor, position + 1)
    return hits


def _measure(data: bytes, position: int, name: str, scaled: np.ndarray, transpose: bool,
             scale: float | None) -> Region | None:
    """The region starting at ``position``: the most rows of ``scaled`` whose stored form matches there."""
    rows, columns = scaled.shape
    if not transpose:
        same = _common_prefix(data, position, scaled.reshape(-1).tobytes())
        count = min(rows, same // (columns * 4))
        return Region(position, name, count, False, scale) if count else None
    same = _common_prefix(data, position, np.ascontiguousarray(scaled[:, 0]).tobytes())
    for count in range(min(rows, same // 4), 0, -1):  # the first column is W[:count, 0]; check the whole block
        block = np.ascontiguousarray(scaled[:count].T).tobytes()
        if data[position:position + len(block)] == block:
            return Region(position, name, count, True, scale)
    return None


def _scaled(data: bytes, name: str, weight: np.ndarray, spans: list[tuple[int, int]]) -> list[Region]:
    """Regions holding ``c · weight`` (a converter folded a scalar into it): the anchor's 16 floats are found
    up to one common factor, then each candidate ``c`` (and its float32 neighbours) is checked bit for bit."""
    for transpose in (False, True):
        first = weight[:, 0] if transpose else weight.reshape(-1)
        anchor = first[:ANCHOR_VALUES].astype(np.float64)
        pivot = int(np.argmax(np.abs(anchor)))
        if anchor.size < ANCHOR_VALUES or anchor[pivot] == 0:
            continue
        for align in range(4):
            values = np.frombuffer(data, dtype=np.float32, count=(len(data) - align) // 4, offset=align)
            with np.errstate(all="ignore"):  # most of a file is not floats: NaN and infinite patterns abound
                windows = np.lib.stride_tricks.sliding_window_view(values.astype(np.float64), ANCHOR_VALUES)
                ratio = windows[:, pivot] / anchor[pivot]
                candidates = np.flatnonzero(np.isfinite(ratio) & (ratio != 0) & (ratio != 1))
                for i in range(ANCHOR_VALUES):
                    error = np.abs(windows[candidates, i] - ratio[candidates] * anchor[i])
                    candidates = candidates[error <= SCALE_TOLERANCE * np.abs(ratio[candidates]) * abs(anchor[pivot])]
            for index in candidates[:8].tolist():
                guess = np.float32(ratio[index])
                for factor in (guess, *np.nextafter(guess, np.array([np.inf, -np.inf], dtype=np.float32))):
                    hits = _exact(data, name, weight, spans, float(factor))
                    if hits:
                        return hits
    return []


def _common_prefix(data: bytes, position: int, expected: bytes) -> int:
    """How many bytes of ``expected`` ``data`` repeats from ``position``."""
    stored = np.frombuffer(data, dtype=np.uint8, count=min(len(expected), len(data) - position), offset=position)
    differ = np.flatnonzero(stored != np.frombuffer(expected, dtype=np.uint8, count=stored.size))
    return int(differ[0]) if differ.size else stored.size


def _size(region: Region, weight: np.ndarray) -> int:
    return region.rows * weight.shape[1] * 4


def _without(data: bytes, regions: list[Region], weights: dict[str, np.ndarray]) -> bytes:
    """``data`` with every region's bytes removed."""
    pieces, cursor = [], 0
    for region in regions:
        pieces.append(data[cursor:region.offset])
        cursor = region.offset + _size(region, weights[region.tensor])
    pieces.append(data[cursor:])
    return b"".join(pieces)
