"""lamina.dtype: the scalar types lamina computes with, their promotion rules and their names in C and numpy."""

from lamina.dtype.dtypes import DType, DTypeKind, PtrDType, dtypes
from lamina.dtype.numpy_bridge import (
    bfloat16_bits_to_float32,
    float32_to_bfloat16_bits,
    from_numpy_dtype,
    to_numpy_dtype,
)
from lamina.dtype.promotion import Scalar, least_upper_float, promote_types, result_type, scalar_dtype

__all__ = [
    "DType",
    "DTypeKind",
    "PtrDType",
    "Scalar",
    "bfloat16_bits_to_float32",
    "dtypes",
    "float32_to_bfloat16_bits",
    "from_numpy_dtype",
    "least_upper_float",
    "promote_types",
    "result_type",
    "scalar_dtype",
    "to_numpy_dtype",
]
