"""A CPU's matmul reads a wide right operand in panels: a rewrite of the tensor graph the CPU's `Lowering` asks for.

A register tile of a matmul reads a few contiguous columns of B on every row of k. When B is wide, each
of those reads lands on another 4 KB page (the TLB misses) and in the same few cache sets (they evict
each other). Copied once into panels of the tile's width, each contiguous over all of k, B is read
row after row instead. The rewrite keeps the graph's meaning: B is replaced by its panels read back in
B's own layout, `B[k, j] = panels[j // width, k, j % width]`, which the code generator reads as a
contiguous run within each panel; the copy is a CONTIGUOUS, so the scheduler gives it a kernel.

Tensor code stays a plain broadcast-multiply-sum, and a target that wants no panels (a GPU, whose
tiles go through local memory) never sees them.
"""

from __future__ import annotations

from typing import Final

from lamina.shape import prod
from lamina.uop import Ops, UOp

PANEL_MIN_ELEMENTS: Final = 1 << 18
"""B is copied into panels from this size on: smaller, it stays in cache beside the rows of A in use (unless it is
stored along the sum, see `in_panels`)."""

PANEL_MIN_ROWS: Final = 64
"""Rows of A below which the copy costs more than the reads it speeds up."""


def _transposed_matrix(operand: UOp) -> UOp | None:
    """The 2-D (columns, depth) view below `operand`'s new axis and broadcast: B transposed, as matmul reads B."""
    node = operand
    while node.op in (Ops.EXPAND, Ops.RESHAPE) and len(node.src[0].shape) >= 2:
        node = node.src[0]
    return node if len(node.shape) == 2 and node.op is not Ops.CONST else None


def _stored_along_depth(matrix: UOp) -> bool:
    """Whether the (columns, depth) `matrix` is a stored matrix's view whose depth is its contiguous axis: the
    stored matrix itself, or permuted back to itself."""
    axes = (0, 1)
    while matrix.op is Ops.PERMUTE:
        axes = tuple(matrix.arg[axis] for axis in axes)
        matrix = matrix.src[0]
    base = matrix
    while base.op is Ops.RESHAPE:
        base = base.src[0]
    return axes == (0, 1) and base.op is Ops.BUFFER and len(matrix.shape) == 2


def in_panels(reduce: UOp, source: UOp, width: int) -> UOp | None:
    """The matmul `reduce` (a sum over the last axis of a product `source`) with its right operand read from a
    copy in panels of `width` columns, or None where it is no such matmul or the copy would not pay."""
    if width < 1 or reduce.arg != (Ops.ADD, (len(source.shape) - 1,)) or source.op is not Ops.MUL:
        return None
    left, right = source.src
    transposed = _transposed_matrix(right)
    if transposed is None or right.shape[-2:] != transposed.shape:
        return None
    columns, depth = transposed.shape
    rows = prod(reduce.shape) // columns
    if columns % width or columns <= width or rows < PANEL_MIN_ROWS:
        return None
    # B stored (columns, depth), contiguous along the sum (`x @ w.T`, a linear layer's weight), cannot be read as
    # a tile's columns at all: copied into panels at any size. Stored otherwise, a small one stays in cache.
    if depth * columns <= PANEL_MIN_ELEMENTS and not _stored_along_depth(transposed):
        return None
    matrix = transposed.permute((1, 0))
    panels = matrix.reshape((depth, columns // width, width)).permute((1, 0, 2)).contiguous()
    read_back = panels.permute((1, 0, 2)).reshape((depth, columns)).permute((1, 0))
    rebuilt_right = _replace(right, transposed, read_back)
    return UOp(Ops.REDUCE_AXIS, reduce.dtype, (UOp(Ops.MUL, source.dtype, (left, rebuilt_right)),), reduce.arg)


def _replace(node: UOp, old: UOp, new: UOp) -> UOp:
    """`node`'s chain of views with `old` at its bottom swapped for `new` (of the same shape)."""
    if node is old:
        return new
    return UOp(node.op, node.dtype, (_replace(node.src[0], old, new),), node.arg)
