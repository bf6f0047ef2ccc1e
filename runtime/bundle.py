"""Bundles: a directory with the model file(s) and ``manifest.json`` (docs/design.md, decision 5).

This module is the one definition of the manifest: its schema version, the signature vocabulary the
runtime plans with, and the checks a bundle must pass before anything runs it. The exporters build
manifests with the same types and ``file_record``; ``docs/bundle.md`` documents every field.

Loading checks, in order, and names what is wrong: the directory exists, ``manifest.json`` exists,
is JSON, has a schema version this SDK reads and the fields it needs; every listed file exists, has
the recorded size (a short file is reported as truncated) and SHA-256; the featurizer spec is the
one this SDK implements and its digest matches its parameters.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from neurolite_sdk.featurizer import FEATURIZER_VERSION, FeaturizerConfig, FeaturizerError
from neurolite_sdk.runtime.errors import BundleError, PredictionInputError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
BATCH, LENGTH = "batch", "length"  # the axis names every signature's tensors use
_CHUNK = 1 << 20
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
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path}: missing; {root} is not a NeuroLite bundle "
                          f"(or its export did not finish)")
    manifest = _read_manifest(manifest_path)
    where = str(manifest_path)
    fmt = _field(manifest, "format", str, where)
    files = _field(manifest, "files", dict, where)
    _verify_files(root, files, where)
    entry = _relative_path(_field(manifest, "entry", str, where), f"{where}: entry")
    if not any(name == entry or name.startswith(entry + "/") for name in files):
        raise BundleError(f"{where}: entry {entry!r} is not among the bundle's files")
    signatures = tuple(_signature(doc, f"{where}: signatures[{i}]")
                       for i, doc in enumerate(_field(manifest, "signatures", list, where)))
    if not signatures:
        raise BundleError(f"{where}: signatures: empty; the bundle declares no entry point")
    labels = _field(manifest, "labels", list, where)
    if len(labels) < 2 or not all(isinstance(label, str) for label in labels):
        raise BundleError(f"{where}: labels: must be a list of at least two strings")
    _check_labels(labels, signatures, where)
    return Bundle(path=root, manifest=manifest, format=fmt, entry=root / entry, signatures=signatures,
                  labels=tuple(labels), featurizer=_featurizer(manifest, where),
                  reasoning=_reasoning(manifest, files, where))


def _check_labels(labels: list[str], signatures: tuple[Signature, ...], where: str) -> None:
    """Every signature's ``logits`` scores one class per label: a manifest whose labels were edited is
    refused when the bundle is read, not by a crash at the first prediction (the phone apps check the same)."""
    for signature in signatures:
        for spec in signature.outputs:
            if spec.name == "logits" and spec.shape and type(spec.shape[-1]) is int and spec.shape[-1] != len(labels):
                raise BundleError(f"{where}: labels: {len(labels)} labels, but signature {signature.name!r} returns "
                                  f"{spec.shape[-1]} logits; the manifest's labels do not belong to this model")


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


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise BundleError(f"{path}: not valid UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    version = manifest.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BundleError(f"{path}: schema_version: expected a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise BundleError(f"{path}: schema_version {version} is newer than this SDK reads "
                          f"({SCHEMA_VERSION}); upgrade neurolite-sdk to load this bundle")
    return manifest


def _verify_files(root: Path, files: dict[str, Any], where: str) -> None:
    if not files:
        raise BundleError(f"{where}: files: empty; the bundle lists no model file")
    for name, record in files.items():
        relative = _relative_path(name, f"{where}: files")
        if not isinstance(record, dict):
            raise BundleError(f"{where}: files[{name!r}]: expected an object with bytes and sha256")
        size = _field(record, "bytes", int, f"{where}: files[{name!r}]")
        expected = _field(record, "sha256", str, f"{where}: files[{name!r}]")
        path = root / relative
        if not path.is_file():
            raise BundleError(f"{path}: listed in {MANIFEST_NAME} but missing from the bundle")
        actual_size = path.stat().st_size
        if actual_size < size:
            raise BundleError(f"{path}: truncated: {actual_size:,} bytes, {MANIFEST_NAME} records {size:,}")
        if actual_size != size:
            raise BundleError(f"{path}: {actual_size:,} bytes, {MANIFEST_NAME} records {size:,}; the file "
                              f"was replaced or modified after export")
        if sha256_file(path) != expected:
            raise BundleError(f"{path}: SHA-256 does not match {MANIFEST_NAME}; the file is corrupted or was "
                              f"modified after export")


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
    return TensorSpec(name=_field(doc, "name", str, where), dtype=_field(doc, "dtype", str, where),
                      shape=tuple(shape))


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
    if not name or PurePosixPath(name).is_absolute() or ".." in parts:
        raise BundleError(f"{where}: {name!r} is not a path inside the bundle")
    return name
