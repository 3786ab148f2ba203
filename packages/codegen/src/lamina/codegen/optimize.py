"""The kernel optimizer: rewrites of a kernel AST's loops that keep its result and make it fast.

An `Opt` names one loop (by its RANGE's axis id) and what to do with it. UPCAST splits an output
loop and unrolls the inner part into copies of the kernel's stores: the copies share every value
that does not depend on the loop (hash-consing finds them), so a matmul's row of A is loaded once
for many outputs and the copies' accumulators sit side by side, which the C compiler turns into
vector registers. SPLIT splits a reduce loop into several accumulators, each summing every k-th
element, combined once after the loop: the additions no longer wait on each other and adjacent
elements go to adjacent accumulators, again one vector. UNROLL writes a reduce loop's iterations
out in the body, summed into the one accumulator: a loop over a convolution's taps whose every
iteration reads one tap (the others masked off) becomes a sum of plain loads once the tap is a
constant and its masks fold. PARALLEL marks an output loop whose iterations are spread over the
machine's cores (DYNAMIC too, each iteration taken by whichever core is free); SIMD marks a reduce
loop as an OpenMP simd loop, which lets the C compiler reorder its sums. BLOCK moves part of an
output loop innermost (cache tiling), HOIST moves part of one outermost (a copy into panels then
reads whole rows), and MERGE joins a loop with the one inside it (a convolution's rows and
columns: one long vector loop). Each opt is a
substitution of the RANGE by index arithmetic over a shorter RANGE, so an optimized kernel is still
an ordinary kernel AST: the reference interpreter checks it against the unoptimized one.

`hand_coded_opts` picks opts from the kernel's memory access pattern (which loops are contiguous
in which buffers); `optimize_kernel` applies them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

from lamina.rewrite import simplify
from lamina.uop import SPREAD_AXES, AxisKind, Ops, UOp, substitute, toposort

# Lanes of one vector register for 4-byte elements on the widest common SIMD (AVX-512); on narrower
# machines each such group is two or four registers, which costs nothing.
VECTOR_LANES: Final = 16
# A matmul-like kernel's tile: two vectors of contiguous columns by eight rows, 16 of AVX-512's 32
# registers, so each loaded vector of B feeds eight accumulators (measured best at 1024^3 here).
WIDE_UPCAST: Final = 32
REUSE_UPCAST: Final = 8
# The accumulators of a full register tile (the renderer marks such kernels for gcc, see c_prelude).
TILE_ACCUMULATORS: Final = 256
# A block of a matmul's rows of A stays in the (per-core, typically 1-2 MB) L2 cache while the panels of B
# pass by: half a megabyte of them, counting 4-byte elements.
BLOCK_BYTES: Final = 1 << 19
ELEMENT_BYTES: Final = 4
# Loops up to this long that a validity depends on are written out whole (see hand_coded_opts).
MASKED_UNROLL: Final = 16
# Rows of a tile whose accumulators each add several products per update (see hand_coded_opts).
SUMMED_ROW_UPCAST: Final = 2
# Rows of a contiguous reduction computed together when they share a load (x @ W.T shares x's row).
SHARED_ROW_UPCAST: Final = 4
# A contiguous SIMD reduction shorter than this is merged with the loop around it (see _merge_target).
MERGE_BELOW: Final = 128
# The largest divisor of an elementwise loop's index that the heuristic upcasts away (see _small_divisors).
TILE_DIVISOR: Final = 4
# Vector accumulators a SIMD reduction may carry: AVX-512 has 32 registers, and the loads need some.
SIMD_ACCUMULATORS: Final = 24
# A copy whose contiguous runs are shorter than this many bytes on one side is reordered (see _transposing_copy).
COPY_RUN_BYTES: Final = 1024
# Loop iterations below which a kernel stays on one core: the fork and join cost more than they save.
PARALLEL_MIN_WORK: Final = 1 << 15
# Innermost iterations per iteration of the parallel loop from which the cores take its iterations as they
# come free (DYNAMIC): a matmul's blocks of rows, a convolution's images, each long enough (a tenth of a
# millisecond and up) that a core slowed by other work would otherwise hold up the whole kernel (the CNN
# step measured faster so in a slow core's stretches here, and no slower in quiet ones). Shorter ones keep
# equal shares: a train step's small kernels measured slower handed out one iteration at a time.
DYNAMIC_MIN_WORK: Final = 1 << 19
# Iterations per core a DYNAMIC loop needs at least (a matmul's 8 blocks of rows on 2 cores).
DYNAMIC_SHARES: Final = 4


class OptKind(Enum):
    """What an `Opt` does to its loop."""

    UPCAST = auto()  # split an output loop; unroll the inner part into copies of the stores
    SPLIT = auto()  # split a reduce loop into `amount` independent accumulators
    UNROLL = auto()  # write `amount` iterations of a reduce loop out in its body, into the same accumulator
    PARALLEL = auto()  # spread an output loop's iterations over cores, an equal share each
    DYNAMIC = auto()  # spread an output loop's iterations over cores, each taken by whichever core is free
    SIMD = auto()  # let the C compiler vectorize a reduce loop, reordering its sums (an OpenMP simd loop)
    BLOCK = auto()  # split an output loop; its inner part becomes the innermost output loop (cache tiling)
    MERGE = auto()  # join a reduce loop with the reduce loop inside it into one loop over both
    HOIST = auto()  # split an output loop; its outer part becomes the outermost loop (loop reordering)


@dataclass(frozen=True, slots=True)
class Opt:
    """One optimization of the loop whose RANGE has axis id `axis`."""

    kind: OptKind
    axis: int
    amount: int = 0


@dataclass(frozen=True, slots=True)
class OptimizeOptions:
    """What the optimizer may use: `threads` cores for PARALLEL loops, OpenMP pragmas; `enabled=False` is NOOPT."""

    enabled: bool = True
    threads: int = 1
    openmp: bool = False


def _loops(sink: UOp) -> dict[int, UOp]:
    return {node.arg[0]: node for node in toposort(sink) if node.op is Ops.RANGE}


def _size(loop: UOp) -> int | None:
    end = loop.src[0]
    return int(end.arg) if end.op is Ops.CONST else None


def _split(loop: UOp, amount: int, kind: AxisKind) -> tuple[UOp | None, list[UOp]]:
    """The shorter RANGE (None when `amount` is the whole loop) and the index expression of each unrolled copy."""
    size = _size(loop)
    if size is None or amount < 1 or size % amount != 0:
        raise ValueError(f"cannot split loop axis {loop.arg[0]} of size {size} by {amount}")
    if amount == size:
        return None, [UOp.const(loop.scalar_dtype, offset) for offset in range(amount)]
    outer = UOp.range(UOp.const(loop.scalar_dtype, size // amount), loop.arg[0], kind, loop.scalar_dtype)
    return outer, [outer * amount + offset if offset else outer * amount for offset in range(amount)]


def _upcast(sink: UOp, loop: UOp, amount: int) -> UOp:
    _, copies = _split(loop, amount, loop.arg[1])
    stores: list[UOp] = []
    for index in copies:
        stores.extend(substitute(sink.src, {loop: index}))
    return UOp(Ops.SINK, sink.dtype, tuple(dict.fromkeys(stores)), sink.arg)


def _combine(op: Ops, values: Sequence[UOp]) -> UOp:
    """`values` folded with `op` as a balanced tree, so the combination itself has no long chain."""
    level = list(values)
    while len(level) > 1:
        paired = [level[i].alu(op, level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def _reduce_like(reduce: UOp, value: UOp, ranges: tuple[UOp, ...]) -> UOp:
    """`reduce`'s op over `ranges` applied to `value` (just `value` when no range is left)."""
    return UOp(Ops.REDUCE, reduce.dtype, (value, *ranges), reduce.arg) if ranges else value


def _split_reduce(sink: UOp, loop: UOp, amount: int, separate: bool) -> UOp:
    """Every REDUCE over `loop` with `loop` split by `amount`: the unrolled iterations are summed in the
    body (one accumulator), or each gets a REDUCE of its own, combined after the loop (`separate`)."""
    outer, copies = _split(loop, amount, AxisKind.REDUCE)
    replacements: dict[UOp, UOp] = {}
    for reduce in toposort(sink):
        if reduce.op is not Ops.REDUCE or loop not in reduce.src[1:]:
            continue
        ranges = tuple(source for source in reduce.src[1:] if source is not loop)
        if outer is not None:
            ranges = (*ranges, outer)
        values = [substitute([reduce.src[0]], {loop: index})[0] for index in copies]
        if separate:
            replacements[reduce] = _combine(reduce.arg, [_reduce_like(reduce, value, ranges) for value in values])
        else:
            replacements[reduce] = _reduce_like(reduce, _combine(reduce.arg, values), ranges)
    (rebuilt,) = substitute([sink], replacements)
    return rebuilt


def _split_to(sink: UOp, loop: UOp, amount: int, outer_axis: int, inner_axis: int) -> UOp:
    """`loop` as `outer * amount + inner` over two RANGEs with the given axis ids, where the linearizer nests
    output loops by axis id (no outer RANGE where `amount` is the whole loop): BLOCK's and HOIST's split."""
    size, kind, dtype = _size(loop) or amount, loop.arg[1], loop.scalar_dtype
    inner = UOp.range(UOp.const(dtype, amount), inner_axis, kind, dtype)
    index = (
        inner
        if amount == size
        else UOp.range(UOp.const(dtype, size // amount), outer_axis, kind, dtype) * amount + inner
    )
    (rebuilt,) = substitute([sink], {loop: index})
    return rebuilt


def _block(sink: UOp, loop: UOp, amount: int) -> UOp:
    """`loop` split by `amount`, the inner part with a new axis id above all others: the linearizer orders
    output loops by axis id, so it opens innermost, and each pass of the loops in between is reused by
    `amount` iterations of it (a matmul's panel of B stays in cache for that many tiles of rows)."""
    size = _size(loop)
    if size is None or amount < 2 or size % amount != 0:
        raise ValueError(f"cannot block loop axis {loop.arg[0]} of size {size} by {amount}")
    next_axis = 1 + max(node.arg[0] for node in toposort(sink) if node.op is Ops.RANGE)
    return _split_to(sink, loop, amount, loop.arg[0], next_axis)


def hoisted_axis(sink: UOp) -> int:
    """The axis id a HOIST gives the outer part of its loop: below every loop's, so it opens outermost."""
    return min(int(node.arg[0]) for node in toposort(sink) if node.op is Ops.RANGE) - 1


def _hoist(sink: UOp, loop: UOp, amount: int) -> UOp:
    """`loop` split by `amount`, the outer part with an axis id below all others (the linearizer opens it
    outermost) and the inner part where `loop` was: each pass of the loops in between walks `amount`
    iterations of `loop`, so a copy that reads along one loop and writes along another reads and writes
    runs of `amount` rows instead of a short run per row (a matmul's panels of B: 8 rows of 4 KB at a time)."""
    size = _size(loop)
    if size is None or amount < 1 or amount >= size or size % amount != 0:
        raise ValueError(f"cannot hoist loop axis {loop.arg[0]} of size {size} by {amount}")
    return _split_to(sink, loop, amount, hoisted_axis(sink), loop.arg[0])


def _reduce_inside(sink: UOp, loop: UOp) -> tuple[UOp, list[UOp]]:
    """The reduce loop MERGE would join with `loop` (the same one right inside it in every REDUCE over it, and
    never reduced over alone), and those REDUCEs; raises ValueError where there is none."""
    reduces = [node for node in toposort(sink) if node.op is Ops.REDUCE and loop in node.src[1:]]
    inners = {node.src[node.src.index(loop) + 1] for node in reduces if node.src.index(loop) + 1 < len(node.src)}
    inner = next(iter(inners)) if len(inners) == 1 else None
    if inner is None or _size(loop) is None or _size(inner) is None:
        raise ValueError(f"cannot merge loop axis {loop.arg[0]}: every REDUCE over it needs the same loop inside it")
    if any(inner in node.src[1:] and loop not in node.src[1:] for node in toposort(sink) if node.op is Ops.REDUCE):
        raise ValueError(f"cannot merge loop axis {loop.arg[0]}: a REDUCE runs over the loop inside it alone")
    return inner, reduces


def _merge(sink: UOp, loop: UOp) -> UOp:
    """Every REDUCE over `loop` and the loop right inside it, over one loop of both sizes' product instead:
    the old indices are its quotient and remainder, which the index simplifier folds back into a
    single stride where the two loops walked memory contiguously (a convolution's rows and columns)."""
    inner, reduces = _reduce_inside(sink, loop)
    inner_size = _size(inner) or 1
    size = UOp.const(loop.scalar_dtype, (_size(loop) or 1) * inner_size)
    merged = UOp.range(size, loop.arg[0], AxisKind.REDUCE, loop.scalar_dtype)
    indices = {loop: merged // inner_size, inner: merged % inner_size}
    replacements: dict[UOp, UOp] = {}
    for reduce in reduces:
        (value,) = substitute([reduce.src[0]], indices)
        ranges = [merged if source is loop else source for source in reduce.src[1:] if source is not inner]
        replacements[reduce] = UOp(Ops.REDUCE, reduce.dtype, (value, *ranges), reduce.arg)
    (rebuilt,) = substitute([sink], replacements)
    return rebuilt


def _merge_outputs(sink: UOp, loop: UOp) -> UOp:
    """Output `loop` and the output loop right inside it (the next axis id) as one loop of both sizes' product."""
    outputs = sorted((node for node in toposort(sink) if node.op is Ops.RANGE and node.arg[1] is AxisKind.LOOP),
                     key=lambda node: node.arg[0])  # fmt: skip
    position = outputs.index(loop)
    inner = outputs[position + 1] if position + 1 < len(outputs) else None
    outer_size, inner_size = _size(loop), _size(inner) if inner is not None else None
    if inner is None or outer_size is None or inner_size is None:
        raise ValueError(f"cannot merge loop axis {loop.arg[0]}: no output loop of known size inside it")
    merged = UOp.range(
        UOp.const(loop.scalar_dtype, outer_size * inner_size), loop.arg[0], AxisKind.LOOP, loop.scalar_dtype
    )
    (rebuilt,) = substitute([sink], {loop: merged // inner_size, inner: merged % inner_size})
    return rebuilt


def _mark(sink: UOp, loop: UOp, kind: AxisKind) -> UOp:
    marked = UOp.range(loop.src[0], loop.arg[0], kind, loop.scalar_dtype)
    (rebuilt,) = substitute([sink], {loop: marked})
    return rebuilt


def _simd_reduces(sink: UOp, loop: UOp, written_out: Collection[int] = ()) -> list[UOp] | None:
    """The REDUCEs a SIMD `loop` would carry, or None where it cannot be one: OpenMP reduces only sums
    and products, and the loop must be innermost (the last loop of each REDUCE, with no REDUCE inside)
    once the reduce loops in `written_out` (axis ids) are unrolled whole."""
    reduces = [node for node in toposort(sink) if node.op is Ops.REDUCE and loop in node.src[1:]]
    for reduce in reduces:
        inside = reduce.src[reduce.src.index(loop) + 1 :]
        if reduce.arg not in (Ops.ADD, Ops.MUL) or any(inner.arg[0] not in written_out for inner in inside):
            return None
        if any(node.op is Ops.REDUCE for node in toposort(reduce.src[0])):
            return None
    return reduces


def _products_per_update(nodes: Sequence[UOp], loop: UOp) -> int:
    """The most float products in the body of a REDUCE over `loop`: what one update of its accumulator adds."""
    bodies = [node.src[0] for node in nodes if node.op is Ops.REDUCE and loop in node.src[1:]]
    counts = [
        sum(1 for inner in toposort(body) if inner.op is Ops.MUL and inner.scalar_dtype.is_float) for body in bodies
    ]
    return max(counts, default=0)


def apply_opts(sink: UOp, opts: Sequence[Opt]) -> UOp:
    """`sink` with `opts` applied in order; raises ValueError for an opt that does not fit its loop."""
    for opt in opts:
        loop = _loops(sink).get(opt.axis)
        if loop is None:
            raise ValueError(f"{opt.kind.name} names loop axis {opt.axis}, which the kernel does not have")
        is_reduce = loop.arg[1] is AxisKind.REDUCE
        if opt.kind is OptKind.UPCAST and not is_reduce:
            sink = _upcast(sink, loop, opt.amount)
        elif opt.kind is OptKind.SPLIT and is_reduce:
            sink = _split_reduce(sink, loop, opt.amount, separate=True)
        elif opt.kind is OptKind.UNROLL and is_reduce:
            sink = _split_reduce(sink, loop, opt.amount, separate=False)
        elif opt.kind is OptKind.PARALLEL and loop.arg[1] is AxisKind.LOOP:
            sink = _mark(sink, loop, AxisKind.PARALLEL)
        elif opt.kind is OptKind.DYNAMIC and loop.arg[1] is AxisKind.LOOP:
            sink = _mark(sink, loop, AxisKind.DYNAMIC)
        elif opt.kind is OptKind.BLOCK and loop.arg[1] is AxisKind.LOOP:
            sink = _block(sink, loop, opt.amount)
        elif opt.kind is OptKind.HOIST and loop.arg[1] is AxisKind.LOOP:
            sink = _hoist(sink, loop, opt.amount)
        elif opt.kind is OptKind.MERGE and is_reduce:
            sink = _merge(sink, loop)
        elif opt.kind is OptKind.MERGE and loop.arg[1] is AxisKind.LOOP:
            sink = _merge_outputs(sink, loop)
        elif opt.kind is OptKind.SIMD and is_reduce and _simd_reduces(sink, loop):
            sink = _mark(sink, loop, AxisKind.SIMD)
        else:
            raise ValueError(f"{opt.kind.name} does not apply to the {loop.arg[1].name} loop of axis {opt.axis}")
    return sink


# -- the hand-coded heuristic --


class _Strides:
    """How far each address moves when one loop index steps by one (None: not a constant stride).

    `x // d` and `x % d` (a buffer read in panels, a reshape) count as not moving and as moving with
    `x`: true inside aligned blocks of `d`, so a tile whose width divides every such `d` (`divisors`
    records them) sees the strides its copies will have once their addresses are simplified.
    """

    def __init__(self) -> None:
        self.memo: dict[UOp, dict[UOp, int | None]] = {}
        self.divisors: set[int] = set()

    def of(self, expression: UOp) -> dict[UOp, int | None]:
        known = self.memo.get(expression)
        if known is not None:
            return known
        op, src = expression.op, expression.src
        result: dict[UOp, int | None]
        if op is Ops.RANGE:
            result = {expression: 1}
        elif op is Ops.CONST:
            result = {}
        elif op in (Ops.ADD, Ops.SUB):
            left, right = self.of(src[0]), self.of(src[1])
            sign = 1 if op is Ops.ADD else -1
            result = {}
            for loop in left.keys() | right.keys():
                a, b = left.get(loop, 0), right.get(loop, 0)
                result[loop] = None if a is None or b is None else a + sign * b
        elif op is Ops.MUL and (src[0].op is Ops.CONST or src[1].op is Ops.CONST):
            constant, other = (src[0], src[1]) if src[0].op is Ops.CONST else (src[1], src[0])
            result = {loop: None if s is None else s * int(constant.arg) for loop, s in self.of(other).items()}
        elif op in (Ops.IDIV, Ops.MOD) and src[1].op is Ops.CONST and int(src[1].arg) > 0:
            self.divisors.add(int(src[1].arg))
            inner = self.of(src[0])
            result = dict.fromkeys(inner, 0) if op is Ops.IDIV else dict(inner)
        else:
            result = dict.fromkeys(node for node in toposort(expression) if node.op is Ops.RANGE)
        self.memo[expression] = result
        return result


def _largest_divisor(size: int, limit: int) -> int:
    """The largest power of two up to `limit` dividing `size`, or `size` itself when it is at most `limit`."""
    if size <= limit:
        return size
    amount = limit
    while amount > 1 and size % amount:
        amount //= 2
    return amount


def _row_block(row: UOp, tile_rows: int, depth: int, threads: int) -> list[Opt]:
    """A BLOCK of a matmul's row tiles, so one panel of B (the columns of one tile, all `depth` rows of
    it) is read from cache by as many tiles as fit their rows of A in BLOCK_BYTES, leaving DYNAMIC_SHARES
    blocks per core for the cores to share out (a 512^3 matmul: 8 blocks of 64 rows, not 4 of 128)."""
    tiles = (_size(row) or 1) // tile_rows
    amount = 1
    while (
        tiles % (amount * 2) == 0
        and tiles // (amount * 2) >= DYNAMIC_SHARES * threads
        and amount * 2 * tile_rows * depth * ELEMENT_BYTES <= BLOCK_BYTES
    ):
        amount *= 2
    return [Opt(OptKind.BLOCK, row.arg[0], amount)] if amount > 1 else []


def _walks_as_one(accesses: Sequence[dict[UOp, int | None]], outer: UOp, inner: UOp) -> bool:
    """Whether every access walks `outer` and `inner` as one contiguous run: each step of the outer loop is
    the inner loop's whole length, so MERGE's quotient and remainder fold back into a single stride."""
    length = _size(inner) or 0
    for access in accesses:
        outer_step, inner_step = access.get(outer, 0), access.get(inner, 0)
        if outer_step is None or inner_step is None or outer_step != length * inner_step:
            return False
    return True


def _merge_target(sink: UOp, reduces: list[UOp], loads: list[dict[UOp, int | None]]) -> UOp | None:
    """The reduce loop around the innermost one that MERGE can join with it, walking the two as one run: the
    merged loop is one long SIMD loop rather than many short ones, each ending in a horizontal sum."""
    if len(reduces) < 2 or not _walks_as_one(loads, reduces[-2], reduces[-1]):
        return None
    try:
        _reduce_inside(sink, reduces[-2])
    except ValueError:
        return None
    return reduces[-2]


def _small_divisors(nodes: Sequence[UOp], outputs: Sequence[UOp]) -> list[tuple[UOp, int]]:
    """Output loops divided (or taken modulo) by a constant of at most TILE_DIVISOR that divides them, with it.

    Only a loop that is the dividend alone (`h // 2`, not `(h * 28 + w) // 56`) counts: its copies' quotients
    are then exactly the loop's outer index plus a constant.
    """
    found: dict[UOp, int] = {}
    for node in nodes:
        if node.op not in (Ops.IDIV, Ops.MOD) or node.src[1].op is not Ops.CONST:
            continue
        dividend, divisor = node.src[0], int(node.src[1].arg)
        if dividend in outputs and 1 < divisor <= TILE_DIVISOR and (_size(dividend) or 0) % divisor == 0:
            found[dividend] = max(found.get(dividend, 1), divisor)
    return [(loop, found[loop]) for loop in outputs if loop in found]


def _transposing_copy(
    outputs: Sequence[UOp], loads: Sequence[dict[UOp, int | None]], stores: Sequence[dict[UOp, int | None]]
) -> Opt | None:
    """A HOIST for an elementwise kernel that reads short runs of rows far apart and writes them one after
    another (a matrix copied into panels: each 128-byte piece of a row comes from another 4 KB page).

    With the loop outside the innermost one (`step`) split and its outer part outermost, one pass of the loops
    in between reads `amount` rows of every load whose runs continue along some outer loop, and the stores
    still write runs of `amount` rows: long runs on both sides, which the prefetchers follow.
    """
    if len(outputs) < 3 or not stores:
        return None
    inner, step = outputs[-1], outputs[-2]
    run = _size(inner) or 0
    if any(access.get(inner, 0) not in (0, 1) for access in (*loads, *stores)) or run * ELEMENT_BYTES >= COPY_RUN_BYTES:
        return None
    if any(access.get(step, 0) != run or access.get(inner, 0) != 1 for access in stores):
        return None
    for access in loads:
        jump = access.get(step, 0)
        continues = any(access.get(across, 0) == run for across in outputs[:-2])
        if access.get(inner, 0) == 1 and jump is not None and jump > run and continues:
            amount = _largest_divisor(_size(step) or 1, max(COPY_RUN_BYTES // (run * ELEMENT_BYTES), 2))
            return Opt(OptKind.HOIST, step.arg[0], amount) if 1 < amount < (_size(step) or 1) else None
    return None


def hand_coded_opts(sink: UOp, options: OptimizeOptions) -> tuple[Opt, ...]:
    """Opts chosen from the access pattern: vectorize along a contiguous loop, reuse loads, use the cores."""
    nodes = toposort(sink)
    loops = sorted((node for node in nodes if node.op is Ops.RANGE), key=lambda loop: loop.arg[0])
    if any(_size(loop) is None for loop in loops):
        return ()
    strides = _Strides()
    loads = [strides.of(node.src[0].src[1]) for node in nodes if node.op is Ops.LOAD]
    stores = [strides.of(node.src[0].src[1]) for node in nodes if node.op is Ops.STORE]

    def size(loop: UOp) -> int:
        return _size(loop) or 1

    # A short loop that a validity depends on (which tap of a stack of shifted views is read) is written
    # out whole: with the loop index a constant in each copy, the masks fold and each copy is one plain load.
    gated = {
        node for index in nodes if index.op is Ops.INDEX and len(index.src) == 3 for node in toposort(index.src[2])
    }
    opts: list[Opt] = []
    merged_away: set[int] = set()  # output loops a MERGE folded into the loop around them
    for loop in loops:
        if loop in gated and size(loop) <= MASKED_UNROLL:
            kind = OptKind.UNROLL if loop.arg[1] is AxisKind.REDUCE else OptKind.UPCAST
            opts.append(Opt(kind, loop.arg[0], size(loop)))
    written_out = {opt.axis for opt in opts}
    outputs = [loop for loop in loops if loop.arg[1] is AxisKind.LOOP and loop.arg[0] not in written_out]
    reduces = [loop for loop in loops if loop.arg[1] is AxisKind.REDUCE and loop.arg[0] not in written_out]

    def contiguous(loop: UOp, accesses: list[dict[UOp, int | None]]) -> bool:
        # Every access either ignores the loop or walks it with stride one, and at least one walks it.
        steps = [access.get(loop, 0) for access in accesses]
        return all(step in (0, 1) for step in steps) and 1 in steps

    def shares_loads(loop: UOp, inner: UOp, along: UOp | None = None) -> bool:
        # Some load inside the reduction (walking `along`, when given) does not move with `loop`: copies
        # along `loop` share it.
        return any(
            access.get(inner, 0) != 0 and access.get(loop, 0) == 0 and (along is None or access.get(along, 0) == 1)
            for access in loads
        )

    # An elementwise kernel gets no tile: its innermost loop is contiguous, which the C compiler vectorizes.
    vector_output = next((loop for loop in reversed(outputs) if contiguous(loop, loads + stores)), None)
    if reduces and vector_output is not None:
        # Matmul-like: a tile of REUSE_UPCAST rows by WIDE_UPCAST contiguous columns of accumulators, for
        # each group of REDUCEs (a convolution's input gradient has one per tap), within TILE_ACCUMULATORS.
        reduce = reduces[-1]
        groups = len({node.src[1:] for node in nodes if node.op is Ops.REDUCE})
        width = _largest_divisor(size(vector_output), WIDE_UPCAST)
        while width > 1 and any(divisor % width for divisor in strides.divisors):
            width //= 2
        opts.append(Opt(OptKind.UPCAST, vector_output.arg[0], width))
        rows = [loop for loop in outputs if loop is not vector_output]
        # The rows that share the vector loads: a matmul's rows of A share B's; a convolution's output
        # channels share the input's.
        row = next((loop for loop in reversed(rows) if shares_loads(loop, reduce, vector_output)), None)
        # A body summing several products (taps joined by the scheduler) already holds as many loads per update
        # as the tile's rows would share: two rows of it measured best (a convolution's input gradient).
        products = _products_per_update(nodes, reduce)
        rows_wanted = REUSE_UPCAST if products < 2 else SUMMED_ROW_UPCAST
        row_limit = min(rows_wanted, TILE_ACCUMULATORS // (width * groups))
        if row is not None and row_limit > 1 and shares_loads(vector_output, reduce):
            tile_rows = _largest_divisor(size(row), row_limit)
            opts.append(Opt(OptKind.UPCAST, row.arg[0], tile_rows))
            # Blocks matter once B no longer fits in cache whole: then each pass over it comes from memory.
            depth = math.prod(size(loop) for loop in reduces)
            panels_bytes = depth * size(vector_output) * ELEMENT_BYTES
            if row.arg[0] < vector_output.arg[0] and size(vector_output) > width and panels_bytes > BLOCK_BYTES:
                opts.extend(_row_block(row, tile_rows, depth, options.threads))
        # Taps written out make each accumulator's update a sum of products; leave the C compiler free to
        # reorder it (an OpenMP simd loop over the channels), which its vectorizer needs to take the tile.
        # So do several products summed into each update (a convolution's input gradient, its taps joined by
        # the scheduler into one reduction).
        summed = bool(written_out) or products > 1
        if summed and options.openmp and _simd_reduces(sink, reduce, written_out):
            opts.append(Opt(OptKind.SIMD, reduce.arg[0]))
    elif reduces and contiguous(reduces[-1], loads):
        # A reduction along contiguous memory (row sums, a dot product): adjacent elements, adjacent accumulators.
        reduce = reduces[-1]
        simd = options.openmp and bool(_simd_reduces(sink, reduce))
        if simd:
            # The compilers' loop vectorizers handle any body (exp included) once allowed to reorder the sum;
            # their SLP vectorizers, which unrolled copies rely on, give up on anything but plain loads.
            merged = _merge_target(sink, reduces, loads) if size(reduce) < MERGE_BELOW else None
            if merged is not None:
                opts.append(Opt(OptKind.MERGE, merged.arg[0]))
            opts.append(Opt(OptKind.SIMD, reduce.arg[0] if merged is None else merged.arg[0]))
        else:
            opts.append(Opt(OptKind.SPLIT, reduce.arg[0], _largest_divisor(size(reduce), VECTOR_LANES)))
        # x @ W.T: rows of x share W's rows and the other way round, so a tile of both halves the loads
        # per multiply-add; split accumulators already multiply the registers, so they take one.
        # Under SIMD every accumulator is a vector register: taps written out already multiply them.
        sharing = [loop for loop in reversed(outputs) if shares_loads(loop, reduce)][: 2 if simd else 1]
        copies = math.prod(opt.amount for opt in opts if opt.kind is OptKind.UPCAST)
        for row in sharing:
            limit = min(SHARED_ROW_UPCAST, SIMD_ACCUMULATORS // copies) if simd else SHARED_ROW_UPCAST
            amount = _largest_divisor(size(row), max(limit, 1))
            opts.append(Opt(OptKind.UPCAST, row.arg[0], amount))
            copies *= amount
    elif not reduces:
        # Elementwise over a tiling view (max pooling's gradient reads its 2x2 windows at h // 2, w % 2): copies
        # of a loop by the divisor make every quotient and remainder a constant offset.
        opts.extend(Opt(OptKind.UPCAST, loop.arg[0], divisor) for loop, divisor in _small_divisors(nodes, outputs))
        hoist = None if opts else _transposing_copy(outputs, loads, stores)
        if hoist is not None:
            opts.append(hoist)
        elif not opts:
            # Short contiguous rows (28 wide) joined into long ones: one vector loop, not a remainder per row.
            for outer, inner in reversed(list(itertools.pairwise(outputs))):
                if size(inner) >= MERGE_BELOW or not _walks_as_one(loads + stores, outer, inner):
                    break
                opts.append(Opt(OptKind.MERGE, outer.arg[0]))
                merged_away.add(inner.arg[0])
    opts = [opt for opt in opts if opt.amount > 1 or opt.kind in (OptKind.SIMD, OptKind.MERGE)]
    work = math.prod(size(loop) for loop in loops)
    if options.threads > 1 and work >= PARALLEL_MIN_WORK:
        # The loops in the order they will nest, each with the iterations left of it: a HOIST's outer part
        # opens outermost.
        by_axis = {loop.arg[0]: loop for loop in loops}
        hoists = [opt for opt in opts if opt.kind is OptKind.HOIST]
        nesting = [(hoisted_axis(sink), size(by_axis[opt.axis]) // opt.amount) for opt in hoists]
        for loop in outputs:
            if loop.arg[0] not in merged_away:
                upcast = math.prod(
                    opt.amount for opt in opts if opt.axis == loop.arg[0] and opt.kind is not OptKind.MERGE
                )
                nesting.append((loop.arg[0], size(loop) // upcast))
        spread = next(((axis, iterations) for axis, iterations in nesting if iterations >= 2), None)
        if spread is not None:
            axis, iterations = spread
            # With fewer than DYNAMIC_SHARES iterations per core there is nothing to balance, and one core
            # arriving late could find them all taken: the kernel would run on the other alone.
            long_iterations = work // iterations >= DYNAMIC_MIN_WORK
            balanced = long_iterations and iterations >= DYNAMIC_SHARES * options.threads
            opts.append(Opt(OptKind.DYNAMIC if balanced else OptKind.PARALLEL, axis))
    return tuple(opts)


# What a search may try on one loop: these split amounts, on the innermost loops only.
SEARCH_AMOUNTS: Final = (2, 4, 8, 16, 32)
SEARCH_LOOPS: Final = 2


def possible_opts(sink: UOp, options: OptimizeOptions) -> list[Opt]:
    """The single opts a search may add to `sink` (already optimized by some opts): each fits its loop."""
    loops = sorted((node for node in toposort(sink) if node.op is Ops.RANGE), key=lambda loop: loop.arg[0])
    outputs = [loop for loop in loops if loop.arg[1] is AxisKind.LOOP]
    reduces = [loop for loop in loops if loop.arg[1] is AxisKind.REDUCE]
    candidates: list[Opt] = []
    for loop in outputs[-SEARCH_LOOPS:]:
        size = _size(loop) or 1
        candidates.extend(Opt(OptKind.UPCAST, loop.arg[0], amount) for amount in SEARCH_AMOUNTS if size % amount == 0)
    for loop in reduces[-1:]:
        size = _size(loop) or 1
        candidates.extend(Opt(OptKind.SPLIT, loop.arg[0], amount) for amount in SEARCH_AMOUNTS if size % amount == 0)
        if options.openmp and _simd_reduces(sink, loop):
            candidates.append(Opt(OptKind.SIMD, loop.arg[0]))
    if len(reduces) > 1 and not any(loop.arg[1] is AxisKind.SIMD for loop in loops):
        try:
            _reduce_inside(sink, reduces[-2])
            candidates.append(Opt(OptKind.MERGE, reduces[-2].arg[0]))
        except ValueError:
            pass
    for loop in outputs[:1]:
        size = _size(loop) or 1
        candidates.extend(Opt(OptKind.BLOCK, loop.arg[0], amount) for amount in SEARCH_AMOUNTS if size % amount == 0)
    for loop in outputs[-2:-1] if len(outputs) > 2 else ():
        size = _size(loop) or 1
        candidates.extend(
            Opt(OptKind.HOIST, loop.arg[0], amount) for amount in SEARCH_AMOUNTS if amount < size and size % amount == 0
        )
    spread = any(loop.arg[1] in SPREAD_AXES for loop in loops)
    if options.threads > 1 and outputs and not spread:
        candidates.extend(Opt(kind, outputs[0].arg[0]) for kind in (OptKind.PARALLEL, OptKind.DYNAMIC))
    return candidates


def simplify_indices(sink: UOp) -> UOp:
    """`sink` with every address and validity in canonical form, the constant offset last.

    After an upcast the copies' addresses differ by constants only once they are written `base + c`:
    that is what shows the C compiler that adjacent copies load adjacent elements (gcc vectorizes
    nothing else), and a validity that became constant folds away. A load that can never be valid
    reads zero, and the sums it enters drop it (see `_without_zero_terms`).
    """
    simplified_loads: dict[UOp, tuple[UOp, ...]] = {}
    for node in toposort(sink):
        if node.op is Ops.LOAD:
            index = node.src[0]
            simplified_loads[node] = (index.src[0], *(simplify(source) for source in index.src[1:]))

    def never_valid(sources: tuple[UOp, ...]) -> bool:
        return len(sources) == 3 and sources[2].op is Ops.CONST and sources[2].arg is False

    # A buffer whose every load is never valid keeps one (a masked-off tap reads `0 ? x : 0`, which the C
    # compiler folds): dropping them all would leave its parameter unused and change the kernel's signature.
    read = {sources[0] for sources in simplified_loads.values() if not never_valid(sources)}
    written = {node.src[0].src[0] for node in toposort(sink) if node.op is Ops.STORE}
    kept_alive = read | written
    replacements: dict[UOp, UOp] = {}
    for node, simplified in simplified_loads.items():
        if never_valid(simplified) and simplified[0] in kept_alive:
            replacements[node] = UOp.const(node.scalar_dtype, 0)
            continue
        if len(simplified) == 3 and simplified[2].op is Ops.CONST and simplified[2].arg is True:
            simplified = simplified[:2]
        index = node.src[0]
        replacements[node] = UOp(Ops.LOAD, node.dtype, (UOp(Ops.INDEX, index.dtype, simplified, index.arg),), node.arg)
    (rebuilt,) = substitute([sink], replacements)
    # Stores too: merged output loops leave `(i // n) * n + i % n` in their addresses.
    stores: dict[UOp, UOp] = {}
    for store in rebuilt.src:
        index = store.src[0]
        address = simplify(index.src[1])
        if address is not index.src[1]:
            located = UOp(Ops.INDEX, index.dtype, (index.src[0], address, *index.src[2:]), index.arg)
            stores[store] = UOp(Ops.STORE, store.dtype, (located, *store.src[1:]), store.arg)
    if stores:
        rebuilt = UOp(Ops.SINK, rebuilt.dtype, tuple(stores.get(store, store) for store in rebuilt.src), rebuilt.arg)
    parameters = {node for node in toposort(rebuilt) if node.op is Ops.DEFINE_GLOBAL}
    folded = _without_zero_terms(rebuilt, fold_choices=True)
    if {node for node in toposort(folded) if node.op is Ops.DEFINE_GLOBAL} == parameters:
        return folded
    # A choice that never takes a buffer's only read would change the kernel's signature: keep the choices.
    return _without_zero_terms(rebuilt, fold_choices=False)


def _without_zero_terms(sink: UOp, fold_choices: bool) -> UOp:
    """`sink` with `x + 0` written `x` and, with `fold_choices`, a choice whose index-only condition is constant
    (a padded reduction's validity in an upcast copy) written as the value it picks.

    A convolution's stack of shifted windows is a sum of nine padded views, only one of which is valid
    at each tap once the taps are written out: the other eight read zero. The C compiler may not drop
    a float `+ 0.0f` (it turns -0.0 into +0.0), so it is dropped here, where that sign is immaterial.
    Products with zero stay: folding them would give the copies of an upcast loop different shapes
    (the edge columns of a padded row), which stops the C compiler's SLP vectorizer.
    """
    rebuilt: dict[UOp, UOp] = {}
    for node in toposort(sink):
        sources = tuple(rebuilt[source] for source in node.src)
        zero = [position for position, source in enumerate(sources) if source.op is Ops.CONST and source.arg == 0]
        if node.op is Ops.ADD and zero:
            rebuilt[node] = sources[1 - zero[0]]
        elif fold_choices and node.op is Ops.WHERE and not any(inner.op is Ops.LOAD for inner in toposort(sources[0])):
            # A validity placed on a value (a padded reduction's) is index math too, constant in most copies.
            condition = simplify(sources[0])
            if condition.op is Ops.CONST:
                rebuilt[node] = sources[1] if condition.arg else sources[2]
            elif _is_zero(sources[2]) and _zero_unless(sources[1], condition):
                # `c ? x : 0` where x is already exactly 0 wherever c is false: a padded product whose every
                # load carries the same validity (a convolution's input gradient), a select per tap less.
                rebuilt[node] = sources[1]
            else:
                rebuilt[node] = UOp(Ops.WHERE, node.dtype, (condition, *sources[1:]), node.arg)
        elif sources != node.src:
            rebuilt[node] = UOp(node.op, node.dtype, sources, node.arg)
        else:
            rebuilt[node] = node
    return rebuilt[sink]


def _is_zero(node: UOp) -> bool:
    return node.op is Ops.CONST and node.arg == 0


def _zero_unless(value: UOp, condition: UOp) -> bool:
    """Whether `value` is exactly zero wherever `condition` is false: a load valid only under `condition`,
    or a sum or product of such values (a product of one such load with anything else is not: 0 * inf)."""
    if value.op is Ops.LOAD:
        index = value.src[0]
        return len(index.src) == 3 and index.src[2] is condition
    if value.op in (Ops.ADD, Ops.MUL):
        return all(_zero_unless(source, condition) for source in value.src)
    return False


def optimize_kernel(sink: UOp, options: OptimizeOptions, opts: Sequence[Opt] | None = None) -> UOp:
    """`sink` with `opts` applied (by default the hand-coded ones; nothing when optimization is off)."""
    if not options.enabled:
        return sink
    chosen = hand_coded_opts(sink, options) if opts is None else opts
    return simplify_indices(apply_opts(sink, chosen))
