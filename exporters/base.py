"""The exporter interface and its registry (docs/design.md, decision 4).

An exporter turns the PyTorch classifier into one format's model file(s) inside a staging directory.
Everything around it (the graph contract, the quantization plan, bundle writing, parity, reporting) is
shared, so ``exporters/<format>.py`` holds only what is specific to the format, and registers itself with
``@register_exporter("<format>")``. Every format module has the same shape: its ``Exporter`` subclass,
whose steps come in the order ``Exporter.export`` runs them, its typed ``ExportDetails``, then helpers.

The steps (``Exporter.export`` runs them; a format implements them and never branches on the scheme):

1. ``signatures``: the signatures the file will hold (fixed shapes for formats that need them).
2. One of, by ``job.quantize``: ``export_fp32`` (the float graph), ``native_quantize`` (the format's
   own recipe: ``int8``, Core ML's ``palette8``) or ``lower_orbital8`` (the codes that
   ``exporters/quantize.py`` made, written as 8-bit data decoded by the graph's own ops). Each returns
   the format's in-memory model (a "draft": an ONNX proto, lowered ExecuTorch programs, ...).
3. ``write``: the draft into the staging directory, with the model's metadata, checked as the format
   allows (reloaded, names and shapes); returns the format's ``ExportDetails``.
4. ``check_codes`` (orbital8): read the written file back and count the codes that reached it as 8-bit
   data (``CodeCheck``); a file holding none is refused here, once, for every format.

Another package adds a format through the entry-point group ``neurolite_sdk.exporters`` (in its
pyproject.toml: ``[project.entry-points."neurolite_sdk.exporters"] myformat = "my_pkg.exporter:MyExporter"``):
the object loaded is an ``Exporter`` subclass (registered under the entry point's name) or a module whose
import registers one. A plugin that fails to load is reported by name (``ExportError``), never skipped silently.
"""

from __future__ import annotations

import dataclasses
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


@dataclass(frozen=True)
class CodedWeights:
    """orbital8: the weights ``exporters/quantize.py`` coded once for every format, in both forms a format
    lowers from: the codes (``encoded``) and the PyTorch model holding their decoded values (``decoded``,
    also parity's reference). Formats that trace an in-graph decode use the codes; formats that convert
    the decoded model and then swap each decoded constant for its codes use both."""

    encoded: EncodedState
    decoded: NeuroLiteForClassification


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
    quantize: str = "none"  # "none" | a native recipe ("int8", "palette8") | "orbital8" (exporters/quantize.py)
    coded: CodedWeights | None = None  # orbital8: the coded weights every format lowers (None otherwise)
    calibration: list[str] | None = None  # int8 recipes that calibrate activations: real texts to run
    policy: QuantPolicy = field(default_factory=QuantPolicy)  # which tensors any scheme codes (the same rule)
    description: Description | None = None  # the format's standard descriptive metadata (model_card.describe)


@dataclass
class NativeRecipe:
    """A native quantization recipe as the export ran it (``--quantize int8``, ``palette8``)."""

    scheme: str
    recipe: str  # what ran, in words: the tool, its weight and activation scheme
    calibration_texts: int = 0  # texts that calibrated activations (0: weights only or dynamic activations)
    coded_tensors: int | None = None  # weights the recipe stored in 8 bits, as counted in the result
    counts: dict[str, Any] = field(default_factory=dict)  # the format's own figures (node counts, ...)


@dataclass
class CodeCheck:
    """orbital8: what the exporter found in the file it wrote (step 4 of ``Exporter.export``)."""

    coded_tensors: int  # tensors the plan coded
    stored_tensors: int  # of those, held in the file as 8-bit codes decoded by the graph
    code_bytes: int  # bytes of 8-bit codes in the file (for a file of several programs: the largest one's)
    float_tensors: tuple[str, ...] = ()  # coded tensors the file keeps in float (the converter changed them)


@dataclass
class ExportDetails:
    """What an export records beyond its files (the manifest's ``export.details``, docs/bundle.md).

    Each format subclasses it with its own typed fields and says in ``notes`` which of them are worth a
    line under the export table; the quantization fields are common and reported by ``exporters/summary.py``.
    """

    native: NativeRecipe | None = None
    orbital8: CodeCheck | None = None

    def notes(self, fmt: str) -> list[str]:
        """Lines for the export table's notes, each starting with ``fmt``."""
        return []

    def to_dict(self) -> dict[str, Any]:
        """The manifest's form: every field, nested dataclasses as dicts, tuples as lists, unset ones left out."""
        return {key: value for key, value in _plain(dataclasses.asdict(self)).items() if value is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@dataclass
class ExportArtifact:
    """What an exporter wrote: ``entry`` is the model file (or package directory), relative to the bundle."""

    entry: str
    signatures: tuple[Signature, ...]
    details: ExportDetails = field(default_factory=ExportDetails)


class Exporter(ABC):
    """One format: ``entry`` (the file or package it writes), the steps, and what it can hold.

    ``requires`` lists the pip distributions the export needs; ``extra`` installs them. ``quantizations``
    are the ``--quantize`` choices it holds: "int8" or "palette8" need ``native_quantize``, "orbital8" needs
    ``lower_orbital8`` and ``check_codes`` (``register_exporter`` refuses a class that claims one without them).
    """

    format: ClassVar[str]
    entry: ClassVar[str]
    extra: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    quantizations: ClassVar[tuple[str, ...]] = ("none",)
    # whether native_quantize obeys the policy's keep_float patterns (else only its size rule, and a job whose
    # patterns keep a weight the size rule would code is refused rather than quantized against the user's word)
    native_keep_float: ClassVar[bool] = False

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

    def export(self, job: ExportJob, out_dir: Path) -> ExportArtifact:
        """Run the steps (module docstring) for ``job`` into ``out_dir``, an empty staging directory.

        ``export_bundle`` has already refused a scheme or precision the format does not hold."""
        signatures = tuple(self.signatures(job))
        native = None
        if job.quantize == "none":
            draft = self.export_fp32(job, signatures)
        elif job.quantize == "orbital8":
            if job.coded is None:
                raise ExportError(f"{self.format}: --quantize orbital8 needs the coded weights (ExportJob.coded, "
                                  f"from exporters.quantize.plan_quantization)")
            draft = self.lower_orbital8(job, signatures, job.coded)
        else:
            if not self.native_keep_float:
                _refuse_keep_float(self.format, job)
            draft, native = self.native_quantize(job, signatures)
        details = self.write(job, signatures, draft, out_dir)
        details.native = native
        if job.coded is not None and job.quantize == "orbital8":
            check = self.check_codes(job, draft, out_dir / self.entry, job.coded)
            if check.stored_tensors == 0:
                raise ExportError(f"{self.format}: --quantize orbital8: none of the {check.coded_tensors} coded "
                                  f"tensors is stored as codes in {self.entry}; the file would not shrink")
            details.orbital8 = check
        return ExportArtifact(entry=self.entry, signatures=signatures, details=details)

    @abstractmethod
    def signatures(self, job: ExportJob) -> tuple[Signature, ...]:
        """The signatures the file holds, by the manifest's names."""

    @abstractmethod
    def export_fp32(self, job: ExportJob, signatures: tuple[Signature, ...]) -> Any:
        """The float graph of ``job.model``, in the format's in-memory form (the draft ``write`` takes)."""

    def native_quantize(self, job: ExportJob, signatures: tuple[Signature, ...]) -> tuple[Any, NativeRecipe]:
        """The draft quantized by the format's own recipe for ``job.quantize``, and what the recipe did."""
        raise ExportError(f"{self.format}: no native recipe for --quantize {job.quantize}")

    def lower_orbital8(self, job: ExportJob, signatures: tuple[Signature, ...], coded: CodedWeights) -> Any:
        """The draft with every coded weight stored as its uint8 codes and decoded by the graph's ops."""
        raise ExportError(f"{self.format}: --quantize orbital8 is not supported")

    def check_codes(self, job: ExportJob, draft: Any, path: Path, coded: CodedWeights) -> CodeCheck:
        """Count the codes in the written file ``path``; ``ExportError`` for a coded tensor folded back into
        float weights where the format promises every one is stored."""
        raise ExportError(f"{self.format}: --quantize orbital8 is not supported")

    @abstractmethod
    def write(self, job: ExportJob, signatures: tuple[Signature, ...], draft: Any, out_dir: Path) -> ExportDetails:
        """Write ``draft`` as ``out_dir / entry`` with the job's metadata, check it, and describe it."""


def _refuse_keep_float(fmt: str, job: ExportJob) -> None:
    """``ExportError`` when the policy's ``keep_float`` patterns keep a weight float that the size rule alone,
    all a native recipe of ``fmt`` applies, would quantize."""
    size_only = type(job.policy)(min_elements=job.policy.min_elements)
    weights = {name: weight.detach().cpu().numpy() for name, weight in job.model.named_parameters()}
    kept = [name for name, array in weights.items()
            if size_only.keep_reason(name, array) is None and job.policy.keep_reason(name, array) is not None]
    if kept:
        shown = ", ".join(kept[:4]) + (f" and {len(kept) - 4} more" if len(kept) > 4 else "")
        raise ExportError(f"{fmt}: --quantize {job.quantize}: the format's own recipe selects weights by size only "
                          f"and would quantize {shown}, which keep_float {list(job.policy.keep_float)} keeps "
                          f"float; use --quantize orbital8 (which obeys it) or another format's int8")


_EXPORTERS: dict[str, type[Exporter]] = {}
E = TypeVar("E", bound=type[Exporter])
ENTRY_POINT_GROUP = "neurolite_sdk.exporters"
_STEPS = {"int8": ("native_quantize",), "palette8": ("native_quantize",),
          "orbital8": ("lower_orbital8", "check_codes")}


def register_exporter(name: str) -> Callable[[E], E]:
    """Class decorator: make ``cls`` the exporter for format ``name``."""

    def register(cls: E) -> E:
        missing = [step for scheme in cls.quantizations for step in _STEPS.get(scheme, ())
                   if getattr(cls, step) is getattr(Exporter, step)]
        if missing:
            raise ExportError(f"exporter {name!r} ({cls.__name__}): quantizations {list(cls.quantizations)} need "
                              f"{', '.join(sorted(set(missing)))}, which it does not implement")
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
