"""Broadcasting: the shape several operands share (numpy's rules) and expanding one shape to another (torch's).

Shapes are aligned at their last dimension; in each position every size must be equal or 1, and a 1
stretches to the others. A 0-size dimension is an ordinary size: it broadcasts with 1 to 0 and clashes
with anything else.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from lamina.shape.shape import Shape, check_shape


def broadcast_shapes(*shapes: Shape) -> Shape:
    """The shape `shapes` broadcast to (numpy.broadcast_shapes); ValueError naming all of them if they clash."""
    checked = [check_shape(shape) for shape in shapes]
    if checked and all(shape == checked[0] for shape in checked):
        return checked[0]  # the usual case: operands already of one shape
    ndim = max((len(shape) for shape in checked), default=0)
    result: list[int] = []
    # Walk from the last dimension; shorter shapes are padded with 1s on the left.
    for position, sizes in enumerate(itertools.zip_longest(*(reversed(s) for s in checked), fillvalue=1)):
        stretched = {size for size in sizes if size != 1}
        if len(stretched) > 1:
            axis = ndim - 1 - position
            raise ValueError(
                f"shapes {', '.join(map(str, checked))} cannot be broadcast: "
                f"sizes {sorted(stretched)} meet in dimension {axis} of the result"
            )
        result.append(stretched.pop() if stretched else 1)
    return tuple(reversed(result))


def expand_shape(shape: Shape, new: Sequence[int]) -> Shape:
    """`shape` expanded to `new` (torch.Tensor.expand): leading dims may be added, -1 keeps a dim, only 1s stretch."""
    shape = check_shape(shape)
    new = tuple(new)
    if len(new) < len(shape):
        raise ValueError(f"cannot expand shape {shape} to {new}: the target has fewer dimensions")
    leading = len(new) - len(shape)
    result: list[int] = []
    for axis, target in enumerate(new):
        if target < -1:
            raise ValueError(f"cannot expand shape {shape} to {new}: size {target} in dimension {axis} is invalid")
        if axis < leading:
            if target == -1:
                raise ValueError(f"cannot expand shape {shape} to {new}: -1 in new leading dimension {axis}")
            result.append(target)
            continue
        size = shape[axis - leading]
        if target in (-1, size):
            result.append(size)
        elif size == 1:
            result.append(target)
        else:
            raise ValueError(
                f"cannot expand shape {shape} to {new}: dimension {axis} has size {size}, "
                f"and only size-1 dimensions can become {target}"
            )
    return tuple(result)
