"""lamina.shape: shape algebra (broadcasting, movement-op shape rules, reductions, matmul, strides, windows)."""

from lamina.shape.axes import normalize_axes, normalize_axis, normalize_permutation, transpose_order
from lamina.shape.broadcast import broadcast_shapes, expand_shape
from lamina.shape.matmul import matmul_shape
from lamina.shape.movement import (
    flip_axes,
    pad_shape,
    permute_shape,
    reshape_shape,
    shrink_shape,
    squeeze_shape,
    unsqueeze_shape,
)
from lamina.shape.reduction import reduce_shape
from lamina.shape.shape import Shape, check_shape, prod
from lamina.shape.strides import contiguous_strides
from lamina.shape.window import pool_output_size

__all__ = [
    "Shape",
    "broadcast_shapes",
    "check_shape",
    "contiguous_strides",
    "expand_shape",
    "flip_axes",
    "matmul_shape",
    "normalize_axes",
    "normalize_axis",
    "normalize_permutation",
    "pad_shape",
    "permute_shape",
    "pool_output_size",
    "prod",
    "reduce_shape",
    "reshape_shape",
    "shrink_shape",
    "squeeze_shape",
    "transpose_order",
    "unsqueeze_shape",
]
