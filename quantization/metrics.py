"""Signal-to-quantization-noise ratio, the one number the codecs are compared by."""

from __future__ import annotations

import math

import numpy as np


def sqnr_db(reference: np.ndarray, approximation: np.ndarray) -> float:
    """``10·log10(Σw² / Σ(w - ŵ)²)`` over the whole tensor, in float64.

    Exact reconstruction gives ``inf`` (also for an all-zero reference); a zero reference with a
    non-zero approximation gives ``-inf``. Shapes must match: ``ValueError`` otherwise.
    """
    w = np.asarray(reference, dtype=np.float64)
    w_hat = np.asarray(approximation, dtype=np.float64)
    if w.shape != w_hat.shape:
        raise ValueError(f"shape mismatch: reference {w.shape} vs approximation {w_hat.shape}")
    noise = float(np.sum((w - w_hat) ** 2))
    if noise == 0.0:
        return math.inf
    signal = float(np.sum(w**2))
    return 10.0 * math.log10(signal / noise) if signal > 0.0 else -math.inf
