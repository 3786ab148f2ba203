"""The GPU heuristic: how a kernel's loops spread over work-groups and work items, read from the `Target`.

Three shapes of kernel, in order:
- A matmul (a sum over k of a load independent of output loop j times one independent of output
  loop i): a work-group computes a tile of outputs, each item a register tile of them a work-group
  apart (LOCAL, then UPCAST), and the tiles of A and B along k pass through local memory (STAGE).
- A reduction with too few outputs to fill the device (a full sum, a norm over long rows): its loop
  is split over the items of a work-group (GROUP), one work-group per output.
- Anything else: the output loops merged into one, spread over work-groups of as many items as divide
  it (LOCAL); where no power of two of at least a warp divides it, a GLOBAL loop over work items. An
  elementwise kernel's items take a vector of adjacent outputs each (UPCAST by the target's vector
  lanes), which the renderer loads and stores as one access where the dialect has vector types.
"""

from __future__ import annotations

import math
from typing import Final

from lamina.codegen.opts import Opt, OptimizeOptions, OptKind, loop_size
from lamina.codegen.target import Target
from lamina.uop import AxisKind, Ops, UOp, toposort

# Work items below which a work-group wastes the device's lanes (a warp, a wavefront's half).
MIN_LOCAL_SIZE: Final = 32
# A matmul's register tile per item, per output axis (16 accumulators), and its tile along k.
REGISTER_TILE: Final = 4
K_TILE: Final = 16
# A reduce loop shorter than this is summed by one item: splitting it would cost more barriers than adds.
MIN_GROUP_REDUCE: Final = 256


def _ranges_of(node: UOp) -> set[UOp]:
    return {inner for inner in toposort(node) if inner.op is Ops.RANGE}


def _largest_power_of_two_dividing(size: int, limit: int) -> int:
    amount = 1
    while amount * 2 <= limit and size % (amount * 2) == 0:
        amount *= 2
    return amount


def _matmul_opts(sink: UOp, outputs: list[UOp], target: Target) -> tuple[Opt, ...] | None:
    """The tiled matmul's opts, where `sink` is one: LOCAL and UPCAST on rows i and columns j, STAGE on k."""
    reduces = [node for node in toposort(sink) if node.op is Ops.REDUCE]
    if len(outputs) < 2 or not reduces or any(node.arg is not Ops.ADD or len(node.src) != 2 for node in reduces):
        return None
    loop = reduces[0].src[1]
    if any(node.src[1] is not loop for node in reduces) or (loop_size(loop) or 0) < 2:
        return None
    loads = [node for node in toposort(reduces[0].src[0]) if node.op is Ops.LOAD]
    columns = outputs[-1]
    rows = next(
        (
            row
            for row in outputs[:-1]
            if any(row in _ranges_of(a) and columns not in _ranges_of(a) and loop in _ranges_of(a) for a in loads)
            and any(columns in _ranges_of(b) and row not in _ranges_of(b) and loop in _ranges_of(b) for b in loads)
        ),
        None,
    )
    if rows is None:
        return None
    side = math.isqrt(target.max_local_size)
    shapes = []
    for axis in (rows, columns):
        size = loop_size(axis) or 1
        local = _largest_power_of_two_dividing(size, side)
        register = _largest_power_of_two_dividing(size // local, REGISTER_TILE)
        shapes.append((axis, local, register))
    k_tile = _largest_power_of_two_dividing(loop_size(loop) or 1, K_TILE)
    if shapes[0][1] * shapes[1][1] < MIN_LOCAL_SIZE or k_tile < 2:
        return None
    itemsize = max(node.scalar_dtype.itemsize for node in loads)
    if sum(local * register for _, local, register in shapes) * k_tile * itemsize > target.local_bytes:
        return None
    opts = [Opt(OptKind.LOCAL, axis.arg[0], local) for axis, local, _ in shapes]
    opts += [Opt(OptKind.UPCAST, axis.arg[0], register) for axis, _, register in shapes if register > 1]
    return (*opts, Opt(OptKind.STAGE, loop.arg[0], k_tile))


def _group_opts(sink: UOp, outputs: list[UOp], target: Target) -> tuple[Opt, ...] | None:
    """GROUP on the reduce loop of a kernel whose outputs are too few to give every work item one."""
    count = math.prod(loop_size(loop) or 1 for loop in outputs)
    if count >= target.compute_units * target.max_local_size:
        return None
    nested = {inner for node in toposort(sink) if node.op is Ops.REDUCE for inner in toposort(node.src[0])}
    outer = [node for node in toposort(sink) if node.op is Ops.REDUCE and node not in nested]
    loops = sorted({loop for node in outer for loop in node.src[1:]}, key=lambda loop: -(loop_size(loop) or 0))
    for loop in loops:
        size = loop_size(loop) or 0
        amount = _largest_power_of_two_dividing(size, target.max_local_size)
        if size >= MIN_GROUP_REDUCE and amount >= MIN_LOCAL_SIZE:
            return (Opt(OptKind.GROUP, loop.arg[0], amount),)
    return None


def gpu_opts(sink: UOp, options: OptimizeOptions) -> tuple[Opt, ...]:
    """The opts spreading `sink` over a GPU's work-groups and items (see the module)."""
    target = options.target
    outputs = sorted(
        (node for node in toposort(sink) if node.op is Ops.RANGE and node.arg[1] is AxisKind.LOOP),
        key=lambda loop: loop.arg[0],
    )
    known = all(loop_size(loop) is not None for loop in outputs)
    if known and target.max_local_size >= MIN_LOCAL_SIZE:
        chosen = _matmul_opts(sink, outputs, target) or _group_opts(sink, outputs, target)
        if chosen is not None:
            return chosen
    elementwise = not any(node.op is Ops.REDUCE for node in toposort(sink))
    return spread_outputs(outputs, target, elementwise) if outputs else ()


def spread_outputs(outputs: list[UOp], target: Target, elementwise: bool = False) -> tuple[Opt, ...]:
    """The output loops merged into one, spread over work-groups of a power of two of items that divides it
    (a GLOBAL loop instead where none of at least `MIN_LOCAL_SIZE` does, or a size is not known). An
    elementwise kernel's items take a vector of adjacent outputs each, where the sizes allow."""
    if any(loop_size(loop) is None for loop in outputs) or target.max_local_size < MIN_LOCAL_SIZE:
        return (Opt(OptKind.GLOBAL, outputs[0].arg[0]),)
    axis = outputs[0].arg[0]
    merges = tuple(Opt(OptKind.MERGE, axis) for _ in outputs[1:])
    total = math.prod(loop_size(loop) or 1 for loop in outputs)
    lanes = target.vector_lanes if elementwise and total % (target.vector_lanes * MIN_LOCAL_SIZE) == 0 else 1
    vectors = (Opt(OptKind.UPCAST, axis, lanes),) if lanes > 1 else ()
    amount = _largest_power_of_two_dividing(total // lanes, target.max_local_size)
    if amount >= MIN_LOCAL_SIZE:
        return (*merges, *vectors, Opt(OptKind.LOCAL, axis, amount))
    return (*merges, Opt(OptKind.GLOBAL, axis))
