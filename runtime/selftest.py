"""Check an opened bundle against the end-to-end vectors it carries (``test_vectors.json``).

Every exported bundle holds a few texts with their exact features and the logits its graph gave on
the export machine (``exporters/test_vectors.py``). Running them on the machine that will serve the
bundle proves, in one call, that this featurizer build gives the same integers and this runtime build
the same numbers: the check an Android, iOS or web app runs on the device, here for Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neurolite_sdk.runtime.errors import BundleError

if TYPE_CHECKING:
    from neurolite_sdk.runtime.predictor import Predictor

TEST_VECTORS_NAME = "test_vectors.json"
TEST_VECTORS_FORMAT = "neurolite-test-vectors/1"


@dataclass
class SelfTestReport:
    """``passed`` when every case's features, mask and label match and logits are within tolerance."""

    cases: int
    max_abs_logit: float
    tolerance: float
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "cases": self.cases, "max_abs_logit": self.max_abs_logit,
                "tolerance": self.tolerance, "failures": self.failures}


def read_test_vectors(predictor: Predictor) -> dict[str, Any]:
    """The bundle's vectors document, checked for shape; ``BundleError`` names what is wrong."""
    name = predictor.bundle.manifest.get("test_vectors")
    where = f"{predictor.bundle.path}/{TEST_VECTORS_NAME}"
    if name is None:
        raise BundleError(f"{predictor.bundle.path}: the bundle carries no test vectors (exported before they "
                          f"existed); export it again")
    if name != TEST_VECTORS_NAME or name not in predictor.bundle.manifest.get("files", {}):
        raise BundleError(f"{predictor.bundle.path}: manifest test_vectors {name!r} is not a listed file")
    try:  # the bytes read_bundle verified, not the file again
        document = json.loads(predictor.bundle.read(name).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BundleError(f"{where}: unreadable ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != TEST_VECTORS_FORMAT:
        raise BundleError(f"{where}: format is not {TEST_VECTORS_FORMAT!r}")
    if document.get("featurizer_digest") != predictor.bundle.featurizer.digest():
        raise BundleError(f"{where}: featurizer_digest differs from the manifest's featurizer")
    cases = document.get("cases")
    if not isinstance(cases, list) or not cases:
        raise BundleError(f"{where}: cases: expected a non-empty list")
    for i, case in enumerate(cases):
        if not isinstance(case, dict) or not all(k in case for k in ("text", "features", "mask", "logits", "label")):
            raise BundleError(f"{where}: cases[{i}]: needs text, features, mask, logits and label")
    return document


def run_self_test(predictor: Predictor) -> SelfTestReport:
    """Featurize and run every vector case through ``predictor``; report every mismatch."""
    document = read_test_vectors(predictor)
    tolerance = float(document.get("tolerance", {}).get("max_abs_logit", 1e-4))
    cases = document["cases"]
    texts = [case["text"] for case in cases]
    failures: list[str] = []
    for i, (text, case) in enumerate(zip(texts, cases, strict=True)):
        alone = predictor.featurize([text])
        if alone.features[0].tolist() != case["features"] or alone.mask[0].tolist() != case["mask"]:
            failures.append(f"cases[{i}] {text[:40]!r}: features differ from the bundle's vectors")
    logits = predictor.logits(texts).astype(np.float64)
    expected = np.asarray([case["logits"] for case in cases], dtype=np.float64)
    if logits.shape != expected.shape:
        failures.append(f"logits: shape {logits.shape}, the vectors have {expected.shape}")
        return SelfTestReport(len(cases), float("inf"), tolerance, failures)
    deltas = np.abs(logits - expected).max(axis=1)
    for i, (delta, row, case) in enumerate(zip(deltas, logits, cases, strict=True)):
        if delta > tolerance:
            failures.append(f"cases[{i}] {case['text'][:40]!r}: max |delta logit| {delta:.3g} > {tolerance:g}")
        if predictor.labels[int(row.argmax())] != case["label"]:
            failures.append(f"cases[{i}] {case['text'][:40]!r}: label {predictor.labels[int(row.argmax())]!r}, "
                            f"expected {case['label']!r}")
    return SelfTestReport(len(cases), float(deltas.max()), tolerance, failures)
