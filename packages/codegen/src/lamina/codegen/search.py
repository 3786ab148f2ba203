"""The search space: the single opts a search (BEAM) may add to a kernel, each one that fits its loop."""

from __future__ import annotations

import math
from typing import Final

from lamina.codegen.opts import Opt, OptimizeOptions, OptKind, loop_size, reduce_inside, simd_reduces
from lamina.uop import SPREAD_AXES, AxisKind, Ops, UOp, toposort

# What a search may try on one loop: these split amounts, on the innermost loops only.
SEARCH_AMOUNTS: Final = (2, 4, 8, 16, 32)
SEARCH_LOOPS: Final = 2


def possible_opts(sink: UOp, options: OptimizeOptions) -> list[Opt]:
    """The single opts a search may add to `sink` (already optimized by some opts): each fits its loop."""
    if options.target.kind == "gpu":
        return _gpu_opts(sink, options)
    loops = sorted((node for node in toposort(sink) if node.op is Ops.RANGE), key=lambda loop: loop.arg[0])
    outputs = [loop for loop in loops if loop.arg[1] is AxisKind.LOOP]
    reduces = [loop for loop in loops if loop.arg[1] is AxisKind.REDUCE]
    candidates: list[Opt] = []
    for loop in outputs[-SEARCH_LOOPS:]:
        size = loop_size(loop) or 1
        candidates.extend(Opt(OptKind.UPCAST, loop.arg[0], amount) for amount in SEARCH_AMOUNTS if size % amount == 0)
    for loop in reduces[-1:]:
        size = loop_size(loop) or 1
        candidates.extend(Opt(OptKind.SPLIT, loop.arg[0], amount) for amount in SEARCH_AMOUNTS if size % amount == 0)
        if options.openmp and simd_reduces(sink, loop):
            candidates.append(Opt(OptKind.SIMD, loop.arg[0]))
    if len(reduces) > 1 and not any(loop.arg[1] is AxisKind.SIMD for loop in loops):
        try:
            reduce_inside(sink, reduces[-2])
            candidates.append(Opt(OptKind.MERGE, reduces[-2].arg[0]))
        except ValueError:
            pass
    for loop in outputs[:1]:
        size = loop_size(loop) or 1
        candidates.extend(Opt(OptKind.BLOCK, loop.arg[0], amount) for amount in SEARCH_AMOUNTS if size % amount == 0)
    for loop in outputs[-2:-1] if len(outputs) > 2 else ():
        size = loop_size(loop) or 1
        candidates.extend(
            Opt(OptKind.HOIST, loop.arg[0], amount) for amount in SEARCH_AMOUNTS if amount < size and size % amount == 0
        )
    spread = any(loop.arg[1] in SPREAD_AXES for loop in loops)
    if options.threads > 1 and outputs and not spread:
        candidates.extend(Opt(kind, outputs[0].arg[0]) for kind in (OptKind.PARALLEL, OptKind.DYNAMIC))
    return candidates


def _gpu_opts(sink: UOp, options: OptimizeOptions) -> list[Opt]:
    """A GPU kernel's candidates: work items along an output loop (LOCAL) while the work-group has room, a
    register tile (UPCAST), a reduction over a work-group (GROUP), tiles through local memory (STAGE)."""
    if any(node.op is Ops.DEFINE_LOCAL for node in toposort(sink)):
        return []  # STAGE and GROUP come last (see apply_opts)
    loops = sorted((node for node in toposort(sink) if node.op is Ops.RANGE), key=lambda loop: loop.arg[0])
    outputs = [loop for loop in loops if loop.arg[1] is AxisKind.LOOP]
    reduces = [loop for loop in loops if loop.arg[1] is AxisKind.REDUCE]
    items = math.prod(loop_size(loop) or 1 for loop in loops if loop.arg[1] is AxisKind.LOCAL)
    room = options.target.max_local_size // items
    candidates: list[Opt] = []
    for loop in outputs[-SEARCH_LOOPS:]:
        size = loop_size(loop) or 1
        candidates.extend(Opt(OptKind.UPCAST, loop.arg[0], amount) for amount in SEARCH_AMOUNTS if size % amount == 0)
        candidates.extend(
            Opt(OptKind.LOCAL, loop.arg[0], amount)
            for amount in SEARCH_AMOUNTS
            if amount <= room and size % amount == 0
        )
    for loop in reduces[-1:]:
        size = loop_size(loop) or 1
        candidates.extend(
            Opt(OptKind.GROUP, loop.arg[0], amount)
            for amount in SEARCH_AMOUNTS
            if amount <= room and size % amount == 0
        )
        if items > 1:
            candidates.extend(
                Opt(OptKind.STAGE, loop.arg[0], amount) for amount in SEARCH_AMOUNTS if size % amount == 0
            )
    return candidates
