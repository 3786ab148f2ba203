"""The codegen entry point: a scheduled kernel AST in, a named C function out.

`generate_c` runs the stages in order (optimize, linearize, render) and returns a `KernelSource` carrying
everything the runtime needs to call the result: the function name, its source and how many
buffer arguments it takes. Options travel explicitly in `OptimizeOptions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lamina.codegen.dialects import DIALECTS
from lamina.codegen.linearize import LinearProgram, linearize
from lamina.codegen.optimize import optimize_kernel
from lamina.codegen.opts import Opt, OptimizeOptions
from lamina.codegen.render_c import render_c
from lamina.codegen.workgroup import launch_size
from lamina.uop import AxisKind, Ops, UOp


@dataclass(frozen=True, slots=True)
class KernelSource:
    """A rendered kernel: `void name(void* data0, ..., int var_a, ...)` taking `buffer_count` buffers, then the
    value of each variable in `variables` (by name) as an int."""

    name: str
    source: str
    buffer_count: int
    program: LinearProgram
    global_size: tuple[int, ...] = (1,)  # work items to launch (GPU dialects), per dimension
    local_size: tuple[int, ...] | None = None  # work items per work-group, per dimension (None: the driver's pick)
    variables: tuple[str, ...] = ()  # the names of the variables the kernel takes, in argument order


def generate_c(ast: UOp, options: OptimizeOptions | None = None, opts: Sequence[Opt] | None = None) -> KernelSource:
    """C source for the kernel `ast` (a SINK of STOREs), optimized as `options` allow (by default: serial),
    with `opts` when given, else the hand-coded heuristic's."""
    chosen = options if options is not None else OptimizeOptions()
    program = linearize(optimize_kernel(ast, chosen, opts))
    lanes = chosen.target.vector_lanes if chosen.target.kind == "cpu" else 1
    source = render_c(program, chosen.threads, DIALECTS[chosen.target.dialect], lanes)
    global_items, local_items = launch_geometry(program)
    variables = tuple(str(variable.arg[0]) for variable in program.variables)
    return KernelSource(program.name, source, len(program.parameters), program, global_items, local_items, variables)


def launch_geometry(program: LinearProgram) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """How many work items a launch of `program` needs, and how many per work-group: its grid axes' sizes, or
    its GLOBAL loop's length (any work-group size then), or one work item."""
    grid = launch_size([uop for uop in program.uops if uop.op is Ops.RANGE])
    if grid is not None:
        return grid
    for uop in program.uops:
        if uop.op is Ops.RANGE and uop.arg[1] is AxisKind.GLOBAL and uop.src[0].op is Ops.CONST:
            return (max(int(uop.src[0].arg), 1),), None
    return (1,), None
