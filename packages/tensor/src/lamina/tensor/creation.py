"""Tensors made from nothing: constants, ranges, identity matrices and random numbers.

All are computed on the device. `arange` is built from constants alone: an index below 2**k is
the sum of its k binary digits, each a [0, 2**b] pair placed on its own axis, so it needs no
buffer and no numpy. Random numbers come from a counter-based generator: every element hashes
(seed, call number, its own index) with an integer mixing function, so results are reproducible
after `manual_seed` and independent of how the work is split into kernels.
"""

from __future__ import annotations

from typing import Final

from lamina.dtype import DType, dtypes
from lamina.uop import Ops, UOp

_UINT32_MASK: Final = 0xFFFFFFFF
_MANTISSA_BITS: Final = {dtypes.float16: 11, dtypes.bfloat16: 8}


def index_dtype_for(length: int) -> DType:
    """The integer dtype that counts 0 .. length-1: int32, or int64 from 2**31 elements on."""
    return dtypes.int32 if length <= 1 << 31 else dtypes.int64


def _mix32(value: UOp) -> UOp:
    # A strong 32-bit integer finaliser (xorshift-multiply rounds); every output bit depends on every input bit.
    value = value.alu(Ops.XOR, value.alu(Ops.SHR, value.const_like(16)))
    value = value * value.const_like(0x7FEB352D)
    value = value.alu(Ops.XOR, value.alu(Ops.SHR, value.const_like(15)))
    value = value * value.const_like(0x846CA68B)
    return value.alu(Ops.XOR, value.alu(Ops.SHR, value.const_like(16)))


def random_keys(seed: int, call: int) -> tuple[int, int]:
    """The two 32-bit keys that make call number `call` after `manual_seed(seed)` its own stream."""
    first = ((seed * 0x9E3779B1) ^ (call * 0x85EBCA77) ^ 0x2545F491) & _UINT32_MASK
    return first, call & _UINT32_MASK


def uniform_bits(count: int, keys: UOp) -> UOp:
    """`count` pseudo-random uint32 values: a pure function of the element index and `keys`.

    `keys` is a uint32 tensor of shape (2,) (see `random_keys`); it is data, not a constant, so
    every call runs the same compiled kernel.
    """
    if count == 0:
        return UOp.full((0,), dtypes.uint32, 0)
    counter = UOp.arange(count, dtypes.uint32)
    first = keys.shrink(((0, 1),)).expand((count,))
    second = keys.shrink(((1, 2),)).expand((count,))
    keyed = counter.alu(Ops.XOR, first)
    return _mix32(_mix32(keyed) + second)


def uniform_unit(count: int, keys: UOp, dtype: DType) -> UOp:
    """`count` floats uniform in [0, 1): the top random bits, as many as `dtype` holds exactly, scaled below 1."""
    # More bits than the mantissa holds would round values near 1 up to exactly 1.0.
    precision = _MANTISSA_BITS.get(dtype, 24)
    bits = uniform_bits(count, keys)
    top = bits.alu(Ops.SHR, bits.const_like(32 - precision)).cast(dtypes.float32)
    return (top * top.const_like(2.0**-precision)).cast(dtype)
