"""Buffers: allocation, alignment, copies in and out for every dtype, and the errors for mismatched arrays."""

from __future__ import annotations

import gc

import numpy as np
import numpy.typing as npt
import pytest

from lamina.device import ALIGNMENT, GUARD_BYTES, Allocation, Buffer, CPUAllocator, Device, DeviceSpec, Program
from lamina.dtype import DType, dtypes, to_numpy_dtype

SIZES = (0, 1, 7, 1000)


def sample(dtype: DType, size: int) -> npt.NDArray[np.generic]:
    rng = np.random.default_rng(size)
    storage = to_numpy_dtype(dtype)
    if dtype.is_bool:
        return rng.integers(0, 2, size).astype(storage)
    if dtype.is_float and dtype is not dtypes.bfloat16:
        return rng.standard_normal(size).astype(storage)
    info = np.iinfo(storage.name)
    return rng.integers(info.min, info.max, size, dtype=storage, endpoint=True)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", dtypes.all, ids=lambda dtype: dtype.name)
def test_copyin_then_numpy_round_trips_every_dtype(dtype: DType, size: int) -> None:
    values = sample(dtype, size)
    buffer = Buffer("CPU", size, dtype).copyin(values)
    result = buffer.numpy()
    assert result.shape == (size,)
    assert result.dtype == to_numpy_dtype(dtype)
    np.testing.assert_array_equal(result, values)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", dtypes.all, ids=lambda dtype: dtype.name)
def test_address_is_aligned_and_nbytes_counts_itemsize(dtype: DType, size: int) -> None:
    buffer = Buffer("CPU", size, dtype)
    assert buffer.nbytes == size * dtype.itemsize
    assert buffer.address != 0
    assert buffer.address % ALIGNMENT == 0


def test_bfloat16_is_stored_as_uint16_bits() -> None:
    bits = np.array([0x3F80, 0xC000], dtype=np.uint16)
    assert Buffer("CPU", 2, dtypes.bfloat16).copyin(bits).numpy().dtype == np.uint16


def test_allocation_is_lazy_and_idempotent() -> None:
    buffer = Buffer("CPU", 16, dtypes.float32)
    assert not buffer.is_allocated
    assert buffer.allocate() is buffer
    address = buffer.address
    buffer.allocate()
    assert buffer.address == address


def test_copyin_accepts_any_shape_with_the_right_element_count() -> None:
    values = np.arange(12, dtype=np.int32).reshape(3, 4)
    np.testing.assert_array_equal(Buffer("CPU", 12, dtypes.int32).copyin(values.T).numpy(), values.T.reshape(-1))


def test_copyin_rejects_a_size_mismatch_naming_the_shape() -> None:
    buffer = Buffer("CPU", 4, dtypes.float32)
    with pytest.raises(ValueError, match=r"shape \(5,\).*expected 4 elements"):
        buffer.copyin(np.zeros(5, dtype=np.float32))


def test_copyin_rejects_a_dtype_mismatch_naming_both_dtypes() -> None:
    buffer = Buffer("CPU", 4, dtypes.float32)
    with pytest.raises(ValueError, match=r"dtype float64.*numpy dtype float32"):
        buffer.copyin(np.zeros(4, dtype=np.float64))


def test_numpy_returns_a_copy() -> None:
    buffer = Buffer("CPU", 3, dtypes.int32).copyin(np.array([1, 2, 3], dtype=np.int32))
    copy = buffer.numpy()
    copy[0] = 99
    assert buffer.numpy()[0] == 1


def test_view_numpy_shares_memory_with_the_buffer() -> None:
    buffer = Buffer("CPU", 3, dtypes.float32).copyin(np.zeros(3, dtype=np.float32))
    view = buffer.view_numpy()
    view[1] = 5.0
    assert buffer.numpy()[1] == 5.0
    assert view.ctypes.data == buffer.address


def test_every_write_stamps_the_buffer_anew() -> None:
    first, second = Buffer("CPU", 3, dtypes.float32), Buffer("CPU", 3, dtypes.float32)
    stamps = [first.written_at, first.copyin(np.ones(3, dtype=np.float32)).written_at]
    first.mark_written()
    stamps.append(first.written_at)
    second.copyin(np.ones(3, dtype=np.float32))
    stamps.append(second.written_at)
    assert len(set(stamps)) == len(stamps)  # one counter for all buffers: no two writes share a stamp
    assert first.written_at == stamps[2]  # reading it changes nothing


def test_a_viewed_buffer_never_shows_the_same_stamp_twice() -> None:
    buffer = Buffer("CPU", 3, dtypes.float32).copyin(np.zeros(3, dtype=np.float32))
    buffer.view_numpy()  # writes through the view are unseen
    assert buffer.written_at != buffer.written_at


def test_negative_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Buffer("CPU", -1, dtypes.float32)


def test_unknown_device_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown device 'NOPE'"):
        Buffer("NOPE", 1, dtypes.float32)


class RecordingAllocator(CPUAllocator):
    """The CPU allocator, remembering which allocations were freed."""

    def __init__(self) -> None:
        super().__init__()
        self.freed: list[Allocation] = []

    def free(self, allocation: Allocation) -> None:
        self.freed.append(allocation)


def test_memory_is_freed_when_the_buffer_is_collected() -> None:
    allocator = RecordingAllocator()
    spec = Device.get("CPU")
    Device.register(DeviceSpec(name="RECORDING", allocator=allocator, compiler=spec.compiler, runtime=Program))
    buffer = Buffer("RECORDING", 8, dtypes.float32)
    address = buffer.address
    del buffer
    gc.collect()
    assert [allocation.address for allocation in allocator.freed] == [address]


def test_released_memory_is_reused_by_the_next_allocation_of_its_size() -> None:
    allocator = CPUAllocator()
    first = allocator.alloc(4096)
    address = first.address
    allocator.free(first)
    del first
    reused = allocator.alloc(4096)
    assert reused.address == address
    assert allocator.alloc(4096).address != reused.address


def test_memory_a_numpy_view_still_reads_is_never_reused() -> None:
    allocator = CPUAllocator()
    allocation = allocator.alloc(64)
    view = allocation.host
    assert view is not None
    kept = view.view(np.float32)
    kept[:] = 7.0
    address = allocation.address
    allocator.free(allocation)
    del allocation, view
    again = allocator.alloc(64)
    assert again.address != address
    assert again.host is not None
    again.host[:] = 0
    np.testing.assert_array_equal(kept, np.full(16, 7.0, np.float32))


def test_the_pool_keeps_at_most_its_byte_budget() -> None:
    allocator = CPUAllocator(pool_bytes=1000)
    blocks = [allocator.alloc(400) for _ in range(3)]
    addresses = [block.address for block in blocks]
    for block in blocks:
        allocator.free(block)
    del blocks, block
    # The oldest release was dropped to stay within 1000 bytes; the two newest come back. (Where the third
    # allocation lands is the C allocator's business: it may well reuse the dropped block's memory.)
    assert allocator.pooled_bytes == 800
    reused = [allocator.alloc(400).address for _ in range(2)]
    assert set(reused) == {addresses[1], addresses[2]}
    assert allocator.pooled_bytes == 0


def test_every_cpu_allocation_keeps_readable_guards_on_both_sides() -> None:
    # C kernels may read (and discard) up to GUARD_BYTES past either end of a buffer (lamina.codegen's
    # READ_GUARD_BYTES): the memory there must belong to the same block.
    allocator = CPUAllocator()
    for nbytes in (0, 4, 4096, 100_000):
        allocation = allocator.alloc(nbytes)
        assert allocation.host is not None
        block = allocation.host.base
        assert isinstance(block, np.ndarray)
        start = int(block.__array_interface__["data"][0])
        assert allocation.address - start >= GUARD_BYTES
        assert start + block.nbytes - (allocation.address + nbytes) >= GUARD_BYTES
        assert allocation.address % 64 == 0
