"""One export, start to finish: checkpoint -> staged bundle -> manifest -> parity -> bundle in place.

The bundle is built in a temporary sibling directory and renamed into place only once its manifest
is written and its parity has passed (or was not asked for), so an interrupted or failed export
leaves nothing at the destination that looks like a bundle. A failed parity writes nothing: the
error states the figures, and ``--no-verify`` (recorded in the manifest) writes the file unchecked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurolite_sdk.atomic import BUNDLE, atomic_directory, check_output_dir
from neurolite_sdk.exporters.base import CodedWeights, ExportDetails, ExportError, ExportJob, get_exporter
from neurolite_sdk.exporters.model_card import CARD_FILES, build_card, describe, measure_latency, write_card
from neurolite_sdk.exporters.orbital8_load import split_coded_weights
from neurolite_sdk.exporters.parity import (
    ParityError,
    ParityTexts,
    Thresholds,
    measure_parity,
    skipped_parity,
    thresholds_for,
)
from neurolite_sdk.exporters.quantize import QuantizationPlan, plan_quantization
from neurolite_sdk.exporters.test_vectors import write_test_vectors
from neurolite_sdk.exporters.writer import build_manifest, embedded_metadata, write_manifest, write_reasoning
from neurolite_sdk.modeling.model import count_parameters
from neurolite_sdk.quantization import QuantPolicy
from neurolite_sdk.runtime import load
from neurolite_sdk.runtime.bundle import WEIGHTS_SCHEMA_VERSION, bundle_files
from neurolite_sdk.runtime.errors import PlatformUnsupportedError
from neurolite_sdk.runtime.native_output import native_output_captured
from neurolite_sdk.runtime.selftest import TEST_VECTORS_NAME
from neurolite_sdk.runtime.weights import WEIGHTS_KEY
from neurolite_sdk.training.checkpoint import Checkpoint

ORBITAL8_DECODES = ("load", "graph")  # --orbital8-decode: when orbital8 codes become float weights


@dataclass
class ExportResult:
    """What one export produced, for the report: the bundle, its files, time and parity."""

    format: str
    bundle: Path
    files: dict[str, dict[str, Any]]
    seconds: float
    parity: dict[str, Any]
    details: ExportDetails = field(default_factory=ExportDetails)
    quantization: dict[str, Any] | None = None  # manifest["quantization"] for quantized exports

    @property
    def total_bytes(self) -> int:
        """The bundle's bytes less its model card and test vectors (documentation and a self-test, not what
        a device loads to predict), so sizes and ratios to fp32 measure the model."""
        return sum(record["bytes"] for name, record in self.files.items()
                   if name not in CARD_FILES and name != TEST_VECTORS_NAME)


def export_bundle(checkpoint: Checkpoint, fmt: str, out_dir: str | Path, *, texts: ParityTexts | None,
                  verify: bool = True, precision: str = "fp32",
                  allow_portable: tuple[str, ...] | None = None, quantize: str = "none",
                  policy: QuantPolicy | None = None, calibration: list[str] | None = None,
                  overwrite: bool = False, orbital8_decode: str = "load") -> ExportResult:
    """Export ``checkpoint`` to ``fmt`` as the bundle directory ``out_dir``.

    An existing bundle there is replaced only with ``overwrite``; a non-empty directory that is not a
    bundle never is (``atomic.OutputError``, raised before any work).

    ``texts`` are the parity texts (``parity.parity_texts``); required unless ``verify`` is False.
    ``quantize`` is one of ``exporters.quantize.QUANTIZE_CHOICES``; a format that cannot hold the scheme
    is refused before anything is written (never a silent float file). ``calibration`` (real texts)
    feeds int8 recipes that calibrate activations; default: the parity texts. ``orbital8_decode``
    (``ORBITAL8_DECODES``): "load" stores the format's fp32 file of the decoded weights as a shell plus the
    codes, rebuilt by the runtime at load (fp32 speed, any format; ``exporters/orbital8_load.py``);
    "graph" has the format's own ops decode the codes (the file alone is small and self-contained).
    Raises ``ParityError`` when the exported file misses the parity bar and ``verify`` is on.
    """
    exporter = get_exporter(fmt)
    check_output_dir(out_dir, BUNDLE, overwrite=overwrite)
    if precision not in exporter.precisions:
        raise ExportError(f"{fmt}: precision {precision!r} is not supported (it exports "
                          f"{', '.join(exporter.precisions)})")
    if orbital8_decode not in ORBITAL8_DECODES:
        raise ExportError(f"--orbital8-decode {orbital8_decode!r}: expected one of {', '.join(ORBITAL8_DECODES)}")
    at_load = quantize == "orbital8" and orbital8_decode == "load"  # any format holds it: a plain fp32 export
    if quantize not in exporter.quantizations and not at_load:
        raise ExportError(f"{fmt}: --quantize {quantize} is not supported (it exports "
                          f"{', '.join(exporter.quantizations)})")
    thresholds = thresholds_for(precision, quantize)
    if verify and texts is None:
        raise ExportError(f"{fmt}: parity needs texts (or verification turned off)")
    exporter.check_installed()
    model = checkpoint.model.eval()
    config = model.config
    plan = plan_quantization(model, quantize, policy)
    job = ExportJob(model=plan.reference if at_load else model, labels=list(checkpoint.labels), precision=precision,
                    metadata=embedded_metadata(config, checkpoint.labels), allow_portable=allow_portable,
                    quantize="none" if at_load else quantize, policy=plan.policy,
                    coded=CodedWeights(plan.encoded, plan.reference)
                    if plan.encoded is not None and not at_load else None,
                    calibration=calibration or (texts.texts if texts is not None else None),
                    description=describe(checkpoint.training, list(checkpoint.labels), config.max_length,
                                         config.num_hashes))
    out_dir = Path(out_dir)
    with atomic_directory(out_dir, BUNDLE, overwrite=overwrite) as staging, native_output_captured():
        started = time.perf_counter()
        artifact = exporter.export(job, staging)
        weights = None
        if at_load:
            assert plan.encoded is not None
            weights, artifact.details.orbital8 = split_coded_weights(staging, artifact.entry, plan.encoded)
        seconds = time.perf_counter() - started
        reasoning = write_reasoning(staging, checkpoint.reasoning)
        export_info = {"checkpoint": str(checkpoint.path) if checkpoint.path else None,
                       "precision": precision, "quantize": quantize, "seconds": round(seconds, 3),
                       "verify": verify}
        if quantize == "orbital8":
            export_info["orbital8_decode"] = orbital8_decode
        manifest = build_manifest(exporter, artifact, staging, config, job.labels, export_info,
                                  skipped_parity("export in progress", thresholds, verify))
        if weights is not None:
            manifest["schema_version"] = WEIGHTS_SCHEMA_VERSION
            manifest[WEIGHTS_KEY] = weights.to_dict()
        if reasoning:
            manifest["reasoning"] = reasoning
        if quantize != "none":
            manifest["quantization"] = plan.to_manifest()
            if quantize == "orbital8":
                manifest["quantization"]["decode"] = orbital8_decode
        write_manifest(staging, manifest)
        manifest["parity"] = _parity(checkpoint, plan, staging, texts if verify else None, thresholds)
        write_manifest(staging, manifest)
        if manifest["parity"]["status"] == "failed":
            raise ParityError(f"{fmt}: parity failed on {manifest['parity']['source']}: "
                              f"{manifest['parity']['reason']}; no bundle written")
        manifest["test_vectors"] = write_test_vectors(staging, plan.reference, config.featurizer_config(),
                                                      job.labels, texts.texts if texts else None, quantize, load)
        manifest["files"] = bundle_files(staging)
        write_manifest(staging, manifest)
        # the model card: after the bundle is whole (its latency is measured through the runtime), then listed
        latency = measure_latency(staging, texts.texts[0] if texts else "a short text to time the model on")
        model_files = {weights.codes, *(f.shell for f in weights.files)} if weights is not None else set()
        entry_bytes = sum(record["bytes"] for name, record in manifest["files"].items()
                          if name == artifact.entry or name.startswith(artifact.entry + "/") or name in model_files)
        card = build_card(manifest, checkpoint.training, count_parameters(model), entry_bytes, latency)
        manifest["model_card"] = write_card(staging, card)
        manifest["files"] = bundle_files(staging)
        write_manifest(staging, manifest)
    return ExportResult(format=fmt, bundle=out_dir, files=manifest["files"], seconds=seconds,
                        parity=manifest["parity"], details=artifact.details,
                        quantization=manifest.get("quantization"))


def _parity(checkpoint: Checkpoint, plan: QuantizationPlan, staging: Path, texts: ParityTexts | None,
            thresholds: Thresholds) -> dict[str, Any]:
    if texts is None:
        return skipped_parity("--no-verify", thresholds, verify=False)
    try:
        predictor = load(staging)  # the runtime's own checks (schema, checksums) run on the fresh bundle
    except PlatformUnsupportedError as exc:
        return skipped_parity(exc.reason, thresholds, verify=True)
    fp32 = checkpoint.model if plan.scheme != "none" and plan.reference is not checkpoint.model else None
    return measure_parity(plan.reference, predictor, texts, thresholds, fp32=fp32)
