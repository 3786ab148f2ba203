"""pm_symbolic rule by rule: constant folding, identities, canonical sums, division, remainder, comparisons."""

from __future__ import annotations

from lamina.dtype import dtypes
from lamina.rewrite import evaluate_int, loop_bounds_under, simplify, simplify_under
from lamina.uop import AxisKind, Ops, UOp

X = UOp.variable("x", -10, 10)
Y = UOp.variable("y", 0, 20)
N = UOp.variable("n", 0, 100)
R = UOp.range(8, 0, AxisKind.LOOP)


def _c(value: int) -> UOp:
    return UOp.const(dtypes.int32, value)


def test_constants_fold_with_c_division() -> None:
    assert simplify(_c(-7) // 2) is _c(-3)
    assert simplify(_c(-7) % 2) is _c(-1)
    assert simplify(_c(7) % -2) is _c(1)
    assert simplify(_c(3).lt(4)) is UOp.const(dtypes.bool, True)


def test_constants_fold_with_wraparound() -> None:
    assert simplify(_c(2**31 - 1) + 1) is _c(-(2**31))
    int8 = UOp.const(dtypes.int8, 100)
    assert simplify(int8 * 3) is UOp.const(dtypes.int8, 44)


def test_division_by_zero_is_left_alone() -> None:
    expr = _c(1) // 0
    assert simplify(expr) is expr


def test_identities() -> None:
    assert simplify(X + 0) is X
    assert simplify(X * 1) is X
    assert simplify(X * 0) is _c(0)
    assert simplify(X // 1) is X
    assert simplify(X % 1) is _c(0)
    assert simplify(X - X) is _c(0)
    negated = -X
    assert simplify(-negated) is X
    assert simplify(X.maximum(X)) is X


def test_like_terms_are_collected() -> None:
    assert simplify(X * 2 + X * 3) is X * 5
    assert simplify((X + 3) + 4) is X + 7
    assert simplify(X + Y + X) is X * 2 + Y
    assert simplify((X + Y) * 3 - Y * 3) is X * 3


def test_constants_go_to_the_right() -> None:
    assert simplify(3 + X) is X + 3
    assert simplify(2 * X) is X * 2
    assert simplify(5 + (X + 2)) is X + 7


def test_remainder_and_division_fold_from_ranges() -> None:
    assert simplify(R % 8) is R
    assert simplify(R // 8) is _c(0)
    # C semantics: -10 < x < 11 means x % 11 == x and x // 11 == 0 even for negative x.
    assert simplify(X % 11) is X
    assert simplify(X // 11) is _c(0)
    assert simplify((R + 16) % 8) is R
    assert simplify((R + 16) // 8) is _c(2)


def test_negative_values_block_splitting_a_division() -> None:
    # (x*4 + 1) // 4 is not x for x < 0 under truncation: -7 // 4 == -1, but x == -2.
    expr = (X * 4 + 1) // 4
    assert simplify(expr) is not X
    assert evaluate_int(simplify(expr), {X: -2}) == -1


def test_multiple_of_the_divisor_splits_off_when_parts_are_nonnegative() -> None:
    assert simplify((N * 4 + R % 4) // 4) is N
    assert simplify((N * 4 + R % 4) % 4) is R % 4
    assert simplify((N * 8 + R) // 4) is N * 2 + R // 4


def test_coefficients_above_the_divisor_give_their_multiple_to_the_quotient() -> None:
    # A convolution window's index: tap k in 0..2 and position p in 0..27 of a row of 30, tiled with stride 31.
    tap, position = UOp.range(3, 1, AxisKind.REDUCE), UOp.range(28, 2, AxisKind.LOOP)
    assert simplify((tap * 31 + position) % 30) is simplify(tap + position)
    assert simplify((tap * 31 + position) // 30) is tap
    # Negative sums split toward zero: -(k*31 + p) // 30 is -k exactly when k + p < 30.
    assert simplify((tap * -31 - position) // 30) is simplify(tap * -1)
    for k in range(3):
        for p in range(28):
            assert evaluate_int(simplify((tap * -31 - position) % 30), {tap: k, position: p}) == -(k + p)


def test_common_factor_is_divided_out() -> None:
    assert simplify((X * 6) // 4) is (X * 3) // 2
    assert simplify((X * 6) % 4) is ((X * 3) % 2) * 2


def test_nested_divisions_and_remainders() -> None:
    assert simplify((N // 2) // 3) is N // 6
    assert simplify((N % 12) % 4) is N % 4
    assert simplify((N % 12) // 4) is (N // 4) % 3


def test_negative_divisor_moves_its_sign() -> None:
    assert simplify(N // -3) is (N // 3) * -1
    assert simplify(N % -3) is N % 3


def test_comparisons_fold_from_ranges() -> None:
    true, false = UOp.const(dtypes.bool, True), UOp.const(dtypes.bool, False)
    assert simplify(R.lt(8)) is true
    assert simplify(R.lt(0)) is false
    assert simplify(X.lt(X)) is false
    assert simplify(X.ne(X)) is false
    assert simplify(X.eq(X)) is true


def test_comparison_moves_constants_and_common_factors_right() -> None:
    assert simplify((X + 3).lt(5)) is X.lt(2)
    assert simplify((X * 4).lt(7)) is X.lt(2)
    assert simplify((N // 4).lt(3)) is N.lt(12)


def test_choices_and_logic() -> None:
    true = UOp.const(dtypes.bool, True)
    cond = X.lt(3)
    assert simplify(true.where(X, Y)) is X
    assert simplify(cond.where(Y, Y)) is Y
    assert simplify(cond & true) is cond
    assert simplify(cond | cond) is cond
    assert simplify(UOp(Ops.NOT, dtypes.bool, (UOp(Ops.NOT, dtypes.bool, (cond,)),))) is cond


def test_max_folds_when_ranges_do_not_overlap() -> None:
    assert simplify(R.maximum(-1)) is R
    assert simplify((R + 10).maximum(X)) is R + 10


def test_widening_cast_round_trip_is_removed() -> None:
    assert simplify(X.cast(dtypes.int64).cast(dtypes.int32)) is X
    narrowing = X.cast(dtypes.int8).cast(dtypes.int32)
    assert simplify(narrowing) is narrowing


def test_pinned_variable_and_single_iteration_loop_are_constants() -> None:
    pinned = UOp.variable("p", 3, 3)
    once = UOp.range(1, 5, AxisKind.LOOP)
    assert simplify(pinned * 2 + once * 7) is _c(6)
    assert simplify(pinned + 1) is _c(4)
    assert simplify(once * 3) is _c(0)


def test_float_arithmetic_is_left_alone() -> None:
    one = UOp.const(dtypes.float32, 1.0)
    expr = one + 2.0
    assert simplify(expr) is expr
    nan = UOp.const(dtypes.float32, float("nan"))
    assert simplify(nan * 0.0) is nan * 0.0


def test_unsigned_arithmetic_folds_constants_only_with_wraparound() -> None:
    zero = UOp.const(dtypes.uint32, 0)
    assert simplify(zero - 1) is UOp.const(dtypes.uint32, 2**32 - 1)


def test_evaluate_int_follows_c_semantics() -> None:
    assert evaluate_int(X // 4, {X: -7}) == -1
    assert evaluate_int(X % 4, {X: -7}) == -3
    assert evaluate_int(X.lt(0).where(X, -X), {X: -7}) == -7
    assert evaluate_int(UOp.const(dtypes.int8, 127) + 1, {}) == -128


def test_an_address_simplifies_under_the_bounds_its_validity_puts_on_the_loops() -> None:
    # A shifted view read where h > 0: over all h the flat address can be negative (no split), not where valid.
    h, w = UOp.range(28, 0, AxisKind.LOOP), UOp.range(28, 1, AxisKind.LOOP)
    address = (h * 28 + w - 28) // 784 * 784 + (h * 28 + w - 28) % 784
    validity = _c(0).lt(h)
    assert loop_bounds_under(validity) == {h: (1, 27)}
    assert simplify_under(address, validity) is simplify(h * 28 + w - 28)
    for row in range(1, 28):
        for column in (0, 13, 27):
            value = {h: row, w: column}
            assert evaluate_int(simplify_under(address, validity), value) == evaluate_int(address, value)


def test_bounds_come_only_from_single_loop_comparisons() -> None:
    h = UOp.range(28, 0, AxisKind.LOOP)
    assert loop_bounds_under((h + 2).lt(30) & _c(3).lt(h + 1)) == {h: (3, 27)}
    assert loop_bounds_under((h * 2).lt(30)) == {}


def test_a_sum_of_digit_choices_is_the_index_it_counts() -> None:
    # UOp.arange counts in binary digits, each a padded constant: rangeified, digit k of index i is
    # `0 < (i // 2**k) % 2 ? 2**k : 0`. Summed, the choices are the index itself (times an upcast's scale).
    index = UOp.range(64, 0, AxisKind.LOOP)
    zero = _c(0)
    for scale in (1, 4):
        counted = zero
        for bit in range(6):
            digit = (index // (1 << bit)) % 2 if bit < 5 else index // (1 << bit)
            counted = counted + zero.lt(digit).where(_c(scale << bit), zero)
        assert simplify(counted) is simplify(index * scale)
    # Only a flag that is 0 or 1 becomes a product: `0 < x ? 3 : 0` for a wider x stays a choice.
    wide = zero.lt(Y).where(_c(3), zero)
    assert simplify(wide).op is Ops.WHERE
    assert [evaluate_int(simplify(wide), {Y: value}) for value in (0, 1, 7)] == [0, 3, 3]
