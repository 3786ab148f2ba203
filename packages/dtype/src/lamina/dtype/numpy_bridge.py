"""Conversions between lamina dtypes and numpy: dtype mapping and bfloat16 bit conversion.

numpy has no bfloat16, so lamina stores bfloat16 arrays as their raw uint16 bits; these are the
only functions that know how to turn such bits into float32 values and back (round to nearest even).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lamina.dtype.dtypes import DType, dtypes


def to_numpy_dtype(dtype: DType) -> np.dtype[np.generic]:
    """The numpy dtype that stores `dtype` (uint16 for bfloat16)."""
    return np.dtype(dtype.np_name)


def from_numpy_dtype(np_dtype: npt.DTypeLike) -> DType:
    """The lamina dtype of a numpy dtype; raises TypeError for types lamina cannot hold (complex, object...)."""
    resolved = np.dtype(np_dtype)
    for dtype in dtypes.all:
        if dtype is not dtypes.bfloat16 and np.dtype(dtype.np_name) == resolved:
            return dtype
    raise TypeError(f"numpy dtype {resolved} has no lamina equivalent")


def bfloat16_bits_to_float32(bits: npt.NDArray[np.uint16]) -> npt.NDArray[np.float32]:
    """bfloat16 values stored as uint16 bits, widened exactly to float32."""
    widened = bits.astype(np.uint32)
    # In place: a ufunc's fresh result on a 0-d array would be a numpy scalar, not an array.
    widened <<= np.uint32(16)
    return widened.view(np.float32)


def float32_to_bfloat16_bits(values: npt.NDArray[np.floating]) -> npt.NDArray[np.uint16]:
    """float values rounded to the nearest bfloat16 (ties to even), returned as uint16 bits; NaN stays NaN."""
    # Not ascontiguousarray: it turns a 0-d array into shape (1,).
    as_float = np.asarray(values, dtype=np.float32, order="C")
    bits = as_float.view(np.uint32)
    rounding = np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    rounded = ((bits + rounding) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(as_float)
    return np.where(nan, np.uint16(0x7FC0), rounded).astype(np.uint16)
