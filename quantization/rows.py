"""Input validation shared by every codec: any floating weight of rank >= 2 becomes a float32 matrix.

Codecs work per output channel, so a weight of shape ``[out, d1, d2, ...]`` (a convolution kernel, say)
is coded as the matrix ``[out, d1 * d2 * ...]`` and decoded back to its original shape.
"""

from __future__ import annotations

import numpy as np

from neurolite_sdk.quantization.errors import QuantizationError


def as_rows(weight: np.ndarray, name: str) -> np.ndarray:
    """``weight`` as a C-contiguous float32 ``[out, -1]`` matrix, or a ``QuantizationError`` naming ``name``.

    Rejected, never coded: non-floating dtypes, rank 0 or 1 (norms and biases stay float by policy),
    empty tensors (nothing to code; the policy keeps them float), and NaN or Inf, counted after the
    conversion to float32 so that float64 values beyond float32's range are caught too.
    """
    array = np.asarray(weight)
    if array.dtype.kind != "f":
        raise QuantizationError(f"{name}: dtype {array.dtype} is not floating; only float weights are coded")
    if array.ndim < 2:
        raise QuantizationError(f"{name}: rank {array.ndim} tensor of shape {array.shape}; codecs take "
                                "rank >= 2 (norms and biases stay float)")
    if array.size == 0:
        raise QuantizationError(f"{name}: empty tensor of shape {array.shape}; nothing to code, keep it "
                                "float")
    with np.errstate(over="ignore"):
        rows = np.ascontiguousarray(array, dtype=np.float32).reshape(array.shape[0], -1)
    bad = rows.size - int(np.count_nonzero(np.isfinite(rows)))
    if bad:
        raise QuantizationError(f"{name}: {bad} of {rows.size} values are NaN or Inf (as float32); "
                                "fix the checkpoint before quantizing it")
    return rows


def divisor(scale: np.ndarray) -> np.ndarray:
    """``scale`` as float64 with zeros replaced by 1: a zero or constant row divides to 0, never NaN."""
    return np.where(scale > 0, scale, 1.0).astype(np.float64)


def even_sample(size: int, limit: int) -> np.ndarray:
    """At most ``limit`` flat indices spread evenly over ``range(size)``: all of them when ``size <= limit``.

    Deterministic and a function of the shape alone, so fitting a codec to a tensor and to its decoded
    copy looks at the same positions (what makes re-encoding reproduce the fitted parameters).
    """
    if size <= limit:
        return np.arange(size)
    return np.arange(limit, dtype=np.int64) * size // limit
