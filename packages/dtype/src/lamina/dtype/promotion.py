"""Type promotion: which dtype a binary op between tensors and Python scalars produces.

The rules are PyTorch's `result_type`: tensors decide by category (bool < integer < floating)
and, within a category, by width; a Python scalar is *weak*: it only matters when it is of a
higher category than every tensor, and then it brings the default dtype of its category
(int tensor + 2.5 -> float32, float16 tensor + 2.5 -> float16, int8 tensor + 1000 -> int8).
"""

from __future__ import annotations

from typing import Final

from lamina.dtype.dtypes import DType, dtypes

_CATEGORY: Final[dict[str, int]] = {"bool": 0, "uint": 1, "int": 1, "float": 2}

Scalar = bool | int | float


def _category(dtype: DType) -> int:
    if dtype.kind not in _CATEGORY:
        raise TypeError(f"{dtype} holds no values and takes no part in type promotion")
    return _CATEGORY[dtype.kind]


def _promote_integers(a: DType, b: DType) -> DType:
    if a.kind == b.kind:
        return a if a.rank >= b.rank else b
    signed, unsigned = (a, b) if a.kind == "int" else (b, a)
    if signed.itemsize > unsigned.itemsize:
        return signed
    # A signed type wide enough for every value of the unsigned one, as torch does (uint8+int8 -> int16).
    for candidate in (dtypes.int16, dtypes.int32, dtypes.int64):
        if candidate.itemsize > unsigned.itemsize:
            return candidate
    raise TypeError(f"no signed integer type holds both {a} and {b}; cast one of them explicitly")


def _promote_floats(a: DType, b: DType) -> DType:
    if a == b:
        return a
    # float16 and bfloat16 have the same width but different ranges: torch resolves the pair to float32.
    if a.itemsize == b.itemsize:
        return dtypes.float32
    return a if a.itemsize > b.itemsize else b


def promote_types(a: DType, b: DType) -> DType:
    """The dtype of `a_tensor op b_tensor` (torch.promote_types)."""
    category_a, category_b = _category(a), _category(b)
    if category_a != category_b:
        return a if category_a > category_b else b
    if category_a == 0:
        return dtypes.bool
    if category_a == 1:
        return _promote_integers(a, b)
    return _promote_floats(a, b)


def scalar_dtype(value: Scalar) -> DType:
    """The default dtype a Python scalar becomes on its own: bool, default int or default float."""
    if isinstance(value, bool):
        return dtypes.bool
    if isinstance(value, int):
        return dtypes.default_int
    if isinstance(value, float):
        return dtypes.default_float
    raise TypeError(f"expected a Python bool, int or float, got {type(value).__name__}")


def result_type(*operands: DType | Scalar) -> DType:
    """The dtype of an op over tensors (given as their DType) and weak Python scalars (torch.result_type)."""
    if not operands:
        raise ValueError("result_type needs at least one operand")
    tensor_dtypes = [op for op in operands if isinstance(op, DType)]
    scalar_dtypes = [scalar_dtype(op) for op in operands if not isinstance(op, DType)]
    if not tensor_dtypes:
        result = scalar_dtypes[0]
        for other in scalar_dtypes[1:]:
            result = promote_types(result, other)
        return result
    result = tensor_dtypes[0]
    for other in tensor_dtypes[1:]:
        result = promote_types(result, other)
    for weak in scalar_dtypes:
        if _category(weak) > _category(result):
            result = weak
    return result


def least_upper_float(dtype: DType) -> DType:
    """The float dtype an op like `sqrt` or `/` computes `dtype` in: itself if float, else the default float."""
    return dtype if dtype.is_float else dtypes.default_float
