"""The reference orbital8 is measured against: per-output-channel symmetric int8, ``"int8"``.

``scale[c] = max|w[c]| / 127``, ``code = clip(round(w / scale), -127, 127)``, ``ŵ = code · scale``: the plain
recipe every runtime has a kernel for, and the per-tensor ``int8_sqnr_db`` every quantization report shows.
(An affine variant, ``"int8-affine"``, was measured beside it and removed: nothing exports it.)

Rounding is numpy's half-to-even; an all-zero row gets scale 0 and codes 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from neurolite_sdk.quantization.errors import QuantizationError
from neurolite_sdk.quantization.rows import as_rows, divisor

Int8Scheme = Literal["int8"]
INT8_SCHEMES: tuple[str, ...] = get_args(Int8Scheme)


@dataclass(frozen=True, eq=False)
class Int8Tensor:
    """int8 ``codes [out, n]``, float32 ``scale [out]``, shape."""

    scheme: Int8Scheme
    codes: np.ndarray
    scale: np.ndarray
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

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays a decoder reads: codes and scales."""
        return self.codes.nbytes + self.scale.nbytes


class Int8Codec:
    """Per-output-channel symmetric ``"int8"``, with OrbitalCodec's interface."""

    def __init__(self, scheme: Int8Scheme = "int8") -> None:
        if scheme not in INT8_SCHEMES:
            raise ValueError(f"scheme: expected one of {INT8_SCHEMES}, got {scheme!r}")
        self.scheme: Int8Scheme = scheme

    def encode(self, weight: np.ndarray, name: str = "weight") -> Int8Tensor:
        """Code a finite floating ``weight`` of rank >= 2; ``QuantizationError`` naming ``name`` otherwise."""
        rows = as_rows(weight, name)
        shape = tuple(int(d) for d in np.shape(weight))
        scale = (np.abs(rows).max(axis=1) / np.float32(127)).astype(np.float32)
        codes = np.clip(np.round(rows / divisor(scale)[:, None]), -127, 127).astype(np.int8)
        return Int8Tensor("int8", codes, scale, shape)

    def decode(self, tensor: Int8Tensor) -> np.ndarray:
        """The float32 weight of ``tensor.shape``: ``code · scale`` per row."""
        return (tensor.codes.astype(np.float32) * tensor.scale[:, None]).reshape(tensor.shape)

