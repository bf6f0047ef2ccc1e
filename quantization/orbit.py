"""The orbit and the 256-entry decode tables built on it, plus the exact nearest-entry search.

An orbit of period ``Z`` places index ``n`` at the angle ``θ(n) = 2πn/Z + σ·sin(4πn/Z)``; for
``|σ| < 1/2`` the angle grows with ``n``, so every table below is strictly monotone. Each function
returns the table a decoder gathers from: decoders never recompute the orbit, they read the stored
float32 table, so a port needs no trigonometry and no agreement on ``cos`` to the last bit.
"""

from __future__ import annotations

import numpy as np

TABLE_SIZE = 256
"""Entries per decode table: one per 8-bit code."""

ARC_MIN_PERIOD = 2 * TABLE_SIZE
"""The shortest orbit whose 256 arc positions stay within a half turn, where cos is monotone."""


def orbit_angles(positions: np.ndarray, period: float, sigma: float) -> np.ndarray:
    """``θ(n) = 2πn/Z + σ·sin(4πn/Z)`` in float64, for orbit positions ``n`` (any real values)."""
    n = np.asarray(positions, dtype=np.float64)
    return 2.0 * np.pi * n / period + sigma * np.sin(4.0 * np.pi * n / period)


def arc_table(period: int, sigma: float) -> np.ndarray:
    """The scalar orbit codebook: float32[256], increasing, ``T[1] = -1``, ``T[128] = 0``, ``T[255] = 1``.

    ``T[i] = cos θ(Z/4 + 128 - i) / cos θ(Z/4 - 127)``: 256 consecutive positions of the orbit centred
    on its quarter turn (``θ = π/2``, where cos is 0), normalized so the last one is 1. The orbit's
    symmetry about the quarter turn makes the table odd, ``T[128 + k] = -T[128 - k]``, which is built
    exactly here, so that ``±max|w|`` and 0 decode without error. ``T[0]`` (just below -1) is the next
    orbit position; encoders with max scaling never emit code 0. ``Z >= 512`` keeps the arc within a
    half turn; a longer orbit flattens the arc towards a uniform grid, and ``σ`` towards 1/2 packs the
    entries around 0 (the slope there is ``1 - 2σ`` times that of a plain circle).
    """
    if period < ARC_MIN_PERIOD or period % 4:
        raise ValueError(f"period: must be a multiple of 4 and >= {ARC_MIN_PERIOD}, got {period}")
    if not 0.0 <= sigma < 0.5:
        raise ValueError(f"sigma: must lie in [0, 0.5) for a monotone arc, got {sigma}")
    quarter = period // 4
    half = np.cos(orbit_angles(quarter - np.arange(TABLE_SIZE // 2 + 1), period, sigma))
    half = half / half[TABLE_SIZE // 2 - 1]
    half[0] = 0.0
    table = np.empty(TABLE_SIZE, dtype=np.float64)
    table[TABLE_SIZE // 2:] = half[:TABLE_SIZE // 2]
    table[:TABLE_SIZE // 2] = -half[TABLE_SIZE // 2:0:-1]
    return table.astype(np.float32)


def nearest_index(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the entry of the increasing ``table`` nearest to each value; a tie goes to the lower index.

    ``searchsorted`` finds the first entry >= the value and the two neighbours are compared in
    float64, so the result is exact (no rounding of ``value / step``) on any non-uniform table.
    """
    grid = np.asarray(table, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    upper = np.clip(np.searchsorted(grid, x), 1, grid.size - 1)
    lower = upper - 1
    return np.where(x - grid[lower] <= grid[upper] - x, lower, upper)
