"""The dtype table: sizes, kinds and numpy names agree with each other and with numpy, and names resolve."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.dtype import DType, PtrDType, dtypes

_NUMPY_KIND = {"b": "bool", "i": "int", "u": "uint", "f": "float"}


@pytest.mark.parametrize("dtype", dtypes.all, ids=lambda d: d.name)
def test_itemsize_matches_numpy_storage(dtype: DType) -> None:
    assert np.dtype(dtype.np_name).itemsize == dtype.itemsize
    assert dtype.bits == 8 * dtype.itemsize


@pytest.mark.parametrize("dtype", [d for d in dtypes.all if d is not dtypes.bfloat16], ids=lambda d: d.name)
def test_kind_and_name_match_numpy(dtype: DType) -> None:
    np_dtype = np.dtype(dtype.np_name)
    assert _NUMPY_KIND[np_dtype.kind] == dtype.kind
    assert np_dtype.name == dtype.name


def test_bfloat16_is_a_float_stored_as_uint16_bits() -> None:
    assert dtypes.bfloat16.kind == "float"
    assert np.dtype(dtypes.bfloat16.np_name) == np.dtype(np.uint16)


@pytest.mark.parametrize("dtype", dtypes.all, ids=lambda d: d.name)
def test_exactly_one_kind_predicate_holds(dtype: DType) -> None:
    flags = [dtype.is_bool, dtype.is_float, dtype.is_int and not dtype.is_unsigned, dtype.is_unsigned]
    assert sum(flags) == 1
    assert dtype.is_unsigned <= dtype.is_int


@pytest.mark.parametrize("dtype", dtypes.all, ids=lambda d: d.name)
def test_every_dtype_has_c_and_cuda_names(dtype: DType) -> None:
    assert dtype.c_name
    assert dtype.cuda_name


def test_rank_orders_each_kind_by_width() -> None:
    for kind in ("int", "uint", "float"):
        members = sorted((d for d in dtypes.all if d.kind == kind), key=lambda d: d.rank)
        widths = [d.itemsize for d in members]
        assert widths == sorted(widths)
        # Only float16/bfloat16 share a width; every other rank is distinct.
        assert len({d.rank for d in members}) == len({d.itemsize for d in members})


def test_all_lists_thirteen_distinct_dtypes() -> None:
    assert len(dtypes.all) == 13
    assert len({d.name for d in dtypes.all}) == 13


def test_defaults_are_float32_and_int64() -> None:
    assert dtypes.default_float is dtypes.float32
    assert dtypes.default_int is dtypes.int64
    assert dtypes.index is dtypes.int32


def test_void_is_not_a_storable_dtype() -> None:
    assert dtypes.void not in dtypes.all
    assert dtypes.void.itemsize == 0


@pytest.mark.parametrize("dtype", dtypes.all, ids=lambda d: d.name)
def test_from_name_resolves_every_canonical_name(dtype: DType) -> None:
    assert dtypes.from_name(dtype.name) is dtype


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("half", dtypes.float16),
        ("float", dtypes.float32),
        ("double", dtypes.float64),
        ("long", dtypes.int64),
        ("int", dtypes.int32),
        ("short", dtypes.int16),
        ("char", dtypes.int8),
        ("uchar", dtypes.uint8),
    ],
)
def test_from_name_accepts_aliases(alias: str, expected: DType) -> None:
    assert dtypes.from_name(alias) is expected


@pytest.mark.parametrize("name", ["float128", "complex64", "Float32", "", "void", "index"])
def test_from_name_rejects_unknown_names_with_type_error(name: str) -> None:
    with pytest.raises(TypeError, match=f"unknown dtype {name!r}"):
        dtypes.from_name(name)


def test_dtypes_are_frozen_and_hashable() -> None:
    assert {dtypes.float32: 1}[dtypes.from_name("float")] == 1
    with pytest.raises(AttributeError):
        dtypes.float32.itemsize = 8  # type: ignore[misc]


def test_repr_spells_the_namespace_attribute() -> None:
    assert repr(dtypes.int8) == "dtypes.int8"
    assert repr(dtypes.float32.ptr()) == "dtypes.float32.ptr()"


def test_ptr_wraps_the_base_dtype() -> None:
    pointer = dtypes.float16.ptr()
    assert pointer == PtrDType(dtypes.float16)
    assert pointer.base is dtypes.float16
    assert pointer.name == "float16*"
