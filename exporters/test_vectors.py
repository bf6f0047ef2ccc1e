"""End-to-end test vectors that travel inside every bundle: text -> features -> logits.

An app that embeds a bundle (Android, iOS, the web demo) has its own featurizer binding and its own
runtime build; these vectors let it test itself on the device: featurize each text, compare the
features exactly, run the graph, compare the logits within the tolerance and the label. The runtime
checks a bundle against them with ``neurolite_sdk.runtime.selftest.run_self_test``. Layout:
``docs/bundle.md`` ("test_vectors.json").

The texts are a few of the parity texts (real eval data) plus fixed ones that exercise the
featurizer's edges (empty, accents, CJK, RTL, emoji, a character added after Unicode 14.0, case
folding specials, a text long enough to be truncated). The logits come from the exported file run by
its own runtime on the export machine (parity has just compared them with PyTorch); for a format
that cannot run here (Core ML on Linux) they are PyTorch's, and the file says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurolite_sdk.atomic import atomic_write_text
from neurolite_sdk.featurizer import BloomFeaturizer, FeaturizerConfig
from neurolite_sdk.runtime.errors import PlatformUnsupportedError
from neurolite_sdk.runtime.selftest import TEST_VECTORS_FORMAT, TEST_VECTORS_NAME

EDGE_TEXTS = [
    "",
    "   \t ",
    "Crème brûlée à Paris, naïve café 🇫🇷",
    "東京で寿司を食べた。とても美味しかった！",
    "مرحبا بالعالم، هذا رائع",
    "I \U0001FA77 this (U+1FA77 is unassigned in Unicode 14.0)",
    "ﬁne STRASSE Straße İstanbul ΣΊΣΥΦΟΣ",
    "👨‍👩‍👧 family 👍🏽 thumbs up 1️⃣",
    " ".join(["a long review that goes on"] * 30),
]
PARITY_TEXTS_USED = 8
# Quantized graphs run integer kernels whose rounding differs across CPUs more than float ones do.
TOLERANCE = {"none": 1e-4, "orbital8": 1e-4, "int8": 5e-2, "palette8": 5e-2}


def write_test_vectors(bundle_dir: Path, model: torch.nn.Module, featurizer_config: FeaturizerConfig,
                       labels: list[str], parity_texts: list[str] | None, quantize: str,
                       load_bundle: Any) -> str:
    """Write ``test_vectors.json`` into the staged bundle (whose manifest must already exist, so the
    runtime can open it) and return its name for the manifest's ``test_vectors`` key."""
    texts = list(parity_texts or [])[:PARITY_TEXTS_USED] + EDGE_TEXTS
    featurizer = BloomFeaturizer(featurizer_config)
    try:
        logits = load_bundle(bundle_dir).logits(texts)
        source = "the exported file, run by its runtime on the export machine"
    except PlatformUnsupportedError as exc:
        batch = featurizer(texts)
        with torch.no_grad():
            logits = model(features=torch.from_numpy(batch.features),
                           mask=torch.from_numpy(batch.mask))["logits"].numpy()
        source = f"the PyTorch model (the exported file cannot run here: {exc.reason})"
    cases = []
    for text, row in zip(texts, np.asarray(logits, dtype=np.float64), strict=True):
        alone = featurizer([text])
        cases.append({"text": text, "features": alone.features[0].tolist(), "mask": alone.mask[0].tolist(),
                      "length": int(alone.lengths[0]), "truncated": bool(alone.truncated[0]),
                      "logits": [float(v) for v in row], "label": labels[int(row.argmax())]})
    document = {"format": TEST_VECTORS_FORMAT, "featurizer_digest": featurizer_config.digest(),
                "logits_source": source, "tolerance": {"max_abs_logit": TOLERANCE.get(quantize, 1e-4)},
                "conventions": "each text featurized alone (B = 1, L = max(1, length)); logits of the graph on "
                               "those features; a device passes when features and mask are equal, every "
                               "|logit - expected| <= tolerance.max_abs_logit and the label is the same",
                "cases": cases}
    atomic_write_text(bundle_dir / TEST_VECTORS_NAME, json.dumps(document, ensure_ascii=False, allow_nan=False)
                      + "\n")
    return TEST_VECTORS_NAME
