"""Orbital 8-bit: the project's weight codec, 8 bits a weight, decoded by table gathers and a multiply-add.

``"orbital8"`` (see :mod:`~neurolite_sdk.quantization.arc`), in the container :class:`OrbitalTensor`,
coded by :class:`OrbitalCodec`: one code per weight into a per-tensor 256-entry orbit arc table, times a
per-output-channel scale, plus a per-channel offset when the fit prefers it. Maps onto Core ML
palettization (one table per tensor) and a per-channel shift-scale, and onto ``Gather`` + ``Mul``
(+ ``Add``) anywhere else. (A pair coding, ``"orbital8-polar"``, was measured beside it and removed:
its 256 angles capped it near 43 dB and it lost on every trained layer; docs/orbital8.md.)

The byte layout and the decode formulas a Kotlin, Swift or C port implements are in ``docs/orbital8.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from neurolite_sdk.quantization.arc import decode_arc, encode_arc
from neurolite_sdk.quantization.errors import QuantizationError
from neurolite_sdk.quantization.orbit import TABLE_SIZE, arc_table
from neurolite_sdk.quantization.rows import as_rows

OrbitalScheme = Literal["orbital8"]
ORBITAL_SCHEMES: tuple[str, ...] = get_args(OrbitalScheme)

ARC_PERIODS: tuple[int, ...] = (512, 724, 1024, 1448, 2048, 2896, 4096, 5792, 8192, 11584, 16384)
"""Orbit periods tried by ``"orbital8"``: ``512·√2^j`` rounded to a multiple of 4; longer is flatter."""

ARC_SIGMAS: tuple[float, ...] = (0.0, 0.1464, 0.25, 0.3232, 0.375, 0.4116, 0.4375, 0.4558, 0.4688, 0.4779,
                                 0.4844, 0.489, 0.4922)
"""σ tried by ``"orbital8"``: ``(1 - 2^(-j/2)) / 2``, so the table's slope at 0, ``1 - 2σ``, halves every
two steps. Negative σ (entries packed towards ±max) never won on any weights measured."""

DEFAULT_SAMPLE_SIZE = 1 << 16
"""Weights a fit looks at, evenly spread over the tensor; coding itself always covers every weight."""


@dataclass(frozen=True, eq=False)
class OrbitalTensor:
    """One coded weight: what a decoder needs (``codes``, ``scale``, ``tables``, ``shape``) and provenance.

    * ``scheme``: ``"orbital8"``.
    * ``codes``: uint8 ``[out, n]``, ``n`` the product of ``shape[1:]``.
    * ``scale``: float32 ``[out]``, one per output channel (``shape[0]``); 0 for an all-zero row.
    * ``offset``: float32 ``[out]`` added after the scale (midrange framing), else None.
    * ``tables``: float32 ``[1, 256]`` (``T``).
    * ``shape``: the original weight's shape; rank > 2 weights were coded as ``[shape[0], -1]``.
    * ``sigma``, ``period``: the orbit the tables were built from, ``θ(n) = 2πn/Z + σ·sin(4πn/Z)``.
    """

    scheme: OrbitalScheme
    codes: np.ndarray
    scale: np.ndarray
    offset: np.ndarray | None
    tables: np.ndarray
    shape: tuple[int, ...]
    sigma: float
    period: int

    def __post_init__(self) -> None:
        self.validate()

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays a decoder reads: codes, scales, offsets and tables."""
        extra = 0 if self.offset is None else self.offset.nbytes
        return self.codes.nbytes + self.scale.nbytes + self.tables.nbytes + extra

    def validate(self) -> None:
        """``QuantizationError`` unless every array has the dtype and shape ``docs/orbital8.md`` states."""
        if self.scheme not in ORBITAL_SCHEMES:
            raise QuantizationError(f"scheme: unknown scheme {self.scheme!r}; expected {ORBITAL_SCHEMES}")
        if len(self.shape) < 2 or min(self.shape) < 1:
            raise QuantizationError(f"shape: {self.shape} is not a non-empty shape of rank >= 2")
        columns = math.prod(self.shape[1:])
        expected = {
            "codes": (np.uint8, (self.shape[0], columns)),
            "scale": (np.float32, (self.shape[0],)),
            "tables": (np.float32, (1, TABLE_SIZE)),
        }
        if self.offset is not None:
            expected["offset"] = (np.float32, (self.shape[0],))
        for field, (dtype, shape) in expected.items():
            array = getattr(self, field)
            if not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape:
                got = (f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray)
                       else type(array).__name__)
                raise QuantizationError(f"{field}: expected {np.dtype(dtype)} {shape} for {self.scheme} "
                                        f"of shape {self.shape}, got {got}")


class OrbitalCodec:
    """Encode weights with ``"orbital8"``, fitting the orbit's parameters per tensor.

    The candidate grids are arguments so that a fixed orbit is a grid of one (e.g. ``periods=(512,),
    sigmas=(0.0,)`` is the plain half-circle ``cos`` codebook). ``allow_offset=False`` keeps every
    tensor in the symmetric framing: 0 stays exact and decoding needs no add.

    Contract, for any finite floating weight of rank >= 2: ``decode(encode(w))`` has ``w``'s shape, is
    float32, and re-encoding it gives the same codes, tables, orbit and framing (with no offset also the
    same scale, so that decoding is a fixed point).
    """

    def __init__(self, scheme: OrbitalScheme = "orbital8", *, periods: tuple[int, ...] = ARC_PERIODS,
                 sigmas: tuple[float, ...] | None = None, allow_offset: bool = True,
                 sample_size: int = DEFAULT_SAMPLE_SIZE) -> None:
        if scheme not in ORBITAL_SCHEMES:
            raise ValueError(f"scheme: expected one of {ORBITAL_SCHEMES}, got {scheme!r}")
        if sample_size < 1:
            raise ValueError(f"sample_size: must be >= 1, got {sample_size}")
        self.scheme: OrbitalScheme = scheme
        self.sample_size = sample_size
        self.allow_offset = allow_offset
        self.sigmas = tuple(ARC_SIGMAS if sigmas is None else sigmas)
        self._arcs = [(period, sigma) for period in periods for sigma in self.sigmas]
        if not self._arcs:
            raise ValueError("periods, sigmas: the candidate grid is empty")
        self._arc_tables = np.stack([arc_table(period, sigma) for period, sigma in self._arcs])

    def encode(self, weight: np.ndarray, name: str = "weight") -> OrbitalTensor:
        """Code a finite floating ``weight`` of rank >= 2; ``QuantizationError`` naming ``name`` otherwise."""
        rows = as_rows(weight, name)
        shape = tuple(int(d) for d in np.shape(weight))
        codes, scale, offset, pick = encode_arc(rows, self._arc_tables, self.sample_size, self.allow_offset)
        period, sigma = self._arcs[pick]
        return OrbitalTensor("orbital8", codes, scale, offset, self._arc_tables[pick][None].copy(), shape,
                             float(sigma), int(period))

    def decode(self, tensor: OrbitalTensor) -> np.ndarray:
        """The float32 weight of ``tensor.shape``."""
        return decode_arc(tensor.codes, tensor.scale, tensor.offset, tensor.tables[0]).reshape(tensor.shape)
