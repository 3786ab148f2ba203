"""Programs: a compiled kernel loaded into the process and launched on buffers.

The calling convention is fixed by the code generator: `void name(void* data0, void* data1, ...)`
with one pointer per buffer, optionally followed by `int` arguments (a core id and a core count
for threaded kernels). `Program` checks each launch against that signature before crossing into
C, where a wrong argument count would corrupt memory rather than raise.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final, Literal, Protocol, overload

from lamina.device.cache import KernelCache
from lamina.device.ffi import NativeFunction


class SupportsAddress(Protocol):
    """Anything a kernel can take as a pointer argument: a `Buffer`, or a raw allocation."""

    @property
    def address(self) -> int: ...


class Launcher(Protocol):
    """A loaded kernel: call it with buffers (and trailing ints), optionally timing the call."""

    @overload
    def __call__(self, *buffers: SupportsAddress, ints: Sequence[int] = (), timed: Literal[False] = False) -> None: ...
    @overload
    def __call__(self, *buffers: SupportsAddress, ints: Sequence[int] = (), timed: Literal[True]) -> float: ...


class Runtime(Protocol):
    """How a device turns a compiled binary into a launcher (`Program` for the CPU)."""

    def __call__(
        self,
        name: str,
        binary: bytes,
        n_buffers: int,
        int_args: int = 0,
        *,
        cache: KernelCache,
        global_size: Sequence[int] = (1,),
        local_size: Sequence[int] | None = None,
    ) -> Launcher: ...


def check_arguments(name: str, n_buffers: int, int_args: int, buffers: Sequence[object], ints: Sequence[int]) -> None:
    """Raise TypeError unless a launch of kernel `name` got as many buffers and ints as it takes."""
    if len(buffers) != n_buffers or len(ints) != int_args:
        raise TypeError(
            f"kernel {name!r} takes {n_buffers} buffers and {int_args} ints, "
            f"got {len(buffers)} buffers and {len(ints)} ints"
        )


class Program:
    """A kernel from a shared object, called through cffi with `n_buffers` pointers then `int_args` ints."""

    def __init__(
        self,
        name: str,
        binary: bytes,
        n_buffers: int,
        int_args: int = 0,
        *,
        cache: KernelCache,
        global_size: Sequence[int] = (1,),
        local_size: Sequence[int] | None = None,
    ) -> None:
        del global_size, local_size  # a CPU kernel runs its loops itself
        if n_buffers < 0 or int_args < 0:
            raise ValueError(f"argument counts must be non-negative, got n_buffers={n_buffers}, int_args={int_args}")
        # dlopen needs a file; it lives in the cache so a binary loaded by many processes is written once.
        path = cache.shared_object_path(binary)
        self.name: Final = name
        self.n_buffers: Final = n_buffers
        self.int_args: Final = int_args
        self._function: Final = NativeFunction(path, name, n_buffers, int_args)

    @property
    def function_address(self) -> int:
        """The address of the kernel's code, for a `NativeGraph` that calls it directly."""
        return self._function.address

    @overload
    def __call__(self, *buffers: SupportsAddress, ints: Sequence[int] = (), timed: Literal[False] = False) -> None: ...
    @overload
    def __call__(self, *buffers: SupportsAddress, ints: Sequence[int] = (), timed: Literal[True]) -> float: ...

    def __call__(self, *buffers: SupportsAddress, ints: Sequence[int] = (), timed: bool = False) -> float | None:
        """Run the kernel on `buffers` and `ints`; with `timed=True`, return its wall time in seconds."""
        check_arguments(self.name, self.n_buffers, self.int_args, buffers, ints)
        addresses = [buffer.address for buffer in buffers]
        start = time.perf_counter()
        self._function(addresses, ints)
        elapsed = time.perf_counter() - start
        return elapsed if timed else None
