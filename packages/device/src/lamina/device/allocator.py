"""Allocators: how a device obtains, fills, reads and releases raw memory for buffers.

`Buffer` never touches memory directly; it asks its device's `Allocator`, so a device whose memory the host
cannot address (a GPU) only has to supply another allocator. The CPU allocator carves a 64-byte aligned
window, with GUARD_BYTES of readable memory on each side, out of a numpy byte array: numpy's allocator is
fast, the memory is freed when the last reference (the allocation or a zero-copy view of it) goes away, and
a view handed out by `Buffer.view_numpy` can therefore never dangle. Released blocks are kept for reuse by
the next allocation of the same size: a fresh large block is fresh pages from the kernel, which cost more to
fault in than a training step's kernels take to run. A block that some numpy view still references is
never handed out again.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

ALIGNMENT: Final = 64
"""Byte alignment of every allocation: a cache line, and enough for any vector load the C renderer emits."""

GUARD_BYTES: Final = 4096
"""Readable bytes kept before and after every CPU allocation: a C kernel may read a padded tap's element up
to this far outside its buffer and discard it (see lamina.codegen's READ_GUARD_BYTES, which must agree)."""


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


DEFAULT_POOL_BYTES: Final = 1 << 30
"""How many bytes of released blocks the CPU allocator keeps for reuse, at most."""


class CPUAllocator:
    """Host memory from numpy, aligned by over-allocating and offsetting into the block, released blocks reused."""

    def __init__(self, pool_bytes: int = DEFAULT_POOL_BYTES) -> None:
        self.pool_bytes: Final = pool_bytes
        # Released allocations by size (a lookup is one dict access), and all of them oldest first, for eviction.
        self._pool: dict[int, list[Allocation]] = {}
        self._order: OrderedDict[int, Allocation] = OrderedDict()
        self._pooled_bytes = 0

    @property
    def pooled_bytes(self) -> int:
        """Bytes of released blocks kept for reuse."""
        return self._pooled_bytes

    def alloc(self, nbytes: int) -> Allocation:
        """An allocation of `nbytes` bytes (0 allowed), aligned to `ALIGNMENT`: a released one if any fits."""
        if nbytes < 0:
            raise ValueError(f"cannot allocate a negative number of bytes ({nbytes})")
        candidates = self._pool.get(nbytes)
        while candidates:
            allocation = candidates.pop()
            self._forget(allocation)
            if _unshared(allocation):
                return allocation
        # ALIGNMENT spare bytes both make room for the offset and keep a size-0 block a real, valid pointer; the
        # guards on both sides are readable memory a kernel's discarded reads may touch.
        block = np.empty(nbytes + ALIGNMENT + 2 * GUARD_BYTES, dtype=np.uint8)
        base = int(block.__array_interface__["data"][0])  # not .ctypes, which builds a ctypes object per call
        offset = GUARD_BYTES + (-(base + GUARD_BYTES) % ALIGNMENT)
        return Allocation(address=base + offset, nbytes=nbytes, host=block[offset : offset + nbytes])

    def free(self, allocation: Allocation) -> None:
        """Keep the block for reuse (numpy releases it once it leaves the pool and every view of it is gone)."""
        if allocation.nbytes > self.pool_bytes:
            return
        self._pool.setdefault(allocation.nbytes, []).append(allocation)
        self._order[id(allocation)] = allocation
        self._pooled_bytes += allocation.nbytes
        while self._pooled_bytes > self.pool_bytes:
            _, oldest = self._order.popitem(last=False)
            bucket = self._pool[oldest.nbytes]
            del bucket[next(position for position, each in enumerate(bucket) if each is oldest)]
            self._pooled_bytes -= oldest.nbytes

    def _forget(self, allocation: Allocation) -> None:
        del self._order[id(allocation)]
        self._pooled_bytes -= allocation.nbytes

    def copyin(self, allocation: Allocation, source: npt.NDArray[np.uint8]) -> None:
        """Copy `allocation.nbytes` host bytes into the allocation."""
        np.copyto(_host_view(allocation), source)

    def copyout(self, allocation: Allocation, destination: npt.NDArray[np.uint8]) -> None:
        """Copy the allocation's bytes into a host byte array of the same size."""
        np.copyto(destination, _host_view(allocation))


def _unshared(allocation: Allocation) -> bool:
    """Whether nothing but `allocation` references its block (no numpy view of it is alive)."""
    block = allocation.host.base if allocation.host is not None else None
    # References: the allocation's view (its base), the local name `block`, and getrefcount's argument.
    return block is None or sys.getrefcount(block) <= 3


def _host_view(allocation: Allocation) -> npt.NDArray[np.uint8]:
    if allocation.host is None:
        raise ValueError(f"allocation at {allocation.address:#x} is not host memory")
    return allocation.host
