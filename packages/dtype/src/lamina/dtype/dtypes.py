"""The scalar types lamina computes with, and their names in C, CUDA and numpy.

A `DType` is a small frozen record: everything a later layer needs to know about a scalar type
(its size, its family, how to spell it in generated code, how numpy stores it) lives here, so no
other layer keeps its own table. `PtrDType` is the type of a kernel's buffer parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal

DTypeKind = Literal["void", "bool", "int", "uint", "float"]


@dataclass(frozen=True, slots=True)
class DType:
    """A scalar type: `dtypes.float32`, `dtypes.int8`, ..."""

    name: str
    itemsize: int
    kind: DTypeKind
    # Order within a kind: a wider type has a higher rank (promotion picks the higher one).
    rank: int
    c_name: str
    cuda_name: str
    # numpy's name for the storage: bfloat16 has no numpy type, so it is stored as its raw uint16 bits.
    np_name: str
    # Every IR node's intern key holds its dtype: hashing the seven fields on each lookup was a visible
    # part of building a graph, so the hash is computed once.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = (self.name, self.itemsize, self.kind, self.rank, self.c_name, self.cuda_name, self.np_name)
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_int(self) -> bool:
        """True for signed and unsigned integers (not bool)."""
        return self.kind in ("int", "uint")

    @property
    def is_unsigned(self) -> bool:
        return self.kind == "uint"

    @property
    def is_bool(self) -> bool:
        return self.kind == "bool"

    @property
    def bits(self) -> int:
        return self.itemsize * 8

    @property
    def min_value(self) -> int | float:
        """The smallest value: an int for integers and bool, -inf for floats (torch.iinfo(dtype).min)."""
        if self.is_float:
            return -math.inf
        if self.kind in ("bool", "uint"):
            return 0
        return -(1 << (self.bits - 1))

    @property
    def max_value(self) -> int | float:
        """The largest value: an int for integers and bool, inf for floats."""
        if self.is_float:
            return math.inf
        if self.is_bool:
            return 1
        return (1 << (self.bits - (0 if self.kind == "uint" else 1))) - 1

    def holds(self, value: int) -> bool:
        """Whether the Python int `value` is exactly representable in this dtype (floats hold every int
        below their overflow; bool holds 0 and 1)."""
        if self.is_float:
            return True
        low, high = self.min_value, self.max_value
        return low <= value <= high

    def __repr__(self) -> str:
        return f"dtypes.{self.name}"

    def ptr(self) -> PtrDType:
        """The pointer type of a buffer holding this dtype."""
        return PtrDType(self)


@dataclass(frozen=True, slots=True)
class PtrDType:
    """A pointer to global memory holding `base` scalars: the dtype of a kernel's buffer parameter."""

    base: DType

    def __hash__(self) -> int:
        return hash(("ptr", self.base._hash))

    @property
    def name(self) -> str:
        return f"{self.base.name}*"

    def __repr__(self) -> str:
        return f"{self.base!r}.ptr()"


def _dtype(name: str, itemsize: int, kind: DTypeKind, rank: int, c_name: str, cuda_name: str, np_name: str) -> DType:
    return DType(name, itemsize, kind, rank, c_name, cuda_name, np_name)


class dtypes:  # noqa: N801 - a namespace spelled like tinygrad's and torch's `dtypes.float32`
    """Every dtype lamina supports, and the defaults."""

    # The type of IR nodes that produce no value (a STORE, a kernel's SINK); not a storable dtype.
    void: Final = _dtype("void", 0, "void", 0, "void", "void", "void")
    bool: Final = _dtype("bool", 1, "bool", 0, "_Bool", "bool", "bool")
    int8: Final = _dtype("int8", 1, "int", 1, "signed char", "signed char", "int8")
    int16: Final = _dtype("int16", 2, "int", 2, "short", "short", "int16")
    int32: Final = _dtype("int32", 4, "int", 3, "int", "int", "int32")
    int64: Final = _dtype("int64", 8, "int", 4, "long long", "long long", "int64")
    uint8: Final = _dtype("uint8", 1, "uint", 1, "unsigned char", "unsigned char", "uint8")
    uint16: Final = _dtype("uint16", 2, "uint", 2, "unsigned short", "unsigned short", "uint16")
    uint32: Final = _dtype("uint32", 4, "uint", 3, "unsigned int", "unsigned int", "uint32")
    uint64: Final = _dtype("uint64", 8, "uint", 4, "unsigned long long", "unsigned long long", "uint64")
    # float16 and bfloat16 are stored as 16 raw bits in C; arithmetic on them happens in float.
    float16: Final = _dtype("float16", 2, "float", 1, "unsigned short", "half", "float16")
    bfloat16: Final = _dtype("bfloat16", 2, "float", 1, "unsigned short", "__nv_bfloat16", "uint16")
    float32: Final = _dtype("float32", 4, "float", 3, "float", "float", "float32")
    float64: Final = _dtype("float64", 8, "float", 4, "double", "double", "float64")

    default_float: Final = float32
    default_int: Final = int64
    # The type index arithmetic is done in inside kernels.
    index: Final = int32

    all: Final = (
        bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, bfloat16, float32, float64,
    )  # fmt: skip

    @staticmethod
    def from_name(name: str) -> DType:
        """The dtype called `name` ("float32", "int8", ...); aliases half/float/double/long/int are accepted."""
        canonical = _ALIASES.get(name, name)
        for dtype in dtypes.all:
            if dtype.name == canonical:
                return dtype
        raise TypeError(f"unknown dtype {name!r}; known: {', '.join(d.name for d in dtypes.all)}")


_ALIASES: Final[dict[str, str]] = {
    "half": "float16",
    "float": "float32",
    "double": "float64",
    "long": "int64",
    "int": "int32",
    "short": "int16",
    "char": "int8",
    "uchar": "uint8",
}
