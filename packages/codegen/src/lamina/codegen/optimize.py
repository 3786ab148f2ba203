"""The kernel optimizer's entry: apply a kernel's opts (the heuristic's, or given ones) and tidy the result.

An `Opt` is a rewrite of one loop (`opts.py`); the CPU heuristic (`heuristic_cpu.py`) chooses them from
the kernel's access pattern and the `Target` (the GPU heuristic, `heuristic_gpu.py`, how loops spread
over work-groups and items, with the opts of `workgroup.py`); `search.py` lists what a search may try; `cleanup.py`
puts addresses in canonical form afterwards. Every optimized kernel is an ordinary kernel AST, so the
reference interpreter checks it against the unoptimized one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from lamina.codegen.apply import apply_opts
from lamina.codegen.cleanup import simplify_indices
from lamina.codegen.heuristic_cpu import hand_coded_opts
from lamina.codegen.heuristic_gpu import gpu_opts
from lamina.codegen.opts import Opt, OptimizeOptions, OptKind, loop_size, mark
from lamina.codegen.simd_elementwise import simd_elementwise
from lamina.codegen.target import Target
from lamina.codegen.workgroup import assign_grid, local_axes, local_bytes
from lamina.uop import AxisKind, Ops, UOp, toposort


def heuristic_opts(sink: UOp, options: OptimizeOptions) -> tuple[Opt, ...]:
    """The opts the target's heuristic picks for `sink` (the CPU's or the GPU's)."""
    return gpu_opts(sink, options) if options.target.kind == "gpu" else hand_coded_opts(sink, options)


def optimize_kernel(sink: UOp, options: OptimizeOptions, opts: Sequence[Opt] | None = None) -> UOp:
    """`sink` with `opts` applied (by default the hand-coded ones; nothing when optimization is off)."""
    gpu = options.target.kind == "gpu"
    if not options.enabled:
        # A GPU runs a kernel on its work items even unoptimized: only the outer loop is spread over them.
        return apply_opts(sink, _outer_global(sink)) if gpu else sink
    chosen = heuristic_opts(sink, options) if opts is None else opts
    if gpu and not any(opt.kind in _GRID_OPTS for opt in chosen):
        # Searched opts (BEAM) that spread nothing over work items: the outer loop is, as unoptimized.
        chosen = (*chosen, *_outer_global(apply_opts(sink, chosen)))
    optimized = apply_opts(sink, chosen)
    if gpu:
        optimized = assign_grid(optimized)
        _check_fits(optimized, options.target)
    simplified = simplify_indices(optimized)
    # The heuristic's elementwise kernels vectorize in both compilers (see simd_elementwise.py); a transposing
    # copy's strided reads stay scalar.
    if not gpu and options.openmp and opts is None and not any(opt.kind is OptKind.HOIST for opt in chosen):
        return _innermost_simd(simplified)
    return simplified


def _innermost_simd(sink: UOp) -> UOp:
    """`sink` with its innermost loop an OpenMP simd loop where simd_elementwise allows it."""
    loops = [node for node in toposort(sink) if node.op is Ops.RANGE]
    if not loops:
        return sink
    innermost = max(loops, key=lambda loop: loop.arg[0])
    if innermost.arg[1] is not AxisKind.LOOP or not simd_elementwise(sink, innermost):
        return sink
    return mark(sink, innermost, AxisKind.VECTOR)


_GRID_OPTS: Final = frozenset({OptKind.GLOBAL, OptKind.LOCAL, OptKind.GROUP})


def _outer_global(sink: UOp) -> tuple[Opt, ...]:
    outputs = [node for node in toposort(sink) if node.op is Ops.RANGE and node.arg[1] is AxisKind.LOOP]
    return (Opt(OptKind.GLOBAL, min(loop.arg[0] for loop in outputs)),) if outputs else ()


def _check_fits(sink: UOp, target: Target) -> None:
    """Raise ValueError for a work-group larger than `target` runs, or more local memory than it has."""
    items = math.prod(loop_size(item) or 1 for item in local_axes(sink))
    if items > max(target.max_local_size, 1):
        raise ValueError(f"a work-group of {items} items is more than {target.name}'s {target.max_local_size}")
    memory = local_bytes(sink)
    if memory > target.local_bytes:
        raise ValueError(f"{memory} bytes of local memory are more than {target.name}'s {target.local_bytes}")
