"""Export a multimodal classifier (issue 18) through the registered exporters, with parity on real items.

The format code is the text models' own: ``exporters/graph.py`` gives a multimodal model's graph its
extra inputs (``presence`` and the modality tensors, batch axis only), and each exporter converts that
graph as it converts any classifier. What differs from ``pipeline.export_bundle`` is the evidence: a
multimodal checkpoint's parity data are items with images, audio and video, not texts, so this module
stages the bundle, writes the manifest, loads it with the runtime and compares, for every signature, the
runtime's logits with the PyTorch model's on those items (``measure_multimodal_parity``), under the same
bar as the classifiers (``parity.THRESHOLDS``: fp32, max |delta logit| <= 1e-4, top-1 agreement 100%).
The bundle appears at ``out_dir`` only once that has passed. Core ML cannot run on Linux: its parity is
"skipped: needs macOS", never a pass. Not here yet: quantized multimodal exports, in-bundle test
vectors and the model card (both are built from texts).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurolite_sdk.atomic import BUNDLE, atomic_directory, check_output_dir
from neurolite_sdk.exporters.base import ExportError, ExportJob, get_exporter
from neurolite_sdk.exporters.parity import ParityError, Thresholds, skipped_parity, thresholds_for
from neurolite_sdk.exporters.writer import build_manifest, embedded_metadata, write_manifest
from neurolite_sdk.modeling.model import NeuroLiteForClassification
from neurolite_sdk.multimodal_inputs import graph_inputs
from neurolite_sdk.runtime import load
from neurolite_sdk.runtime.bundle import bundle_files
from neurolite_sdk.runtime.errors import PlatformUnsupportedError
from neurolite_sdk.runtime.native_output import native_output_captured
from neurolite_sdk.runtime.predictor import LOGITS, Predictor

MIN_PARITY_ITEMS = 64


def export_multimodal_bundle(model: NeuroLiteForClassification, labels: list[str], fmt: str, out_dir: str | Path,
                             parity_items: Mapping[str, Any], *, overwrite: bool = False) -> dict[str, Any]:
    """Export ``model`` to ``fmt`` as the bundle ``out_dir``; ``parity_items`` are ``multimodal_inputs``
    (at least 64 items). Returns the manifest; raises ``ParityError`` (nothing written) on a miss."""
    if model.neurolite.multimodal is None:
        raise ExportError("export_multimodal_bundle: the model takes text only; use export_bundle")
    exporter = get_exporter(fmt)
    check_output_dir(out_dir, BUNDLE, overwrite=overwrite)
    thresholds = thresholds_for("fp32")
    exporter.check_installed()
    model = model.eval()
    config = model.config
    arrays, _ = graph_inputs(model.neurolite.multimodal.spec, model.featurizer, parity_items)
    if len(arrays["presence"]) < MIN_PARITY_ITEMS:
        raise ExportError(f"parity_items: {len(arrays['presence'])} items, parity needs at least {MIN_PARITY_ITEMS}")
    job = ExportJob(model=model, labels=list(labels), metadata=embedded_metadata(config, list(labels)))
    with atomic_directory(Path(out_dir), BUNDLE, overwrite=overwrite) as staging, native_output_captured():
        started = time.perf_counter()
        artifact = exporter.export(job, staging)
        seconds = time.perf_counter() - started
        info = {"checkpoint": None, "precision": "fp32", "quantize": "none", "seconds": round(seconds, 3),
                "verify": True}
        manifest = build_manifest(exporter, artifact, staging, config, job.labels, info,
                                  skipped_parity("export in progress", thresholds, True))
        write_manifest(staging, manifest)
        try:
            predictor = load(staging)
        except PlatformUnsupportedError as exc:
            manifest["parity"] = skipped_parity(exc.reason, thresholds, True)
        else:
            manifest["parity"] = measure_multimodal_parity(model, predictor, arrays, thresholds)
        manifest["files"] = bundle_files(staging)
        write_manifest(staging, manifest)
        if manifest["parity"]["status"] == "failed":
            raise ParityError(f"{fmt}: multimodal parity failed: {manifest['parity']['reason']}; no bundle written")
    return manifest


def measure_multimodal_parity(model: NeuroLiteForClassification, predictor: Predictor,
                              arrays: dict[str, np.ndarray], thresholds: Thresholds) -> dict[str, Any]:
    """Every signature's logits (padded and split by the planner, as in production) against PyTorch's."""
    with torch.no_grad():
        tensors = {name: torch.from_numpy(value) for name, value in arrays.items()}
        features, mask = tensors.pop("features"), tensors.pop("mask")
        expected = model(features, mask, modalities=tensors)["logits"].numpy().astype(np.float64)
    per_signature = {}
    for signature in predictor.bundle.signatures:
        length = min(signature.length.max or arrays["mask"].shape[1], arrays["mask"].shape[1])
        feed = {**arrays, "features": arrays["features"][:, :length], "mask": arrays["mask"][:, :length]}
        if length < arrays["mask"].shape[1]:  # a shorter signature: the reference on the same cut
            with torch.no_grad():
                cut = model(torch.from_numpy(feed["features"]), torch.from_numpy(feed["mask"]),
                            modalities=tensors)["logits"].numpy().astype(np.float64)
        else:
            cut = expected
        actual = predictor.run(feed, signature=signature.name)[LOGITS]
        per_signature[signature.name] = {
            "max_abs_logit": float(np.abs(actual - cut).max()),
            "top1_agreement": float((actual.argmax(axis=1) == cut.argmax(axis=1)).mean()), "max_length": length}
    worst = max(s["max_abs_logit"] for s in per_signature.values())
    agreement = min(s["top1_agreement"] for s in per_signature.values())
    misses = []
    if thresholds.max_abs_logit is not None and worst > thresholds.max_abs_logit:
        misses.append(f"max |delta logit| {worst:.3g} (bar {thresholds.max_abs_logit:g})")
    if agreement < thresholds.top1_agreement:
        misses.append(f"top-1 agreement {agreement:.2%} (bar {thresholds.top1_agreement:.0%})")
    return {"verify": True, "texts": len(arrays["presence"]), "source": "multimodal items",
            "thresholds": thresholds.to_dict(), "status": "failed" if misses else "passed",
            "reason": "; ".join(misses) or None, "max_abs_logit": worst, "top1_agreement": agreement,
            "fp32_top1_agreement": None, "signatures": per_signature}
