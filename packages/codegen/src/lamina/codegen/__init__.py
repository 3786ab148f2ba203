"""lamina.codegen: kernel ASTs to linear programs to C source.

`linearize` makes loops and accumulators explicit, `render_c` writes the C function, and
`generate_c` runs both. The loop structure stays explicit in UOps so optimizations are rewrites on it.
"""

from lamina.codegen.kernel import KernelSource, generate_c
from lamina.codegen.linearize import LinearProgram, kernel_name, linearize, reduce_identity
from lamina.codegen.render_c import compute_type, render_c, render_const

__all__ = [
    "KernelSource",
    "LinearProgram",
    "compute_type",
    "generate_c",
    "kernel_name",
    "linearize",
    "reduce_identity",
    "render_c",
    "render_const",
]
