"""Every elementwise gradient rule agrees with central finite differences (and exact values at ties)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import dtypes
from lamina.uop import Ops, UOp

Array = npt.NDArray[Any]
Checker = Callable[..., None]
Gradients = Callable[..., list[Array]]

_UNARY = [Ops.NEG, Ops.RECIPROCAL, Ops.SQRT, Ops.EXP, Ops.LOG, Ops.EXP2, Ops.LOG2, Ops.SIN, Ops.COS, Ops.ERF]


@pytest.mark.parametrize("op", _UNARY, ids=[op.name for op in _UNARY])
def test_unary_gradient_matches_finite_differences(op: Ops, check_gradient: Checker, rng: np.random.Generator) -> None:
    positive = rng.uniform(0.5, 2.0, (2, 3))
    check_gradient(lambda x: x.alu(op), positive)


_BINARY = [Ops.ADD, Ops.SUB, Ops.MUL, Ops.DIV, Ops.MAX, Ops.POW]


@pytest.mark.parametrize("op", _BINARY, ids=[op.name for op in _BINARY])
def test_binary_gradient_matches_finite_differences(op: Ops, check_gradient: Checker, rng: np.random.Generator) -> None:
    # Positive operands keep POW and DIV smooth; distinct ranges keep MAX away from ties.
    check_gradient(lambda x, y: x.alu(op, y), rng.uniform(0.5, 2.0, (3, 2)), rng.uniform(0.5, 2.0, (3, 2)))


def test_pow_gradient_with_negative_base_and_integer_exponent(check_gradient: Checker) -> None:
    # Only the base's gradient is defined here: log of a negative base makes the exponent's nan, as in torch.
    check_gradient(lambda x: x.alu(Ops.POW, x.const_like(3.0)), np.array([-1.5, -0.5, 2.0]))


def test_pow_gradient_at_zero_base_is_finite(gradients_of: Gradients) -> None:
    # x**2 at x = 0: d/dx = 0; d/dy = 0**2 * log 0 is defined as 0, as torch does.
    grad_x, grad_y = gradients_of(lambda x, y: x.alu(Ops.POW, y), np.array([0.0, 1.0]), np.array([2.0, 0.0]))
    np.testing.assert_array_equal(grad_x, [0.0, 0.0])
    np.testing.assert_array_equal(grad_y, [0.0, 0.0])


def test_max_splits_gradient_evenly_on_ties(gradients_of: Gradients) -> None:
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 1.0, 4.0])
    grad_x, grad_y = gradients_of(lambda a, b: a.maximum(b), x, y)
    np.testing.assert_array_equal(grad_x, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(grad_y, [0.5, 0.0, 1.0])


def test_where_routes_gradient_to_the_chosen_branch(check_gradient: Checker, rng: np.random.Generator) -> None:
    x, y = rng.uniform(-1.0, 1.0, (4, 3)), rng.uniform(-1.0, 1.0, (4, 3))
    check_gradient(lambda a, b: a.lt(b).where(a * a, b.alu(Ops.SIN)), x, y)


def test_where_gives_no_gradient_to_its_condition(gradients_of: Gradients) -> None:
    x = np.array([1.0, -1.0, 2.0])
    (grad,) = gradients_of(lambda a: a.lt(a.const_like(0.0)).where(a.const_like(5.0), a.const_like(7.0)), x)
    np.testing.assert_array_equal(grad, np.zeros(3))


def test_cast_gradient_is_cast_back_to_the_source_dtype(gradients_of: Gradients) -> None:
    def through_float32(x: UOp) -> UOp:
        narrow = x.cast(dtypes.float32)
        return (narrow * narrow).cast(dtypes.float64)

    # Finite differences drown in float32 rounding here, so the derivative 2x is checked directly.
    data = np.array([0.5, 1.25, -3.0])
    (grad,) = gradients_of(through_float32, data)
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, 2 * data, rtol=1e-7)


def test_cast_through_an_integer_blocks_the_gradient(gradients_of: Gradients) -> None:
    x = np.array([1.7, -2.2])
    (grad,) = gradients_of(lambda a: a.cast(dtypes.int32).cast(dtypes.float64) * a + a, x)
    # Only the direct paths count: d/dx (trunc(x) * x + x) with trunc(x) held constant.
    np.testing.assert_array_equal(grad, np.trunc(x) + 1.0)


_FLAT = [Ops.TRUNC, Ops.FLOOR, Ops.CEIL, Ops.ROUND]


@pytest.mark.parametrize("op", _FLAT, ids=[op.name for op in _FLAT])
def test_rounding_ops_have_zero_gradient(op: Ops, gradients_of: Gradients) -> None:
    x = np.array([1.3, -2.6, 0.2])
    (grad,) = gradients_of(lambda a: a.alu(op) + a, x)
    np.testing.assert_array_equal(grad, np.ones(3))


def test_integer_division_has_zero_gradient(gradients_of: Gradients) -> None:
    grad_x, grad_y = gradients_of(lambda a, b: a.alu(Ops.IDIV, b) + a * b, np.array([5.5, -3.0]), np.array([2.0, 4.0]))
    np.testing.assert_array_equal(grad_x, [2.0, 4.0])
    np.testing.assert_array_equal(grad_y, [5.5, -3.0])


def test_fmod_is_x_minus_its_truncated_quotient_times_y(gradients_of: Gradients) -> None:
    # fmod(x, y) = x - trunc(x / y) * y: d/dx = 1, d/dy = -trunc(x / y) (torch.fmod's gradient).
    grad_x, grad_y = gradients_of(lambda a, b: a.alu(Ops.MOD, b) + a * b, np.array([5.5, -3.0]), np.array([2.0, 4.0]))
    np.testing.assert_array_equal(grad_x, [3.0, 5.0])
    np.testing.assert_array_equal(grad_y, [3.5, -3.0])


def test_comparison_gives_zero_gradient(gradients_of: Gradients) -> None:
    (grad,) = gradients_of(lambda a: a.lt(a.const_like(1.0)).cast(dtypes.float64), np.array([0.5, 2.0]))
    np.testing.assert_array_equal(grad, [0.0, 0.0])


def test_composite_expression_matches_finite_differences(check_gradient: Checker, rng: np.random.Generator) -> None:
    def softplus_ratio(x: UOp, y: UOp) -> UOp:
        softplus = (x.alu(Ops.EXP) + x.const_like(1.0)).alu(Ops.LOG)
        return softplus.alu(Ops.DIV, (y * y + y.const_like(1.0)).alu(Ops.SQRT)) - x.alu(Ops.COS) * y

    check_gradient(softplus_ratio, rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
