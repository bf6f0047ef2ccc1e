"""``orbital8-polar``: each pair of weights in a row as a radius code and an orbit-angle code.

``(w[c, 2j], w[c, 2j+1]) = R[r] · (C[a], S[a]) · scale[c]`` where ``(r, a) = (code[c, 2j], code[c, 2j+1])``,
``R[k] = (k/255)^γ``, ``C``/``S`` the cos/sin of the ``Z = 256`` orbit and ``scale[c]`` the row's largest
pair radius: still 8 bits per weight. The angle's error is relative (a fixed fraction of the radius),
so heavy tails cost it little, but 256 angles cap its SQNR near 43 dB whatever the distribution.
A row of odd length gets one zero appended before pairing; decoding drops it again.
"""

from __future__ import annotations

import numpy as np

from neurolite_sdk.quantization.orbit import TABLE_SIZE, nearest_index, polar_angles, radius_table
from neurolite_sdk.quantization.rows import divisor, even_sample

TIE_TOLERANCE = 1e-11
"""(σ, γ) pairs whose error is within this fraction of the sample's energy of the least one are tied and
the first wins. A decoded tensor's error against its own tables is ~1e-14 of the energy (float32
rounding of radius and angle); against any other pair it is orders of magnitude larger."""


def encode_polar(rows: np.ndarray, sigmas: tuple[float, ...], radius_gammas: tuple[float, ...],
                 sample_size: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Code float32 ``rows [out, n]``; returns ``(codes uint8 [out, n + n % 2], scale float32 [out], σ, γ)``.

    ``codes[:, 0::2]`` are radius codes and ``codes[:, 1::2]`` angle codes. σ and γ are the pair of the
    two grids with the least squared error over at most ``sample_size / 2`` evenly spread pairs
    (ties to the first). A pair with radius code 0 decodes to (0, 0) whatever its angle, so its angle
    code is set to 0: that keeps re-encoding a decoded tensor exact.
    """
    if rows.shape[1] % 2:
        rows = np.concatenate([rows, np.zeros((rows.shape[0], 1), dtype=rows.dtype)], axis=1)
    first, second = rows[:, 0::2].astype(np.float64), rows[:, 1::2].astype(np.float64)
    radius = np.hypot(first, second)
    angle = np.mod(np.arctan2(second, first), 2.0 * np.pi)
    scale = radius.max(axis=1).astype(np.float32)
    rho = radius / divisor(scale)[:, None]
    sigma, gamma = _fit(rho, angle, scale, sigmas, radius_gammas, sample_size // 2)
    radius_codes = nearest_index(radius_table(gamma), rho)
    angle_codes = _angle_codes(angle, sigma)
    angle_codes[radius_codes == 0] = 0
    codes = np.empty(rows.shape, dtype=np.uint8)
    codes[:, 0::2], codes[:, 1::2] = radius_codes, angle_codes
    return codes, scale, sigma, gamma


def decode_polar(codes: np.ndarray, scale: np.ndarray, tables: np.ndarray, columns: int) -> np.ndarray:
    """float32 ``[out, columns]``: ``(R[r] · C[a]) · scale``, ``(R[r] · S[a]) · scale``, the pad dropped."""
    radius = tables[0][codes[:, 0::2]]
    angle = codes[:, 1::2]
    out = np.empty(codes.shape, dtype=np.float32)
    out[:, 0::2] = radius * tables[1][angle] * scale[:, None]
    out[:, 1::2] = radius * tables[2][angle] * scale[:, None]
    return out[:, :columns]


def _angle_codes(angle: np.ndarray, sigma: float) -> np.ndarray:
    """Nearest orbit position to each angle in ``[0, 2π)``, going round: just below 2π is nearest to 0."""
    circle = np.append(polar_angles(sigma), 2.0 * np.pi)
    return nearest_index(circle, angle) % TABLE_SIZE


def _fit(rho: np.ndarray, angle: np.ndarray, scale: np.ndarray, sigmas: tuple[float, ...],
         radius_gammas: tuple[float, ...], limit: int) -> tuple[float, float]:
    """The (σ, γ) of least ``Σ scale² · |p - p̂|²`` on a sample; ``|p - p̂|² = ρ² + ρ̂² - 2ρρ̂·cos(φ - θ̂)``."""
    positions = even_sample(rho.size, limit)
    weight = scale.astype(np.float64)[positions // rho.shape[1]] ** 2
    r, phi = rho.ravel()[positions], angle.ravel()[positions]
    levels = [radius_table(gamma).astype(np.float64) for gamma in radius_gammas]
    coded_radius = np.stack([table[nearest_index(table, r)] for table in levels])
    cosines = np.stack([np.cos(phi - polar_angles(sigma)[_angle_codes(phi, sigma)]) for sigma in sigmas])
    errors = (np.sum(weight * r**2) + (weight * coded_radius**2).sum(axis=1)[:, None]
              - 2.0 * (weight * r * coded_radius) @ cosines.T)
    best = np.flatnonzero(errors.ravel() <= errors.min() + TIE_TOLERANCE * np.sum(weight * r**2))[0]
    g, s = divmod(int(best), len(sigmas))
    return float(sigmas[s]), float(radius_gammas[g])
