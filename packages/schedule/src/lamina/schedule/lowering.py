"""Rewrites of the tensor graph before it is cut into kernels: what the graph says, computed the way kernels can.

Two rewrites, applied in one walk. A CHECK is replaced by the value it guards (its verdict is
scheduled as a target of its own, see `scheduler.py`). A long sum of floats is computed as a sum of
block sums: one running total over N elements loses about N ulps of itself (a float32 total of 2**24
ones stops growing at 2**24, and 16M values near 1000 come out 0.3% off), where a total of blocks of
CASCADE_BLOCK loses about CASCADE_BLOCK + N / CASCADE_BLOCK, which torch's and numpy's pairwise sums
match. The blocks are a reshape of the reduced elements (zero-padded to whole blocks: zeros add
exactly), so the kernel is an inner reduction inside an outer one, with the inner loop contiguous.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from lamina.schedule.boundaries import is_buffer_view
from lamina.shape import prod
from lamina.uop import Ops, UOp, toposort

CASCADE_FROM: Final = 1 << 16
"""Float sums over at least this many elements are computed in blocks (shorter ones lose too little to matter)."""

CASCADE_BLOCK: Final = 4096
"""Elements summed into each block total."""


def lower_graph(roots: Sequence[UOp]) -> list[UOp]:
    """`roots` with every CHECK replaced by the value it guards and every long float sum computed in blocks."""
    rebuilt: dict[UOp, UOp] = {}
    for node in toposort(roots, stop=is_buffer_view):
        if node.op is Ops.CHECK:
            rebuilt[node] = rebuilt[node.src[0]]
            continue
        new_src = tuple(rebuilt.get(source, source) for source in node.src)
        if _long_float_sum(node):
            rebuilt[node] = _in_blocks(node, new_src[0])
            continue
        rebuilt[node] = node if new_src == node.src else UOp(node.op, node.dtype, new_src, node.arg)
    return [rebuilt.get(root, root) for root in roots]


def _long_float_sum(node: UOp) -> bool:
    if node.op is not Ops.REDUCE_AXIS or node.arg[0] is not Ops.ADD or not node.scalar_dtype.is_float:
        return False
    return prod(node.src[0].shape[axis] for axis in node.arg[1]) >= CASCADE_FROM


def _in_blocks(node: UOp, source: UOp) -> UOp:
    """The sum `node` of `source` as a sum over blocks of CASCADE_BLOCK-element sums (see the module)."""
    _, axes = node.arg
    shape = source.shape
    kept = [axis for axis in range(len(shape)) if axis not in axes]
    kept_shape = tuple(shape[axis] for axis in kept)
    count = prod(shape[axis] for axis in axes)
    blocks = -(-count // CASCADE_BLOCK)
    flat = source.permute((*kept, *axes)).reshape((*kept_shape, count))
    padded = flat.pad(((0, 0),) * len(kept) + ((0, blocks * CASCADE_BLOCK - count),))
    totals = padded.reshape((*kept_shape, blocks, CASCADE_BLOCK)).reduce_axis(Ops.ADD, (len(kept) + 1,))
    totals = totals.reshape((*kept_shape, blocks))
    summed = totals.reduce_axis(Ops.ADD, (len(kept),))
    if blocks >= CASCADE_FROM:
        summed = _in_blocks(summed, totals)
    return summed.reshape(node.shape)
