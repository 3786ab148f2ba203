"""The codegen entry point: a scheduled kernel AST in, a named C function out.

`generate_c` runs the stages in order (linearize, render) and returns a `KernelSource` carrying
everything the runtime needs to call the result: the function name, its source and how many
buffer arguments it takes. Options travel explicitly in `CodegenOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.codegen.linearize import LinearProgram, linearize
from lamina.codegen.render_c import render_c
from lamina.uop import UOp


@dataclass(frozen=True, slots=True)
class KernelSource:
    """A rendered kernel: `void name(void* data0, ...)` taking `buffer_count` buffers."""

    name: str
    source: str
    buffer_count: int
    program: LinearProgram


def generate_c(ast: UOp) -> KernelSource:
    """C source for the kernel `ast` (a SINK of STOREs)."""
    program = linearize(ast)
    return KernelSource(program.name, render_c(program), len(program.parameters), program)
