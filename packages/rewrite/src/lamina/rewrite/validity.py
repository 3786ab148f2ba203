"""Simplifying an address under the condition that makes it valid.

A padded load reads its address only where its validity holds, so the address may be simplified
as if each loop index the validity bounds (`0 < h`, `w + 2 < 30`) ranged over those bounds only.
That is what turns a shifted view's `(x - 245) // 56448` back into plain strides: over the full
loop the shifted address can be negative, which blocks splitting the division, but never where
the load is valid. Each bounded loop index is swapped for a variable with the narrower bounds,
the expression simplified, and the loop index put back.
"""

from __future__ import annotations

import itertools

from lamina.rewrite.symbolic import simplify
from lamina.uop import Ops, UOp, substitute

_narrowed = itertools.count()


def _conjuncts(condition: UOp) -> list[UOp]:
    if condition.op is Ops.AND and condition.scalar_dtype.is_bool:
        return [*_conjuncts(condition.src[0]), *_conjuncts(condition.src[1])]
    return [condition]


def _offset_loop(expression: UOp) -> tuple[UOp, int] | None:
    """(loop, k) when `expression` is `loop + k` (or just `loop`) for a RANGE with a constant end."""
    if expression.op is Ops.RANGE and expression.src[0].op is Ops.CONST:
        return expression, 0
    if expression.op is Ops.ADD and expression.src[1].op is Ops.CONST and expression.src[0].op is Ops.RANGE:
        return (expression.src[0], int(expression.src[1].arg)) if expression.src[0].src[0].op is Ops.CONST else None
    return None


def loop_bounds_under(validity: UOp) -> dict[UOp, tuple[int, int]]:
    """The range each loop index keeps where `validity` holds, from its `c < i + k` and `i + k < c` terms."""
    bounds: dict[UOp, tuple[int, int]] = {}
    for term in _conjuncts(validity):
        if term.op is not Ops.CMPLT:
            continue
        left, right = term.src
        if left.op is Ops.CONST and (found := _offset_loop(right)) is not None:
            loop, offset = found
            low, high = bounds.get(loop, (0, int(loop.src[0].arg) - 1))
            bounds[loop] = (max(low, int(left.arg) - offset + 1), high)
        elif right.op is Ops.CONST and (found := _offset_loop(left)) is not None:
            loop, offset = found
            low, high = bounds.get(loop, (0, int(loop.src[0].arg) - 1))
            bounds[loop] = (low, min(high, int(right.arg) - offset - 1))
    return {loop: span for loop, span in bounds.items() if span[0] <= span[1]}


def simplify_under(expression: UOp, validity: UOp) -> UOp:
    """`expression` simplified for the values of its loop indices where `validity` holds."""
    bounds = loop_bounds_under(simplify(validity))
    if not bounds:
        return simplify(expression)
    variables = {loop: _narrowed_variable(loop, low, high) for loop, (low, high) in bounds.items()}
    narrowed = simplify(substitute([expression], variables)[0])
    return substitute([narrowed], {variable: loop for loop, variable in variables.items()})[0]


_narrowed_variables: dict[tuple[UOp, int, int], UOp] = {}


def _narrowed_variable(loop: UOp, low: int, high: int) -> UOp:
    """The variable standing for `loop` narrowed to [low, high]: one per narrowing, so the simplifier's memo
    recognises an expression narrowed the same way twice."""
    key = (loop, low, high)
    variable = _narrowed_variables.get(key)
    if variable is None:
        if len(_narrowed_variables) > 100_000:
            _narrowed_variables.clear()
        variable = _narrowed_variables[key] = UOp.variable(f"narrowed{next(_narrowed)}", low, high, loop.scalar_dtype)
    return variable
