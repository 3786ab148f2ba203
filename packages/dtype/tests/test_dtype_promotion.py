"""promote_types between tensors and result_type with weak Python scalars, checked against numpy and by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lamina.dtype import DType, Scalar, dtypes, least_upper_float, promote_types, result_type, scalar_dtype

_PAIRS = list(itertools.product(dtypes.all, repeat=2))


def _has_common_type(a: DType, b: DType) -> bool:
    return not (dtypes.uint64 in (a, b) and "int" in (a.kind, b.kind))


def _numpy_agrees_with_torch(a: DType, b: DType) -> bool:
    """numpy widens int+float to a float that holds every int, and uint64+signed to float64; torch does neither."""
    if dtypes.bfloat16 in (a, b):
        return False
    if a.is_float != b.is_float and not (a.is_bool or b.is_bool):
        return False
    return _has_common_type(a, b)


@pytest.mark.parametrize(("a", "b"), [p for p in _PAIRS if _numpy_agrees_with_torch(*p)], ids=lambda d: d.name)
def test_promote_types_matches_numpy_where_numpy_and_torch_agree(a: DType, b: DType) -> None:
    expected = np.promote_types(np.dtype(a.np_name), np.dtype(b.np_name))
    assert promote_types(a, b).name == expected.name


@pytest.mark.parametrize(("a", "b"), [p for p in _PAIRS if _has_common_type(*p)], ids=lambda d: d.name)
def test_promote_types_is_commutative(a: DType, b: DType) -> None:
    assert promote_types(a, b) is promote_types(b, a)


@pytest.mark.parametrize("dtype", dtypes.all, ids=lambda d: d.name)
def test_promote_types_is_idempotent_and_bool_is_its_identity(dtype: DType) -> None:
    assert promote_types(dtype, dtype) is dtype
    assert promote_types(dtype, dtypes.bool) is dtype


@pytest.mark.parametrize(("a", "b"), [(i, f) for i, f in _PAIRS if i.is_int and f.is_float], ids=lambda d: d.name)
def test_integer_with_float_gives_the_float_however_narrow(a: DType, b: DType) -> None:
    assert promote_types(a, b) is b


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (dtypes.uint8, dtypes.int8, dtypes.int16),
        (dtypes.uint16, dtypes.int16, dtypes.int32),
        (dtypes.uint32, dtypes.int8, dtypes.int64),
        (dtypes.uint8, dtypes.int64, dtypes.int64),
        (dtypes.float16, dtypes.bfloat16, dtypes.float32),
        (dtypes.bfloat16, dtypes.float64, dtypes.float64),
        (dtypes.int64, dtypes.bfloat16, dtypes.bfloat16),
    ],
    ids=str,
)
def test_promote_types_known_pairs(a: DType, b: DType, expected: DType) -> None:
    assert promote_types(a, b) is expected


@pytest.mark.parametrize("signed", [dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64], ids=lambda d: d.name)
def test_uint64_with_a_signed_integer_raises_type_error(signed: DType) -> None:
    with pytest.raises(TypeError, match="uint64"):
        promote_types(dtypes.uint64, signed)


def test_void_takes_no_part_in_promotion() -> None:
    with pytest.raises(TypeError, match="void"):
        promote_types(dtypes.void, dtypes.float32)
    with pytest.raises(TypeError, match="void"):
        result_type(dtypes.void, 1)


@pytest.mark.parametrize(
    ("operands", "expected"),
    [
        ((dtypes.int8, 2), dtypes.int8),
        ((dtypes.int64, 2), dtypes.int64),
        ((dtypes.int32, 2.5), dtypes.float32),
        ((dtypes.int64, 2.5), dtypes.float32),
        ((dtypes.float16, 2.5), dtypes.float16),
        ((dtypes.bfloat16, 2.5), dtypes.bfloat16),
        ((dtypes.float64, 2.5), dtypes.float64),
        ((dtypes.bool, 1), dtypes.int64),
        ((dtypes.bool, 2.5), dtypes.float32),
        ((dtypes.bool, True), dtypes.bool),
        ((dtypes.uint8, 1000), dtypes.uint8),
        ((dtypes.uint8, -1), dtypes.uint8),
        ((dtypes.int32, True), dtypes.int32),
        ((dtypes.float16, 1), dtypes.float16),
        ((dtypes.int8, dtypes.uint8, 1), dtypes.int16),
        ((dtypes.int8, 1, 2.5), dtypes.float32),
        ((dtypes.bool, True, 1, 2.5), dtypes.float32),
        ((dtypes.float16, dtypes.int64, 3.0), dtypes.float16),
        ((1, 2.5), dtypes.float32),
        ((True, 1), dtypes.int64),
        ((True,), dtypes.bool),
        ((dtypes.uint16,), dtypes.uint16),
    ],
    ids=str,
)
def test_python_scalars_are_weak(operands: tuple[DType | Scalar, ...], expected: DType) -> None:
    assert result_type(*operands) is expected


def test_scalar_position_does_not_matter() -> None:
    assert result_type(2.5, dtypes.int16) is result_type(dtypes.int16, 2.5) is dtypes.float32


def test_result_type_needs_an_operand() -> None:
    with pytest.raises(ValueError, match="at least one operand"):
        result_type()


@pytest.mark.parametrize(("value", "expected"), [(True, dtypes.bool), (0, dtypes.int64), (-2.0, dtypes.float32)])
def test_scalar_dtype_is_the_default_of_the_category(value: Scalar, expected: DType) -> None:
    assert scalar_dtype(value) is expected


def test_scalar_dtype_rejects_non_scalars() -> None:
    with pytest.raises(TypeError, match="complex"):
        scalar_dtype(1j)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        result_type(dtypes.int8, "2")  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", dtypes.all, ids=lambda d: d.name)
def test_least_upper_float_keeps_floats_and_sends_the_rest_to_default_float(dtype: DType) -> None:
    expected = dtype if dtype.is_float else dtypes.float32
    assert least_upper_float(dtype) is expected
