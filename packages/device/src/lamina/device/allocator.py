"""Allocators: how a device obtains, fills, reads and releases raw memory for buffers.

`Buffer` never touches memory directly; it asks its device's `Allocator`, so a device whose
memory the host cannot address (a GPU) only has to supply another allocator. The CPU allocator
carves a 64-byte aligned window out of a numpy byte array: numpy's allocator is fast, the memory
is freed when the last reference (the allocation or a zero-copy view of it) goes away, and a view
handed out by `Buffer.view_numpy` can therefore never dangle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

ALIGNMENT: Final = 64
"""Byte alignment of every allocation: a cache line, and enough for any vector load the C renderer emits."""


@dataclass(frozen=True, slots=True)
class Allocation:
    """A block of device memory: its address, its size, and a host byte view when the host can address it."""

    address: int
    nbytes: int
    # None for memory the host cannot read directly (device memory); such allocators copy through copyin/copyout.
    host: npt.NDArray[np.uint8] | None


class Allocator(Protocol):
    """The memory seam of a device: allocate, copy to and from the host, release."""

    def alloc(self, nbytes: int) -> Allocation:
        """A fresh allocation of `nbytes` bytes (0 allowed), aligned to `ALIGNMENT`."""
        ...

    def free(self, allocation: Allocation) -> None:
        """Release `allocation`; called once, when its buffer is garbage collected."""
        ...

    def copyin(self, allocation: Allocation, source: npt.NDArray[np.uint8]) -> None:
        """Copy `allocation.nbytes` host bytes into the allocation."""
        ...

    def copyout(self, allocation: Allocation, destination: npt.NDArray[np.uint8]) -> None:
        """Copy the allocation's bytes into a host byte array of the same size."""
        ...


class CPUAllocator:
    """Host memory from numpy, aligned by over-allocating and offsetting into the block."""

    def alloc(self, nbytes: int) -> Allocation:
        """A fresh allocation of `nbytes` bytes (0 allowed), aligned to `ALIGNMENT`."""
        if nbytes < 0:
            raise ValueError(f"cannot allocate a negative number of bytes ({nbytes})")
        # ALIGNMENT spare bytes both make room for the offset and keep a size-0 block a real, valid pointer.
        block = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
        base = int(block.ctypes.data)
        offset = -base % ALIGNMENT
        return Allocation(address=base + offset, nbytes=nbytes, host=block[offset : offset + nbytes])

    def free(self, allocation: Allocation) -> None:
        """Nothing to do: numpy releases the block once the allocation and every view of it are gone."""

    def copyin(self, allocation: Allocation, source: npt.NDArray[np.uint8]) -> None:
        """Copy `allocation.nbytes` host bytes into the allocation."""
        np.copyto(_host_view(allocation), source)

    def copyout(self, allocation: Allocation, destination: npt.NDArray[np.uint8]) -> None:
        """Copy the allocation's bytes into a host byte array of the same size."""
        np.copyto(destination, _host_view(allocation))


def _host_view(allocation: Allocation) -> npt.NDArray[np.uint8]:
    if allocation.host is None:
        raise ValueError(f"allocation at {allocation.address:#x} is not host memory")
    return allocation.host
