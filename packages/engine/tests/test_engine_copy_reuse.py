"""What may be reused as a kept copy: only a kernel that copies one buffer, into an intermediate written once; kept
copies are found only for the same source with the same write stamp, within a budget, least recently used dropped."""

from __future__ import annotations

import gc

import numpy as np

from lamina.device import Buffer
from lamina.dtype import dtypes
from lamina.engine.copy_reuse import MIN_KEPT_BYTES, CopyCache, copies_one_buffer, reusable_outputs
from lamina.uop import Ops, UOp

SIZE = MIN_KEPT_BYTES // 4  # float32 elements: the smallest copy worth keeping


def _copy_kernel(value_op: Ops = Ops.LOAD) -> UOp:
    """SINK(STORE(out[i], value)) where value is a LOAD of the input (or something computed from one)."""
    out = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(), (), 0)
    source = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(), (), 1)
    position = UOp(Ops.RANGE, dtypes.int32, (UOp.const(dtypes.int32, SIZE),), 0)
    loaded = UOp(Ops.LOAD, dtypes.float32, (UOp(Ops.INDEX, dtypes.float32.ptr(), (source, position)),))
    value = loaded if value_op is Ops.LOAD else UOp(value_op, dtypes.float32, (loaded, loaded))
    store = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, dtypes.float32.ptr(), (out, position)), value))
    return UOp(Ops.SINK, dtypes.void, (store,))


def _buffer(fill: float) -> Buffer:
    return Buffer("CPU", SIZE, dtypes.float32).copyin(np.full(SIZE, fill, dtype=np.float32))


def test_only_a_copy_of_one_buffer_with_no_variables_counts() -> None:
    assert copies_one_buffer(_copy_kernel(), 2, 0)
    assert not copies_one_buffer(_copy_kernel(Ops.ADD), 2, 0)  # computes
    assert not copies_one_buffer(_copy_kernel(), 3, 0)  # reads more than one buffer
    assert not copies_one_buffer(_copy_kernel(), 2, 1)  # depends on a variable's value


def test_only_intermediates_written_once_are_reusable() -> None:
    first, second, result = (UOp.new_buffer("CPU", 4, dtypes.float32) for _ in range(3))
    # first: written once, freed; second: freed but written by two kernels; result: never freed.
    outputs = [first, second, second, result]
    assert reusable_outputs(outputs, [(), (first,), (second,), ()]) == {first}


def test_a_kept_copy_is_found_only_while_its_source_is_unchanged() -> None:
    cache = CopyCache()
    source, copy, ast = _buffer(1.0), _buffer(1.0), _copy_kernel()
    cache.keep(source, ast, copy, source.written_at, budget_bytes=1 << 30)
    assert cache.find(source, ast) is copy
    assert cache.find(_buffer(1.0), ast) is None  # equal values, another buffer
    assert cache.find(source, _copy_kernel(Ops.ADD)) is None  # another kernel
    source.mark_written()
    assert cache.find(source, ast) is None
    source.copyin(np.zeros(SIZE, dtype=np.float32))
    assert cache.find(source, ast) is None
    assert cache.reused == 1


def test_a_source_whose_memory_was_viewed_is_never_reused() -> None:
    cache = CopyCache()
    source, copy, ast = _buffer(1.0), _buffer(1.0), _copy_kernel()
    source.view_numpy()[0] = 5.0  # a write no stamp records
    cache.keep(source, ast, copy, source.written_at, budget_bytes=1 << 30)
    assert cache.find(source, ast) is None


def test_the_budget_drops_the_least_recently_used_copy_and_small_copies_are_not_kept() -> None:
    cache = CopyCache()
    ast = _copy_kernel()
    sources = [_buffer(float(value)) for value in range(3)]
    copies = [_buffer(float(value)) for value in range(3)]
    budget = 2 * MIN_KEPT_BYTES
    cache.keep(sources[0], ast, copies[0], sources[0].written_at, budget)
    cache.keep(sources[1], ast, copies[1], sources[1].written_at, budget)
    assert cache.find(sources[0], ast) is copies[0]  # now the most recently used
    cache.keep(sources[2], ast, copies[2], sources[2].written_at, budget)
    assert cache.kept_bytes == budget
    assert cache.find(sources[1], ast) is None
    assert cache.find(sources[0], ast) is copies[0]
    small = Buffer("CPU", 4, dtypes.float32)
    cache.keep(small, ast, Buffer("CPU", 4, dtypes.float32), small.written_at, budget)
    assert len(cache) == 2


def test_a_copy_is_dropped_with_its_source() -> None:
    cache = CopyCache()
    source, ast = _buffer(1.0), _copy_kernel()
    cache.keep(source, ast, _buffer(1.0), source.written_at, budget_bytes=1 << 30)
    del source
    gc.collect()
    assert len(cache) == 0
    assert cache.kept_bytes == 0
