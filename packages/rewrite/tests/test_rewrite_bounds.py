"""vmin/vmax: interval arithmetic per op, under C division and wraparound."""

from __future__ import annotations

import pytest

from lamina.dtype import dtypes
from lamina.rewrite import vmax, vmin
from lamina.uop import AxisKind, Ops, UOp

X = UOp.variable("x", -3, 7)
R = UOp.range(5, 0, AxisKind.LOOP)


def _bounds(u: UOp) -> tuple[int, int]:
    return vmin(u), vmax(u)


def test_leaves_take_their_value_declared_range_and_loop_range() -> None:
    assert _bounds(UOp.const(dtypes.int32, -4)) == (-4, -4)
    assert _bounds(X) == (-3, 7)
    assert _bounds(R) == (0, 4)
    assert _bounds(UOp.const(dtypes.bool, True)) == (1, 1)


def test_range_with_symbolic_end_uses_the_ends_maximum() -> None:
    n = UOp.variable("n", 1, 16)
    assert _bounds(UOp.range(n, 1, AxisKind.LOOP)) == (0, 15)


def test_arithmetic_combines_intervals() -> None:
    assert _bounds(X + R) == (-3, 11)
    assert _bounds(X - R) == (-7, 7)
    assert _bounds(X * R) == (-12, 28)
    assert _bounds(X * -2) == (-14, 6)
    assert _bounds(-X) == (-7, 3)
    assert _bounds(X.maximum(R)) == (0, 7)


def test_division_truncates_toward_zero() -> None:
    assert _bounds(X // 2) == (-1, 3)
    assert _bounds(X // -2) == (-3, 1)


def test_remainder_takes_the_dividends_sign() -> None:
    assert _bounds(X % 4) == (-3, 3)
    assert _bounds(R % 3) == (0, 2)
    assert _bounds((R + 10) % 8) == (2, 6)


def test_comparisons_are_bools_decided_by_disjoint_ranges() -> None:
    assert _bounds(R.lt(5)) == (1, 1)
    assert _bounds(R.lt(0)) == (0, 0)
    assert _bounds(R.lt(3)) == (0, 1)
    assert _bounds(R.ne(9)) == (1, 1)
    assert _bounds(R.eq(-1)) == (0, 0)


def test_where_picks_or_joins_its_branches() -> None:
    assert _bounds(R.lt(3).where(X, R + 100)) == (-3, 104)
    assert _bounds(R.lt(9).where(X, R + 100)) == (-3, 7)


def test_overflow_gives_the_dtypes_full_range() -> None:
    big = UOp.variable("big", 0, 2**31 - 1)
    assert _bounds(big + 1) == (-(2**31), 2**31 - 1)
    small = UOp.variable("small", 0, 100, dtypes.int8)
    assert _bounds(small * 2) == (-128, 127)


def test_casts_keep_ranges_that_fit_and_widen_those_that_do_not() -> None:
    assert _bounds(X.cast(dtypes.int64)) == (-3, 7)
    assert _bounds(X.cast(dtypes.uint8)) == (0, 255)
    assert _bounds(R.cast(dtypes.bool)) == (0, 1)
    assert _bounds((R + 1).cast(dtypes.bool)) == (1, 1)


def test_comparison_of_floats_is_any_bool() -> None:
    f = UOp(Ops.CONST, dtypes.float32, (), 1.5)
    assert _bounds(f.lt(2.0)) == (0, 1)


def test_float_nodes_have_no_bounds() -> None:
    with pytest.raises(TypeError, match="float32"):
        vmin(UOp.const(dtypes.float32, 1.0))


def test_bounds_of_a_100000_node_chain_need_no_recursion() -> None:
    chain = R
    for _ in range(100_000):
        chain = chain + 1
    assert _bounds(chain) == (100_000, 100_004)
