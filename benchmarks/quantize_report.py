"""``neurolite quantize-report``: every format x scheme exported, then measured through the runtime.

One row per (format, scheme): file size and its ratio to the *same format's* fp32 file, accuracy on a
labelled eval set and top-1 agreement with the fp32 PyTorch model (both through the runtime that serves
the file), mean weight SQNR over the coded tensors beside the per-channel int8 reference on the same
tensors, bundle load time, and batch-1 latency (median over single texts, after warm-up, at a stated
thread count; the featurizer is timed apart, since every format shares it).

Rows that cannot be measured here say why instead of showing a number: a scheme the format cannot
hold (``unsupported: ...``), a file whose runtime needs another platform (Core ML off macOS:
``skipped: needs macOS``; its size is still measured), or an export that failed (``failed: ...``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurolite_sdk.errors import NeuroLiteError
from neurolite_sdk.exporters.base import get_exporter
from neurolite_sdk.exporters.parity import ParityTexts
from neurolite_sdk.exporters.pipeline import ExportResult, export_bundle
from neurolite_sdk.exporters.quantize import QUANTIZE_CHOICES
from neurolite_sdk.quantization import QuantPolicy
from neurolite_sdk.runtime import load
from neurolite_sdk.runtime.backends import backend_class
from neurolite_sdk.runtime.errors import PlatformUnsupportedError
from neurolite_sdk.runtime.predictor import Predictor
from neurolite_sdk.training.checkpoint import Checkpoint

WARMUP = 5


@dataclass
class EvalSet:
    """Labelled texts the report scores every file on; ``labels`` index the checkpoint's label list."""

    texts: list[str]
    labels: np.ndarray
    source: str


@dataclass
class ReportRow:
    """One format and scheme. ``status``: ``ok``, ``skipped`` (file written, not runnable here),
    ``unsupported`` or ``failed``; ``reason`` says why for all but ``ok``."""

    format: str
    scheme: str
    status: str
    reason: str | None = None
    bytes: int | None = None
    ratio_to_fp32: float | None = None
    accuracy: float | None = None
    fp32_top1_agreement: float | None = None
    sqnr_db: float | None = None
    int8_sqnr_db: float | None = None
    load_ms: float | None = None
    latency_ms: float | None = None
    parity: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quantize_report(checkpoint: Checkpoint, formats: Sequence[str], schemes: Sequence[str], out_dir: Path,
                    eval_set: EvalSet, parity: ParityTexts, *, threads: int, runs: int,
                    policy: QuantPolicy | None = None,
                    progress: Callable[[str], None] = lambda message: None,
                    overwrite: bool = False) -> list[ReportRow]:
    """Export ``checkpoint`` to each format under each scheme into ``out_dir/<format>-<scheme>`` and measure
    each bundle; returns one row per pair, in that order. fp32 (``"none"``) is always measured first and
    kept as a row, whether asked for or not: it is the baseline of the ratio and of the summary.
    An existing bundle there is replaced only with ``overwrite`` (``export_bundle``)."""
    unknown = [s for s in schemes if s not in QUANTIZE_CHOICES]
    if unknown:
        raise NeuroLiteError(f"schemes: {', '.join(unknown)} unknown (choices: {', '.join(QUANTIZE_CHOICES)})")
    reference = _fp32_predictions(checkpoint, eval_set.texts)
    ordered = ["none", *[s for s in schemes if s != "none"]]
    rows = []
    for fmt in formats:
        exporter = get_exporter(fmt)
        fp32_bytes: int | None = None
        for scheme in ordered:
            if scheme not in exporter.quantizations:
                row = ReportRow(fmt, scheme, "unsupported",
                                f"{fmt} cannot hold --quantize {scheme} (it exports "
                                f"{', '.join(exporter.quantizations)})")
            else:
                progress(f"{fmt} {scheme}: exporting ...")
                row = _measure(checkpoint, fmt, scheme, out_dir / f"{fmt}-{scheme}", eval_set, parity, reference,
                               threads, runs, policy, overwrite)
            if scheme == "none":
                fp32_bytes = row.bytes
            if row.bytes is not None and fp32_bytes:
                row.ratio_to_fp32 = row.bytes / fp32_bytes
            rows.append(row)
    return rows


def _measure(checkpoint: Checkpoint, fmt: str, scheme: str, bundle: Path, eval_set: EvalSet, parity: ParityTexts,
             reference: np.ndarray, threads: int, runs: int, policy: QuantPolicy | None,
             overwrite: bool) -> ReportRow:
    try:
        result = export_bundle(checkpoint, fmt, bundle, texts=parity, quantize=scheme, policy=policy,
                               overwrite=overwrite)
    except NeuroLiteError as exc:
        return ReportRow(fmt, scheme, "failed", str(exc))
    row = ReportRow(fmt, scheme, "ok", bytes=result.total_bytes, parity=_parity_cell(result))
    if result.quantization is not None:
        row.sqnr_db = result.quantization["mean_sqnr_db"]
        row.int8_sqnr_db = result.quantization["mean_int8_sqnr_db"]
    try:
        backend_class(fmt).import_runtime()  # the runtime's first import is not the bundle's load time
    except NeuroLiteError:
        pass  # load() below raises the same error, where it is handled
    started = time.perf_counter()
    try:
        predictor = load(bundle, threads=threads)
    except PlatformUnsupportedError as exc:
        row.status, row.reason = "skipped", exc.reason
        return row
    row.load_ms = (time.perf_counter() - started) * 1e3
    predicted = _runtime_logits(predictor, eval_set.texts).argmax(axis=1)
    row.accuracy = float((predicted == eval_set.labels).mean())
    row.fp32_top1_agreement = float((predicted == reference).mean())
    row.latency_ms = _latency_ms(predictor, eval_set.texts, runs)
    return row


def _parity_cell(result: ExportResult) -> str:
    parity = result.parity
    return parity["status"] if parity["status"] != "skipped" else f"skipped: {parity['reason']}"


def _fp32_predictions(checkpoint: Checkpoint, texts: list[str]) -> np.ndarray:
    model = checkpoint.model.eval()
    batch = model.featurizer(texts)
    with torch.no_grad():
        logits = model(torch.from_numpy(batch.features), torch.from_numpy(batch.mask))["logits"]
    return logits.numpy().argmax(axis=1)


def _runtime_logits(predictor: Predictor, texts: list[str], chunk: int = 256) -> np.ndarray:
    """Logits of every text through the runtime, in chunks (the planner splits each into signatures)."""
    return np.concatenate([predictor.logits(texts[i:i + chunk]) for i in range(0, len(texts), chunk)])


def _latency_ms(predictor: Predictor, texts: list[str], runs: int) -> float:
    """Median milliseconds of one batch-1 call of the graph over the first ``runs`` texts (cycled when
    fewer), featurized beforehand; ``WARMUP`` calls first."""
    inputs = []
    for i in range(runs):
        batch = predictor.featurize([texts[i % len(texts)]])
        inputs.append({"features": batch.features, "mask": batch.mask})
    for item in inputs[:WARMUP]:
        predictor.run(item)
    times = []
    for item in inputs:
        started = time.perf_counter()
        predictor.run(item)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def summary(rows: list[ReportRow]) -> dict[str, Any]:
    """What the issue's targets ask, per format: orbital8 vs fp32 in size, accuracy and agreement."""
    by_key = {(row.format, row.scheme): row for row in rows}
    findings: dict[str, Any] = {}
    for (fmt, scheme), row in by_key.items():
        fp32 = by_key.get((fmt, "none"))
        if scheme == "none" or row.accuracy is None or fp32 is None or fp32.accuracy is None:
            continue
        findings[f"{fmt}/{scheme}"] = {"accuracy_delta_points": round((row.accuracy - fp32.accuracy) * 100, 3),
                                       "ratio_to_fp32": row.ratio_to_fp32,
                                       "fp32_top1_agreement": row.fp32_top1_agreement}
    return findings
