"""Constants as C literals of their dtype's compute type (shared by the renderer and its mixins)."""

from __future__ import annotations

import math

from lamina.dtype import DType, dtypes
from lamina.uop import ConstValue, Ops, UOp


def render_const(value: ConstValue, dtype: DType) -> str:
    """`value` as a C literal of `dtype`'s compute type."""
    if dtype.is_bool:
        return "1" if value else "0"
    if dtype.is_float:
        number = float(value)
        double = dtype == dtypes.float64
        if math.isnan(number):
            return "NAN"
        if math.isinf(number):
            if double:
                return "HUGE_VAL" if number > 0 else "(-HUGE_VAL)"
            return "INFINITY" if number > 0 else "(-INFINITY)"
        text = repr(number)
        if "e" not in text and "." not in text:
            text += ".0"
        literal = text if double else f"{text}f"
        # -0.0 too: `a-` followed by `-0.0f` would read as the decrement `a--0.0f`.
        return f"({literal})" if math.copysign(1.0, number) < 0 else literal
    integer = int(value)
    suffix = ("u" if dtype.is_unsigned else "") + ("LL" if dtype.itemsize == 8 else "")
    if integer == -(1 << (dtype.bits - 1)):
        # The most negative value has no literal: -2147483648 is the negation of a too-large positive.
        return f"(({dtype.c_name})({integer + 1}{suffix}-1))"
    return f"({integer}{suffix})" if integer < 0 else f"{integer}{suffix}"


def is_positive_zero(node: UOp) -> bool:
    """Whether `node` is the constant +0 (a float's -0.0 is not: a pick of bits drops to +0)."""
    return node.op is Ops.CONST and node.arg == 0 and math.copysign(1.0, float(node.arg)) > 0
