"""The CPU heuristic: opts chosen from a kernel's memory access pattern, sized by the `Target`.

Which loops are contiguous in which buffers decides the shape of the work: a matmul-like kernel
gets a register tile (and, when B outgrows the cache, blocks of rows), a contiguous reduction a
SIMD loop (or split accumulators), short loops that gate a validity are written out whole, copies
are reordered to read whole rows, and large kernels spread their outer loop over the cores. The
register and cache budgets come from the target; the constants here are the heuristic's own rules.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Final

from lamina.codegen.apply import apply_opts
from lamina.codegen.cleanup import simplify_indices
from lamina.codegen.opts import (
    Opt,
    OptimizeOptions,
    OptKind,
    hoisted_axis,
    loop_size,
    products_per_update,
    reduce_inside,
    simd_reduces,
)
from lamina.codegen.target import ELEMENT_BYTES, Target
from lamina.uop import AxisKind, Ops, UOp, toposort

# Loops up to this long that a validity depends on are written out whole (see hand_coded_opts)...
MASKED_UNROLL: Final = 16
# ...while the kernel's nodes times the copies written out stay within this: a large body (a pooling gradient's
# windows) written out over every tap and column made C files of megabytes and minutes of simplifying them.
WRITE_OUT_NODES: Final = 1 << 15
# Tile columns up to which a row of a matmul-like kernel is upcast whole (see hand_coded_opts), in tile widths.
SHORT_ROW_VECTORS: Final = 2
# Rows of a tile whose accumulators each add several products per update (see hand_coded_opts).
SUMMED_ROW_UPCAST: Final = 2
# Rows of a contiguous reduction computed together when they share a load (x @ W.T shares x's row).
SHARED_ROW_UPCAST: Final = 4
# Strips of columns each core takes at least when a matrix-vector product widens its strips.
STRIPS_PER_CORE: Final = 4
# Rows from which a shared-row upcast no divisor fits is taken anyway, the short last group repeating a row:
# the repeat is one group's work in this many.
CLAMPED_UPCAST_FROM: Final = 64
# Full tiles a block of rows holds at least for its last tile to repeat rows rather than the tiles to shrink.
CLAMPED_TILE_FROM: Final = 16
# A contiguous SIMD reduction shorter than this is merged with the loop around it (see _merge_target).
MERGE_BELOW: Final = 128
# The largest divisor of an elementwise loop's index that the heuristic upcasts away (see _small_divisors).
TILE_DIVISOR: Final = 4
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
    amount = 1 << (max(limit, 1).bit_length() - 1)
    while amount > 1 and size % amount:
        amount //= 2
    return amount


def _row_block(row: UOp, tile_rows: int, depth: int, panels: int, threads: int, target: Target) -> list[Opt]:
    """A BLOCK of a matmul's row tiles, so one panel of B (the columns of one tile, all `depth` rows of
    it) is read from cache by as many tiles as fit their rows of A in the target's block, leaving DYNAMIC_SHARES
    blocks per core for the cores to share out (a 512^3 matmul: 8 blocks of 64 rows, not 4 of 128).

    Where that leaves fewer than DYNAMIC_SHARES tiles reading each panel (few rows: a prefill's 128 would be 8
    blocks of 16 rows, each reading all of B for two tiles), every row of A fits in the block and B's `panels`
    are enough to share out, the block holds all rows and the cores share the panels instead: each panel is
    read once, by every row tile."""
    tiles = (loop_size(row) or 1) // tile_rows
    amount = 1
    while (
        tiles % (amount * 2) == 0
        and tiles // (amount * 2) >= DYNAMIC_SHARES * threads
        and amount * 2 * tile_rows * depth * ELEMENT_BYTES <= target.block_bytes
    ):
        amount *= 2
    whole = tiles * tile_rows * depth * ELEMENT_BYTES <= target.block_bytes
    if amount < DYNAMIC_SHARES < tiles and whole and panels >= DYNAMIC_SHARES * threads:
        amount = tiles
    return [Opt(OptKind.BLOCK, row.arg[0], amount)] if amount > 1 else []


def _clamped_tile(blocks: list[Opt], tile_rows: int, full_rows: int) -> int | None:
    """The rows of each block (`blocks`: the BLOCK of `tile_rows`-row tiles) when a tile of `full_rows` should be
    taken inside each block anyway, its last tile repeating rows: the block holds at least CLAMPED_TILE_FROM such
    tiles, so the repeat is a small part of its work. None where the full tile divides or no block is made."""
    if tile_rows == full_rows or not blocks:
        return None
    rows = blocks[0].amount * tile_rows
    return rows if rows >= CLAMPED_TILE_FROM * full_rows else None


def _walks_as_one(accesses: Sequence[dict[UOp, int | None]], outer: UOp, inner: UOp) -> bool:
    """Whether every access walks `outer` and `inner` as one contiguous run: each step of the outer loop is
    the inner loop's whole length, so MERGE's quotient and remainder fold back into a single stride."""
    length = loop_size(inner) or 0
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
        reduce_inside(sink, reduces[-2])
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
        if dividend in outputs and 1 < divisor <= TILE_DIVISOR and (loop_size(dividend) or 0) % divisor == 0:
            found[dividend] = max(found.get(dividend, 1), divisor)
    return [(loop, found[loop]) for loop in outputs if loop in found]


def _row_split(nodes: Sequence[UOp], loop: UOp) -> Opt | None:
    """A BLOCK splitting output `loop` at d where an address reads it through `loop // d` and `loop % d`, for one
    d (rows of d merged into one loop at a reshape: a pooled (16, 14, 14) image flattened to 3136).

    Split, the quotient and remainder are loop indices again and each row's reads are affine in its inner
    loop (a stride-2 window's pairs of loads, which the C compilers vectorize as wide loads and shuffles),
    where through the division every lane's address was computed and loaded on its own."""
    addresses = toposort([node.src[1] for node in nodes if node.op is Ops.INDEX])
    split = {
        int(node.src[1].arg)
        for node in addresses
        if node.op in (Ops.IDIV, Ops.MOD) and node.src[0] is loop and node.src[1].op is Ops.CONST
    }
    size = loop_size(loop) or 0
    if len(split) != 1:
        return None
    (divisor,) = split
    return Opt(OptKind.BLOCK, loop.arg[0], divisor) if TILE_DIVISOR < divisor < size and size % divisor == 0 else None


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
    run = loop_size(inner) or 0
    if any(access.get(inner, 0) not in (0, 1) for access in (*loads, *stores)) or run * ELEMENT_BYTES >= COPY_RUN_BYTES:
        return None
    if any(access.get(step, 0) != run or access.get(inner, 0) != 1 for access in stores):
        return None
    for access in loads:
        jump = access.get(step, 0)
        continues = any(access.get(across, 0) == run for across in outputs[:-2])
        if access.get(inner, 0) == 1 and jump is not None and jump > run and continues:
            amount = _largest_divisor(loop_size(step) or 1, max(COPY_RUN_BYTES // (run * ELEMENT_BYTES), 2))
            return Opt(OptKind.HOIST, step.arg[0], amount) if 1 < amount < (loop_size(step) or 1) else None
    return None


def hand_coded_opts(sink: UOp, options: OptimizeOptions) -> tuple[Opt, ...]:
    """Opts chosen from the access pattern: vectorize along a contiguous loop, reuse loads, use the cores."""
    merges = _short_row_merges(sink)
    if not merges:
        return _access_opts(sink, options)
    # The rest is chosen for the kernel as it is once merged, its addresses simplified back to single strides.
    return (*merges, *_access_opts(simplify_indices(apply_opts(sink, merges)), options))


def _short_row_merges(sink: UOp) -> tuple[Opt, ...]:
    """MERGEs joining a reduction's short contiguous output rows with the loops around them that every access
    walks as one run: a linear layer's input gradient written back as (16, 14, 14) pooled images, whose rows of
    14 made a register tile 8 + 4 lanes and two scalars wide, is one row of 3136 for a full tile (5x faster).
    Not where a validity reads the loops (a padded convolution's rows: its masks would divide the merged loop)."""
    nodes = toposort(sink)
    if not any(node.op is Ops.REDUCE for node in nodes) or any(
        node.op is Ops.INDEX and len(node.src) == 3 for node in nodes
    ):
        return ()
    strides = _Strides()
    accesses = [strides.of(node.src[0].src[1]) for node in nodes if node.op in (Ops.LOAD, Ops.STORE)]
    outputs = sorted(
        (node for node in nodes if node.op is Ops.RANGE and node.arg[1] is AxisKind.LOOP), key=lambda loop: loop.arg[0]
    )
    if not outputs or any(access.get(outputs[-1], 0) not in (0, 1) for access in accesses):
        return ()
    merges: list[Opt] = []
    for outer, inner in reversed(list(itertools.pairwise(outputs))):
        if (loop_size(inner) or MERGE_BELOW) >= MERGE_BELOW or not _walks_as_one(accesses, outer, inner):
            break
        merges.append(Opt(OptKind.MERGE, outer.arg[0]))
    return tuple(merges)


def _access_opts(sink: UOp, options: OptimizeOptions) -> tuple[Opt, ...]:
    """hand_coded_opts' choice for `sink` as it is."""
    target = options.target
    nodes = toposort(sink)
    loops = sorted((node for node in nodes if node.op is Ops.RANGE), key=lambda loop: loop.arg[0])
    if any(loop_size(loop) is None for loop in loops):
        return ()
    strides = _Strides()
    loads = [strides.of(node.src[0].src[1]) for node in nodes if node.op is Ops.LOAD]
    stores = [strides.of(node.src[0].src[1]) for node in nodes if node.op is Ops.STORE]

    def size(loop: UOp) -> int:
        return loop_size(loop) or 1

    # A short loop that a validity depends on (which tap of a stack of shifted views is read) is written
    # out whole: with the loop index a constant in each copy, the masks fold and each copy is one plain load.
    gated = {
        node for index in nodes if index.op is Ops.INDEX and len(index.src) == 3 for node in toposort(index.src[2])
    }
    opts: list[Opt] = []
    merged_away: set[int] = set()  # output loops a MERGE folded into the loop around them
    copies = len(nodes)
    for loop in reversed(loops):  # the innermost first: a convolution's taps before its pixels
        if loop in gated and size(loop) <= MASKED_UNROLL and copies * size(loop) <= WRITE_OUT_NODES:
            kind = OptKind.UNROLL if loop.arg[1] is AxisKind.REDUCE else OptKind.UPCAST
            opts.append(Opt(kind, loop.arg[0], size(loop)))
            copies *= size(loop)
    opts.reverse()  # applied outermost first, as before
    written_out = {opt.axis for opt in opts}
    outputs = [loop for loop in loops if loop.arg[1] is AxisKind.LOOP and loop.arg[0] not in written_out]
    reduces = [loop for loop in loops if loop.arg[1] is AxisKind.REDUCE and loop.arg[0] not in written_out]

    def contiguous(loop: UOp, accesses: list[dict[UOp, int | None]]) -> bool:
        # Every access either ignores the loop or walks it with stride one, and at least one walks it.
        steps = [access.get(loop, 0) for access in accesses]
        return all(step in (0, 1) for step in steps) and 1 in steps

    def shared_loads(loop: UOp, inner: UOp, along: UOp | None = None) -> int:
        # The loads inside the reduction (walking `along`, when given) that do not move with `loop`: copies
        # along `loop` share them.
        return sum(
            1
            for access in loads
            if access.get(inner, 0) != 0 and access.get(loop, 0) == 0 and (along is None or access.get(along, 0) == 1)
        )

    def shares_loads(loop: UOp, inner: UOp, along: UOp | None = None) -> bool:
        return shared_loads(loop, inner, along) > 0

    # An elementwise kernel gets no tile: its innermost loop is contiguous, which the C compiler vectorizes.
    vector_output = next((loop for loop in reversed(outputs) if contiguous(loop, loads + stores)), None)
    split = _row_split(nodes, outputs[-1]) if outputs and vector_output is None else None
    if reduces and vector_output is not None:
        # Matmul-like: a tile of the target's rows by its columns of contiguous accumulators, for each group
        # of REDUCEs (a convolution's input gradient has one per tap), within the target's tile_accumulators.
        reduce = reduces[-1]
        groups = len({node.src[1:] for node in nodes if node.op is Ops.REDUCE})
        rows = [loop for loop in outputs if loop is not vector_output]
        # The rows that share the vector loads: a matmul's rows of A share B's; a convolution's output
        # channels share the input's.
        row = next((loop for loop in reversed(rows) if shares_loads(loop, reduce, vector_output)), None)
        # With no rows to share them (a matrix-vector product, x @ w for one x), the tile's accumulators go to
        # one wider strip of columns: each step down B reads more adjacent cache lines, so more are in flight.
        columns = target.tile_columns if row is not None else max(target.tile_accumulators // groups, 1)
        # ... as long as every core still gets several strips.
        while columns > target.tile_columns and size(vector_output) // columns < STRIPS_PER_CORE * options.threads:
            columns //= 2
        width = _largest_divisor(size(vector_output), columns)
        while width > 1 and any(divisor % width for divisor in strides.divisors):
            width //= 2
        # A short row no power of two cuts into whole vectors (a 28-pixel image row under AVX2: 4 x 7) is taken
        # whole instead, written as vectors and a narrower tail (see lane_trees.py).
        short_row = size(vector_output) <= SHORT_ROW_VECTORS * target.tile_columns
        if width < target.vector_lanes and short_row and not any(d % size(vector_output) for d in strides.divisors):
            width = size(vector_output)
        opts.append(Opt(OptKind.UPCAST, vector_output.arg[0], width))
        # A body summing several products (taps joined by the scheduler) already holds as many loads per update
        # as the tile's rows would share: two rows of it measured best (a convolution's input gradient).
        products = products_per_update(nodes, reduce)
        rows_wanted = target.tile_rows if products < 2 else SUMMED_ROW_UPCAST
        if products < 2 and width % target.vector_lanes == 0 and width < target.tile_columns:
            # Columns that no full tile width divides (784 under AVX-512: a vector of 16, not two): as many more
            # rows as the tile lost columns, so each step down the sum still feeds the tile's accumulators, and
            # each broadcast load still uses a whole cache line of its operand (16 rows of a stored A^T).
            rows_wanted = target.tile_rows * target.tile_columns // width
        row_limit = min(rows_wanted, target.tile_accumulators // (width * groups))
        if row is not None and row_limit > 1 and shares_loads(vector_output, reduce):
            tile_rows = row_limit if size(row) % row_limit == 0 else _largest_divisor(size(row), row_limit)
            # Blocks matter once B no longer fits in cache whole: then each pass over it comes from memory.
            depth = math.prod(size(loop) for loop in reduces)
            panels_bytes = depth * size(vector_output) * ELEMENT_BYTES
            blocks = []
            if row.arg[0] < vector_output.arg[0] and size(vector_output) > width and panels_bytes > target.block_bytes:
                panels = size(vector_output) // width
                blocks = _row_block(row, tile_rows, depth, panels, options.threads, target)
            clamped = _clamped_tile(blocks, tile_rows, row_limit)
            if clamped is not None:
                # The full tile does not divide the rows (1024 by 6): each block of rows is tiled whole, its last
                # tile repeating a few rows (see opts.upcast), rather than every tile taking fewer rows.
                block_axis = 1 + max(loop.arg[0] for loop in [*outputs, *reduces] if size(loop) > 1)
                opts.extend([Opt(OptKind.BLOCK, row.arg[0], clamped), Opt(OptKind.UPCAST, block_axis, row_limit)])
            elif not blocks and tile_rows < row_limit and size(row) >= CLAMPED_TILE_FROM * row_limit:
                # Unblocked rows the full tile does not divide (an MLP's 128 or 256 by 6): the full tile all the same,
                # its last one repeating a few rows, rather than 4-row tiles with a third fewer accumulators.
                opts.append(Opt(OptKind.UPCAST, row.arg[0], row_limit))
            else:
                opts.append(Opt(OptKind.UPCAST, row.arg[0], tile_rows))
                opts.extend(blocks)
        # Taps written out make each accumulator's update a sum of products; leave the C compiler free to
        # reorder it (an OpenMP simd loop over the channels), which its vectorizer needs to take the tile.
        # So do several products summed into each update (a convolution's input gradient, its taps joined by
        # the scheduler into one reduction).
        summed = bool(written_out) or products > 1
        if summed and options.openmp and simd_reduces(sink, reduce, written_out):
            opts.append(Opt(OptKind.SIMD, reduce.arg[0]))
    elif reduces and contiguous(reduces[-1], loads):
        # A reduction along contiguous memory (row sums, a dot product): adjacent elements, adjacent accumulators.
        reduce = reduces[-1]
        # A sum shorter than a vector (a 2x2 window) fills no vector register: it is split into its elements, so
        # the output loop around it vectorizes instead, as a max of the window does.
        simd = options.openmp and bool(simd_reduces(sink, reduce)) and size(reduce) >= target.vector_lanes
        if simd:
            # The compilers' loop vectorizers handle any body (exp included) once allowed to reorder the sum;
            # their SLP vectorizers, which unrolled copies rely on, give up on anything but plain loads.
            merged = _merge_target(sink, reduces, loads) if size(reduce) < MERGE_BELOW else None
            if merged is not None:
                opts.append(Opt(OptKind.MERGE, merged.arg[0]))
            opts.append(Opt(OptKind.SIMD, reduce.arg[0] if merged is None else merged.arg[0]))
        else:
            opts.append(Opt(OptKind.SPLIT, reduce.arg[0], _largest_divisor(size(reduce), target.vector_lanes)))
        # x @ W.T: rows of x share W's rows and the other way round, so a tile of both halves the loads
        # per multiply-add; split accumulators already multiply the registers, so they take one.
        # Under SIMD every accumulator is a vector register: taps written out already multiply them.
        # The loop whose copies share the most loads first: a convolution's weight gradient shares its nine taps
        # of the input between output channels, and only the one gradient load between input channels.
        candidates = [loop for loop in reversed(outputs) if shares_loads(loop, reduce)]
        sharing = sorted(candidates, key=lambda loop: -shared_loads(loop, reduce))[: 2 if simd else 1]
        copies = math.prod(opt.amount for opt in opts if opt.kind is OptKind.UPCAST)
        for row in sharing:
            limit = min(SHARED_ROW_UPCAST, target.simd_accumulators // copies) if simd else SHARED_ROW_UPCAST
            amount = _largest_divisor(size(row), max(limit, 1))
            if amount < limit and size(row) >= CLAMPED_UPCAST_FROM * limit:
                # A long loop with no small divisor (a vocabulary of 50257 rows): its last group repeats a row.
                amount = limit
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
    if split is not None and all(opt.axis != split.axis for opt in opts):
        opts.insert(0, split)  # rows merged at a reshape, split back where no other opt reshapes that loop
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
