"""Bundles: a directory with the model file(s) and ``manifest.json`` (docs/design.md, decision 5).

This module is the one definition of the manifest: its schema version, the signature vocabulary the
runtime plans with, and the checks a bundle must pass before anything runs it. The exporters build
manifests with the same types and ``file_record``; ``docs/bundle.md`` documents every field.

Loading checks, in order, and names what is wrong: the directory exists, ``manifest.json`` exists,
is JSON, has a schema version this SDK reads and the fields it needs; every listed file exists, has
the recorded size (a short file is reported as truncated) and SHA-256; the featurizer spec is the
one this SDK implements and its digest matches its parameters.

What the runtime reads is exactly what it verified: each listed file is read once, opened one path
component at a time without following a symbolic link (a link anywhere on the way is refused, so
nothing outside the bundle directory is ever read), hashed, and kept in memory; backends load the
model from those verified bytes (``Bundle.read``), never from the path again. A file the manifest
does not list is therefore never read, whatever its name (docs/bundle.md, "What loading checks").
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from neurolite_sdk.featurizer import FEATURIZER_VERSION, FeaturizerConfig, FeaturizerError
from neurolite_sdk.runtime.errors import BundleError, PredictionInputError
from neurolite_sdk.runtime.weights import WEIGHTS_KEY, parse_weights, restore_files

SCHEMA_VERSION = 2  # the newest this SDK reads; 2 adds the ``weights`` section (coded weights decoded at load)
WRITTEN_SCHEMA_VERSION = 1  # what a bundle without a ``weights`` section is written as, so older readers (the
WEIGHTS_SCHEMA_VERSION = 2  # phone and web libraries) keep reading it; a bundle with one is written as 2
MANIFEST_NAME = "manifest.json"
BATCH, LENGTH = "batch", "length"  # the axis names every signature's tensors use
_CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 16 << 20  # a manifest is a few kB; a larger one is not a manifest
DTYPES = ("float32", "float16", "int32", "int64", "int8", "uint8", "bool")  # tensor dtypes a signature may use
REASONING_KEYS = {"rules", "network"}  # manifest "reasoning": the post-processors' files


@dataclass(frozen=True)
class DimRange:
    """Sizes a signature accepts along one dimension; ``max`` None means unbounded."""

    min: int
    max: int | None

    @property
    def static(self) -> bool:
        return self.max == self.min

    def __contains__(self, size: int) -> bool:
        return self.min <= size and (self.max is None or size <= self.max)

    def to_list(self) -> list[int | None]:
        return [self.min, self.max]


@dataclass(frozen=True)
class TensorSpec:
    """One named graph input or output.

    A dimension is a size or an axis name: ``"batch"`` (every tensor has one) and ``"length"`` (token
    axis) take their sizes from the signature's ranges, static or not, so the runtime knows which axis
    to pad whatever the format.
    """

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    def check(self, value: Any, batch: DimRange | None = None, length: DimRange | None = None) -> np.ndarray:
        """``value`` as an array if it has this tensor's dtype, rank and fixed sizes, and (when given)
        batch and length sizes inside those ranges; otherwise a ``PredictionInputError`` saying how."""
        array = np.asarray(value)
        if array.dtype != np.dtype(self.dtype):
            raise PredictionInputError(f"inputs[{self.name!r}]: dtype {array.dtype}, expected {self.dtype}")
        if array.ndim != len(self.shape):
            raise PredictionInputError(f"inputs[{self.name!r}]: shape {array.shape}, expected "
                                       f"{len(self.shape)} dimensions {list(self.shape)}")
        for axis, dim in enumerate(self.shape):
            allowed = {BATCH: batch, LENGTH: length}.get(dim) if isinstance(dim, str) else DimRange(dim, dim)
            if allowed is not None and array.shape[axis] not in allowed:
                raise PredictionInputError(f"inputs[{self.name!r}]: axis {axis} ({dim}) has size "
                                           f"{array.shape[axis]}, expected {allowed.to_list()}")
        return array


@dataclass(frozen=True)
class Signature:
    """One entry point of the model file (ONNX graph, .pte method, TFLite signature, Core ML model).

    ``batch`` and ``length`` say which batch sizes and token lengths it takes; the runtime pads and
    splits requests to fit (see ``runtime/planner.py``). Inputs and outputs are matched by name.
    """

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    batch: DimRange
    length: DimRange

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "inputs": [t.to_dict() for t in self.inputs],
                "outputs": [t.to_dict() for t in self.outputs], "batch": self.batch.to_list(),
                "length": self.length.to_list()}


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: where it is, what it holds, and the parsed parts the runtime needs."""

    path: Path
    manifest: dict[str, Any]
    format: str
    entry: Path
    signatures: tuple[Signature, ...]
    labels: tuple[str, ...]
    featurizer: FeaturizerConfig
    reasoning: dict[str, str] = field(default_factory=dict)  # "rules" / "network" -> file in the bundle
    contents: Mapping[str, bytes] = field(default_factory=dict, repr=False, compare=False)  # verified bytes

    @property
    def entry_name(self) -> str:
        """The entry's path inside the bundle, as the manifest lists it."""
        return self.entry.relative_to(self.path).as_posix()

    def read(self, name: str) -> bytes:
        """The bytes of a listed file, as verified against the manifest's SHA-256 (read once, at load)."""
        try:
            return self.contents[name]
        except KeyError:
            raise BundleError(f"{self.path / name}: not a file {MANIFEST_NAME} lists; the runtime reads no "
                              f"other") from None

    def files_under(self, name: str) -> dict[str, bytes]:
        """The verified files at or under ``name`` (a .mlpackage entry is a directory of files)."""
        return {path: data for path, data in self.contents.items() if path == name or path.startswith(name + "/")}

    def signature(self, name: str) -> Signature:
        for signature in self.signatures:
            if signature.name == name:
                return signature
        known = ", ".join(s.name for s in self.signatures)
        raise BundleError(f"{self.path}: no signature named {name!r} (it has: {known})")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_record(path: Path) -> dict[str, Any]:
    """What the manifest records for each file: size in bytes and SHA-256."""
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def bundle_files(root: Path) -> dict[str, dict[str, Any]]:
    """Every file under ``root`` but its manifest (a .mlpackage is a directory of files), by POSIX path."""
    return {path.relative_to(root).as_posix(): file_record(path)
            for path in sorted(root.rglob("*")) if path.is_file() and path != root / MANIFEST_NAME}


def read_bundle(path: str | Path) -> Bundle:
    """Read and verify a bundle directory; raises ``BundleError`` naming the first thing wrong."""
    root = Path(path)
    if not root.exists():
        raise BundleError(f"{root}: no such bundle directory")
    if not root.is_dir():
        raise BundleError(f"{root}: not a bundle directory (a bundle is the directory holding "
                          f"{MANIFEST_NAME})")
    manifest_path = root / MANIFEST_NAME
    try:
        raw = read_inside(root, MANIFEST_NAME, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise BundleError(f"{manifest_path}: missing; {root} is not a NeuroLite bundle "
                          f"(or its export did not finish)") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{manifest_path}: larger than {MAX_MANIFEST_BYTES >> 20} MiB; not a bundle manifest")
    manifest = _read_manifest(manifest_path, raw)
    where = str(manifest_path)
    fmt = _field(manifest, "format", str, where)
    files = _field(manifest, "files", dict, where)
    contents = _verify_files(root, files, where)
    if WEIGHTS_KEY in manifest:  # coded weights: rebuild the model file(s) before any backend sees them
        if manifest["schema_version"] < WEIGHTS_SCHEMA_VERSION:
            raise BundleError(f"{where}: {WEIGHTS_KEY}: needs schema_version {WEIGHTS_SCHEMA_VERSION}, the manifest "
                              f"says {manifest['schema_version']}")
        weights = parse_weights(manifest[WEIGHTS_KEY], where)
        for name in weights.targets:
            _relative_path(name, f"{where}: {WEIGHTS_KEY}: path")
        contents = restore_files(weights, contents, where)
    entry = _relative_path(_field(manifest, "entry", str, where), f"{where}: entry")
    if not any(name == entry or name.startswith(entry + "/") for name in contents):
        raise BundleError(f"{where}: entry {entry!r} is not among the bundle's files")
    signatures = tuple(_signature(doc, f"{where}: signatures[{i}]")
                       for i, doc in enumerate(_field(manifest, "signatures", list, where)))
    if not signatures:
        raise BundleError(f"{where}: signatures: empty; the bundle declares no entry point")
    labels = _field(manifest, "labels", list, where)
    if len(labels) < 2 or not all(isinstance(label, str) for label in labels):
        raise BundleError(f"{where}: labels: must be a list of at least two strings")
    _check_labels(labels, signatures, where)
    featurizer = _featurizer(manifest, where)
    _check_graph(signatures, featurizer.num_hashes, where)
    longest = max(float("inf") if s.length.max is None else s.length.max for s in signatures)
    if longest < featurizer.max_length:
        raise BundleError(f"{where}: signatures take at most {longest:.0f} tokens, but the featurizer keeps up to "
                          f"{featurizer.max_length}; the signatures do not belong to this model")
    duplicated = sorted({label for label in labels if labels.count(label) > 1})
    if duplicated:
        raise BundleError(f"{where}: labels: {duplicated} appear more than once; each logit needs its own label")
    for key in ("config", "export"):
        if key in manifest and not isinstance(manifest[key], dict):
            raise BundleError(f"{where}: {key}: expected an object, got {type(manifest[key]).__name__}")
    predicates = manifest.get("config", {}).get("symbolic_predicates", [])
    if not isinstance(predicates, list) or not all(isinstance(name, str) for name in predicates):
        raise BundleError(f"{where}: config.symbolic_predicates: expected a list of strings")
    return Bundle(path=root, manifest=manifest, format=fmt, entry=root / entry, signatures=signatures,
                  labels=tuple(labels), featurizer=featurizer,
                  reasoning=_reasoning(manifest, files, where), contents=contents)


def _check_labels(labels: list[str], signatures: tuple[Signature, ...], where: str) -> None:
    """Every signature's ``logits`` scores one class per label: a manifest whose labels were edited is
    refused when the bundle is read, not by a crash at the first prediction (the phone apps check the same)."""
    for signature in signatures:
        for spec in signature.outputs:
            if spec.name == "logits" and spec.shape and type(spec.shape[-1]) is int and spec.shape[-1] != len(labels):
                raise BundleError(f"{where}: labels: {len(labels)} labels, but signature {signature.name!r} returns "
                                  f"{spec.shape[-1]} logits; the manifest's labels do not belong to this model")


GRAPH_INPUTS = {"features": ("int32", (BATCH, LENGTH, "K")), "mask": ("float32", (BATCH, LENGTH))}


def _check_graph(signatures: tuple[Signature, ...], num_hashes: int, where: str) -> None:
    """Every signature is the classifier graph (docs/bundle.md), with the same tensors: ``features`` int32
    [batch, length, K] (K = the featurizer's hashes), ``mask`` float32 [batch, length], ``logits`` float32
    [batch, C]; signature and tensor names unique. The runtime relies on each, so each is checked here."""
    seen: set[str] = set()
    first = signatures[0]
    for i, signature in enumerate(signatures):
        here = f"{where}: signatures[{i}] ({signature.name!r})"
        if signature.name in seen:
            raise BundleError(f"{here}: the name appears twice")
        seen.add(signature.name)
        for kind, tensors in (("inputs", signature.inputs), ("outputs", signature.outputs)):
            names = [t.name for t in tensors]
            if len(set(names)) != len(names):
                raise BundleError(f"{here}: {kind}: a tensor name appears twice ({names})")
            if names != [t.name for t in getattr(first, kind)]:
                raise BundleError(f"{here}: {kind} {names} differ from signatures[0]'s "
                                  f"{[t.name for t in getattr(first, kind)]}")
        inputs = {t.name: t for t in signature.inputs}
        for name, (dtype, shape) in GRAPH_INPUTS.items():
            expected = tuple(num_hashes if d == "K" else d for d in shape)
            found = inputs.get(name)
            if found is None or found.dtype != dtype or found.shape != expected:
                got = "missing" if found is None else f"{found.dtype} {list(found.shape)}"
                raise BundleError(f"{here}: input {name!r} must be {dtype} {list(expected)}, got {got}")
        logits = next((t for t in signature.outputs if t.name == "logits"), None)
        if logits is None or logits.dtype != "float32" or len(logits.shape) != 2 or logits.shape[0] != BATCH \
                or type(logits.shape[1]) is not int:
            got = "missing" if logits is None else f"{logits.dtype} {list(logits.shape)}"
            raise BundleError(f"{here}: output 'logits' must be float32 ['batch', C], got {got}")


def _reasoning(manifest: dict[str, Any], files: dict[str, Any], where: str) -> dict[str, str]:
    """The optional ``reasoning`` field: which listed (hence checksummed) files hold the rules and network."""
    if "reasoning" not in manifest:
        return {}
    doc = _field(manifest, "reasoning", dict, where)
    unknown = sorted(set(doc) - REASONING_KEYS)
    if unknown:
        raise BundleError(f"{where}: reasoning: unknown key(s) {unknown}; expected {sorted(REASONING_KEYS)}")
    for key, name in doc.items():
        if not isinstance(name, str) or _relative_path(name, f"{where}: reasoning.{key}") not in files:
            raise BundleError(f"{where}: reasoning.{key}: {name!r} is not among the bundle's files")
    return dict(doc)


def _read_manifest(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BundleError(f"{path}: not valid UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except RecursionError:
        raise BundleError(f"{path}: JSON nested too deeply to be a manifest") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    version = manifest.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BundleError(f"{path}: schema_version: expected a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise BundleError(f"{path}: schema_version {version} is newer than this SDK reads "
                          f"({SCHEMA_VERSION}); upgrade neurolite-sdk to load this bundle")
    return manifest


def _verify_files(root: Path, files: dict[str, Any], where: str) -> dict[str, bytes]:
    """Read every listed file once (never through a link), check its size and SHA-256; its bytes by name."""
    if not files:
        raise BundleError(f"{where}: files: empty; the bundle lists no model file")
    contents = {}
    for name, record in files.items():
        relative = _relative_path(name, f"{where}: files")
        if not isinstance(record, dict):
            raise BundleError(f"{where}: files[{name!r}]: expected an object with bytes and sha256")
        size = _field(record, "bytes", int, f"{where}: files[{name!r}]")
        expected = _field(record, "sha256", str, f"{where}: files[{name!r}]")
        if size < 0:
            raise BundleError(f"{where}: files[{name!r}]: bytes: {size} is negative")
        path = root / relative
        try:
            data = read_inside(root, relative, size)
        except FileNotFoundError:
            raise BundleError(f"{path}: listed in {MANIFEST_NAME} but missing from the bundle") from None
        if len(data) < size:
            raise BundleError(f"{path}: truncated: {len(data):,} bytes, {MANIFEST_NAME} records {size:,}")
        if len(data) != size:
            actual = os.stat(path, follow_symlinks=False).st_size  # read_inside stopped one byte past the record
            raise BundleError(f"{path}: {actual:,} bytes, {MANIFEST_NAME} records {size:,}; the file "
                              f"was replaced or modified after export")
        if hashlib.sha256(data).hexdigest() != expected:
            raise BundleError(f"{path}: SHA-256 does not match {MANIFEST_NAME}; the file is corrupted or was "
                              f"modified after export")
        contents[relative] = data
    return contents


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_OPENAT = bool(_NOFOLLOW) and os.open in os.supports_dir_fd


def read_inside(root: Path, relative: str, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes of the regular file ``root/relative`` (so a longer file shows as longer).

    Each path component is opened relative to the one before it with ``O_NOFOLLOW``: a symbolic link
    anywhere below ``root`` is refused (a ``BundleError``), and a component renamed or replaced while we
    read cannot lead outside ``root``. ``FileNotFoundError`` when there is no such file.
    """
    path = root / relative
    parts = PurePosixPath(relative).parts
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        if _OPENAT:
            fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                for depth, part in enumerate(parts):
                    if stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):  # named in the error;
                        raise OSError(errno.ELOOP, "a symbolic link")  # O_NOFOLLOW below also holds under a race
                    if depth == len(parts) - 1:
                        handle = os.open(part, flags | _NOFOLLOW, dir_fd=fd)
                    else:
                        step = os.open(part, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW, dir_fd=fd)
                        os.close(fd)
                        fd = step
            finally:
                os.close(fd)
        else:  # no openat (Windows): check each component, then open
            for depth in range(1, len(parts) + 1):
                if root.joinpath(*parts[:depth]).is_symlink():
                    raise OSError(errno.ELOOP, "a symbolic link")
            handle = os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise FileNotFoundError(str(path)) from None
        if exc.errno == errno.ELOOP or (exc.errno == errno.EMLINK and _NOFOLLOW):  # EMLINK: FreeBSD's ELOOP
            raise BundleError(f"{path}: a symbolic link (or under one); the runtime reads only regular files "
                              f"inside the bundle and follows no link") from None
        raise BundleError(f"{path}: cannot be read ({exc.strerror})") from None
    with os.fdopen(handle, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise BundleError(f"{path}: not a regular file")
        data = bytearray()
        while len(data) <= limit and (chunk := stream.read(min(_CHUNK, limit + 1 - len(data)))):
            data += chunk
    return bytes(data)


def _featurizer(manifest: dict[str, Any], where: str) -> FeaturizerConfig:
    doc = _field(manifest, "featurizer", dict, where)
    spec = _field(doc, "spec", dict, f"{where}: featurizer")
    digest = _field(doc, "digest", str, f"{where}: featurizer")
    version = spec.get("version")
    if version != FEATURIZER_VERSION:
        raise BundleError(f"{where}: featurizer: the bundle was exported with featurizer spec {version!r}, "
                          f"this SDK implements {FEATURIZER_VERSION!r}; re-export the model with this SDK or "
                          f"run it with the SDK release that implements {version!r}")
    try:
        config = FeaturizerConfig.from_dict(spec)
    except FeaturizerError as exc:
        raise BundleError(f"{where}: featurizer.spec: {exc}") from exc
    if config.digest() != digest:
        raise BundleError(f"{where}: featurizer.digest does not match featurizer.spec (this SDK computes "
                          f"{config.digest()[:12]}..., the manifest says {digest[:12]}...); the manifest was "
                          f"edited")
    return config


def _signature(doc: Any, where: str) -> Signature:
    if not isinstance(doc, dict):
        raise BundleError(f"{where}: expected an object")
    return Signature(name=_field(doc, "name", str, where),
                     inputs=tuple(_tensor(t, f"{where}.inputs[{i}]")
                                  for i, t in enumerate(_field(doc, "inputs", list, where))),
                     outputs=tuple(_tensor(t, f"{where}.outputs[{i}]")
                                   for i, t in enumerate(_field(doc, "outputs", list, where))),
                     batch=_range(doc.get("batch"), f"{where}.batch"),
                     length=_range(doc.get("length"), f"{where}.length"))


def _tensor(doc: Any, where: str) -> TensorSpec:
    if not isinstance(doc, dict):
        raise BundleError(f"{where}: expected an object")
    shape = _field(doc, "shape", list, where)
    if not all(isinstance(d, str) or (type(d) is int and d >= 0) for d in shape):
        raise BundleError(f"{where}.shape: each dimension must be a size or a dimension name, got {shape!r}")
    if BATCH not in shape:
        raise BundleError(f"{where}.shape: every tensor needs a 'batch' axis, got {shape!r}")
    dtype = _field(doc, "dtype", str, where)
    if dtype not in DTYPES:
        raise BundleError(f"{where}.dtype: {dtype!r} is not a tensor type the runtime knows ({', '.join(DTYPES)})")
    return TensorSpec(name=_field(doc, "name", str, where), dtype=dtype, shape=tuple(shape))


def _range(value: Any, where: str) -> DimRange:
    def size(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    if (not isinstance(value, list) or len(value) != 2 or not size(value[0])
            or not (value[1] is None or (size(value[1]) and value[1] >= value[0]))):
        raise BundleError(f"{where}: expected [min, max] with 1 <= min <= max (max null for unbounded), "
                          f"got {value!r}")
    return DimRange(value[0], value[1])


def _field(doc: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in doc:
        raise BundleError(f"{where}: missing field {key!r}")
    value = doc[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BundleError(f"{where}: {key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _relative_path(name: str, where: str) -> str:
    parts = PurePosixPath(name).parts
    if (not name or PurePosixPath(name).is_absolute() or ".." in parts or "\0" in name or "\\" in name
            or PurePosixPath(name).as_posix() != name):
        raise BundleError(f"{where}: {name!r} is not a path inside the bundle")
    return name
