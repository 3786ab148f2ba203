"""The shape a reduction (sum, max, mean, ...) leaves: the reduced axes dropped, or kept as size 1.

Axes are normalized here (negative axes, range and repeats checked), so every reduce op in the
layers above shares one definition of which axes a reduction may name. Reducing a 0-d tensor over
axis 0 or -1 is allowed, as in torch, and leaves it 0-d.
"""

from __future__ import annotations

from collections.abc import Sequence

from lamina.shape.axes import normalize_axes
from lamina.shape.shape import Shape, check_shape


def reduce_shape(shape: Shape, axes: Sequence[int], keepdim: bool) -> Shape:
    """The shape of reducing `shape` over `axes`: those dimensions removed, or set to 1 if `keepdim`."""
    shape = check_shape(shape)
    reduced = set(normalize_axes(axes, len(shape)))
    if keepdim:
        return tuple(1 if axis in reduced else size for axis, size in enumerate(shape))
    return tuple(size for axis, size in enumerate(shape) if axis not in reduced)
