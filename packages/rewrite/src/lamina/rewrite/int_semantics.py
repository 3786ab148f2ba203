"""What integer and bool ops compute, exactly as the C renderer's output does: the single definition
that constant folding and the test oracle `evaluate_int` share.

IDIV truncates toward zero and MOD takes the dividend's sign (C's `/` and `%`), every result wraps to
its dtype's width, bools are the integers 0 and 1, and a nonzero value converted to bool is true.
A shift by a count outside [0, bits) shifts every bit out, as the renderer's helper does; division by
zero is undefined in C (the renderer's helper gives 0), so it raises here instead of guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from lamina.dtype import DType
from lamina.uop import Ops, UOp, UOpDType, normalize_const, toposort


def c_div(a: int, b: int) -> int:
    """a / b in C: the quotient truncated toward zero."""
    if b == 0:
        raise ZeroDivisionError(f"integer division of {a} by zero")
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def c_mod(a: int, b: int) -> int:
    """a % b in C: the remainder with the sign of the dividend."""
    return a - b * c_div(a, b)


def _shift_left(value: int, amount: int, dtype: DType) -> int:
    # A count outside [0, bits) shifts every bit out; the C renderer's helper computes the same.
    return value << amount if 0 <= amount < dtype.bits else 0


def _shift_right(value: int, amount: int, dtype: DType) -> int:
    if 0 <= amount < dtype.bits:
        return value >> amount
    return -1 if value < 0 else 0


def is_int_like(dtype: UOpDType) -> bool:
    """True for the dtypes this layer reasons about exactly: integers and bool."""
    return isinstance(dtype, DType) and (dtype.is_int or dtype.is_bool)


def dtype_range(dtype: DType) -> tuple[int, int]:
    """The smallest and largest value of an integer or bool dtype."""
    return int(dtype.min_value), int(dtype.max_value)


# Each takes the operands as Python ints (and the result dtype, for shifts) and returns the exact
# mathematical result; `int_alu` wraps it to the dtype afterwards.
_INT_OPS: Final[dict[Ops, Callable[[list[int], DType], int]]] = {
    Ops.NEG: lambda v, _: -v[0],
    Ops.NOT: lambda v, _: int(v[0] == 0),
    Ops.ADD: lambda v, _: v[0] + v[1],
    Ops.SUB: lambda v, _: v[0] - v[1],
    Ops.MUL: lambda v, _: v[0] * v[1],
    Ops.IDIV: lambda v, _: c_div(v[0], v[1]),
    Ops.MOD: lambda v, _: c_mod(v[0], v[1]),
    Ops.MAX: lambda v, _: max(v[0], v[1]),
    Ops.CMPLT: lambda v, _: int(v[0] < v[1]),
    Ops.CMPNE: lambda v, _: int(v[0] != v[1]),
    Ops.CMPEQ: lambda v, _: int(v[0] == v[1]),
    Ops.AND: lambda v, _: v[0] & v[1],
    Ops.OR: lambda v, _: v[0] | v[1],
    Ops.XOR: lambda v, _: v[0] ^ v[1],
    Ops.SHL: lambda v, d: _shift_left(v[0], v[1], d),
    Ops.SHR: lambda v, d: _shift_right(v[0], v[1], d),
    Ops.WHERE: lambda v, _: v[1] if v[0] else v[2],
    # Every value is already wrapped to its own dtype, so a cast is just the wrap to the new one.
    Ops.CAST: lambda v, _: v[0],
}

INT_FOLDABLE: Final = frozenset(_INT_OPS)


def int_alu(op: Ops, dtype: DType, operands: list[int]) -> int:
    """`op` on integer/bool operands, as C computes it, wrapped to `dtype` (bools as 0 and 1)."""
    compute = _INT_OPS.get(op)
    if compute is None:
        raise TypeError(f"{op} is not an integer op")
    return int(normalize_const(compute(operands, dtype), dtype))


def evaluate_int(uop: UOp, env: Mapping[UOp, int]) -> int:
    """The value of an integer/bool expression, with each DEFINE_VAR and RANGE taken from `env`."""
    values: dict[UOp, int] = {}
    for node in toposort(uop):
        if not isinstance(node.dtype, DType) or not is_int_like(node.dtype):
            raise TypeError(f"evaluate_int evaluates integer and bool nodes, not {node.op} of {node.dtype}")
        if node.op is Ops.CONST:
            values[node] = int(node.arg)
        elif node.op in (Ops.DEFINE_VAR, Ops.RANGE):
            if node not in env:
                raise ValueError(f"no value for {node.op} {node.arg!r}")
            values[node] = int(normalize_const(env[node], node.dtype))
        else:
            values[node] = int_alu(node.op, node.dtype, [values[source] for source in node.src])
    return values[uop]
