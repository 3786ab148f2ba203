"""A slow numpy evaluator for tensor graphs: the oracle every compiled result is checked against.

It walks a graph sources-first and computes each node with numpy, following the semantics written
next to each op in `ops.py`: C truncation for integer IDIV and MOD, fmod for float MOD, wraparound
for integer overflow and integer casts, float-to-int casts that truncate, and float16/bfloat16
computed in float32 and rounded after every op. Inside the evaluator a bfloat16 value travels as a
float32 array holding bfloat16-representable values; it enters and leaves as raw uint16 bits, which
is how numpy stores bfloat16 everywhere in lamina. Clarity wins over speed in every line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from lamina.dtype import DType, bfloat16_bits_to_float32, dtypes, float32_to_bfloat16_bits, to_numpy_dtype
from lamina.uop.check import CHECK_PASSED
from lamina.uop.graph import toposort
from lamina.uop.ops import GroupOp, Ops
from lamina.uop.uop import UOp

Array = npt.NDArray[Any]


def evaluate(roots: Sequence[UOp], inputs: Mapping[UOp, Array] | None = None) -> list[Array]:
    """The value of each root as a fresh numpy array of the root's numpy storage dtype."""
    given: Mapping[UOp, Array] = {} if inputs is None else inputs
    values: dict[UOp, Array] = {}
    # C semantics are silent: integer overflow wraps, 1/0 is inf, 0/0 is nan; numpy would warn about each.
    with np.errstate(all="ignore"):
        # A BIND carries its variable's value: the DEFINE_VAR under it is not evaluated (alone it has none).
        for node in toposort(roots, stop=lambda node: node.op is Ops.BIND):
            sources = [] if node.op is Ops.BIND else [values[source] for source in node.src]
            values[node] = _evaluate_node(node, sources, given)
        return [_to_storage(values[root], root.scalar_dtype) for root in roots]


# -- representations: storage (what numpy holds outside) and compute (what flows between nodes) --


def _from_storage(array: Array, dtype: DType) -> Array:
    return bfloat16_bits_to_float32(array) if dtype == dtypes.bfloat16 else array


def _to_storage(array: Array, dtype: DType) -> Array:
    if dtype == dtypes.bfloat16:
        return float32_to_bfloat16_bits(array)
    # A copy: movement ops return views (broadcast ones read-only) that callers must be free to write.
    return np.array(array, dtype=to_numpy_dtype(dtype))


def _round_to(values: Array, dtype: DType) -> Array:
    """`values` converted to the compute representation of `dtype` (bfloat16 rounded to nearest even)."""
    if dtype == dtypes.bfloat16:
        return bfloat16_bits_to_float32(float32_to_bfloat16_bits(np.asarray(values)))
    return np.asarray(values).astype(to_numpy_dtype(dtype))


def _widen(array: Array, widen_bool: bool) -> Array:
    # float16 arithmetic happens in float32 (rounded once per op), as the generated kernels do it;
    # bool arithmetic happens on 0/1 integers and is read back as "nonzero", as in C.
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if widen_bool and array.dtype == np.bool_:
        return array.astype(np.int8)
    return array


# -- elementwise ops --


def _truncating_divide(a: Array, b: Array) -> Array:
    if a.dtype.kind == "f":
        return np.trunc(a / b)
    quotient = np.floor_divide(a, b)
    # Floor and truncation differ exactly when the division is inexact and the operands' signs differ.
    inexact = np.fmod(a, b) != 0
    return np.where(inexact & ((a < 0) != (b < 0)), quotient + 1, quotient)


def _divide(a: Array, b: Array) -> Array:
    return np.true_divide(a, b) if a.dtype.kind == "f" else _truncating_divide(a, b)


def _rounding(function: Callable[[Array], Array]) -> Callable[[Array], Array]:
    # Integers are already whole: going through float64 would lose the low bits of large int64s.
    return lambda a: function(a) if a.dtype.kind == "f" else a


def _erf(a: Array) -> Array:
    # numpy has no erf; math.erf is correctly rounded in double, which makes it the reference.
    result: Array = np.vectorize(math.erf, otypes=[np.float64])(a)
    return result.astype(a.dtype, copy=False)


def _shift(left: bool) -> Callable[[Array, Array], Array]:
    """a << b or a >> b with any count: a count outside [0, bits) shifts everything out (the renderer's helpers)."""

    def shift(a: Array, b: Array) -> Array:
        bits = a.dtype.itemsize * 8
        inside = (b >= 0) & (b < bits)
        count = np.where(inside, b, 0).astype(a.dtype)
        if left:
            unsigned = np.dtype(f"u{a.dtype.itemsize}")
            shifted = np.left_shift(a.astype(unsigned), count.astype(unsigned)).astype(a.dtype)
            return np.where(inside, shifted, np.zeros_like(a))
        spilled = np.where(a < 0, -1, 0).astype(a.dtype) if a.dtype.kind == "i" else np.zeros_like(a)
        return np.where(inside, np.right_shift(a, count), spilled)

    return shift


_ALU: Final[dict[Ops, Callable[..., Array]]] = {
    Ops.NEG: np.negative,
    Ops.RECIPROCAL: np.reciprocal,
    Ops.SQRT: np.sqrt,
    Ops.EXP: np.exp,
    Ops.LOG: np.log,
    Ops.EXP2: np.exp2,
    Ops.LOG2: np.log2,
    Ops.SIN: np.sin,
    Ops.COS: np.cos,
    Ops.ERF: _erf,
    Ops.EXPM1: np.expm1,
    Ops.LOG1P: np.log1p,
    Ops.TRUNC: _rounding(np.trunc),
    Ops.FLOOR: _rounding(np.floor),
    Ops.CEIL: _rounding(np.ceil),
    Ops.ROUND: _rounding(np.rint),  # rint rounds half to even, like torch.round
    Ops.NOT: np.logical_not,
    Ops.ADD: np.add,
    Ops.SUB: np.subtract,
    Ops.MUL: np.multiply,
    Ops.DIV: _divide,
    Ops.IDIV: _truncating_divide,
    Ops.MOD: np.fmod,  # the sign of the dividend, for integers as for floats: C's % and fmod
    Ops.MAX: np.maximum,
    Ops.POW: np.power,
    Ops.ATAN2: np.arctan2,
    Ops.CMPLT: np.less,
    Ops.CMPNE: np.not_equal,
    Ops.CMPEQ: np.equal,
    Ops.AND: np.bitwise_and,
    Ops.OR: np.bitwise_or,
    Ops.XOR: np.bitwise_xor,
    Ops.SHL: _shift(left=True),
    Ops.SHR: _shift(left=False),
    Ops.WHERE: np.where,
}

# Ops that treat a bool as a truth value rather than as the number 0 or 1.
_LOGICAL: Final = frozenset({Ops.NOT, Ops.AND, Ops.OR, Ops.XOR, Ops.WHERE})


def _evaluate_alu(node: UOp, values: list[Array]) -> Array:
    operands = [_widen(value, widen_bool=node.op not in _LOGICAL) for value in values]
    return _round_to(_ALU[node.op](*operands), node.scalar_dtype)


# -- casts --


def _float_to_int(values: Array, target: DType) -> Array:
    # C leaves out-of-range and NaN conversions undefined; lamina defines them as torch's CPU kernels compute them
    # on x86: through int32 (int64 for the 64-bit and uint32 targets) with everything out of range, and NaN, at
    # that type's lowest value, and then the target's low bits. uint64 is exact up to 2**64.
    wide = values.astype(np.float64)
    via64 = target.itemsize == 8 or target == dtypes.uint32
    low, high = (-(2.0**63), 2.0**63) if via64 else (-(2.0**31), 2.0**31)
    inside = (wide >= low) & (wide < high)
    whole = np.where(inside, np.trunc(np.where(inside, wide, 0.0)), low).astype(np.int64)
    if target == dtypes.uint64:
        upper = (wide >= 2.0**63) & (wide < 2.0**64)
        large = np.where(upper, wide - 2.0**63, 0.0).astype(np.int64).astype(np.uint64) + np.uint64(1 << 63)
        return np.where(upper, large, whole.astype(np.uint64))
    return whole.astype(to_numpy_dtype(target))


def _cast(values: Array, source: DType, target: DType) -> Array:
    if target.is_bool:
        return np.asarray(values != 0)  # nan is nonzero, as in C
    if target.is_int and source.is_float:
        return _float_to_int(values, target)
    if target.is_float and not source.is_float:
        return _round_to(values.astype(np.float64), target)
    # int -> int wraps (numpy's astype between integer types does), float -> float rounds to nearest.
    return _round_to(values, target)


def _bitcast(values: Array, source: DType, target: DType) -> Array:
    if source.itemsize != target.itemsize:
        raise TypeError(
            f"BITCAST needs equal item sizes, got {source} ({source.itemsize}) -> {target} ({target.itemsize})"
        )
    return _from_storage(_to_storage(values, source).view(to_numpy_dtype(target)), target)


# -- reductions and movement --


def _lowest(dtype: np.dtype[Any]) -> bool | int | float:
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return int(np.iinfo(dtype).min)


def _reduce_axis(node: UOp, value: Array) -> Array:
    op, axes = node.arg
    return _fold(op, value, axes, node.scalar_dtype)


def _fold(op: Ops, value: Array, axes: tuple[int, ...], dtype: DType) -> Array:
    """`value` reduced with `op` over `axes` (kept as size 1), in `dtype`'s compute representation."""
    # bool stays bool: an ADD over bools is "any", a MUL is "all", like an accumulator of C's _Bool.
    operand = _widen(value, widen_bool=False)
    if op is Ops.ADD:
        result = np.sum(operand, axis=axes, keepdims=True, dtype=operand.dtype)
    elif op is Ops.MUL:
        result = np.prod(operand, axis=axes, keepdims=True, dtype=operand.dtype)
    else:
        # The identity of MAX, so an empty reduction gives the lowest value instead of an error.
        result = np.max(operand, axis=axes, keepdims=True, initial=_lowest(operand.dtype))
    return _round_to(result, dtype)


def _flip(value: Array, flags: tuple[bool, ...]) -> Array:
    return np.flip(value, axis=tuple(axis for axis, flag in enumerate(flags) if flag))


def _pad(value: Array, padding: tuple[tuple[int, int], ...]) -> Array:
    # A negative pad removes elements, which np.pad refuses: cut those first, then pad the rest with zeros.
    kept = zip(padding, value.shape, strict=True)
    cut = value[tuple(slice(max(-before, 0), size - max(-after, 0)) for (before, after), size in kept)]
    return np.pad(cut, tuple((max(before, 0), max(after, 0)) for before, after in padding))


_MOVEMENT: Final[dict[Ops, Callable[[Array, Any], Array]]] = {
    Ops.RESHAPE: np.reshape,
    Ops.PERMUTE: np.transpose,
    Ops.EXPAND: np.broadcast_to,
    Ops.PAD: _pad,
    Ops.SHRINK: lambda value, bounds: value[tuple(slice(start, end) for start, end in bounds)],
    Ops.FLIP: _flip,
}


# -- leaves and dispatch --


def _buffer(node: UOp, inputs: Mapping[UOp, Array]) -> Array:
    if node not in inputs:
        raise ValueError(f"no input array for BUFFER {node.buffer}")
    array = inputs[node]
    storage = to_numpy_dtype(node.scalar_dtype)
    if array.dtype != storage:
        raise TypeError(f"BUFFER {node.buffer} of {node.dtype} needs a {storage} array, got {array.dtype}")
    if array.shape != (node.buffer.size,):
        raise ValueError(f"BUFFER {node.buffer} needs an array of shape {(node.buffer.size,)}, got {array.shape}")
    return _from_storage(array, node.scalar_dtype)


def _constant(node: UOp) -> Array:
    if node.dtype == dtypes.bfloat16:
        return _round_to(np.array(node.arg, dtype=np.float64), dtypes.bfloat16)
    return np.array(node.arg, dtype=to_numpy_dtype(node.scalar_dtype))


def _evaluate_node(node: UOp, values: list[Array], inputs: Mapping[UOp, Array]) -> Array:
    if node.op is Ops.BUFFER:
        return _buffer(node, inputs)
    if node.op is Ops.CONST:
        return _constant(node)
    if node.op is Ops.CONTIGUOUS:
        return values[0]
    if node.op is Ops.BIND:
        return np.array(node.arg, dtype=to_numpy_dtype(node.scalar_dtype))
    if node.op is Ops.TAKE:
        rows = values[0].shape[0]
        return values[0][np.clip(values[1].astype(np.int64), 0, max(rows - 1, 0))]
    if node.op is Ops.WRITE:
        offset, strides = node.arg
        offset += int(values[2]) if len(values) > 2 else 0
        addresses = np.full(values[1].shape, offset, dtype=np.int64)
        for axis, (count, stride) in enumerate(zip(values[1].shape, strides, strict=True)):
            addresses += (np.arange(count, dtype=np.int64) * stride).reshape(
                [-1 if a == axis else 1 for a in range(len(strides))]
            )
        written = values[0].copy()
        written[addresses.reshape(-1)] = values[1].reshape(-1)
        return written
    if node.op is Ops.CHECK:
        verdict = int(values[1])
        if verdict != CHECK_PASSED:
            raise node.arg.error(verdict)
        return values[0]
    if node.op in _MOVEMENT:
        return _MOVEMENT[node.op](values[0], node.arg)
    if node.op is Ops.REDUCE_AXIS:
        return _reduce_axis(node, values[0])
    if node.op is Ops.CAST:
        return _cast(values[0], node.src[0].scalar_dtype, node.scalar_dtype)
    if node.op is Ops.BITCAST:
        return _bitcast(values[0], node.src[0].scalar_dtype, node.scalar_dtype)
    if node.op in GroupOp.ALU:
        return _evaluate_alu(node, values)
    raise NotImplementedError(f"the reference evaluator does not evaluate {node.op} (tensor-graph ops only)")
