"""Axis arguments: negative axes wrapped, ranges checked, axis sets and permutations validated.

Every function that takes an axis goes through `normalize_axis`, so out-of-range axes fail the same
way everywhere: an IndexError naming the axis and the number of dimensions. A 0-d tensor accepts
axis 0 and -1 as torch does for reductions of scalars, but they name no real dimension.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence


def normalize_axis(axis: int, ndim: int) -> int:
    """`axis` in [0, ndim): negative axes count from the end; a 0-d tensor accepts 0 and -1."""
    axis = operator.index(axis)
    if ndim < 0:
        raise ValueError(f"ndim must be non-negative, got {ndim}")
    # torch wraps the axes of a scalar as if it had one dimension.
    extent = max(ndim, 1)
    if not -extent <= axis < extent:
        raise IndexError(f"axis {axis} is out of range for {ndim} dimensions (expected {-extent} <= axis < {extent})")
    return axis % extent


def normalize_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """The sorted, non-negative axes `axis` names: None means all; a repeated axis is a ValueError."""
    if axis is None:
        return tuple(range(ndim))
    requested = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = [normalize_axis(a, ndim) for a in requested]
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"axes {requested} name the same axis twice for {ndim} dimensions")
    # The axes of a scalar are accepted but select no dimension.
    if ndim == 0:
        return ()
    return tuple(sorted(normalized))


def normalize_permutation(order: Sequence[int], ndim: int) -> tuple[int, ...]:
    """`order` with negative axes wrapped, checked to be a permutation of range(ndim)."""
    order = tuple(order)
    if len(order) != ndim:
        raise ValueError(f"permutation {order} has {len(order)} axes but the shape has {ndim} dimensions")
    normalized = tuple(normalize_axis(a, ndim) for a in order)
    if len(set(normalized)) != ndim:
        raise ValueError(f"{order} is not a permutation of the {ndim} axes: it repeats an axis")
    return normalized


def transpose_order(ndim: int, dim0: int, dim1: int) -> tuple[int, ...]:
    """The permutation that swaps axes `dim0` and `dim1` of an `ndim`-dimensional shape."""
    first, second = normalize_axis(dim0, ndim), normalize_axis(dim1, ndim)
    order = list(range(ndim))
    if ndim > 0:
        order[first], order[second] = order[second], order[first]
    return tuple(order)
