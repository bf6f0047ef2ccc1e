"""Runtime backends: one small module per format, found by name through a registry.

A backend runs one signature of a verified bundle on named numpy inputs and returns named numpy
outputs. It never assumes one input and one output, so graphs that take and return state fit as they
are. ``runtime/backends/<format>.py`` registers itself with ``@register_backend("<format>")``; the
registry imports that module only when a bundle of that format is opened, so opening an ONNX bundle
never imports ExecuTorch (or torch). Adding a format is adding a module here and one in ``exporters/``.

Another package adds a backend through the entry-point group ``neurolite_sdk.runtime_backends`` (in its
pyproject.toml: ``[project.entry-points."neurolite_sdk.runtime_backends"] myformat = "my_pkg.backend:MyBackend"``),
the same way formats are added to the exporters: the object loaded is a ``Backend`` subclass (registered
under the entry point's name) or a module whose import registers one; it is loaded only when a bundle of
that format is opened. A plugin that fails to load is named (``BackendUnavailableError``). A class
registered with ``register_backend`` from anywhere is found too.

``null`` (``runtime/backends/null.py``) runs any bundle without its model: outputs of the declared shapes
and dtypes, for testing the runtime around the backend without exporting.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import pkgutil
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, TypeVar

import numpy as np

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.runtime.bundle import BATCH, LENGTH, MANIFEST_NAME, Bundle, DimRange, Signature, TensorSpec
from neurolite_sdk.runtime.errors import (
    BackendUnavailableError,
    BundleError,
    ModelRunError,
    PredictionInputError,
    RuntimeNotInstalledError,
)
from neurolite_sdk.runtime.instances import InstancePool, default_pool_size

LABELS_KEY = "neurolite_labels"  # the metadata every exporter embeds in the model file (exporters/writer.py)
DIGEST_KEY = "neurolite_featurizer_digest"


def native_message(exc: BaseException, limit: int = 400) -> str:
    """A runtime's error message on one line (LiteRT's and ExecuTorch's span several), at most ``limit`` long."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(frozen=True)
class ModelTensor:
    """A tensor as the model file itself declares it: ``None`` for a dimension it leaves dynamic."""

    shape: tuple[int | None, ...] | None  # None: the file does not declare the shape (Core ML outputs)
    dtype: str


class Backend(ABC):
    """One format's runtime, opened on a verified bundle; safe to call from many threads.

    Subclasses set ``package`` (the module they import), ``distribution`` (its pip name, for version
    reports) and ``extra`` (the neurolite-sdk extra that installs it), implement ``_open`` (one
    instance of the model in that runtime) and ``_run`` (one call on an instance), and call
    ``_start_pool`` at the end of ``__init__``. Calls go through an ``InstancePool``
    (``runtime/instances.py``): an instance whose runtime is not documented thread-safe
    (``shared_instance`` False) serves one call at a time, and up to ``instances`` of them (default:
    one per core) serve concurrent callers.
    """

    name: ClassVar[str]
    package: ClassVar[str]
    distribution: ClassVar[str]
    extra: ClassVar[str]
    shared_instance: ClassVar[bool] = False  # True: one instance may run concurrent calls (documented so)
    platforms: ClassVar[tuple[str, ...] | None] = None  # the ``sys.platform`` values it predicts on (None: any)
    any_format: ClassVar[bool] = False  # True: it runs a bundle of any format (asked for by name: ``null``)

    @classmethod
    def runs_here(cls) -> bool:
        """Whether this machine's platform is one the backend predicts on (its package may still be missing)."""
        return cls.platforms is None or sys.platform in cls.platforms

    def __init__(self, bundle: Bundle, threads: int | None = None, instances: int | None = None) -> None:
        for name, value in (("threads", threads), ("instances", instances)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise PredictionInputError(f"{name}: must be a positive integer or None, got {value!r}")
        self.bundle = bundle
        self.threads = threads
        self.instances = instances or default_pool_size()

    def _start_pool(self) -> None:
        """Open the first instance (so a bundle that does not load fails here), check the model file
        against the manifest on it, and put it behind the pool."""
        self.pool: InstancePool[Any] = InstancePool(self._open, self.instances, shared=self.shared_instance)
        with self.pool.instance() as first:
            self._check_model(first)

    @abstractmethod
    def _open(self) -> Any:
        """One instance of the bundle's model in this runtime; a ``BundleError`` if it does not load."""

    @abstractmethod
    def _metadata(self, instance: Any) -> Mapping[str, str]:
        """The string metadata the model file carries (``neurolite_labels``, ...; docs/bundle.md)."""

    @abstractmethod
    def _tensors(self, instance: Any, signature: Signature) -> dict[str, ModelTensor]:
        """Every input and output of ``signature`` as the model file declares it, by the manifest's names."""

    def _check_model(self, instance: Any) -> None:
        """The manifest against the model file: labels and featurizer digest against the metadata the
        exporter embedded, and every signature's tensors (names, dtypes, fixed sizes) against the
        model's own. Catches a manifest whose labels were reordered (every answer inverted) or that
        belongs to another model; ``BundleError`` naming both sides."""
        bundle = self.bundle
        try:
            metadata = dict(self._metadata(instance))
        except NeuroLiteError:
            raise
        except Exception as exc:  # a damaged metadata table: the runtimes raise their own types
            raise BundleError(f"{bundle.entry}: its metadata cannot be read ({native_message(exc)})") from exc
        manifest = bundle.path / MANIFEST_NAME
        if LABELS_KEY not in metadata or DIGEST_KEY not in metadata:
            raise BundleError(f"{bundle.entry}: carries no {LABELS_KEY} / {DIGEST_KEY} metadata, so its labels "
                              f"cannot be checked against {MANIFEST_NAME}; it was not written by the NeuroLite "
                              f"exporter (or the metadata was stripped); export the model again")
        try:
            embedded = json.loads(metadata[LABELS_KEY])
        except (ValueError, RecursionError):
            embedded = None
        if not isinstance(embedded, list):
            raise BundleError(f"{bundle.entry}: metadata {LABELS_KEY} is not a JSON list of labels")
        if embedded != list(bundle.labels):
            how = ("the same labels in another order: every answer would be mislabelled"
                   if sorted(map(str, embedded)) == sorted(bundle.labels) else "the manifest belongs to another model")
            raise BundleError(f"{manifest}: labels {list(bundle.labels)} differ from the labels {bundle.entry.name} "
                              f"carries ({LABELS_KEY}: {embedded}); {how}")
        embedded_digest = str(metadata[DIGEST_KEY])
        if embedded_digest != bundle.featurizer.digest():
            raise BundleError(f"{manifest}: featurizer digest {bundle.featurizer.digest()[:12]}... differs from the "
                              f"one {bundle.entry.name} was trained with ({DIGEST_KEY}: {embedded_digest[:12]}...); "
                              f"the manifest's featurizer does not belong to this model")
        for signature in bundle.signatures:
            try:
                tensors = self._tensors(instance, signature)
            except NeuroLiteError:
                raise
            except Exception as exc:
                raise BundleError(f"{bundle.entry}: signature {signature.name!r}: its tensors cannot be read "
                                  f"({native_message(exc)})") from exc
            for spec in (*signature.inputs, *signature.outputs):
                _check_tensor(bundle, signature, spec, tensors.get(spec.name))

    @classmethod
    def import_runtime(cls) -> ModuleType:
        """Import the runtime package, or say which extra installs it."""
        try:
            return importlib.import_module(cls.package)
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] == cls.package.split(".")[0]:
                raise RuntimeNotInstalledError(cls.name, cls.distribution, cls.extra) from exc
            raise

    @classmethod
    def version(cls) -> str:
        return importlib.metadata.version(cls.distribution)

    def run(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``signature`` on inputs of exactly its shapes; returns every output by name."""
        spec = self.bundle.signature(signature)
        missing = [t.name for t in spec.inputs if t.name not in inputs]
        if missing:
            raise PredictionInputError(f"inputs: missing {', '.join(missing)} for signature {signature!r}")
        feed = {t.name: np.ascontiguousarray(t.check(inputs[t.name], spec.batch, spec.length))
                for t in spec.inputs}
        with self.pool.instance() as instance:
            try:
                outputs = self._run(instance, spec, feed)
            except NeuroLiteError:
                raise
            except Exception as exc:  # the runtimes raise their own types; a damaged model is the bundle's fault
                raise ModelRunError(f"{self.bundle.entry}: {self.name} failed running signature {signature!r} "
                                    f"({type(exc).__name__}: {native_message(exc)})") from exc
        batch = next(iter(feed.values())).shape[0] if feed else None
        for output in spec.outputs:
            value = outputs.get(output.name)
            _check_output(self.bundle, spec, output, value, batch)
        return outputs

    @abstractmethod
    def _run(self, instance: Any, signature: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``signature`` on ``instance``, which this call has to itself (unless ``shared_instance``)."""


def _check_tensor(bundle: Bundle, signature: Signature, spec: TensorSpec, actual: ModelTensor | None) -> None:
    where = f"{bundle.entry}: signature {signature.name!r}: {spec.name!r}"
    if actual is None:
        raise BundleError(f"{where}: the model has no such tensor; {MANIFEST_NAME} does not describe this model")
    if actual.dtype != spec.dtype:
        raise BundleError(f"{where}: {actual.dtype} in the model, {spec.dtype} in {MANIFEST_NAME}")
    if actual.shape is None:
        return
    if len(actual.shape) != len(spec.shape):
        raise BundleError(f"{where}: shape {list(actual.shape)} in the model, {list(spec.shape)} in {MANIFEST_NAME}")
    ranges = {BATCH: signature.batch, LENGTH: signature.length}
    for axis, (dim, size) in enumerate(zip(spec.shape, actual.shape, strict=True)):
        allowed = ranges.get(dim) if isinstance(dim, str) else DimRange(dim, dim)
        if size is None or allowed is None:
            continue  # the model takes any size here, or the manifest names an axis it does not plan
        if not allowed.static or allowed.min != size:
            said = dim if isinstance(dim, int) else f"{dim!r} {allowed.to_list()}"
            raise BundleError(f"{where}: axis {axis} is {size} in the model, {MANIFEST_NAME} says {said}; "
                              f"{MANIFEST_NAME} does not describe this model")


def _check_output(bundle: Bundle, signature: Signature, spec: TensorSpec, value: Any, batch: int | None) -> None:
    """An output is the array its signature declares: dtype, rank, fixed sizes, batch rows, finite floats."""
    where = f"{bundle.entry}: signature {signature.name!r} returned {spec.name!r}"
    if not isinstance(value, np.ndarray):
        raise ModelRunError(f"{where} as {type(value).__name__}, not an array")
    if value.dtype != np.dtype(spec.dtype) or value.ndim != len(spec.shape):
        raise ModelRunError(f"{where} as {value.dtype} {list(value.shape)}, the signature declares {spec.dtype} "
                            f"{list(spec.shape)}")
    for axis, dim in enumerate(spec.shape):
        expected = batch if dim == BATCH else dim if isinstance(dim, int) else None
        if expected is not None and value.shape[axis] != expected:
            raise ModelRunError(f"{where} with shape {list(value.shape)}, the signature declares {list(spec.shape)} "
                                f"(batch {batch})")
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        raise ModelRunError(f"{where} with non-finite values (NaN or infinity); the model's weights are damaged "
                            f"or diverged in training")


_BACKENDS: dict[str, type[Backend]] = {}
B = TypeVar("B", bound=type[Backend])
ENTRY_POINT_GROUP = "neurolite_sdk.runtime_backends"


def register_backend(name: str) -> Callable[[B], B]:
    """Class decorator: make ``cls`` the backend for bundles whose manifest says ``format: name``."""

    def register(cls: B) -> B:
        cls.name = name
        _BACKENDS[name] = cls
        return cls

    return register


def _own() -> set[str]:
    return {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}


def _plugins() -> dict[str, importlib.metadata.EntryPoint]:
    return {entry.name: entry for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def backend_names() -> list[str]:
    """Every backend: this package's modules, installed packages' entry points and classes registered with
    ``register_backend``, without importing any of them."""
    return sorted(_own() | set(_plugins()) | set(_BACKENDS))


def backend_formats() -> list[str]:
    """The formats a backend runs: every backend but those that run any format (``null``). This package's
    modules are imported (light: a runtime package is imported only when a bundle is opened); plugins are
    listed by their entry point's name, unloaded, so a broken plugin fails where its format is used."""
    own = {name for name in _own() if not backend_class(name).any_format}
    registered = {name for name, cls in _BACKENDS.items() if not cls.any_format}
    return sorted(own | registered | set(_plugins()))


def runnable_formats() -> list[str]:
    """The formats whose backend predicts on this machine's platform (Core ML: macOS): what a test matrix
    over running bundles covers. The backend's runtime package may still be missing."""
    return [name for name in backend_formats() if backend_class(name).runs_here()]


def backend_class(name: str) -> type[Backend]:
    """The backend registered as ``name``, importing this package's module or loading the plugin first."""
    if name in _BACKENDS:
        return _BACKENDS[name]
    if name in _own():
        importlib.import_module(f"{__name__}.{name}")
        return _BACKENDS[name]
    plugin = _plugins().get(name)
    if plugin is None:
        raise BundleError(f"format {name!r}: this SDK has no runtime backend for it "
                          f"(it has: {', '.join(backend_names())})")
    try:
        loaded = plugin.load()
    except Exception as exc:  # noqa: BLE001 (a third-party module may raise anything on import)
        raise BackendUnavailableError(f"runtime backend plugin {name!r} ({plugin.value}): cannot be loaded "
                                      f"({type(exc).__name__}: {native_message(exc)})") from exc
    if isinstance(loaded, type) and issubclass(loaded, Backend):
        register_backend(name)(loaded)
    if name not in _BACKENDS:
        raise BackendUnavailableError(f"runtime backend plugin {name!r} ({plugin.value}): registers no backend of "
                                      f"that name (load a Backend subclass or a module that uses @register_backend)")
    return _BACKENDS[name]


def open_backend(bundle: Bundle, threads: int | None = None, backend: str | None = None,
                 instances: int | None = None) -> Backend:
    """The backend for the bundle's format (or the named one, which must run that format, or any: ``null``).

    ``instances``: the most model instances it opens for concurrent callers (default: one per core).
    """
    name = backend or bundle.format
    cls = backend_class(name)
    if name != bundle.format and not cls.any_format:
        raise BundleError(f"backend {name!r} cannot run {bundle.path}: the bundle's format is "
                          f"{bundle.format!r}")
    return cls(bundle, threads, instances)
