"""Orbital 8-bit and the int8 references: tables, round trip, error bounds, idempotence, SQNR, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurolite_sdk.quantization import (
    Int8Codec,
    OrbitalCodec,
    OrbitalTensor,
    QuantizationError,
    sqnr_db,
)
from neurolite_sdk.quantization.orbit import arc_table, nearest_index, orbit_angles

ORBITAL = OrbitalCodec("orbital8")
INT8 = Int8Codec("int8")
CODECS = {"orbital8": ORBITAL, "int8": INT8}
DISTRIBUTIONS = ("normal", "student_t", "uniform", "constant", "outliers", "sparse")


def make_weight(distribution: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """float32 weights of one synthetic distribution, at a random magnitude between 1e-4 and 1e2."""
    rng = np.random.default_rng(seed)
    if distribution == "normal":
        w = rng.standard_normal(shape)
    elif distribution == "student_t":
        w = rng.standard_t(4, shape)
    elif distribution == "uniform":
        w = rng.uniform(-1.0, 1.0, shape)
    elif distribution == "constant":
        w = np.full(shape, rng.choice([0.0, 1.0, -1.0, rng.standard_normal()]))
    elif distribution == "outliers":
        w = rng.standard_normal(shape) * np.where(rng.random(shape) < 0.01, 100.0, 1.0)
    else:
        w = rng.standard_normal(shape) * (rng.random(shape) < 0.1)
    return (w * 10.0 ** rng.uniform(-4, 2)).astype(np.float32)


weights = st.builds(make_weight, st.sampled_from(DISTRIBUTIONS),
                    st.tuples(st.integers(1, 64), st.integers(1, 300)), st.integers(0, 2**32 - 1))


def half_gap(table: np.ndarray) -> float:
    return float(np.max(np.diff(table.astype(np.float64)))) / 2


# --- the orbit tables

@pytest.mark.parametrize(("period", "sigma"), [(512, 0.0), (724, 0.25), (2048, 0.4375), (16384, 0.4922)])
def test_arc_table_is_the_normalized_orbit_and_exactly_odd(period: int, sigma: float) -> None:
    table = arc_table(period, sigma)
    assert table.dtype == np.float32 and table.shape == (256,)
    assert np.all(np.diff(table) > 0)
    assert (table[1], table[128], table[255]) == (-1.0, 0.0, 1.0) and table[0] < -1.0
    assert np.array_equal(table[129:], -table[127:0:-1])
    n = period // 4 + 128 - np.arange(256)
    formula = np.cos(orbit_angles(n, period, sigma)) / np.cos(orbit_angles(period // 4 - 127, period, sigma))
    np.testing.assert_allclose(table, formula, atol=1e-6)


@pytest.mark.parametrize(("period", "sigma"), [(508, 0.0), (514, 0.0), (1024, 0.5), (1024, -0.1)])
def test_arc_table_rejects_orbits_off_the_half_turn(period: int, sigma: float) -> None:
    with pytest.raises(ValueError):
        arc_table(period, sigma)



def test_nearest_index_is_exact_on_a_non_uniform_table_and_ties_go_low() -> None:
    table = np.array([0.0, 1.0, 3.0, 3.5])
    got = nearest_index(table, np.array([-5.0, 0.5, 2.0, 2.0000001, 3.25, 9.0]))
    assert got.tolist() == [0, 0, 1, 2, 2, 3]
    rng = np.random.default_rng(0)
    grid = np.sort(rng.standard_t(2, 256))
    x = rng.standard_normal(10_000) * 3
    brute = np.argmin(np.abs(x[:, None] - grid[None, :]), axis=1)
    assert np.array_equal(nearest_index(grid, x), brute)


# --- round trip, error bounds, idempotence

@settings(max_examples=60, deadline=None)
@given(w=weights)
def test_orbital8_round_trip_bound_and_fixed_point(w: np.ndarray) -> None:
    coded = ORBITAL.encode(w)
    decoded = ORBITAL.decode(coded)
    assert decoded.shape == w.shape and decoded.dtype == np.float32
    assert coded.codes.min() >= 1, "code 0 (below -1) is never emitted under max scaling"
    scale = coded.scale.astype(np.float64)[:, None]
    offset = 0.0 if coded.offset is None else np.abs(coded.offset.astype(np.float64))[:, None]
    bound = scale * half_gap(coded.tables[0][1:]) * (1 + 1e-5) + 2.0**-22 * (scale + offset)
    assert np.all(np.abs(w.astype(np.float64) - decoded) <= bound + 1e-30)
    again = ORBITAL.encode(decoded)
    assert np.array_equal(again.codes, coded.codes) and np.array_equal(again.tables, coded.tables)
    assert (again.sigma, again.period) == (coded.sigma, coded.period)
    assert (again.offset is None) == (coded.offset is None)
    if coded.offset is None:
        assert np.array_equal(again.scale, coded.scale) and np.array_equal(ORBITAL.decode(again), decoded)


@settings(max_examples=40, deadline=None)
@given(w=weights)
def test_int8_round_trip_bound_and_idempotent_codes(w: np.ndarray) -> None:
    codec = INT8
    coded = codec.encode(w)
    decoded = codec.decode(coded)
    assert decoded.shape == w.shape and decoded.dtype == np.float32
    bound = coded.scale.astype(np.float64)[:, None] * (0.5 + 1e-5)
    assert np.all(np.abs(w.astype(np.float64) - decoded) <= bound + 1e-30)
    assert np.array_equal(codec.encode(decoded).codes, coded.codes)


@pytest.mark.parametrize("scheme", list(CODECS))
@pytest.mark.parametrize("value", [0.0, 1.0, -3.5, 1e-30, 7e20])
def test_constant_tensors_round_trip_without_division_by_zero(scheme: str, value: float) -> None:
    w = np.full((5, 8), value, dtype=np.float32)
    with np.errstate(all="raise"):
        decoded = CODECS[scheme].decode(CODECS[scheme].encode(w))
    np.testing.assert_allclose(decoded, w, rtol=1e-6, atol=0)
    if scheme == "orbital8" or value == 0.0:
        assert np.array_equal(decoded, w)


def test_zero_rows_get_scale_zero_and_decode_to_exact_zeros() -> None:
    w = np.zeros((3, 8), dtype=np.float32)
    w[1] = np.linspace(-1, 1, 8)
    for codec in CODECS.values():
        coded = codec.encode(w)
        assert coded.scale[0] == 0 and coded.scale[2] == 0
        assert np.all(codec.decode(coded)[[0, 2]] == 0)


@pytest.mark.parametrize("scheme", list(CODECS))
def test_higher_rank_weights_are_coded_as_out_by_rest(scheme: str) -> None:
    w = make_weight("normal", (8, 3, 3, 3), seed=1)
    coded = CODECS[scheme].encode(w)
    assert coded.codes.shape == (8, 27) and coded.shape == (8, 3, 3, 3)
    decoded = CODECS[scheme].decode(coded)
    assert decoded.shape == w.shape and sqnr_db(w, decoded) > 35


def test_the_fit_frames_lopsided_rows_by_midrange_and_keeps_zeros_exact_otherwise() -> None:
    rng = np.random.default_rng(4)
    lopsided = (rng.standard_normal((64, 128)) + rng.uniform(-2, 2, (64, 1))).astype(np.float32)
    coded = ORBITAL.encode(lopsided)
    assert coded.offset is not None and coded.offset.shape == (64,)
    int8 = sqnr_db(lopsided, INT8.decode(INT8.encode(lopsided)))
    assert sqnr_db(lopsided, ORBITAL.decode(coded)) > int8 + 2
    sparse = make_weight("sparse", (64, 128), seed=5)
    coded = ORBITAL.encode(sparse)
    assert coded.offset is None and np.all(ORBITAL.decode(coded)[sparse == 0] == 0)
    assert OrbitalCodec(allow_offset=False).encode(lopsided).offset is None


def test_a_grid_of_one_fixes_the_orbit() -> None:
    coded = OrbitalCodec(periods=(512,), sigmas=(0.0,)).encode(make_weight("normal", (16, 64), seed=2))
    assert (coded.period, coded.sigma) == (512, 0.0)
    assert np.array_equal(coded.tables[0], arc_table(512, 0.0))


# --- quality against the int8 reference (fixed seeds, realistic sizes)

@pytest.mark.parametrize(("distribution", "min_gain_db"), [("normal", 1.0), ("student_t", 3.0)])
def test_orbital8_beats_per_channel_int8(distribution: str, min_gain_db: float) -> None:
    w = make_weight(distribution, (256, 256), seed=0)
    int8 = sqnr_db(w, INT8.decode(INT8.encode(w)))
    orbital = sqnr_db(w, ORBITAL.decode(ORBITAL.encode(w)))
    assert orbital >= int8 + min_gain_db, (orbital, int8)


# --- bad input

@pytest.mark.parametrize("scheme", list(CODECS))
@pytest.mark.parametrize(("weight", "message"), [
    (np.array([[1.0, np.nan], [0.0, 1.0]], dtype=np.float32), "NaN or Inf"),
    (np.array([[1.0, -np.inf]], dtype=np.float32), "NaN or Inf"),
    (np.array([[1e300, 1.0]], dtype=np.float64), "NaN or Inf"),
    (np.ones((2, 3), dtype=np.int32), "not floating"),
    (np.ones(16, dtype=np.float32), "rank 1"),
    (np.zeros((0, 4), dtype=np.float32), "empty"),
    (np.zeros((4, 0), dtype=np.float32), "empty"),
])
def test_bad_input_raises_quantization_error_naming_the_tensor(scheme: str, weight: np.ndarray,
                                                               message: str) -> None:
    with pytest.raises(QuantizationError, match=f"blocks.3.fc1.weight: .*{message}"):
        CODECS[scheme].encode(weight, name="blocks.3.fc1.weight")
    assert issubclass(QuantizationError, ValueError)


def test_orbital_tensor_rejects_arrays_that_do_not_match_the_format() -> None:
    coded = ORBITAL.encode(make_weight("normal", (4, 6), seed=3))
    codes, scale, tables = coded.codes, coded.scale, coded.tables
    with pytest.raises(QuantizationError, match="codes: expected uint8"):
        OrbitalTensor("orbital8", codes.astype(np.int16), scale, None, tables, (4, 6), 0.0, 512)
    with pytest.raises(QuantizationError, match="offset: expected float32"):
        OrbitalTensor("orbital8", codes, scale, np.zeros(3, np.float32), tables, (4, 6), 0.0, 512)
    with pytest.raises(QuantizationError, match="tables: expected float32 \\(1, 256\\)"):
        OrbitalTensor("orbital8", codes, scale, None, np.concatenate([tables] * 3), (4, 6), 0.0, 512)
    with pytest.raises(ValueError, match="scheme"):
        OrbitalCodec("orbital8-polar")  # type: ignore[arg-type]  (measured and removed: docs/orbital8.md)
    with pytest.raises(ValueError, match="scheme"):
        OrbitalCodec("orbital4")  # type: ignore[arg-type]


# --- the metric

def test_sqnr_db_values_and_exact_reconstruction() -> None:
    w = np.array([1.0, 1.0])
    assert sqnr_db(w, np.array([1.0, 0.9])) == pytest.approx(10 * math.log10(2 / 0.01))
    assert sqnr_db(w, w) == math.inf
    assert sqnr_db(np.zeros(3), np.zeros(3)) == math.inf
    assert sqnr_db(np.zeros(3), np.ones(3)) == -math.inf
    with pytest.raises(ValueError, match="shape"):
        sqnr_db(np.zeros(3), np.zeros(4))
