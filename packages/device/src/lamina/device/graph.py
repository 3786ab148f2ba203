"""Graphs: a fixed sequence of kernel launches run by one native call.

A replayed training step is some twenty kernel calls; from Python each costs several
microseconds (argument checks, pointer casts, the foreign call), about a fifth of a small step.
A `NativeGraph` holds the kernels' function addresses, a table of their pointer arguments and one
of their int arguments (a variable's value) in numpy arrays; a small C function (compiled once,
cached like a kernel) walks the tables and calls each kernel in turn. Between runs only the
entries that change are rewritten, with one numpy assignment each. Calling kernels back to back
from C also keeps OpenMP's threads awake between them: a Python gap per kernel can outlast their
spin, and each kernel then pays for waking them.
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

MAX_GRAPH_INTS: Final = 4
"""The most int arguments a kernel in a graph may take."""

RUNNER_NAME: Final = "lm_run_graph"


def runner_source() -> str:
    """The C of the graph runner: call `launches` functions, the i-th with `counts[i]` pointers from `arguments` then
    `int_counts[i]` ints from `ints` (its switch has a case per pair of counts)."""
    cases = []
    for count in range(MAX_GRAPH_ARGUMENTS + 1):
        for int_count in range(MAX_GRAPH_INTS + 1):
            types = ", ".join(["void*"] * count + ["int"] * int_count) or "void"
            values = ", ".join([f"a[{at}]" for at in range(count)] + [f"v[{at}]" for at in range(int_count)])
            case = count * (MAX_GRAPH_INTS + 1) + int_count
            cases.append(f"      case {case}: ((void (*)({types}))f[i])({values}); break;")
    body = "\n".join(cases)
    return f"""void {RUNNER_NAME}(void* functions, void* counts, void* arguments, void* int_counts, void* ints,
                  int launches) {{
  void* const* f = (void* const*)functions;
  const int* n = (const int*)counts;
  const int* m = (const int*)int_counts;
  void* const* a = (void* const*)arguments;
  const int* v = (const int*)ints;
  for (int i = 0; i < launches; a += n[i], v += m[i], i++) {{
    switch (n[i] * {MAX_GRAPH_INTS + 1} + m[i]) {{
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

    @property
    def integers(self) -> npt.NDArray[np.int32]:
        """The int table, one entry per int argument of each launch in order (written in place)."""
        ...

    def __call__(self) -> None: ...


def cpu_launch_graph(launchers: Sequence[Launcher], compiler: Compiler, cache: KernelCache) -> NativeGraph | None:
    """The CPU's launch graph of `launchers`: a NativeGraph, or None unless each is a Program it can take."""
    programs = [launcher for launcher in launchers if isinstance(launcher, Program) and NativeGraph.accepts(launcher)]
    return NativeGraph(programs, compiler, cache) if programs and len(programs) == len(launchers) else None


class NativeGraph:
    """Kernels (each a `Program`) run in order on a table of argument addresses and one of int arguments."""

    def __init__(self, programs: Sequence[Program], compiler: Compiler, cache: KernelCache) -> None:
        for program in programs:
            if not NativeGraph.accepts(program):
                raise ValueError(
                    f"kernel {program.name!r} ({program.n_buffers} buffers, {program.int_args} ints) cannot join a "
                    f"graph: at most {MAX_GRAPH_ARGUMENTS} buffers and {MAX_GRAPH_INTS} ints"
                )
        self._runner: Final = Program(RUNNER_NAME, cache.compile(compiler, runner_source()), 5, 1, cache=cache)
        self._programs: Final = tuple(programs)
        self._functions: Final = np.array([program.function_address for program in programs], dtype=np.uint64)
        self._counts: Final = np.array([program.n_buffers for program in programs], dtype=np.int32)
        # How many pointer arguments the graph's kernels take in all: the length of the table.
        self.argument_count: Final = int(self._counts.sum())
        self.arguments: Final[npt.NDArray[np.uint64]] = np.zeros(max(1, self.argument_count), dtype=np.uint64)
        self._int_counts: Final = np.array([program.int_args for program in programs], dtype=np.int32)
        self.integers: Final[npt.NDArray[np.int32]] = np.zeros(max(1, int(self._int_counts.sum())), dtype=np.int32)
        self._tables: Final = tuple(
            _Address(table)
            for table in (self._functions, self._counts, self.arguments, self._int_counts, self.integers)
        )

    @staticmethod
    def accepts(program: Program) -> bool:
        """Whether `program` can join a graph: at most MAX_GRAPH_ARGUMENTS pointers and MAX_GRAPH_INTS ints."""
        return program.int_args <= MAX_GRAPH_INTS and program.n_buffers <= MAX_GRAPH_ARGUMENTS

    def __call__(self) -> None:
        """Run every kernel on the addresses now in `arguments` (which must all point at live memory) and the ints
        now in `integers`."""
        self._runner(*self._tables, ints=[len(self._counts)])


class _Address:
    """A numpy array seen as a kernel pointer argument."""

    def __init__(self, array: npt.NDArray[np.generic]) -> None:
        self.address: Final = int(array.ctypes.data)
