"""lamina.codegen: kernel ASTs to linear programs to C source.

`optimize_kernel` rewrites a kernel's loops for speed (upcast, unroll, simd, parallel), `linearize`
makes loops and accumulators explicit, `render_c` writes the C function, and `generate_c` runs all
three; `join_kernels` puts several rendered kernels into one translation unit, compiled at once.
The loop structure stays explicit in UOps, so every optimization is a rewrite of it.
"""

from lamina.codegen.apply import apply_opts
from lamina.codegen.dialects import C_DIALECT, CUDA_DIALECT, DIALECTS, OPENCL_DIALECT, Dialect
from lamina.codegen.heuristic_cpu import hand_coded_opts
from lamina.codegen.kernel import KernelSource, generate_c
from lamina.codegen.library import CLibrary, join_kernels, library_symbol
from lamina.codegen.linearize import LinearProgram, kernel_name, linearize, reduce_identity
from lamina.codegen.optimize import heuristic_opts, optimize_kernel
from lamina.codegen.opts import Opt, OptimizeOptions, OptKind
from lamina.codegen.render_c import render_c
from lamina.codegen.render_consts import render_const
from lamina.codegen.render_conversions import compute_type
from lamina.codegen.search import possible_opts
from lamina.codegen.target import CPU_TARGET, CUDA_TARGET, OPENCL_TARGET, Target

__all__ = [
    "CPU_TARGET",
    "CUDA_DIALECT",
    "CUDA_TARGET",
    "C_DIALECT",
    "DIALECTS",
    "OPENCL_DIALECT",
    "OPENCL_TARGET",
    "CLibrary",
    "Dialect",
    "KernelSource",
    "LinearProgram",
    "Opt",
    "OptKind",
    "OptimizeOptions",
    "Target",
    "apply_opts",
    "compute_type",
    "generate_c",
    "hand_coded_opts",
    "heuristic_opts",
    "join_kernels",
    "kernel_name",
    "library_symbol",
    "linearize",
    "optimize_kernel",
    "possible_opts",
    "reduce_identity",
    "render_c",
    "render_const",
]
