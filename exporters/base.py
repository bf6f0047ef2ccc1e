"""The exporter interface and its registry (docs/design.md, decision 4).

An exporter turns the PyTorch classifier into one format's model file(s) inside a staging directory
and says what it wrote: the entry file, the signatures it holds, and format details worth recording
(opset, delegation counts, ops). Everything around it (the graph contract, bundle writing, parity,
reporting) is shared, so ``exporters/<format>.py`` holds only what is specific to the format, and
registers itself with ``@register_exporter("<format>")``.

Another package adds a format through the entry-point group ``neurolite_sdk.exporters`` (in its
pyproject.toml: ``[project.entry-points."neurolite_sdk.exporters"] myformat = "my_pkg.exporter:MyExporter"``):
the object loaded is an ``Exporter`` subclass (registered under the entry point's name) or a module whose
import registers one. A plugin that fails to load is reported by name (``ExportError``), never skipped silently.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.exporters.model_card import Description
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.quantization.policy import EncodedState, QuantPolicy
from neurolite_sdk.runtime.bundle import Signature
from neurolite_sdk.runtime.errors import RuntimeNotInstalledError


class ExportError(NeuroLiteError):
    """An export that cannot be done or did not verify; the message names the format and the cause."""


@dataclass
class ExportJob:
    """What every exporter gets: the model (eval mode), its labels and the user's options.

    ``metadata`` (string keys and values) is written into the model file where the format has a
    place for it, so the file alone still says which featurizer and labels it expects.
    """

    model: NeuroLiteForClassification
    labels: list[str]
    metadata: dict[str, str]
    precision: str = "fp32"
    allow_portable: tuple[str, ...] | None = None  # ExecuTorch: None keeps the exporter's default list
    quantize: str = "none"  # "none" | "int8" (the format's native recipe) | "orbital8" (exporters/quantize.py)
    encoded: EncodedState | None = None  # orbital8: the coded weights every format lowers (None otherwise)
    calibration: list[str] | None = None  # int8 recipes that calibrate activations: real texts to run
    policy: QuantPolicy = field(default_factory=QuantPolicy)  # which tensors any scheme codes (the same rule)
    description: Description | None = None  # the format's standard descriptive metadata (model_card.describe)


@dataclass
class ExportArtifact:
    """What an exporter wrote: ``entry`` is the model file (or package directory), relative to the bundle."""

    entry: str
    signatures: tuple[Signature, ...]
    details: dict[str, Any] = field(default_factory=dict)


class Exporter(ABC):
    """One format. ``requires`` lists the pip distributions the export needs; ``extra`` installs them."""

    format: ClassVar[str]
    extra: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    quantizations: ClassVar[tuple[str, ...]] = ("none",)  # the ``--quantize`` choices this format can hold

    @classmethod
    def check_installed(cls) -> None:
        for distribution in cls.requires:
            try:
                importlib.metadata.version(distribution)
            except importlib.metadata.PackageNotFoundError as exc:
                raise RuntimeNotInstalledError(cls.format, distribution, cls.extra) from exc

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {name: importlib.metadata.version(name) for name in cls.requires}

    @abstractmethod
    def export(self, job: ExportJob, out_dir: Path) -> ExportArtifact:
        """Write the model file(s) into ``out_dir`` (an empty staging directory) and describe them."""


_EXPORTERS: dict[str, type[Exporter]] = {}
E = TypeVar("E", bound=type[Exporter])
ENTRY_POINT_GROUP = "neurolite_sdk.exporters"


def register_exporter(name: str) -> Callable[[E], E]:
    """Class decorator: make ``cls`` the exporter for format ``name``."""

    def register(cls: E) -> E:
        cls.format = name
        _EXPORTERS[name] = cls
        return cls

    return register


def exporter_formats() -> list[str]:
    """Every registered format. Importing the package's modules registers them; their heavy
    third-party imports (executorch, coremltools, ...) happen only inside ``export``."""
    package = importlib.import_module("neurolite_sdk.exporters")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _EXPORTERS:
            continue
        try:
            loaded = entry.load()
        except Exception as exc:  # noqa: BLE001 (a third-party module may raise anything on import)
            raise ExportError(f"exporter plugin {entry.name!r} ({entry.value}): cannot be loaded "
                              f"({type(exc).__name__}: {exc})") from exc
        if isinstance(loaded, type) and issubclass(loaded, Exporter):
            register_exporter(entry.name)(loaded)
        elif entry.name not in _EXPORTERS:
            raise ExportError(f"exporter plugin {entry.name!r} ({entry.value}): registers no exporter of that name "
                              f"(load an Exporter subclass or a module that uses @register_exporter)")
    return sorted(_EXPORTERS)


def get_exporter(name: str) -> Exporter:
    formats = exporter_formats()
    if name not in formats:
        raise ExportError(f"format {name!r}: unknown (known formats: {', '.join(formats)})")
    return _EXPORTERS[name]()
