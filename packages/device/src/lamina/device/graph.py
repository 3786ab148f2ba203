"""Graphs: a fixed sequence of kernel launches run by one native call.

A replayed training step is some twenty kernel calls; from Python each costs several
microseconds (argument checks, pointer casts, the foreign call), about a fifth of a small step.
A `NativeGraph` holds the kernels' function addresses and a table of their pointer arguments in
numpy arrays; a small C function (compiled once, cached like a kernel) walks the table and calls
each kernel in turn. Between runs only the arguments that change are rewritten, with one numpy
assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from lamina.device.cache import KernelCache
from lamina.device.compiler import Compiler
from lamina.device.program import Launcher, Program

MAX_GRAPH_ARGUMENTS: Final = 32
"""The most pointer arguments a kernel in a graph may take (the runner's switch has a case for each count)."""

RUNNER_NAME: Final = "lm_run_graph"


def runner_source() -> str:
    """The C of the graph runner: call `launches` functions, the i-th with `counts[i]` pointers from `arguments`."""
    cases = []
    for count in range(MAX_GRAPH_ARGUMENTS + 1):
        types = ", ".join(["void*"] * count) or "void"
        values = ", ".join(f"a[{position}]" for position in range(count))
        cases.append(f"      case {count}: ((void (*)({types}))f[i])({values}); break;")
    body = "\n".join(cases)
    return f"""void {RUNNER_NAME}(void* functions, void* counts, void* arguments, int launches) {{
  void* const* f = (void* const*)functions;
  const int* n = (const int*)counts;
  void* const* a = (void* const*)arguments;
  for (int i = 0; i < launches; a += n[i], i++) {{
    switch (n[i]) {{
{body}
      default: return;
    }}
  }}
}}
"""


class LaunchGraph(Protocol):
    """A device's way of running a fixed sequence of launches in one call, on a table of buffer addresses."""

    @property
    def arguments(self) -> npt.NDArray[np.uint64]:
        """The address table, one entry per buffer argument of each launch in order (written in place)."""
        ...

    def __call__(self) -> None: ...


def cpu_launch_graph(launchers: Sequence[Launcher], compiler: Compiler, cache: KernelCache) -> NativeGraph | None:
    """The CPU's launch graph of `launchers`: a NativeGraph, or None unless each is a Program it can take."""
    programs = [launcher for launcher in launchers if isinstance(launcher, Program) and NativeGraph.accepts(launcher)]
    return NativeGraph(programs, compiler, cache) if programs and len(programs) == len(launchers) else None


class NativeGraph:
    """Kernels (each a `Program` taking pointers only) run in order on a table of argument addresses."""

    def __init__(self, programs: Sequence[Program], compiler: Compiler, cache: KernelCache) -> None:
        for program in programs:
            if not NativeGraph.accepts(program):
                raise ValueError(
                    f"kernel {program.name!r} ({program.n_buffers} buffers, {program.int_args} ints) cannot join a "
                    f"graph: at most {MAX_GRAPH_ARGUMENTS} buffers and no int arguments"
                )
        self._runner: Final = Program(RUNNER_NAME, cache.compile(compiler, runner_source()), 3, 1, cache=cache)
        self._programs: Final = tuple(programs)
        self._functions: Final = np.array([program.function_address for program in programs], dtype=np.uint64)
        self._counts: Final = np.array([program.n_buffers for program in programs], dtype=np.int32)
        # How many pointer arguments the graph's kernels take in all: the length of the table.
        self.argument_count: Final = int(self._counts.sum())
        self.arguments: Final[npt.NDArray[np.uint64]] = np.zeros(max(1, self.argument_count), dtype=np.uint64)
        self._tables: Final = (_Address(self._functions), _Address(self._counts), _Address(self.arguments))

    @staticmethod
    def accepts(program: Program) -> bool:
        """Whether `program` can join a graph: pointer arguments only, at most MAX_GRAPH_ARGUMENTS of them."""
        return not program.int_args and program.n_buffers <= MAX_GRAPH_ARGUMENTS

    def __call__(self) -> None:
        """Run every kernel on the addresses now in `arguments` (which must all point at live memory)."""
        self._runner(*self._tables, ints=[len(self._counts)])


class _Address:
    """A numpy array seen as a kernel pointer argument."""

    def __init__(self, array: npt.NDArray[np.generic]) -> None:
        self.address: Final = int(array.ctypes.data)
