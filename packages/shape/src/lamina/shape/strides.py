"""Element strides of a C-contiguous (row-major) layout, as numpy and torch compute them.

A stride is the distance in elements between neighbours along one dimension. The last dimension has
stride 1 and each earlier one steps over a whole row of the dimensions after it. Size-1 dimensions
keep their ordinary stride, and a 0-size dimension counts as size 1 for the dimensions before it, so
empty tensors get the same strides numpy and torch give them.
"""

from __future__ import annotations

from lamina.shape.shape import Shape, check_shape


def contiguous_strides(shape: Shape) -> tuple[int, ...]:
    """The row-major element strides of `shape`."""
    shape = check_shape(shape)
    strides: list[int] = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))
