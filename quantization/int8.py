"""The references orbital8 is measured against: per-output-channel int8, symmetric and affine.

* ``"int8"`` (symmetric): ``scale[c] = max|w[c]| / 127``, ``code = clip(round(w / scale), -127, 127)``,
  ``ŵ = code · scale``. The plain recipe every runtime has a kernel for.
* ``"int8-affine"``: ``[lo, hi] = [min(min w[c], 0), max(max w[c], 0)]`` (the range always holds 0, so
  0 stays exact), ``scale = (hi - lo) / 255``, ``zero_point = clip(round(-128 - lo / scale), -128, 127)``,
  ``code = clip(round(w / scale) + zero_point, -128, 127)``, ``ŵ = (code - zero_point) · scale``.

Rounding is numpy's half-to-even; an all-zero row gets scale 0 and codes 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from neurolite_sdk.quantization.errors import QuantizationError
from neurolite_sdk.quantization.rows import as_rows, divisor

Int8Scheme = Literal["int8", "int8-affine"]
INT8_SCHEMES: tuple[str, ...] = get_args(Int8Scheme)


@dataclass(frozen=True, eq=False)
class Int8Tensor:
    """int8 ``codes [out, n]``, float32 ``scale [out]``, int8 ``zero_point [out]`` (affine only), shape."""

    scheme: Int8Scheme
    codes: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray | None
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.scheme not in INT8_SCHEMES:
            raise QuantizationError(f"scheme: unknown int8 scheme {self.scheme!r}; expected {INT8_SCHEMES}")
        if len(self.shape) < 2 or min(self.shape) < 1:
            raise QuantizationError(f"shape: {self.shape} is not a non-empty shape of rank >= 2")
        rows = (self.shape[0], math.prod(self.shape[1:]))
        if self.codes.dtype != np.int8 or self.codes.shape != rows:
            raise QuantizationError(f"codes: expected int8 {rows}, got {self.codes.dtype} {self.codes.shape}")
        if self.scale.dtype != np.float32 or self.scale.shape != rows[:1]:
            raise QuantizationError(f"scale: expected float32 {rows[:1]}, "
                                    f"got {self.scale.dtype} {self.scale.shape}")
        affine = self.scheme == "int8-affine"
        if affine != (self.zero_point is not None) or (
                affine and (self.zero_point.dtype != np.int8 or self.zero_point.shape != rows[:1])):
            raise QuantizationError(f"zero_point: expected int8 {rows[:1]} for int8-affine and None for int8")

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays a decoder reads: codes, scales and zero points."""
        extra = 0 if self.zero_point is None else self.zero_point.nbytes
        return self.codes.nbytes + self.scale.nbytes + extra


class Int8Codec:
    """Per-output-channel ``"int8"`` (symmetric) or ``"int8-affine"``, with OrbitalCodec's interface."""

    def __init__(self, scheme: Int8Scheme = "int8") -> None:
        if scheme not in INT8_SCHEMES:
            raise ValueError(f"scheme: expected one of {INT8_SCHEMES}, got {scheme!r}")
        self.scheme: Int8Scheme = scheme

    def encode(self, weight: np.ndarray, name: str = "weight") -> Int8Tensor:
        """Code a finite floating ``weight`` of rank >= 2; ``QuantizationError`` naming ``name`` otherwise."""
        rows = as_rows(weight, name)
        shape = tuple(int(d) for d in np.shape(weight))
        if self.scheme == "int8":
            scale = (np.abs(rows).max(axis=1) / np.float32(127)).astype(np.float32)
            codes = np.clip(np.round(rows / divisor(scale)[:, None]), -127, 127).astype(np.int8)
            return Int8Tensor("int8", codes, scale, None, shape)
        low = np.minimum(rows.min(axis=1), 0).astype(np.float64)
        high = np.maximum(rows.max(axis=1), 0).astype(np.float64)
        scale = ((high - low) / 255).astype(np.float32)
        zero_point = np.clip(np.round(-128 - low / divisor(scale)), -128, 127)
        codes = np.clip(np.round(rows / divisor(scale)[:, None]) + zero_point[:, None], -128, 127)
        return Int8Tensor("int8-affine", codes.astype(np.int8), scale, zero_point.astype(np.int8), shape)

    def decode(self, tensor: Int8Tensor) -> np.ndarray:
        """The float32 weight of ``tensor.shape``: ``(code - zero_point) · scale`` per row."""
        codes = tensor.codes.astype(np.float32)
        if tensor.zero_point is not None:
            codes -= tensor.zero_point.astype(np.float32)[:, None]
        return (codes * tensor.scale[:, None]).reshape(tensor.shape)

