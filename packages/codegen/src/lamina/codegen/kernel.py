"""The codegen entry point: a scheduled kernel AST in, a named C function out.

`generate_c` runs the stages in order (optimize, linearize, render) and returns a `KernelSource` carrying
everything the runtime needs to call the result: the function name, its source and how many
buffer arguments it takes. Options travel explicitly in `OptimizeOptions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lamina.codegen.linearize import LinearProgram, linearize
from lamina.codegen.optimize import optimize_kernel
from lamina.codegen.opts import Opt, OptimizeOptions
from lamina.codegen.render_c import render_c
from lamina.uop import UOp


@dataclass(frozen=True, slots=True)
class KernelSource:
    """A rendered kernel: `void name(void* data0, ...)` taking `buffer_count` buffers."""

    name: str
    source: str
    buffer_count: int
    program: LinearProgram


def generate_c(ast: UOp, options: OptimizeOptions | None = None, opts: Sequence[Opt] | None = None) -> KernelSource:
    """C source for the kernel `ast` (a SINK of STOREs), optimized as `options` allow (by default: serial),
    with `opts` when given, else the hand-coded heuristic's."""
    chosen = options if options is not None else OptimizeOptions()
    program = linearize(optimize_kernel(ast, chosen, opts))
    return KernelSource(program.name, render_c(program, chosen.threads), len(program.parameters), program)
