"""Runtime backends: one small module per format, found by name through a registry.

A backend runs one signature of a verified bundle on named numpy inputs and returns named numpy
outputs. It never assumes one input and one output, so graphs that take and return state fit as they
are. ``runtime/backends/<format>.py`` registers itself with ``@register_backend("<format>")``; the
registry imports that module only when a bundle of that format is opened, so opening an ONNX bundle
never imports ExecuTorch (or torch). Adding a format is adding a module here and one in ``exporters/``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar, TypeVar

import numpy as np

from neurolite_sdk.runtime.bundle import Bundle, Signature
from neurolite_sdk.runtime.errors import BundleError, PredictionInputError, RuntimeNotInstalledError
from neurolite_sdk.runtime.instances import InstancePool, default_pool_size


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

    def __init__(self, bundle: Bundle, threads: int | None = None, instances: int | None = None) -> None:
        for name, value in (("threads", threads), ("instances", instances)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise PredictionInputError(f"{name}: must be a positive integer or None, got {value!r}")
        self.bundle = bundle
        self.threads = threads
        self.instances = instances or default_pool_size()

    def _start_pool(self) -> None:
        """Open the first instance (so a bundle that does not load fails here) behind the pool."""
        self.pool: InstancePool[Any] = InstancePool(self._open, self.instances, shared=self.shared_instance)

    @abstractmethod
    def _open(self) -> Any:
        """One instance of the bundle's model in this runtime; a ``BundleError`` if it does not load."""

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
            return self._run(instance, spec, feed)

    @abstractmethod
    def _run(self, instance: Any, signature: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``signature`` on ``instance``, which this call has to itself (unless ``shared_instance``)."""


_BACKENDS: dict[str, type[Backend]] = {}
B = TypeVar("B", bound=type[Backend])


def register_backend(name: str) -> Callable[[B], B]:
    """Class decorator: make ``cls`` the backend for bundles whose manifest says ``format: name``."""

    def register(cls: B) -> B:
        cls.name = name
        _BACKENDS[name] = cls
        return cls

    return register


def backend_names() -> list[str]:
    """Every backend module in this package (without importing any of them)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def backend_class(name: str) -> type[Backend]:
    if name not in backend_names():
        raise BundleError(f"format {name!r}: this SDK has no runtime backend for it "
                          f"(it has: {', '.join(backend_names())})")
    importlib.import_module(f"{__name__}.{name}")
    return _BACKENDS[name]


def open_backend(bundle: Bundle, threads: int | None = None, backend: str | None = None,
                 instances: int | None = None) -> Backend:
    """The backend for the bundle's format (or the named one, which must run that format).

    ``instances``: the most model instances it opens for concurrent callers (default: one per core).
    """
    name = backend or bundle.format
    if name != bundle.format:
        raise BundleError(f"backend {name!r} cannot run {bundle.path}: the bundle's format is "
                          f"{bundle.format!r}")
    return backend_class(name)(bundle, threads, instances)
