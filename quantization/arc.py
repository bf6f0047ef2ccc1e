"""``orbital8``: every weight is one 8-bit index into a per-tensor orbit arc table, times a row scale.

``w[c, j] = T[code[c, j]] · scale[c] (+ offset[c])`` where ``T`` is the ``arc_table(Z, σ)`` candidate with
the least squared error over the tensor: the fit adapts the grid to the weights' distribution (denser
around 0 for heavy tails, near uniform for flat ones). Each row is framed one of two ways, chosen per
tensor by the same error: *symmetric*, ``scale = max|w|`` and no offset (0 and ±max exact), or
*midrange*, ``offset = (max + min) / 2`` and ``scale = (max - min) / 2``, which spends the 256 entries on
the row's actual range when it is lopsided. Decoding is one gather from a 256-entry table, one multiply
and possibly one add per output channel: Core ML palettization plus a per-channel shift-scale, ONNX
``Gather`` + ``Mul`` (+ ``Add``), an ExecuTorch graph.
"""

from __future__ import annotations

import numpy as np

from neurolite_sdk.quantization.orbit import nearest_index
from neurolite_sdk.quantization.rows import divisor, even_sample

SCREEN_BAND = 1e-8
"""The fast screen's errors carry cancellation noise up to ~1e-11 of the sample's energy; candidates
within this fraction of the energy of the least one are re-measured exactly."""

TIE_TOLERANCE = 1e-13
"""Candidates whose exact error is within this fraction of the sample's energy of the least one count as
tied and the first of them wins: a tensor every candidate codes exactly (constant rows, zeros) gets the
first candidate, and a decoded tensor gets back the candidate it was coded with (measured on 400 random
symmetric-framed tensors: at most 1.4e-15 of the energy against its own table, at least 2.6e-10 against
any other; re-encoding reproduced codes, table and framing on 3,000 random tensors, 1,094 midrange)."""


def encode_arc(rows: np.ndarray, candidates: np.ndarray, sample_size: int,
               allow_offset: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Code float32 ``rows [out, n]`` against the best of ``candidates`` (float32 ``[C, 256]``, increasing).

    Returns ``(codes uint8 [out, n], scale float32 [out], offset float32 [out] or None, candidate index)``.
    The framing and the candidate are fitted on at most ``sample_size`` evenly spread weights, each
    weighted by its row's ``scale²`` so that the fit minimizes the squared error in weight units, the
    quantity SQNR measures; the midrange framing (tried only when ``allow_offset``) must beat the
    symmetric one by more than the tie tolerance. A zero row gets scale 0 and code 128 (``T[128] = 0``).
    """
    positions = even_sample(rows.size, sample_size)
    row_of = positions // rows.shape[1]
    sample = rows.ravel()[positions].astype(np.float64)
    energy = float(np.sum(sample**2))
    tables = candidates.astype(np.float64)
    best: tuple[float, int, np.ndarray, np.ndarray | None] | None = None
    for midrange in (False, True) if allow_offset else (False,):
        scale, offset = _frame(rows, midrange)
        centre = 0.0 if offset is None else offset.astype(np.float64)[row_of]
        unit = (sample - centre) / divisor(scale)[row_of]
        pick, error = least_error_table(unit, scale.astype(np.float64)[row_of] ** 2, tables)
        if best is None or error < best[0] - TIE_TOLERANCE * energy:
            best = (error, pick, scale, offset)
    _, pick, scale, offset = best
    centred = rows.astype(np.float64) - (0.0 if offset is None else offset.astype(np.float64)[:, None])
    codes = nearest_index(candidates[pick], centred / divisor(scale)[:, None]).astype(np.uint8)
    return codes, scale, offset, pick


def decode_arc(codes: np.ndarray, scale: np.ndarray, offset: np.ndarray | None,
               table: np.ndarray) -> np.ndarray:
    """``table[codes] · scale[:, None]`` (then ``+ offset[:, None]``) in float32: the ``[out, n]`` matrix."""
    matrix = table[codes] * scale[:, None]
    return matrix if offset is None else matrix + offset[:, None]


def _frame(rows: np.ndarray, midrange: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """float32 ``(scale, offset)`` per row: ``(max|w|, None)`` or ``((max - min) / 2, (max + min) / 2)``."""
    if not midrange:
        return np.abs(rows).max(axis=1), None
    high, low = rows.max(axis=1).astype(np.float64), rows.min(axis=1).astype(np.float64)
    return ((high - low) / 2).astype(np.float32), ((high + low) / 2).astype(np.float32)


def least_error_table(values: np.ndarray, weights: np.ndarray, tables: np.ndarray) -> tuple[int, float]:
    """``(index, error)`` of the table in ``tables [C, 256]`` (increasing) of least ``Σ w · (v - nearest)²``.

    A screen vectorized over all candidates sorts the values once; each table's midpoints cut them
    into cells, and prefix sums of ``w``, ``w·v`` and ``w·v²`` give every cell's error in O(1), so a
    grid of a hundred tables costs about one sort. The few candidates the screen cannot tell apart are
    then measured directly, so that ties are decided on exact errors (see ``TIE_TOLERANCE``).
    """
    order = np.argsort(values)
    v, w = values[order], weights[order]
    sums = [np.concatenate(([0.0], np.cumsum(w * v**power))) for power in (0, 1, 2)]
    cuts = np.searchsorted(v, (tables[:, 1:] + tables[:, :-1]) / 2, side="right")
    edge = np.zeros((tables.shape[0], 1), dtype=cuts.dtype)
    bounds = np.concatenate([edge, cuts, edge + v.size], axis=1)
    s0, s1, s2 = (s[bounds[:, 1:]] - s[bounds[:, :-1]] for s in sums)
    screened = (s2 - 2.0 * tables * s1 + tables**2 * s0).sum(axis=1)
    energy = sums[2][-1]
    close = np.flatnonzero(screened <= screened.min() + SCREEN_BAND * energy)
    exact = np.array([np.sum(w * (v - tables[c][nearest_index(tables[c], v)]) ** 2) for c in close])
    chosen = np.flatnonzero(exact <= exact.min() + TIE_TOLERANCE * energy)[0]
    return int(close[chosen]), float(exact[chosen])
