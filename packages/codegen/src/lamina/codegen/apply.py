"""Applying a list of opts to a kernel: each names its loop by axis id and is checked against it."""

from __future__ import annotations

from collections.abc import Sequence

from lamina.codegen.opts import (
    Opt,
    OptKind,
    block,
    hoist,
    loops_by_axis,
    mark,
    merge,
    merge_outputs,
    simd_reduces,
    split_reduce,
    upcast,
)
from lamina.codegen.workgroup import group_reduce, split_local, stage_tiles
from lamina.uop import AxisKind, Ops, UOp, toposort


def apply_opts(sink: UOp, opts: Sequence[Opt]) -> UOp:
    """`sink` with `opts` applied in order; raises ValueError for an opt that does not fit its loop."""
    for opt in opts:
        if any(node.op is Ops.DEFINE_LOCAL for node in toposort(sink)):
            # Local memory is laid out for the loops as they are: splitting or unrolling one would make work
            # items share addresses they must not (or leave a tile without a dimension it needs).
            raise ValueError(f"{opt.kind.name} after STAGE or GROUP: the opts that use local memory come last")
        loop = loops_by_axis(sink).get(opt.axis)
        if loop is None:
            raise ValueError(f"{opt.kind.name} names loop axis {opt.axis}, which the kernel does not have")
        is_reduce = loop.arg[1] is AxisKind.REDUCE
        if opt.kind is OptKind.UPCAST and not is_reduce:
            sink = upcast(sink, loop, opt.amount)
        elif opt.kind is OptKind.SPLIT and is_reduce:
            sink = split_reduce(sink, loop, opt.amount, separate=True)
        elif opt.kind is OptKind.UNROLL and is_reduce:
            sink = split_reduce(sink, loop, opt.amount, separate=False)
        elif opt.kind is OptKind.PARALLEL and loop.arg[1] is AxisKind.LOOP:
            sink = mark(sink, loop, AxisKind.PARALLEL)
        elif opt.kind is OptKind.DYNAMIC and loop.arg[1] is AxisKind.LOOP:
            sink = mark(sink, loop, AxisKind.DYNAMIC)
        elif opt.kind is OptKind.GLOBAL and loop.arg[1] is AxisKind.LOOP:
            sink = mark(sink, loop, AxisKind.GLOBAL)
        elif opt.kind is OptKind.BLOCK and loop.arg[1] is AxisKind.LOOP:
            sink = block(sink, loop, opt.amount)
        elif opt.kind is OptKind.HOIST and loop.arg[1] is AxisKind.LOOP:
            sink = hoist(sink, loop, opt.amount)
        elif opt.kind is OptKind.MERGE and is_reduce:
            sink = merge(sink, loop)
        elif opt.kind is OptKind.MERGE and loop.arg[1] is AxisKind.LOOP:
            sink = merge_outputs(sink, loop)
        elif opt.kind is OptKind.LOCAL and loop.arg[1] is AxisKind.LOOP:
            sink = split_local(sink, loop, opt.amount)
        elif opt.kind is OptKind.GROUP and is_reduce:
            sink = group_reduce(sink, loop, opt.amount)
        elif opt.kind is OptKind.STAGE and is_reduce:
            sink = stage_tiles(sink, loop, opt.amount)
        elif opt.kind is OptKind.SIMD and is_reduce and simd_reduces(sink, loop):
            sink = mark(sink, loop, AxisKind.SIMD)
        else:
            raise ValueError(f"{opt.kind.name} does not apply to the {loop.arg[1].name} loop of axis {opt.axis}")
    return sink
