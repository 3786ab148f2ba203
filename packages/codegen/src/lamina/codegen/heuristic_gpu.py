"""The GPU heuristic: which of a kernel's loops run on the device's work items.

The outermost output loop becomes a GLOBAL loop: work item i takes iterations i, i + global size, ...,
so the launch's global size is that loop's length and each item computes one output row (everything
inside it, reductions included, stays a loop in the item). Splitting reductions over a work-group,
local-memory tiles and several outputs per item come as further opts, chosen from the same `Target`.
"""

from __future__ import annotations

from lamina.codegen.opts import Opt, OptimizeOptions, OptKind
from lamina.uop import AxisKind, Ops, UOp, toposort


def gpu_opts(sink: UOp, options: OptimizeOptions) -> tuple[Opt, ...]:
    """GLOBAL for the outermost output loop, if the kernel has one (a kernel without runs on one work item)."""
    del options  # one rule for every GPU target so far
    outputs = sorted(
        (node for node in toposort(sink) if node.op is Ops.RANGE and node.arg[1] is AxisKind.LOOP),
        key=lambda loop: loop.arg[0],
    )
    return (Opt(OptKind.GLOBAL, outputs[0].arg[0]),) if outputs else ()
