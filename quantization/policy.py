"""Which tensors of a state dict are coded, and coding a whole state dict with a per-layer report."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from neurolite_sdk.quantization.int8 import Int8Codec, Int8Tensor
from neurolite_sdk.quantization.metrics import sqnr_db
from neurolite_sdk.quantization.orbital import OrbitalCodec, OrbitalTensor

Scheme = Literal["orbital8", "int8"]
SCHEMES: tuple[str, ...] = get_args(Scheme)

CodedTensor = OrbitalTensor | Int8Tensor
EncodedState = dict[str, CodedTensor | np.ndarray]


@dataclass(frozen=True)
class QuantPolicy:
    """The rule: a tensor is coded iff it is floating, of rank >= 2, has at least ``min_elements``
    elements and its name matches none of the ``keep_float`` glob patterns (``fnmatch``, case-sensitive);
    everything else stays as it is, bit for bit.

    Why: rank-1 tensors are norms' gains and biases, a rounding error in them shifts every activation
    and they weigh nothing. ``min_elements = 4096`` (64 x 64) because a coded tensor carries a fixed
    1 KiB table plus 4-8 bytes a row: at 4,096 elements the file is still about a
    third of fp32, at 1,024 it would be over half, and tensors that small add up to a negligible share
    of a 1M-9M model while often being the sensitive ones (gates, the classifier's last layer).
    Empty tensors fall under the size rule, so they stay float (the codecs reject them). Integer
    tensors (indices, counters) are never weights. ``keep_float`` is for what the rule cannot see,
    e.g. ``("head.*",)`` to keep a classifier head in float.
    """

    min_elements: int = 4096
    keep_float: tuple[str, ...] = ()

    def keep_reason(self, name: str, array: np.ndarray) -> str | None:
        """Why ``array`` stays float under this policy, or None when it is to be coded."""
        if array.dtype.kind != "f":
            return f"dtype {array.dtype} is not floating"
        if array.ndim < 2:
            return f"rank {array.ndim} (norm, bias or scalar)"
        if array.size < self.min_elements:
            return f"{array.size} elements < {self.min_elements}"
        pattern = next((p for p in self.keep_float if fnmatch.fnmatchcase(name, p)), None)
        return None if pattern is None else f"name matches keep_float pattern {pattern!r}"


@dataclass(frozen=True)
class LayerReport:
    """One row of the report: what happened to one tensor. ``scheme`` is ``"float"`` for a kept tensor,
    with ``reason`` saying why; ``sqnr_db`` is then ``inf``. ``int8_sqnr_db`` is the per-channel symmetric
    int8 reference on the same tensor (None when kept float); ``sigma``/``period`` the fitted orbit
    (None for int8). ``bytes_fp32`` counts 4 bytes an element; ``bytes_coded`` what is stored."""

    name: str
    shape: tuple[int, ...]
    scheme: str
    sqnr_db: float
    int8_sqnr_db: float | None
    sigma: float | None
    period: int | None
    bytes_fp32: int
    bytes_coded: int
    reason: str = ""


def codec_for(scheme: str) -> OrbitalCodec | Int8Codec:
    """The codec of a scheme name in ``SCHEMES``, with its default (fitted) settings."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {SCHEMES}, got {scheme!r}")
    return Int8Codec(scheme) if scheme.startswith("int8") else OrbitalCodec(scheme)


def dequantize(tensor: CodedTensor | np.ndarray) -> np.ndarray:
    """The float32 weight of a coded tensor (any scheme); a kept-float array is returned unchanged."""
    if isinstance(tensor, np.ndarray):
        return tensor
    return codec_for(tensor.scheme).decode(tensor)


def quantize_state_dict(state: Mapping[str, np.ndarray], scheme: Scheme = "orbital8",
                        policy: QuantPolicy | None = None) -> tuple[EncodedState, list[LayerReport]]:
    """Code every tensor ``policy`` selects with ``scheme``; keep the rest. Returns ``(encoded, report)``.

    ``encoded`` has the same names in the same order: a coded tensor for the selected ones, the
    original array otherwise, so that it is a complete checkpoint. ``report`` has one row per tensor.
    A selected tensor with NaN or Inf raises ``QuantizationError`` naming it.
    """
    policy = policy or QuantPolicy()
    codec, reference = codec_for(scheme), Int8Codec("int8")
    encoded: EncodedState = {}
    report: list[LayerReport] = []
    for name, value in state.items():
        array = np.asarray(value)
        shape = tuple(int(d) for d in array.shape)
        reason = policy.keep_reason(name, array)
        if reason is not None:
            encoded[name] = array
            report.append(LayerReport(name, shape, "float", math.inf, None, None, None, 4 * array.size,
                                      array.nbytes, reason))
            continue
        coded = codec.encode(array, name)
        encoded[name] = coded
        quality = sqnr_db(array, codec.decode(coded))
        if scheme != "int8":
            quality_int8 = sqnr_db(array, reference.decode(reference.encode(array, name)))
        else:
            quality_int8 = quality
        sigma, period = (coded.sigma, coded.period) if isinstance(coded, OrbitalTensor) else (None, None)
        report.append(LayerReport(name, shape, scheme, quality, quality_int8, sigma, period, 4 * array.size,
                                  coded.nbytes))
    return encoded, report


def dequantize_state_dict(encoded: Mapping[str, CodedTensor | np.ndarray]) -> dict[str, np.ndarray]:
    """Every tensor of ``encoded`` as an array: decoded float32 for coded ones, kept ones unchanged."""
    return {name: dequantize(tensor) for name, tensor in encoded.items()}
