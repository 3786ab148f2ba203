"""lamina.codegen: kernel ASTs to linear programs to C source.

`optimize_kernel` rewrites a kernel's loops for speed (upcast, unroll, simd, parallel), `linearize`
makes loops and accumulators explicit, `render_c` writes the C function, and `generate_c` runs all
three. The loop structure stays explicit in UOps, so every optimization is a rewrite of it.
"""

from lamina.codegen.kernel import KernelSource, generate_c
from lamina.codegen.linearize import LinearProgram, kernel_name, linearize, reduce_identity
from lamina.codegen.optimize import (
    Opt,
    OptimizeOptions,
    OptKind,
    apply_opts,
    hand_coded_opts,
    optimize_kernel,
    possible_opts,
)
from lamina.codegen.render_c import compute_type, render_c, render_const

__all__ = [
    "KernelSource",
    "LinearProgram",
    "Opt",
    "OptKind",
    "OptimizeOptions",
    "apply_opts",
    "compute_type",
    "generate_c",
    "hand_coded_opts",
    "kernel_name",
    "linearize",
    "optimize_kernel",
    "possible_opts",
    "reduce_identity",
    "render_c",
    "render_const",
]
