"""Shape rules of the movement ops: reshape, permute, pad, shrink, flip, squeeze and unsqueeze.

A movement op changes how a tensor's elements are viewed, never their values, so each rule here
is pure arithmetic on the shape plus the validation that makes an impossible view fail early with
both the input shape and the requested argument in the message. Expand lives with broadcasting.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from lamina.shape.axes import normalize_axes, normalize_permutation
from lamina.shape.shape import Shape, check_shape, prod


def reshape_shape(old: Shape, new: Sequence[int]) -> Shape:
    """`new` with its one -1 inferred so it holds as many elements as `old` (numpy.reshape rules)."""
    old = check_shape(old)
    new = tuple(operator.index(size) for size in new)
    if any(size < -1 for size in new):
        raise ValueError(f"cannot reshape {old} to {new}: sizes must be non-negative or -1")
    unknown = [axis for axis, size in enumerate(new) if size == -1]
    count = prod(old)
    if not unknown:
        if prod(new) != count:
            raise ValueError(f"cannot reshape {old} ({count} elements) to {new} ({prod(new)} elements)")
        return new
    if len(unknown) > 1:
        raise ValueError(f"cannot reshape {old} to {new}: only one dimension may be -1")
    known = prod(size for size in new if size != -1)
    # With a 0 among the known sizes any value fits the -1, so numpy and torch call it ambiguous.
    if known == 0 or count % known != 0:
        raise ValueError(f"cannot reshape {old} ({count} elements) to {new}: no size for -1 fits")
    return tuple(count // known if size == -1 else size for size in new)


def permute_shape(shape: Shape, order: Sequence[int]) -> Shape:
    """`shape` with its dimensions reordered: dimension i of the result is dimension order[i] of `shape`."""
    shape = check_shape(shape)
    return tuple(shape[axis] for axis in normalize_permutation(order, len(shape)))


def _check_per_dim(shape: Shape, pairs: Sequence[tuple[int, int]], what: str) -> tuple[tuple[int, int], ...]:
    pairs = tuple((operator.index(a), operator.index(b)) for a, b in pairs)
    if len(pairs) != len(shape):
        raise ValueError(f"{what} {pairs} has {len(pairs)} pairs but shape {shape} has {len(shape)} dimensions")
    return pairs


def pad_shape(shape: Shape, padding: Sequence[tuple[int, int]]) -> Shape:
    """`shape` with (before, after) elements added to each dimension; a negative amount crops instead."""
    shape = check_shape(shape)
    padding = _check_per_dim(shape, padding, "padding")
    result: list[int] = []
    for axis, (size, (before, after)) in enumerate(zip(shape, padding, strict=True)):
        # Each crop removes existing elements, so it may not remove more than the dimension holds.
        if before < -size or after < -size or size + before + after < 0:
            raise ValueError(f"padding {padding} crops more than dimension {axis} of shape {shape} holds")
        result.append(size + before + after)
    return tuple(result)


def shrink_shape(shape: Shape, bounds: Sequence[tuple[int, int]]) -> Shape:
    """`shape` cut to the window [start, end) in each dimension, with 0 <= start <= end <= size."""
    shape = check_shape(shape)
    bounds = _check_per_dim(shape, bounds, "bounds")
    for axis, (size, (start, end)) in enumerate(zip(shape, bounds, strict=True)):
        if not 0 <= start <= end <= size:
            raise ValueError(
                f"bounds {bounds} are outside shape {shape}: dimension {axis} needs 0 <= start <= end <= {size}"
            )
    return tuple(end - start for start, end in bounds)


def flip_axes(shape: Shape, axes: int | Sequence[int]) -> tuple[bool, ...]:
    """For each dimension of `shape`, whether flipping `axes` reverses it; a repeated axis is a ValueError."""
    shape = check_shape(shape)
    flipped = set(normalize_axes(axes, len(shape)))
    return tuple(axis in flipped for axis in range(len(shape)))


def squeeze_shape(shape: Shape, axis: int | Sequence[int] | None = None) -> Shape:
    """`shape` without the size-1 dimensions among `axis` (all of them for None); other sizes are kept (torch)."""
    shape = check_shape(shape)
    selected = set(normalize_axes(axis, len(shape)))
    return tuple(size for dim, size in enumerate(shape) if not (dim in selected and size == 1))


def unsqueeze_shape(shape: Shape, axis: int) -> Shape:
    """`shape` with a size-1 dimension inserted at `axis`, which may range over [-ndim-1, ndim]."""
    shape = check_shape(shape)
    axis = operator.index(axis)
    ndim = len(shape)
    if not -ndim - 1 <= axis <= ndim:
        raise IndexError(f"cannot unsqueeze shape {shape} at axis {axis}: expected {-ndim - 1} <= axis <= {ndim}")
    position = axis % (ndim + 1)
    return (*shape[:position], 1, *shape[position:])
