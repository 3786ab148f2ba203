"""The shape of a matrix product, by torch.matmul's (and numpy.matmul's) rules.

Both operands need at least one dimension. A 1-D left operand acts as a row vector (a 1 is
prepended, then removed from the result), a 1-D right operand as a column vector (a 1 is appended,
then removed). The last two dimensions multiply as matrices and all dimensions before them broadcast
as batch dimensions.
"""

from __future__ import annotations

from lamina.shape.broadcast import broadcast_shapes
from lamina.shape.shape import Shape, check_shape


def matmul_shape(a: Shape, b: Shape) -> Shape:
    """The shape of `a @ b`; ValueError naming both shapes when they cannot be multiplied."""
    a, b = check_shape(a, "left shape"), check_shape(b, "right shape")
    if not a or not b:
        raise ValueError(f"matmul needs operands of at least 1 dimension, got shapes {a} and {b}")
    left = (1, *a) if len(a) == 1 else a
    right = (*b, 1) if len(b) == 1 else b
    rows, inner = left[-2:]
    inner_right, columns = right[-2:]
    if inner != inner_right:
        raise ValueError(f"matmul shapes {a} and {b} do not match: {inner} columns against {inner_right} rows")
    try:
        batch = broadcast_shapes(left[:-2], right[:-2])
    except ValueError:
        raise ValueError(f"matmul shapes {a} and {b} have batch dimensions that cannot be broadcast") from None
    result = [*batch, rows, columns]
    if len(b) == 1:
        result.pop()
    if len(a) == 1:
        result.pop(-2 if len(b) > 1 else -1)
    return tuple(result)
