"""Property tests: simplify never changes the value of an integer expression, and bounds always hold.

Random expression trees over variables with random (also negative) ranges and loop indices are
evaluated with C semantics at random points in their ranges, before and after simplification.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.dtype import dtypes
from lamina.rewrite import evaluate_int, simplify, vmax, vmin
from lamina.uop import AxisKind, Ops, UOp, toposort


@st.composite
def _leaves(draw: st.DrawFn) -> list[UOp]:
    leaves: list[UOp] = []
    for index in range(draw(st.integers(2, 3))):
        low = draw(st.integers(-12, 12))
        leaves.append(UOp.variable(f"v{index}", low, low + draw(st.integers(0, 15))))
    for axis in range(draw(st.integers(0, 2))):
        leaves.append(UOp.range(draw(st.integers(1, 12)), axis, AxisKind.LOOP))
    return leaves


def _expression(draw: st.DrawFn, leaves: list[UOp], depth: int) -> UOp:
    if depth == 0 or draw(st.integers(0, 6)) == 0:
        if draw(st.integers(0, 3)):
            return draw(st.sampled_from(leaves))
        return UOp.const(dtypes.int32, draw(st.integers(-8, 8)))
    kind = draw(st.sampled_from(["add", "sub", "mul", "idiv", "mod", "max", "where", "scale", "linear", "digit"]))
    if kind == "linear":
        # The shape index arithmetic takes: a weighted sum of indices, as strides make it.
        total = UOp.const(dtypes.int32, draw(st.integers(-6, 6)))
        for _ in range(draw(st.integers(1, 3))):
            total = total + _expression(draw, leaves, depth - 1) * draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12, -1, -4]))
        return total
    a = _expression(draw, leaves, depth - 1)
    if kind == "digit":
        # A choice of a constant by a flag, as arange's binary digits are rangeified: `0 < (a // c) % 2 ? w : 0`
        # (the flag is 0 or 1 only where `a` is not negative; elsewhere it may be -1 and must stay a choice).
        zero = UOp.const(dtypes.int32, 0)
        flag = (a // draw(st.sampled_from([1, 2, 4]))) % 2
        return zero.lt(flag).where(UOp.const(dtypes.int32, draw(st.sampled_from([1, 2, 3, 8, -4]))), zero)
    if kind in ("idiv", "mod", "scale"):
        c = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 8, 12, 16, 24]))
        return a // c if kind == "idiv" else a % c if kind == "mod" else a * c
    b = _expression(draw, leaves, depth - 1)
    if kind == "where":
        return a.lt(b).where(_expression(draw, leaves, depth - 1), b)
    operator: dict[str, Callable[[UOp, UOp], UOp]] = {
        "add": lambda p, q: p + q,
        "sub": lambda p, q: p - q,
        "mul": lambda p, q: p * q,
        "max": lambda p, q: p.maximum(q),
    }
    return operator[kind](a, b)


@st.composite
def _case(draw: st.DrawFn) -> tuple[UOp, list[dict[UOp, int]]]:
    leaves = draw(_leaves())
    expr = _expression(draw, leaves, draw(st.integers(2, 5)))
    symbols = [leaf for leaf in leaves if leaf.op in (Ops.DEFINE_VAR, Ops.RANGE)]
    points = []
    for _ in range(4):
        point = {}
        for symbol in symbols:
            point[symbol] = draw(st.integers(vmin(symbol), vmax(symbol)))
        points.append(point)
    return expr, points


@settings(max_examples=300, deadline=None)
@given(_case())
def test_simplify_preserves_value_and_bounds_hold(case: tuple[UOp, list[dict[UOp, int]]]) -> None:
    expr, points = case
    simplified = simplify(expr)
    for point in points:
        value = evaluate_int(expr, point)
        assert evaluate_int(simplified, point) == value, (expr, simplified, point)
        assert vmin(expr) <= value <= vmax(expr)
        assert vmin(simplified) <= value <= vmax(simplified)


@settings(max_examples=150, deadline=None)
@given(_case())
def test_every_subexpression_stays_within_its_bounds(case: tuple[UOp, list[dict[UOp, int]]]) -> None:
    expr, points = case
    for node in toposort(expr):
        if node.dtype in (dtypes.int32, dtypes.bool):
            for point in points:
                assert vmin(node) <= evaluate_int(node, point) <= vmax(node), node


@settings(max_examples=100, deadline=None)
@given(_case())
def test_simplify_is_idempotent(case: tuple[UOp, list[dict[UOp, int]]]) -> None:
    expr, _ = case
    once = simplify(expr)
    assert simplify(once) is once
