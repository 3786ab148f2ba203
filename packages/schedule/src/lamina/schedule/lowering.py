"""Rewrites of the tensor graph before it is cut into kernels: what the graph says, computed the way kernels can.

Three rewrites, applied in one walk. A matmul reads a wide right operand from a copy in panels where the
device asks for it (`panels.py`). A CHECK is replaced by the value it guards (its verdict is
scheduled as a target of its own, see `scheduler.py`). A long sum of floats is computed as a sum of
block sums: one running total over N elements loses about N ulps of itself (a float32 total of 2**24
ones stops growing at 2**24, and 16M values near 1000 come out 0.3% off), where a total of blocks of
CASCADE_BLOCK loses about CASCADE_BLOCK + N / CASCADE_BLOCK, which torch's and numpy's pairwise sums
match. The blocks are a reshape of the reduced elements (zero-padded to whole blocks: zeros add
exactly), so the kernel is an inner reduction inside an outer one, with the inner loop contiguous.

How a device wants it is a `Lowering`: a GPU takes every long reduction (sums, maxima, products, of
any dtype) in stored blocks, so one kernel computes the blocks side by side, one work item each, and
a short one combines them; a CPU stores its float sums' blocks too, so its cores share the blocks of one
long sum (a 16M sum ran on one core, 2-3x slower) and the short loop that combines them is a second kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from lamina.dtype import dtypes
from lamina.schedule.boundaries import is_buffer_view
from lamina.schedule.panels import in_panels
from lamina.shape import prod
from lamina.uop import Ops, UOp, toposort

CASCADE_FROM: Final = 1 << 16
"""Float sums over at least this many elements are computed in blocks (shorter ones lose too little to matter)."""

CASCADE_BLOCK: Final = 4096
"""Elements summed into each block total."""


@dataclass(frozen=True, slots=True)
class Lowering:
    """How a device's kernels want long reductions: which ones go in blocks, how long a block is, and whether
    the blocks' results are stored (one kernel computes them side by side: a GPU's work items share a long
    reduction so) or combined in the same kernel (a CPU core's loop, where only precision is at stake)."""

    reductions: frozenset[Ops] = frozenset({Ops.ADD})
    floats_only: bool = True
    from_elements: int = CASCADE_FROM
    block: int = CASCADE_BLOCK
    store_blocks: bool = False
    # A wide right operand of a matmul copied into panels of this many columns first (see panels.py); 0: never.
    panel_columns: int = 0


CPU_LOWERING: Final = Lowering(store_blocks=True)
"""Float sums in stored blocks, for their precision and the cores (the engine adds the panel width of the CPU's
register tile)."""

GPU_LOWERING: Final = Lowering(
    reductions=frozenset({Ops.ADD, Ops.MAX, Ops.MUL}), floats_only=False, from_elements=1 << 13, block=1024,
    store_blocks=True,
)  # fmt: skip
"""Every long reduction in stored blocks of 1024, one work item a block, so the device runs them in parallel."""


def lower_graph(roots: Sequence[UOp], lowering: Lowering = CPU_LOWERING) -> list[UOp]:
    """`roots` with every CHECK replaced by the value it guards and long reductions computed in blocks."""
    rebuilt: dict[UOp, UOp] = {}
    for node in toposort(roots, stop=is_buffer_view):
        if node.op is Ops.CHECK:
            rebuilt[node] = rebuilt[node.src[0]]
            continue
        rebuilt[node] = _lowered(node, tuple(rebuilt.get(source, source) for source in node.src), lowering)
    return [rebuilt.get(root, root) for root in roots]


def _lowered(node: UOp, sources: tuple[UOp, ...], lowering: Lowering) -> UOp:
    """`node` over its lowered `sources`: a matmul reading its right operand in panels, a long reduction in blocks."""
    if node.op is Ops.REDUCE_AXIS:
        paneled = in_panels(node, sources[0], lowering.panel_columns)
        if paneled is not None:
            node, sources = paneled, paneled.src
        if _long_reduction(node, lowering):
            return _in_blocks(node, sources[0], lowering)
    return node if sources == node.src else UOp(node.op, node.dtype, sources, node.arg)


def _long_reduction(node: UOp, lowering: Lowering) -> bool:
    if node.op is not Ops.REDUCE_AXIS or node.arg[0] not in lowering.reductions:
        return False
    if lowering.floats_only and not node.scalar_dtype.is_float:
        return False
    return prod(node.src[0].shape[axis] for axis in node.arg[1]) >= lowering.from_elements


def _in_blocks(node: UOp, source: UOp, lowering: Lowering) -> UOp:
    """The reduction `node` of `source` as a reduction over blocks of `lowering.block` elements (see the module);
    padding is the reduction's identity, so it changes nothing."""
    op, axes = node.arg
    shape = source.shape
    kept = [axis for axis in range(len(shape)) if axis not in axes]
    kept_shape = tuple(shape[axis] for axis in kept)
    count = prod(shape[axis] for axis in axes)
    block = lowering.block
    blocks = -(-count // block)
    flat = source.permute((*kept, *axes)).reshape((*kept_shape, count))
    padded = _padded(flat, blocks * block - count, op)
    totals = padded.reshape((*kept_shape, blocks, block)).reduce_axis(op, (len(kept) + 1,))
    totals = totals.reshape((*kept_shape, blocks))
    if lowering.store_blocks:
        totals = totals.contiguous()
    combined = totals.reduce_axis(op, (len(kept),))
    if _long_reduction(combined, lowering):
        combined = _in_blocks(combined, totals, lowering)
    return combined.reshape(node.shape)


def _padded(flat: UOp, extra: int, op: Ops) -> UOp:
    """`flat` with `extra` elements of `op`'s identity after its last dim (PAD fills zero: shifted for MAX, MUL)."""
    if not extra:
        return flat
    widths = ((0, 0),) * (len(flat.shape) - 1) + ((0, extra),)
    padded = flat.pad(widths)
    if op is Ops.ADD:
        return padded
    identity = flat.scalar_dtype.min_value if op is Ops.MAX else 1
    inside = UOp.full(flat.shape, dtypes.bool, True).pad(widths)
    return inside.where(padded, UOp.full(padded.shape, flat.scalar_dtype, identity))
