"""The GPU's opts: work-groups, local memory and barriers, as rewrites of a kernel's loops like the CPU's.

A GPU launch is a grid of work-groups, each of a few hundred work items that share a small fast
local memory and can wait for each other at a barrier. LOCAL splits an output loop so that its inner
part runs over the items of a work-group (a LOCAL axis: `get_local_id`, no loop); the output loops
left become WORKGROUP axes (`get_group_id`) when the kernel is finished (`assign_grid`). GROUP
splits a reduction over a work-group: each item sums every n-th element, the partial sums meet in
local memory after a barrier, and every item adds them up (the first item stores the result). STAGE
splits a reduce loop into tiles and copies each tile of a load that several items share (a matmul's
rows of A and columns of B) into local memory once per tile: the items copy it together, one
element each per pass, along the buffer's contiguous direction, wait at a barrier, and read the tile
from local memory; a barrier before the next copy keeps the slowest reader's tile intact. With
UPCAST on the outer part of LOCAL loops (each item computing a register tile of outputs a
work-group apart), these make the tiled matmul of a GPU BLAS.

Every opt is still a substitution over the kernel AST (new ops: DEFINE_LOCAL, BARRIER), so the
reference interpreter checks an optimized GPU kernel against the unoptimized one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lamina.codegen.opts import loop_dependencies, loop_size, merge_outputs
from lamina.dtype import PtrDType, dtypes
from lamina.rewrite import simplify
from lamina.uop import GRID_AXES, AxisKind, Ops, UOp, substitute, toposort

MAX_GRID_DIMENSIONS = 3  # an OpenCL or CUDA launch has at most three dimensions


def _next_axis(sink: UOp) -> int:
    return 1 + max((int(node.arg[0]) for node in toposort(sink) if node.op is Ops.RANGE), default=0)


def _ranges(node: UOp) -> set[UOp]:
    """The loops `node` depends on, the REDUCEs' own loops excluded."""
    return set(loop_dependencies(node)[node])


def _value_ranges(node: UOp) -> set[UOp]:
    """The loops `node`'s value depends on: its ranges, not following a BARRIER (local memory's contents are
    the same for every item of a work-group, so a read of it varies only with its address)."""
    reached = toposort(node, stop=lambda inner: inner.op is Ops.BARRIER)
    return {inner for inner in reached if inner.op is Ops.RANGE}


def local_axes(sink: UOp) -> list[UOp]:
    """The kernel's LOCAL axes, in grid order: the newest (innermost) first, as dimension 0."""
    ranges = (node for node in toposort(sink) if node.op is Ops.RANGE and node.arg[1] is AxisKind.LOCAL)
    return sorted(ranges, key=lambda loop: -int(loop.arg[0]))


def _local_memory(sink: UOp, dtype: PtrDType, size: int, offset: int) -> UOp:
    number = offset + sum(1 for node in toposort(sink) if node.op is Ops.DEFINE_LOCAL)
    return UOp(Ops.DEFINE_LOCAL, dtype, (), (number, size))


def split_local(sink: UOp, loop: UOp, amount: int) -> UOp:
    """LOCAL: output `loop` as `outer * amount + item`, `item` over `amount` items of a work-group (adjacent
    items take adjacent iterations, so their loads and stores coalesce); `outer` keeps the loop's axis id."""
    size = loop_size(loop)
    if size is None or amount < 2 or size % amount != 0:
        raise ValueError(f"cannot spread loop axis {loop.arg[0]} of size {size} over {amount} work items")
    dtype = loop.scalar_dtype
    item = UOp.range(UOp.const(dtype, amount), _next_axis(sink), AxisKind.LOCAL, dtype)
    if amount == size:
        index = item
    else:
        outer = UOp.range(UOp.const(dtype, size // amount), loop.arg[0], AxisKind.LOOP, dtype)
        index = outer * amount + item
    (rebuilt,) = substitute([sink], {loop: index})
    return rebuilt


def _reduces_over(sink: UOp, loop: UOp) -> list[UOp]:
    reduces = [node for node in toposort(sink) if node.op is Ops.REDUCE and loop in node.src[1:]]
    if not reduces:
        raise ValueError(f"no REDUCE runs over loop axis {loop.arg[0]}")
    return reduces


def group_reduce(sink: UOp, loop: UOp, amount: int) -> UOp:
    """GROUP: every REDUCE over `loop` summed by `amount` items of a work-group, each over every
    `amount`-th element, then their partial results combined through local memory after a barrier."""
    size = loop_size(loop)
    if size is None or amount < 2 or size % amount != 0:
        raise ValueError(f"cannot split reduce loop axis {loop.arg[0]} of size {size} over {amount} work items")
    if local_axes(sink):
        raise ValueError(f"GROUP of loop axis {loop.arg[0]} spreads it over the whole work-group, which has LOCAL axes")
    reduces = _reduces_over(sink, loop)
    nested = {inner for node in toposort(sink) if node.op is Ops.REDUCE for inner in toposort(node.src[0])}
    if any(reduce in nested for reduce in reduces):
        # Inside another reduction's loop the partial results would be written again on every iteration.
        raise ValueError(f"cannot split loop axis {loop.arg[0]} over a work-group: its REDUCE is inside another")
    dtype, axis = loop.scalar_dtype, _next_axis(sink)
    item = UOp.range(UOp.const(dtype, amount), axis, AxisKind.LOCAL, dtype)
    combine = UOp.range(UOp.const(dtype, amount), axis + 1, AxisKind.REDUCE, dtype)
    outer = UOp.range(UOp.const(dtype, size // amount), loop.arg[0], AxisKind.REDUCE, dtype) if amount < size else None
    index = item if outer is None else outer * amount + item
    stores: list[tuple[UOp, UOp]] = []
    for number, reduce in enumerate(reduces):
        (value,) = substitute([reduce.src[0]], {loop: index})
        ranges = tuple(source for source in reduce.src[1:] if source is not loop) + ((outer,) if outer else ())
        partial = UOp(Ops.REDUCE, reduce.dtype, (value, *ranges), reduce.arg) if ranges else value
        memory = _local_memory(sink, PtrDType(reduce.scalar_dtype), amount, number)
        stores.append((reduce, UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, memory.dtype, (memory, item)), partial))))
    barrier = UOp(Ops.BARRIER, dtypes.void, tuple(store for _, store in stores))
    replacements: dict[UOp, UOp] = {}
    for reduce, store in stores:
        index_node = store.src[0]
        read = UOp(Ops.INDEX, index_node.dtype, (index_node.src[0], combine))
        loaded = UOp(Ops.LOAD, reduce.dtype, (read, barrier))
        replacements[reduce] = UOp(Ops.REDUCE, reduce.dtype, (loaded, combine), reduce.arg)
    (rebuilt,) = substitute([sink], replacements)
    return rebuilt


def _stride(address: UOp, loop: UOp, dims: Sequence[UOp]) -> int | None:
    """How far `address` moves when `loop` steps by one (the other `dims` at zero), if that is a constant."""
    zero = {dim: UOp.const(dim.scalar_dtype, 0) for dim in dims}
    (base,) = substitute([address], zero)
    (moved,) = substitute([address], {**zero, loop: UOp.const(loop.scalar_dtype, 1)})
    difference = simplify(moved - base)
    return int(difference.arg) if difference.op is Ops.CONST else None


def _shared_loads(body: Sequence[UOp], inner: UOp, items: Sequence[UOp], allowed: set[UOp]) -> list[UOp]:
    """The loads in `body` worth staging: from a buffer, along `inner`, shared by the items of some LOCAL
    axis (independent of it), and depending on no loop but `allowed` (those a copy can run over)."""
    loads = dict.fromkeys(
        node
        for value in body
        for node in toposort(value)
        if node.op is Ops.LOAD and node.src[0].src[0].op is Ops.DEFINE_GLOBAL and not node.scalar_dtype.is_bool
    )
    chosen = []
    for load in loads:
        depends = _ranges(load)
        if inner in depends and depends <= allowed and any(item not in depends for item in items):
            chosen.append(load)
    return chosen


def stage_tiles(sink: UOp, loop: UOp, amount: int) -> UOp:
    """STAGE: reduce `loop` split into tiles of `amount`; every load shared by the items of a LOCAL axis is
    read from a copy of its tile in local memory, which the work-group's items make together per tile."""
    size = loop_size(loop)
    items = local_axes(sink)
    if size is None or amount < 1 or size % amount != 0:
        raise ValueError(f"cannot tile reduce loop axis {loop.arg[0]} of size {size} by {amount}")
    if not items:
        raise ValueError(f"STAGE of loop axis {loop.arg[0]} needs LOCAL axes: work items to share the tiles")
    reduces = _reduces_over(sink, loop)
    dtype = loop.scalar_dtype
    inner = UOp.range(UOp.const(dtype, amount), _next_axis(sink), AxisKind.REDUCE, dtype)
    outer = UOp.range(UOp.const(dtype, size // amount), loop.arg[0], AxisKind.REDUCE, dtype) if amount < size else None
    index = inner if outer is None else outer * amount + inner
    bodies = {reduce: substitute([reduce.src[0]], {loop: index})[0] for reduce in reduces}
    others = {node for node in toposort(sink) if node.op is Ops.RANGE and node.arg[1] is AxisKind.LOOP}
    allowed = {inner, *items, *others, *((outer,) if outer else ())}
    loads = _shared_loads(list(bodies.values()), inner, items, allowed)
    if not loads:
        raise ValueError(f"STAGE of loop axis {loop.arg[0]}: no load along it is shared by a work-group's items")
    threads = math.prod(loop_size(item) or 1 for item in items)
    thread = items[0]
    for position in range(1, len(items)):
        thread = thread + items[position] * math.prod(loop_size(item) or 1 for item in items[:position])
    before = UOp(Ops.BARRIER, dtypes.void, (outer,)) if outer is not None else None
    copies: list[UOp] = []
    reads: dict[UOp, tuple[UOp, UOp]] = {}
    for number, load in enumerate(loads):
        copy_stores, memory, address = _tile_copy(sink, load, inner, items, thread, threads, before, number)
        copies.extend(copy_stores)
        reads[load] = (memory, address)
    barrier = UOp(Ops.BARRIER, dtypes.void, tuple(copies))
    staged = {
        load: UOp(Ops.LOAD, load.dtype, (UOp(Ops.INDEX, memory.dtype, (memory, address)), barrier))
        for load, (memory, address) in reads.items()
    }
    replacements = {}
    for reduce, body in bodies.items():
        (body,) = substitute([body], staged)
        ranges = [part for source in reduce.src[1:] for part in ((outer, inner) if source is loop else (source,))]
        replacements[reduce] = UOp(Ops.REDUCE, reduce.dtype, (body, *(r for r in ranges if r is not None)), reduce.arg)
    (rebuilt,) = substitute([sink], replacements)
    return rebuilt


def _tile_copy(
    sink: UOp, load: UOp, inner: UOp, items: Sequence[UOp], thread: UOp, threads: int, before: UOp | None, number: int
) -> tuple[list[UOp], UOp, UOp]:
    """The STOREs that copy `load`'s tile into local memory (each item `threads` elements apart per pass), the
    memory, and the address in it that replaces `load`. The tile's dimensions are the LOCAL axes `load`
    depends on and `inner`, laid out so that the one contiguous in the buffer varies fastest."""
    dims = [item for item in items if item in _ranges(load)] + [inner]
    address = load.src[0].src[1]
    strides = {dim: _stride(address, dim, dims) for dim in dims}
    dims.sort(key=lambda dim: -(strides.get(dim) or 1 << 62))
    sizes = [loop_size(dim) or 1 for dim in dims]
    elements = math.prod(sizes)
    if elements % threads != 0 and threads % elements != 0:
        raise ValueError(f"a tile of {elements} elements does not share out over {threads} work items")
    memory = _local_memory(sink, PtrDType(load.scalar_dtype), elements, number)
    place = [math.prod(sizes[position + 1 :]) for position in range(len(dims))]
    tile_address = dims[0] * place[0] if place[0] != 1 else dims[0]
    for dim, step in zip(dims[1:], place[1:], strict=True):
        tile_address = tile_address + (dim * step if step != 1 else dim)
    stores = []
    for copy in range(max(elements // threads, 1)):
        element = thread + copy * threads if copy else thread
        coordinates = {
            dim: simplify((element // step) % size) for dim, step, size in zip(dims, place, sizes, strict=True)
        }
        (value,) = substitute([load], coordinates)
        valid = (element.lt(elements),) if elements < threads else ()
        target = UOp(Ops.INDEX, memory.dtype, (memory, element, *valid))
        stores.append(UOp(Ops.STORE, dtypes.void, (target, value, *((before,) if before is not None else ()))))
    return stores, memory, tile_address


def assign_grid(sink: UOp) -> UOp:
    """A kernel with LOCAL axes finished for its launch: the output loops left become WORKGROUP axes (the
    outermost merged until the grid's three dimensions hold them), and a store that every item along a
    LOCAL axis would repeat (after a GROUP) is made by its first item only."""
    items = local_axes(sink)
    if not items:
        return sink
    if len(items) > MAX_GRID_DIMENSIONS:
        raise ValueError(f"a launch has {MAX_GRID_DIMENSIONS} dimensions, the kernel has {len(items)} LOCAL axes")
    while True:
        loops = sorted(
            (node for node in toposort(sink) if node.op is Ops.RANGE and node.arg[1] is AxisKind.LOOP),
            key=lambda loop: int(loop.arg[0]),
        )
        if any(loop_size(loop) is None for loop in loops):
            raise ValueError("a kernel with LOCAL axes needs output loops of known size: its grid is exact")
        if len(loops) <= MAX_GRID_DIMENSIONS:
            break
        sink = merge_outputs(sink, loops[0])
    groups = {loop: UOp.range(loop.src[0], loop.arg[0], AxisKind.WORKGROUP, loop.scalar_dtype) for loop in loops}
    (sink,) = substitute([sink], groups) if groups else (sink,)
    stores = []
    for store in sink.src:
        repeated = [item for item in local_axes(sink) if item not in _value_ranges(store)]
        if repeated:
            index = store.src[0]
            first = repeated[0].eq(0)
            for item in repeated[1:]:
                first = first & item.eq(0)
            valid = index.src[2] & first if len(index.src) == 3 else first
            store = UOp(Ops.STORE, store.dtype, (UOp(Ops.INDEX, index.dtype, (*index.src[:2], valid)), *store.src[1:]))
        stores.append(store)
    return UOp(Ops.SINK, sink.dtype, tuple(stores), sink.arg)


def grid_dimensions(ranges: Sequence[UOp]) -> dict[UOp, int]:
    """The launch dimension of each WORKGROUP and LOCAL axis among `ranges`: the newest first, as dimension 0."""
    dimensions: dict[UOp, int] = {}
    for kind in (AxisKind.LOCAL, AxisKind.WORKGROUP):
        axes = sorted({node for node in ranges if node.arg[1] is kind}, key=lambda loop: -int(loop.arg[0]))
        dimensions.update((axis, position) for position, axis in enumerate(axes))
    return dimensions


def launch_size(ranges: Sequence[UOp]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The global and local sizes of a launch over the grid axes among `ranges` (None without any)."""
    grid = [node for node in ranges if node.op is Ops.RANGE and node.arg[1] in GRID_AXES]
    if not grid:
        return None
    dimensions = grid_dimensions(grid)
    count = 1 + max(dimensions.values())
    local, groups = [1] * count, [1] * count
    for axis, dimension in dimensions.items():
        size = loop_size(axis) or 1
        if axis.arg[1] is AxisKind.LOCAL:
            local[dimension] = size
        else:
            groups[dimension] = size
    return tuple(g * n for g, n in zip(groups, local, strict=True)), tuple(local)


def local_bytes(sink: UOp) -> int:
    """The local memory a kernel declares."""
    total = 0
    for node in toposort(sink):
        if node.op is Ops.DEFINE_LOCAL:
            assert isinstance(node.dtype, PtrDType)
            total += node.arg[1] * node.dtype.base.itemsize
    return total
