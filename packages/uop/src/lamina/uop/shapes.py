"""Shape inference for tensor-graph UOps: the shape each op produces from its sources and argument.

Kernel-level nodes (ranges, loads, scalar arithmetic on them) are scalars and have shape `()`.
Errors name the op and the shapes, so a malformed graph fails where it is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from lamina.shape import (
    Shape,
    expand_shape,
    pad_shape,
    permute_shape,
    reshape_shape,
    shrink_shape,
)
from lamina.uop.ops import GroupOp, Ops
from lamina.uop.uop import BufferRef, UOp


def _elementwise_shape(uop: UOp) -> Shape:
    shapes = {source.shape for source in uop.src}
    if len(shapes) > 1:
        listed = ", ".join(str(source.shape) for source in uop.src)
        raise ValueError(f"{uop.op} needs sources of one shape, got {listed}")
    return shapes.pop() if shapes else ()


def _buffer_shape(uop: UOp) -> Shape:
    ref = uop.arg
    if not isinstance(ref, BufferRef):
        raise TypeError(f"BUFFER needs a BufferRef argument, got {ref!r}")
    return (ref.size,)


def _reduce_axis_shape(uop: UOp) -> Shape:
    _, axes = uop.arg
    source = uop.src[0].shape
    for axis in axes:
        if not 0 <= axis < len(source):
            raise IndexError(f"REDUCE_AXIS axis {axis} is out of range for shape {source}")
    return tuple(1 if axis in axes else size for axis, size in enumerate(source))


def _reshape(uop: UOp) -> Shape:
    new = reshape_shape(uop.src[0].shape, uop.arg)
    if any(size < 0 for size in uop.arg):
        raise ValueError(f"RESHAPE needs an explicit shape, got {uop.arg}")
    return new


def _flip(uop: UOp) -> Shape:
    source = uop.src[0].shape
    if len(uop.arg) != len(source):
        raise ValueError(f"FLIP needs one flag per dim of {source}, got {uop.arg}")
    return source


_MOVEMENT_RULES: Final[dict[Ops, Callable[[UOp], Shape]]] = {
    Ops.RESHAPE: _reshape,
    Ops.PERMUTE: lambda uop: permute_shape(uop.src[0].shape, uop.arg),
    Ops.EXPAND: lambda uop: expand_shape(uop.src[0].shape, uop.arg),
    Ops.PAD: lambda uop: pad_shape(uop.src[0].shape, uop.arg),
    Ops.SHRINK: lambda uop: shrink_shape(uop.src[0].shape, uop.arg),
    Ops.FLIP: _flip,
}


def infer_shape(uop: UOp) -> Shape:
    """The shape `uop` produces; raises ValueError/IndexError naming the op and shapes when malformed."""
    if uop.op in _MOVEMENT_RULES:
        shape = _MOVEMENT_RULES[uop.op](uop)
        if uop.op is Ops.EXPAND and len(shape) != len(uop.src[0].shape):
            raise ValueError(f"EXPAND keeps the rank: {uop.src[0].shape} -> {uop.arg}")
        return shape
    if uop.op is Ops.BUFFER:
        return _buffer_shape(uop)
    if uop.op is Ops.REDUCE_AXIS:
        return _reduce_axis_shape(uop)
    if uop.op is Ops.CONTIGUOUS:
        return uop.src[0].shape
    if uop.op is Ops.WRITE:
        _, strides = uop.arg
        if len(strides) != len(uop.src[1].shape) or len(uop.src[0].shape) != 1:
            raise ValueError(
                f"WRITE needs a flat target and a stride per dim of the values, got {uop.src[0].shape}, "
                f"{uop.src[1].shape} and strides {strides}"
            )
        return uop.src[0].shape
    if uop.op is Ops.TAKE:
        table, indices = uop.src
        if not table.shape or indices.scalar_dtype.is_float or indices.scalar_dtype.is_bool:
            raise ValueError(f"TAKE needs a table with rows and integer indices, got {table.shape} and {indices.dtype}")
        return indices.shape + table.shape[1:]
    if uop.op is Ops.CHECK:
        if uop.src[1].shape != ():
            raise ValueError(f"CHECK needs a scalar verdict, got shape {uop.src[1].shape}")
        return uop.src[0].shape
    if uop.op in GroupOp.ELEMENTWISE:
        return _elementwise_shape(uop)
    return ()
