"""The table of per-op gradient rules: for a node and the gradient flowing into it, one gradient per source.

Each rule takes `(node, grad)`, where `grad` has the node's shape and dtype, and returns a tuple with
one entry per source of `node`: a lazy UOp of that source's shape, or None where the source receives
no gradient (a condition, an integer operand, an op that is flat almost everywhere). Rules only build
UOps; they never evaluate anything. Broadcasting is always an explicit EXPAND in the tensor graph, so
the EXPAND rule is the one place where gradients are summed over broadcast axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from lamina.uop import GroupOp, Ops, UOp

GradientRule = Callable[[UOp, UOp], tuple[UOp | None, ...]]


# -- unary elementwise: the derivative written in terms of the source x and, where cheaper, the result --


def _reciprocal(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    # d(1/x)/dx = -1/x**2 = -(result * result)
    return (-(grad * node * node),)


def _sqrt(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    # d(sqrt x)/dx = 1 / (2 sqrt x)
    return (grad.alu(Ops.DIV, node * node.const_like(2.0)),)


def _exp2(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    return (grad * node * node.const_like(math.log(2.0)),)


def _log2(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    x = node.src[0]
    return (grad.alu(Ops.DIV, x * node.const_like(math.log(2.0))),)


def _cos(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    return (-(grad * node.src[0].alu(Ops.SIN)),)


# -- binary elementwise --


def _div(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    # d(x/y)/dy = -x/y**2 = -(x/y)/y, reusing the result
    y = node.src[1]
    return grad.alu(Ops.DIV, y), -((grad * node).alu(Ops.DIV, y))


def _atan2(node: UOp, grad: UOp) -> tuple[UOp, UOp]:
    # d/dy atan2(y, x) = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2); at the origin both are 0 (0/0), as in torch.
    y, x = node.src
    zero = node.const_like(0.0)
    squared = x * x + y * y
    scale = squared.eq(zero).where(zero, grad.alu(Ops.DIV, squared))
    return scale * x, -(scale * y)


def _fmod(node: UOp, grad: UOp) -> tuple[UOp, UOp]:
    # fmod(x, y) = x - trunc(x / y) * y: d/dx = 1, d/dy = -trunc(x / y) (torch.fmod; remainder builds on it).
    x, y = node.src
    return grad, -(grad * x.alu(Ops.DIV, y).alu(Ops.TRUNC))


def _pow(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    x, y = node.src
    zero = node.const_like(0.0)
    # d/dx = y * x**(y-1), written with pow so x == 0 works; torch defines it as 0 where y == 0 (0 * 0**-1).
    grad_x = y.eq(zero).where(zero, grad * y * x.alu(Ops.POW, y - node.const_like(1.0)))
    # d/dy = x**y * log x; at x == 0 and y >= 0 that is 0 * -inf, which torch defines as 0 (the limit for y > 0);
    # for y < 0 it is inf * -inf = -inf, as in torch.
    flat = x.eq(zero).alu(Ops.AND, y.lt(zero).alu(Ops.NOT))
    grad_y = flat.where(zero, grad * node * x.alu(Ops.LOG))
    return grad_x, grad_y


def _max(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    # Like torch.maximum: the larger source takes the gradient; on a tie each takes half.
    x, y = node.src
    zero = node.const_like(0.0)
    tie = x.eq(y)
    half = grad * node.const_like(0.5)
    grad_x = tie.where(half, y.lt(x).where(grad, zero))
    grad_y = tie.where(half, x.lt(y).where(grad, zero))
    return grad_x, grad_y


def _where(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    condition = node.src[0]
    zero = node.const_like(0.0)
    return None, condition.where(grad, zero), condition.where(zero, grad)


def _cast(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    source = node.src[0]
    if not source.scalar_dtype.is_float or not node.scalar_dtype.is_float:
        return (None,)
    return (grad.cast(source.scalar_dtype),)


def _no_gradient(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    return (None,) * len(node.src)


# -- reductions --


def _reduce_axis(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    op, axes = node.arg
    if op is Ops.ADD:
        return (grad.expand(node.src[0].shape),)
    if op is Ops.MAX:
        return (_reduce_max(node, grad, axes),)
    return (_reduce_mul(node, grad, axes),)


def _reduce_max(node: UOp, grad: UOp, axes: tuple[int, ...]) -> UOp:
    # Like torch.amax: every position equal to the max shares the gradient equally.
    x = node.src[0]
    at_max = x.eq(node.expand(x.shape))
    count = at_max.cast(x.scalar_dtype).reduce_axis(Ops.ADD, axes)
    return at_max.where(grad.alu(Ops.DIV, count).expand(x.shape), x.const_like(0.0))


def _reduce_mul(node: UOp, grad: UOp, axes: tuple[int, ...]) -> UOp:
    # The gradient of x_i is the product of the *other* elements. Dividing the product by x_i breaks at
    # zeros, so it is built from the product of the nonzero elements and the count of zeros: with no
    # zero among the others it is that product divided by x_i's own nonzero value (or by 1 if x_i is the
    # zero); with any zero among the others it is exactly zero.
    x = node.src[0]
    zero = x.const_like(0.0)
    one = x.const_like(1.0)
    is_zero = x.eq(zero)
    zero_flag = is_zero.where(one, zero)
    nonzero = is_zero.where(one, x)
    product_nonzero = nonzero.reduce_axis(Ops.MUL, axes).expand(x.shape)
    others_have_zero = zero_flag.reduce_axis(Ops.ADD, axes).expand(x.shape).ne(zero_flag)
    others = others_have_zero.where(zero, product_nonzero.alu(Ops.DIV, nonzero))
    return grad.expand(x.shape) * others


# -- movement: each rule is the inverse movement --


def _permute(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    order: tuple[int, ...] = node.arg
    inverse = tuple(sorted(range(len(order)), key=order.__getitem__))
    return (grad.permute(inverse),)


def _expand(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    source_shape = node.src[0].shape
    axes = tuple(
        axis for axis, (before, after) in enumerate(zip(source_shape, node.shape, strict=True)) if before != after
    )
    return (grad.reduce_axis(Ops.ADD, axes),)


def _pad(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    source_shape = node.src[0].shape
    bounds = tuple((before, before + size) for (before, _), size in zip(node.arg, source_shape, strict=True))
    return (grad.shrink(bounds),)


def _shrink(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    source_shape = node.src[0].shape
    padding = tuple((start, size - end) for (start, end), size in zip(node.arg, source_shape, strict=True))
    return (grad.pad(padding),)


def _take(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    # Row r of the table gets the sum of the gradients of every position that read it: a one-hot of the indices
    # (rows x positions) selecting the gradient's rows, summed over the positions.
    table, indices = node.src
    rows, rest = table.shape[0], table.shape[1:]
    count = math.prod(indices.shape)
    hot = UOp.arange(rows, indices.scalar_dtype).reshape((rows, 1)).expand((rows, count))
    hot = hot.alu(Ops.CMPEQ, indices.reshape((1, count)).expand((rows, count)))
    spread = (rows, count, *rest)
    hot = hot.reshape((rows, count, *(1,) * len(rest))).expand(spread)
    picked = hot.where(grad.reshape((1, count, *rest)).expand(spread), UOp.full(spread, grad.scalar_dtype, 0))
    return picked.reduce_axis(Ops.ADD, (1,)).reshape(table.shape), None


def _erf(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
    # d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)
    x = node.src[0]
    return (grad * (-(x * x)).alu(Ops.EXP) * x.const_like(2.0 / math.sqrt(math.pi)),)


gradient_rules: Final[dict[Ops, GradientRule]] = {
    Ops.ADD: lambda node, grad: (grad, grad),
    Ops.SUB: lambda node, grad: (grad, -grad),
    Ops.MUL: lambda node, grad: (grad * node.src[1], grad * node.src[0]),
    Ops.DIV: _div,
    Ops.NEG: lambda node, grad: (-grad,),
    Ops.RECIPROCAL: _reciprocal,
    Ops.SQRT: _sqrt,
    Ops.EXP: lambda node, grad: (grad * node,),
    Ops.LOG: lambda node, grad: (grad.alu(Ops.DIV, node.src[0]),),
    Ops.EXP2: _exp2,
    Ops.LOG2: _log2,
    Ops.SIN: lambda node, grad: (grad * node.src[0].alu(Ops.COS),),
    Ops.COS: _cos,
    Ops.ERF: _erf,
    Ops.EXPM1: lambda node, grad: (grad * node.src[0].alu(Ops.EXP),),  # e**x, not result + 1 (exact near -1)
    Ops.LOG1P: lambda node, grad: (grad.alu(Ops.DIV, node.src[0] + node.const_like(1.0)),),
    Ops.POW: _pow,
    Ops.ATAN2: _atan2,
    Ops.MOD: _fmod,
    Ops.MAX: _max,
    Ops.WHERE: _where,
    Ops.CAST: _cast,
    Ops.CONTIGUOUS: lambda node, grad: (grad,),
    Ops.CHECK: lambda node, grad: (grad, None),
    Ops.TAKE: _take,
    Ops.REDUCE_AXIS: _reduce_axis,
    Ops.RESHAPE: lambda node, grad: (grad.reshape(node.src[0].shape),),
    Ops.PERMUTE: _permute,
    Ops.EXPAND: _expand,
    Ops.PAD: _pad,
    Ops.SHRINK: _shrink,
    Ops.FLIP: lambda node, grad: (grad.flip(node.arg),),
    # Flat almost everywhere or not a function of real numbers: no gradient reaches their sources.
    **dict.fromkeys(
        GroupOp.COMPARISON
        | GroupOp.INTEGER_ONLY
        | {Ops.NOT, Ops.TRUNC, Ops.FLOOR, Ops.CEIL, Ops.ROUND, Ops.BITCAST, Ops.WRITE, Ops.BIND},
        _no_gradient,
    ),
}
