"""The kernel optimizer's entry: apply a kernel's opts (the heuristic's, or given ones) and tidy the result.

An `Opt` is a rewrite of one loop (`opts.py`); the CPU heuristic (`heuristic_cpu.py`) chooses them from
the kernel's access pattern and the `Target` (the GPU heuristic, `heuristic_gpu.py`, which loops run on
work items); `search.py` lists what a search may try; `cleanup.py`
puts addresses in canonical form afterwards. Every optimized kernel is an ordinary kernel AST, so the
reference interpreter checks it against the unoptimized one.
"""

from __future__ import annotations

from collections.abc import Sequence

from lamina.codegen.cleanup import simplify_indices
from lamina.codegen.heuristic_cpu import hand_coded_opts
from lamina.codegen.heuristic_gpu import gpu_opts
from lamina.codegen.opts import Opt, OptimizeOptions, OptKind, apply_opts
from lamina.uop import UOp


def heuristic_opts(sink: UOp, options: OptimizeOptions) -> tuple[Opt, ...]:
    """The opts the target's heuristic picks for `sink` (the CPU's or the GPU's)."""
    return gpu_opts(sink, options) if options.target.kind == "gpu" else hand_coded_opts(sink, options)


def optimize_kernel(sink: UOp, options: OptimizeOptions, opts: Sequence[Opt] | None = None) -> UOp:
    """`sink` with `opts` applied (by default the hand-coded ones; nothing when optimization is off)."""
    if not options.enabled:
        # A GPU runs a kernel on its work items even unoptimized: only the outer loop is spread over them.
        return apply_opts(sink, gpu_opts(sink, options)) if options.target.kind == "gpu" else sink
    chosen = heuristic_opts(sink, options) if opts is None else opts
    if options.target.kind == "gpu" and not any(opt.kind is OptKind.GLOBAL for opt in chosen):
        # Searched opts (BEAM) say how to shape the work; which loop runs on the work items stays the rule's.
        chosen = (*chosen, *gpu_opts(apply_opts(sink, chosen), options))
    return simplify_indices(apply_opts(sink, chosen))
