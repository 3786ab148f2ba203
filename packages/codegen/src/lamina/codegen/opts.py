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

This module holds the loop rewrites (the GPU's work-group opts are in `workgroup.py`, and `apply.py`
applies a list of opts); `heuristic_cpu.py` chooses them,
`search.py` lists what a search may try, `cleanup.py` tidies the result and `optimize.py` runs it all.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import Enum, auto

from lamina.codegen.target import CPU_TARGET, Target
from lamina.uop import AxisKind, Ops, UOp, substitute, toposort


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
    GLOBAL = auto()  # run an output loop's iterations on a GPU's work items
    LOCAL = auto()  # split an output loop; its inner part runs over the items of a GPU work-group
    GROUP = auto()  # split a reduce loop over the items of a work-group, combining through local memory
    STAGE = auto()  # tile a reduce loop; loads the work-group's items share are read from local memory


@dataclass(frozen=True, slots=True)
class OptimizeOptions:
    """What the optimizer may use: `threads` cores for PARALLEL loops, OpenMP pragmas, the machine `target`;
    `enabled=False` is NOOPT."""

    enabled: bool = True
    threads: int = 1
    openmp: bool = False
    target: Target = CPU_TARGET


@dataclass(frozen=True, slots=True)
class Opt:
    """One optimization of the loop whose RANGE has axis id `axis`."""

    kind: OptKind
    axis: int
    amount: int = 0


def loops_by_axis(sink: UOp) -> dict[int, UOp]:
    return {node.arg[0]: node for node in toposort(sink) if node.op is Ops.RANGE}


def loop_dependencies(root: UOp) -> dict[UOp, frozenset[UOp]]:
    """For every node under `root`, the loops its value depends on: a REDUCE does not depend on its own loops."""
    found: dict[UOp, frozenset[UOp]] = {}
    for node in toposort(root):
        inherited = frozenset().union(*(found[source] for source in node.src))
        if node.op is Ops.RANGE:
            found[node] = inherited | {node}
        elif node.op is Ops.REDUCE:
            found[node] = found[node.src[0]] - set(node.src[1:])
        else:
            found[node] = inherited
    return found


def loop_size(loop: UOp) -> int | None:
    end = loop.src[0]
    return int(end.arg) if end.op is Ops.CONST else None


def _split(loop: UOp, amount: int, kind: AxisKind) -> tuple[UOp | None, list[UOp]]:
    """The shorter RANGE (None when `amount` is the whole loop) and the index expression of each unrolled copy."""
    size = loop_size(loop)
    if size is None or amount < 1 or size % amount != 0:
        raise ValueError(f"cannot split loop axis {loop.arg[0]} of size {size} by {amount}")
    if amount == size:
        return None, [UOp.const(loop.scalar_dtype, offset) for offset in range(amount)]
    outer = UOp.range(UOp.const(loop.scalar_dtype, size // amount), loop.arg[0], kind, loop.scalar_dtype)
    return outer, [outer * amount + offset if offset else outer * amount for offset in range(amount)]


def _clamped_split(loop: UOp, amount: int) -> list[UOp]:
    """The index of each of `amount` copies of an output loop `amount` does not divide: the loop runs over groups
    of `amount`, and in the last, short group the copies past the end repeat the loop's last index (computing and
    storing its value again, a harmless repeat) rather than leaving the buffers."""
    size = loop_size(loop)
    if size is None or amount < 2 or size < amount:
        raise ValueError(f"cannot split loop axis {loop.arg[0]} of size {size} by {amount}")
    groups = UOp.const(loop.scalar_dtype, -(-size // amount))
    outer = UOp.range(groups, loop.arg[0], loop.arg[1], loop.scalar_dtype)
    last = UOp.const(loop.scalar_dtype, size - 1)
    copies = []
    for offset in range(amount):
        index = outer * amount + offset if offset else outer * amount
        # Only copies at or past the remainder can overrun, and only in the last group.
        copies.append(index if offset < size % amount else index.lt(size).where(index, last))
    return copies


def upcast(sink: UOp, loop: UOp, amount: int) -> UOp:
    """`loop` written out `amount` times (its copies side by side in one iteration); an amount that does not divide
    the loop repeats its last index in the short group (see _clamped_split)."""
    size = loop_size(loop)
    if size is not None and amount > 1 and size % amount:
        copies = _clamped_split(loop, amount)
    else:
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


def split_reduce(sink: UOp, loop: UOp, amount: int, separate: bool) -> UOp:
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


def split_to(sink: UOp, loop: UOp, amount: int, outer_axis: int, inner_axis: int) -> UOp:
    """`loop` as `outer * amount + inner` over two RANGEs with the given axis ids, where the linearizer nests
    output loops by axis id (no outer RANGE where `amount` is the whole loop): BLOCK's and HOIST's split."""
    size, kind, dtype = loop_size(loop) or amount, loop.arg[1], loop.scalar_dtype
    inner = UOp.range(UOp.const(dtype, amount), inner_axis, kind, dtype)
    index = (
        inner
        if amount == size
        else UOp.range(UOp.const(dtype, size // amount), outer_axis, kind, dtype) * amount + inner
    )
    (rebuilt,) = substitute([sink], {loop: index})
    return rebuilt


def block(sink: UOp, loop: UOp, amount: int) -> UOp:
    """`loop` split by `amount`, the inner part with a new axis id above all others: the linearizer orders
    output loops by axis id, so it opens innermost, and each pass of the loops in between is reused by
    `amount` iterations of it (a matmul's panel of B stays in cache for that many tiles of rows)."""
    size = loop_size(loop)
    if size is None or amount < 2 or size % amount != 0:
        raise ValueError(f"cannot block loop axis {loop.arg[0]} of size {size} by {amount}")
    next_axis = 1 + max(node.arg[0] for node in toposort(sink) if node.op is Ops.RANGE)
    return split_to(sink, loop, amount, loop.arg[0], next_axis)


def hoisted_axis(sink: UOp) -> int:
    """The axis id a HOIST gives the outer part of its loop: below every loop's, so it opens outermost."""
    return min(int(node.arg[0]) for node in toposort(sink) if node.op is Ops.RANGE) - 1


def hoist(sink: UOp, loop: UOp, amount: int) -> UOp:
    """`loop` split by `amount`, the outer part with an axis id below all others (the linearizer opens it
    outermost) and the inner part where `loop` was: each pass of the loops in between walks `amount`
    iterations of `loop`, so a copy that reads along one loop and writes along another reads and writes
    runs of `amount` rows instead of a short run per row (a matmul's panels of B: 8 rows of 4 KB at a time)."""
    size = loop_size(loop)
    if size is None or amount < 1 or amount >= size or size % amount != 0:
        raise ValueError(f"cannot hoist loop axis {loop.arg[0]} of size {size} by {amount}")
    return split_to(sink, loop, amount, hoisted_axis(sink), loop.arg[0])


def reduce_inside(sink: UOp, loop: UOp) -> tuple[UOp, list[UOp]]:
    """The reduce loop MERGE would join with `loop` (the same one right inside it in every REDUCE over it, and
    never reduced over alone), and those REDUCEs; raises ValueError where there is none."""
    reduces = [node for node in toposort(sink) if node.op is Ops.REDUCE and loop in node.src[1:]]
    inners = {node.src[node.src.index(loop) + 1] for node in reduces if node.src.index(loop) + 1 < len(node.src)}
    inner = next(iter(inners)) if len(inners) == 1 else None
    if inner is None or loop_size(loop) is None or loop_size(inner) is None:
        raise ValueError(f"cannot merge loop axis {loop.arg[0]}: every REDUCE over it needs the same loop inside it")
    if any(inner in node.src[1:] and loop not in node.src[1:] for node in toposort(sink) if node.op is Ops.REDUCE):
        raise ValueError(f"cannot merge loop axis {loop.arg[0]}: a REDUCE runs over the loop inside it alone")
    return inner, reduces


def merge(sink: UOp, loop: UOp) -> UOp:
    """Every REDUCE over `loop` and the loop right inside it, over one loop of both sizes' product instead:
    the old indices are its quotient and remainder, which the index simplifier folds back into a
    single stride where the two loops walked memory contiguously (a convolution's rows and columns)."""
    inner, reduces = reduce_inside(sink, loop)
    inner_size = loop_size(inner) or 1
    size = UOp.const(loop.scalar_dtype, (loop_size(loop) or 1) * inner_size)
    merged = UOp.range(size, loop.arg[0], AxisKind.REDUCE, loop.scalar_dtype)
    indices = {loop: merged // inner_size, inner: merged % inner_size}
    replacements: dict[UOp, UOp] = {}
    for reduce in reduces:
        (value,) = substitute([reduce.src[0]], indices)
        ranges = [merged if source is loop else source for source in reduce.src[1:] if source is not inner]
        replacements[reduce] = UOp(Ops.REDUCE, reduce.dtype, (value, *ranges), reduce.arg)
    (rebuilt,) = substitute([sink], replacements)
    return rebuilt


def merge_outputs(sink: UOp, loop: UOp) -> UOp:
    """Output `loop` and the output loop right inside it (the next axis id) as one loop of both sizes' product."""
    outputs = sorted((node for node in toposort(sink) if node.op is Ops.RANGE and node.arg[1] is AxisKind.LOOP),
                     key=lambda node: node.arg[0])  # fmt: skip
    position = outputs.index(loop)
    inner = outputs[position + 1] if position + 1 < len(outputs) else None
    outer_size, inner_size = loop_size(loop), loop_size(inner) if inner is not None else None
    if inner is None or outer_size is None or inner_size is None:
        raise ValueError(f"cannot merge loop axis {loop.arg[0]}: no output loop of known size inside it")
    merged = UOp.range(
        UOp.const(loop.scalar_dtype, outer_size * inner_size), loop.arg[0], AxisKind.LOOP, loop.scalar_dtype
    )
    (rebuilt,) = substitute([sink], {loop: merged // inner_size, inner: merged % inner_size})
    return rebuilt


def mark(sink: UOp, loop: UOp, kind: AxisKind) -> UOp:
    marked = UOp.range(loop.src[0], loop.arg[0], kind, loop.scalar_dtype)
    (rebuilt,) = substitute([sink], {loop: marked})
    return rebuilt


def simd_reduces(sink: UOp, loop: UOp, written_out: Collection[int] = ()) -> list[UOp] | None:
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


def products_per_update(nodes: Sequence[UOp], loop: UOp) -> int:
    """The most float products in the body of a REDUCE over `loop`: what one update of its accumulator adds."""
    bodies = [node.src[0] for node in nodes if node.op is Ops.REDUCE and loop in node.src[1:]]
    counts = [
        sum(1 for inner in toposort(body) if inner.op is Ops.MUL and inner.scalar_dtype.is_float) for body in bodies
    ]
    return max(counts, default=0)
