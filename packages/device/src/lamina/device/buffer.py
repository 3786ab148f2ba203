"""Buffers: typed, aligned device memory for `size` elements of one dtype.

A `Buffer` is the unit the scheduler allocates and kernels read and write. Memory comes from the
device's `Allocator` on first use (or an explicit `allocate()`), so buffers planned but never run
cost nothing; it is released through the same allocator when the `Buffer` is garbage collected.

Every write is stamped: `written_at` takes a new value from one counter shared by all buffers whenever the
buffer is filled (`copyin`) or a kernel writes it (the engine calls `mark_written`), so an unchanged stamp
proves unchanged contents, and the engine may reuse what it computed from them (see lamina.engine's
copy_reuse). A buffer whose memory was handed out as a writable numpy view can change unseen: its stamp
never matches again.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Final

import numpy as np
import numpy.typing as npt

from lamina.device.allocator import Allocation
from lamina.device.registry import Device
from lamina.dtype import DType, to_numpy_dtype

_write_stamps = itertools.count(1)


class Buffer:
    """`size` elements of `dtype` on `device`, 64-byte aligned; bfloat16 is stored as uint16 bits."""

    def __init__(self, device: str, size: int, dtype: DType) -> None:
        if size < 0:
            raise ValueError(f"buffer size must be non-negative, got {size}")
        self.device: Final = Device.get(device).name
        self.size: Final = size
        self.dtype: Final = dtype
        self._allocation: Allocation | None = None
        self._written_at = 0
        self._viewed = False  # a writable host view was handed out: writes through it leave no stamp

    def __repr__(self) -> str:
        return f"Buffer({self.device!r}, {self.size}, {self.dtype!r})"

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def is_allocated(self) -> bool:
        return self._allocation is not None

    @property
    def written_at(self) -> int:
        """The stamp of the last write: equal stamps mean equal contents (a viewed buffer's never repeats)."""
        return next(_write_stamps) if self._viewed else self._written_at

    def mark_written(self) -> None:
        """Note that the contents changed (a kernel wrote them)."""
        self._written_at = next(_write_stamps)

    @property
    def address(self) -> int:
        """The raw pointer to the first element, for kernel calls; allocates on first use."""
        return self.allocate()._allocated().address

    def allocate(self) -> Buffer:
        """Obtain the memory now (a no-op once allocated); returns self."""
        if self._allocation is None:
            allocator = Device.get(self.device).allocator
            self._allocation = allocator.alloc(self.nbytes)
            weakref.finalize(self, allocator.free, self._allocation)
        return self

    def copyin(self, array: npt.NDArray[np.generic]) -> Buffer:
        """Copy `array` (any shape with `size` elements of the storage dtype) into the buffer; returns self."""
        storage = to_numpy_dtype(self.dtype)
        if array.dtype != storage or array.size != self.size:
            raise ValueError(
                f"cannot copy an array of shape {array.shape} and dtype {array.dtype} into {self!r}: "
                f"expected {self.size} elements of numpy dtype {storage}"
            )
        source = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        allocator = Device.get(self.device).allocator
        allocator.copyin(self.allocate()._allocated(), source)
        self.mark_written()
        return self

    def numpy(self) -> npt.NDArray[np.generic]:
        """A copy of the contents: 1-D, `size` elements of the numpy storage dtype."""
        destination = np.empty(self.nbytes, dtype=np.uint8)
        Device.get(self.device).allocator.copyout(self.allocate()._allocated(), destination)
        return destination.view(to_numpy_dtype(self.dtype))

    def view_numpy(self) -> npt.NDArray[np.generic]:
        """A zero-copy 1-D view of the contents; only for devices whose memory the host can address."""
        host = self.allocate()._allocated().host
        if host is None:
            raise ValueError(f"{self!r} is not host memory; use numpy() to copy it out")
        self._viewed = True
        return host.view(to_numpy_dtype(self.dtype))

    def _allocated(self) -> Allocation:
        if self._allocation is None:
            raise RuntimeError(f"{self!r} used before allocate()")
        return self._allocation
