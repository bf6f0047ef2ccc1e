"""Coded weights decoded at load: rebuild a model file from its shell and its orbital8 codes (docs/orbital8.md).

A bundle exported with ``--quantize orbital8`` (the default ``--orbital8-decode load``) ships the format's
ordinary fp32 model file cut in two: the *shell*, every byte of the file except the coded weights'
(zlib-compressed), and one safetensors file of codes, tables, scales and offsets (``pack_state``'s
arrays). The manifest's ``weights`` section says where each coded weight's bytes go back into the file:

    {"codes": "weights.orbital8.safetensors",
     "files": [{"path": "model.onnx", "shell": "model.onnx.shell", "compression": "zlib",
                "bytes": 3747744, "sha256": "...",
                "regions": [{"offset": 8985, "tensor": "neurolite.projection.table", "rows": 4096,
                             "transpose": false, "scale": null}, ...]}]}

A region holds ``W[:rows]`` of the decoded weight ``W`` (viewed as ``[out, n]``), transposed when the
converter stored it so (``MatMul`` B operands, LiteRT's sliced token-mixing weights), then multiplied
by ``scale`` in float32 when the converter folded a constant into it (LiteRT folds the Bloom
projection's 1/sqrt(K) into the bottleneck). ``read_bundle`` calls ``restore_files`` after it has
verified every listed file: the rebuilt file must have exactly the size and SHA-256 the manifest
records (the bytes parity ran on), and replaces the shell in the bundle's contents, so a backend reads
``model.onnx`` (or ``model.tflite``, ``model.pte``, Core ML's ``weight.bin``) as if it had been stored
whole: the session or interpreter is created on fp32 weights and runs at fp32 speed. The decode is
``T[code]·scale (+ offset)`` in float32 (``quantization.arc.decode_arc``'s arithmetic), once per tensor.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurolite_sdk.quantization import OrbitalTensor, QuantizationError, dequantize, unpack_state
from neurolite_sdk.quantization.policy import EncodedState
from neurolite_sdk.runtime.errors import BundleError

WEIGHTS_KEY = "weights"  # the manifest section
SHELL_SUFFIX = ".shell"
COMPRESSIONS = ("zlib", "none")
FLOAT32 = 4
_SAFETENSORS_DTYPES = {"U8": np.uint8, "I8": np.int8, "F32": np.float32, "I32": np.int32}
MAX_HEADER = 16 << 20


@dataclass(frozen=True)
class Region:
    """Where one coded weight's bytes sit in the rebuilt file, and how they were stored there."""

    offset: int
    tensor: str
    rows: int
    transpose: bool = False
    scale: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "tensor": self.tensor, "rows": self.rows, "transpose": self.transpose,
                "scale": self.scale}

    def values(self, weight: np.ndarray) -> np.ndarray:
        """The region's float32 values from the decoded ``[out, n]`` weight."""
        part = weight[:self.rows]
        if self.transpose:
            part = part.T
        if self.scale is not None:
            part = part * np.float32(self.scale)
        return np.ascontiguousarray(part, dtype=np.float32)


@dataclass(frozen=True)
class RestoredFile:
    """One model file to rebuild: its path, shell, size, digest and the coded regions inside it."""

    path: str
    shell: str
    compression: str
    bytes: int
    sha256: str
    regions: tuple[Region, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "shell": self.shell, "compression": self.compression, "bytes": self.bytes,
                "sha256": self.sha256, "regions": [r.to_dict() for r in self.regions]}


@dataclass(frozen=True)
class LoadTimeWeights:
    """The manifest's ``weights`` section: the codes file and the files rebuilt from it."""

    codes: str
    files: tuple[RestoredFile, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"decode": "load", "codes": self.codes, "files": [f.to_dict() for f in self.files]}

    @property
    def targets(self) -> list[str]:
        return [f.path for f in self.files]


def parse_weights(doc: Any, where: str) -> LoadTimeWeights:
    """The ``weights`` section, every field checked; ``BundleError`` names the first that is wrong."""
    where = f"{where}: {WEIGHTS_KEY}"
    if not isinstance(doc, dict):
        raise BundleError(f"{where}: expected an object")
    if doc.get("decode") != "load":
        raise BundleError(f"{where}: decode: expected 'load', got {doc.get('decode')!r}")
    codes = _get(doc, "codes", str, where)
    entries = _get(doc, "files", list, where)
    if not entries:
        raise BundleError(f"{where}: files: empty")
    files = []
    for i, entry in enumerate(entries):
        here = f"{where}.files[{i}]"
        if not isinstance(entry, dict):
            raise BundleError(f"{here}: expected an object")
        compression = _get(entry, "compression", str, here)
        if compression not in COMPRESSIONS:
            raise BundleError(f"{here}: compression: {compression!r} is not one of {', '.join(COMPRESSIONS)}")
        size = _get(entry, "bytes", int, here)
        digest = _get(entry, "sha256", str, here)
        if size < 0 or len(digest) != 64:
            raise BundleError(f"{here}: bytes must be >= 0 and sha256 64 hex digits")
        regions = []
        for j, region in enumerate(_get(entry, "regions", list, here)):
            at = f"{here}.regions[{j}]"
            if not isinstance(region, dict):
                raise BundleError(f"{at}: expected an object")
            scale = region.get("scale")
            if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float)
                                      or not math.isfinite(scale)):
                raise BundleError(f"{at}: scale: expected a finite number or null, got {scale!r}")
            transpose = region.get("transpose", False)
            if not isinstance(transpose, bool):
                raise BundleError(f"{at}: transpose: expected true or false")
            regions.append(Region(_get(region, "offset", int, at), _get(region, "tensor", str, at),
                                  _get(region, "rows", int, at), transpose, None if scale is None else float(scale)))
        files.append(RestoredFile(_get(entry, "path", str, here), _get(entry, "shell", str, here), compression, size,
                                  digest, tuple(regions)))
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise BundleError(f"{where}: files: a path appears twice ({paths})")
    return LoadTimeWeights(codes, tuple(files))


def restore_files(weights: LoadTimeWeights, contents: Mapping[str, bytes], where: str) -> dict[str, bytes]:
    """``contents`` with each coded file rebuilt (and its shell and the codes file dropped).

    ``contents`` holds the listed files, already verified against their SHA-256. ``BundleError`` when a
    file named here is not among them, the codes do not parse, a region does not fit, or the rebuilt file
    differs from the one the manifest records.
    """
    for name in [weights.codes, *(f.shell for f in weights.files)]:
        if name not in contents:
            raise BundleError(f"{where}: {WEIGHTS_KEY}: {name!r} is not among the bundle's files")
    taken = [f.path for f in weights.files if f.path in contents]
    if taken:
        raise BundleError(f"{where}: {WEIGHTS_KEY}: {taken} would be rebuilt over a file the bundle lists")
    coded = read_codes(contents[weights.codes], f"{where}: {weights.codes}")
    decoded: dict[str, np.ndarray] = {}
    restored = {name: data for name, data in contents.items()
                if name != weights.codes and name not in {f.shell for f in weights.files}}
    for entry in weights.files:
        restored[entry.path] = _rebuild(entry, contents[entry.shell], coded, decoded, f"{where}: {entry.path}")
    return restored


def read_codes(data: bytes, where: str) -> EncodedState:
    """The coded tensors of a safetensors file written from ``pack_state``; ``BundleError`` if malformed."""
    arrays, metadata = read_safetensors(data, where)
    try:
        return unpack_state(arrays, metadata)
    except QuantizationError as exc:
        raise BundleError(f"{where}: {exc}") from None


def read_safetensors(data: bytes, where: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and string metadata of a safetensors file (the published layout: an 8-byte little-endian
    header size, a JSON header of ``{name: {dtype, shape, data_offsets}}`` and ``__metadata__``, the data)."""
    if len(data) < 8:
        raise BundleError(f"{where}: {len(data)} bytes, too short for a safetensors file")
    size = int.from_bytes(data[:8], "little")
    if size > min(MAX_HEADER, len(data) - 8):
        raise BundleError(f"{where}: header of {size} bytes does not fit the file")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(f"{where}: the safetensors header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise BundleError(f"{where}: the safetensors header is not an object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise BundleError(f"{where}: __metadata__ is not an object of strings")
    body = memoryview(data)[8 + size:]
    arrays = {}
    for name, info in header.items():
        try:
            dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
            shape = tuple(info["shape"])
            start, stop = info["data_offsets"]
            ok = all(type(d) is int and d >= 0 for d in (*shape, start, stop))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok or not start <= stop <= len(body) or stop - start != math.prod(shape) * dtype.itemsize:
            raise BundleError(f"{where}: tensor {name!r}: malformed entry {info!r}")
        arrays[name] = np.frombuffer(body[start:stop], dtype=dtype).reshape(shape)
    return arrays, metadata


def decode_rows(tensor: Any) -> np.ndarray:
    """A coded tensor's float32 weight as ``[out, n]`` (``T[code]·scale (+ offset)`` for orbital8)."""
    if isinstance(tensor, OrbitalTensor) and tensor.scheme == "orbital8":
        # decode_arc's float32 arithmetic, in place (a third less time at load; the same bits: the rebuilt file's
        # SHA-256 is checked against the export's)
        matrix = np.take(tensor.tables[0], tensor.codes)
        matrix *= tensor.scale[:, None]
        if tensor.offset is not None:
            matrix += tensor.offset[:, None]
        return matrix
    weight = dequantize(tensor)
    return weight.reshape(weight.shape[0], -1)


def _rebuild(entry: RestoredFile, stored: bytes, coded: EncodedState, decoded: dict[str, np.ndarray],
             where: str) -> bytes:
    regions = sorted(entry.regions, key=lambda r: r.offset)
    end = 0
    for region in regions:  # every region placed and sized before anything is allocated or decoded
        tensor = coded.get(region.tensor)
        if tensor is None or isinstance(tensor, np.ndarray):
            raise BundleError(f"{where}: region at {region.offset}: {region.tensor!r} is not a coded tensor of "
                              f"the codes file")
        rows, columns = tensor.shape[0], math.prod(tensor.shape[1:])
        if not 1 <= region.rows <= rows:
            raise BundleError(f"{where}: region at {region.offset}: rows {region.rows} outside 1..{rows}")
        if region.offset < end:
            raise BundleError(f"{where}: region at {region.offset} ({region.tensor}) overlaps the one before it")
        end = region.offset + region.rows * columns * FLOAT32
    shell_bytes = entry.bytes - sum(r.rows * math.prod(coded[r.tensor].shape[1:]) * FLOAT32 for r in regions)
    if end > entry.bytes or shell_bytes < 0:
        raise BundleError(f"{where}: its regions do not fit the file's {entry.bytes:,} bytes")
    shell = memoryview(_shell(entry, stored, shell_bytes, where))
    pieces: list[Any] = []  # the shell's gaps and the regions' values, in file order: joined with one copy
    cursor = taken = 0  # position in the rebuilt file, and in the shell
    for region in regions:
        if region.tensor not in decoded:
            decoded[region.tensor] = decode_rows(coded[region.tensor])
        values = region.values(decoded[region.tensor])
        gap = region.offset - cursor
        pieces += [shell[taken:taken + gap], memoryview(values).cast("B")]
        taken += gap
        cursor = region.offset + values.nbytes
    pieces.append(shell[taken:])
    out = b"".join(pieces)
    if hashlib.sha256(out).hexdigest() != entry.sha256:
        raise BundleError(f"{where}: rebuilt from its shell and codes, it differs from the file the manifest "
                          f"records (SHA-256); the codes or the regions were modified after export")
    return out


def _shell(entry: RestoredFile, stored: bytes, size: int, where: str) -> bytes:
    """The shell's bytes, which must be exactly ``size`` (decompressed no further than one byte past it)."""
    shell = stored
    if entry.compression == "zlib":
        try:
            inflater = zlib.decompressobj()
            shell = inflater.decompress(stored, size + 1)
        except zlib.error as exc:
            raise BundleError(f"{where}: its shell {entry.shell!r} does not decompress ({exc})") from None
    if len(shell) != size:
        raise BundleError(f"{where}: its shell {entry.shell!r} holds {len(shell):,} bytes or more, the manifest's "
                          f"size and regions leave {size:,}")
    return shell


def _get(doc: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BundleError(f"{where}: {key}: expected {kind.__name__}, got {type(value).__name__}")
    return value
