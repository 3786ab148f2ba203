"""numpy dtype mapping both ways, and bfloat16 bits <-> float32 conversion (exact, ties to even, NaN, inf)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import (
    DType,
    bfloat16_bits_to_float32,
    dtypes,
    float32_to_bfloat16_bits,
    from_numpy_dtype,
    to_numpy_dtype,
)


@pytest.mark.parametrize("dtype", [d for d in dtypes.all if d is not dtypes.bfloat16], ids=lambda d: d.name)
def test_numpy_dtype_round_trips(dtype: DType) -> None:
    assert from_numpy_dtype(to_numpy_dtype(dtype)) is dtype


def test_bfloat16_storage_reads_back_as_uint16() -> None:
    assert to_numpy_dtype(dtypes.bfloat16) == np.dtype(np.uint16)
    assert from_numpy_dtype(np.uint16) is dtypes.uint16


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [(np.float32, dtypes.float32), ("int8", dtypes.int8), (bool, dtypes.bool), ("f8", dtypes.float64)],
)
def test_from_numpy_dtype_accepts_any_dtype_like(spelling: npt.DTypeLike, expected: DType) -> None:
    assert from_numpy_dtype(spelling) is expected


@pytest.mark.parametrize("spelling", [np.complex64, np.complex128, object, "U3", "M8[s]"])
def test_from_numpy_dtype_rejects_types_lamina_cannot_hold(spelling: npt.DTypeLike) -> None:
    with pytest.raises(TypeError, match="has no lamina equivalent"):
        from_numpy_dtype(spelling)


def _all_bfloat16_bits() -> npt.NDArray[np.uint16]:
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)


def test_every_non_nan_bfloat16_round_trips_exactly() -> None:
    bits = _all_bfloat16_bits()
    values = bfloat16_bits_to_float32(bits)
    finite_or_inf = ~np.isnan(values)
    np.testing.assert_array_equal(float32_to_bfloat16_bits(values)[finite_or_inf], bits[finite_or_inf])


def test_bfloat16_widening_keeps_the_high_half_of_float32() -> None:
    values = np.array([1.0, -2.5, 0.0, -0.0, 3.140625, 1e-40], dtype=np.float32)
    truncated = (values.view(np.uint32) >> np.uint32(16)).astype(np.uint16)
    widened = bfloat16_bits_to_float32(truncated)
    assert widened.dtype == np.float32
    np.testing.assert_array_equal(widened.view(np.uint32), values.view(np.uint32) & np.uint32(0xFFFF0000))


@pytest.mark.parametrize(
    ("value", "expected_bits"),
    [
        # 1 + 2**-8 lies halfway between 1.0 (even) and 1 + 2**-7 (odd): ties go to the even one.
        (1.0 + 2.0**-8, 0x3F80),
        # 1 + 3 * 2**-8 lies halfway between 1 + 2**-7 (odd) and 1 + 2**-6 (even).
        (1.0 + 3 * 2.0**-8, 0x3F82),
        (1.0 + 2.0**-8 + 2.0**-20, 0x3F81),
        (1.0 + 2.0**-8 - 2.0**-20, 0x3F80),
        (-(1.0 + 2.0**-8), 0xBF80),
        (-(1.0 + 3 * 2.0**-8), 0xBF82),
    ],
)
def test_float32_to_bfloat16_rounds_to_nearest_even(value: float, expected_bits: int) -> None:
    assert int(float32_to_bfloat16_bits(np.array([value], dtype=np.float32))[0]) == expected_bits


def _reference_bfloat16_bits(value: np.float32) -> int:
    """Round one finite float32 to bfloat16 by comparing distances to its two bfloat16 neighbours."""
    raw = int(np.array(value, dtype=np.float32).view(np.uint32))
    low_bits = raw >> 16
    high_bits = low_bits + 1
    low = float(bfloat16_bits_to_float32(np.array([low_bits], dtype=np.uint16))[0])
    high = float(bfloat16_bits_to_float32(np.array([high_bits & 0xFFFF], dtype=np.uint16))[0])
    # Distances between float32 neighbours are exact in float64.
    below, above = abs(float(value) - low), abs(high - float(value))
    if below < above or (below == above and low_bits % 2 == 0):
        return low_bits
    return high_bits


def test_float32_to_bfloat16_matches_a_distance_reference_on_random_values() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 1 << 32, size=4000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    # Above the largest finite bfloat16 the upper neighbour is infinity, which the distance reference cannot weigh.
    largest_bfloat16 = np.array([0x7F7F0000], dtype=np.uint32).view(np.float32)[0]
    values = values[np.isfinite(values) & (np.abs(values) <= largest_bfloat16)]
    got = float32_to_bfloat16_bits(values)
    expected = [_reference_bfloat16_bits(v) for v in values]
    assert [int(b) for b in got] == expected


def test_float32_to_bfloat16_keeps_infinities_and_signed_zero() -> None:
    values = np.array([np.inf, -np.inf, 0.0, -0.0], dtype=np.float32)
    np.testing.assert_array_equal(float32_to_bfloat16_bits(values), np.array([0x7F80, 0xFF80, 0x0000, 0x8000]))


def test_float32_to_bfloat16_overflows_to_infinity_past_the_largest_bfloat16() -> None:
    largest_float32 = np.finfo(np.float32).max
    # Halfway between the largest finite bfloat16 (0x7F7F) and infinity: the tie goes to the even infinity.
    halfway = np.array([0x7F7F8000], dtype=np.uint32).view(np.float32)
    assert int(float32_to_bfloat16_bits(np.array([largest_float32]))[0]) == 0x7F80
    assert int(float32_to_bfloat16_bits(halfway)[0]) == 0x7F80
    assert int(float32_to_bfloat16_bits(-halfway)[0]) == 0xFF80


def test_nan_stays_nan_through_bfloat16() -> None:
    nans = np.array([0x7FC00000, 0xFFFFFFFF, 0x7F800001, 0xFF80FFFF], dtype=np.uint32).view(np.float32)
    bits = float32_to_bfloat16_bits(nans)
    assert np.isnan(bfloat16_bits_to_float32(bits)).all()


def test_float64_input_is_rounded_through_float32() -> None:
    values = np.array([1.0, 0.1, -3.5], dtype=np.float64)
    np.testing.assert_array_equal(float32_to_bfloat16_bits(values), float32_to_bfloat16_bits(values.astype(np.float32)))


@pytest.mark.parametrize("shape", [(), (0,), (2, 3), (1, 0, 2)])
def test_bfloat16_conversions_keep_the_array_shape(shape: tuple[int, ...]) -> None:
    values = np.full(shape, 1.5, dtype=np.float32)
    bits = float32_to_bfloat16_bits(values)
    assert isinstance(bits, np.ndarray)
    assert bits.shape == shape
    assert bits.dtype == np.uint16
    back = bfloat16_bits_to_float32(bits)
    assert isinstance(back, np.ndarray)
    assert back.shape == shape
    np.testing.assert_array_equal(back, values)


def test_bfloat16_conversion_accepts_non_contiguous_input() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4).T
    np.testing.assert_array_equal(bfloat16_bits_to_float32(float32_to_bfloat16_bits(values)), values)
