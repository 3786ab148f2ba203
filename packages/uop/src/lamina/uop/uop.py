"""`UOp`: an immutable, hash-consed node of lamina's IR.

Building a node equal to one that is alive returns that same object, so equality is identity,
hashing is cheap, and common subexpressions merge the moment they are written. The intern table
holds its nodes weakly: a graph nobody references is freed. Arithmetic operators build index
expressions (`r * 4 + 1`), which the symbolic simplifier later folds.
"""

from __future__ import annotations

import itertools
import math
import struct
import weakref
from dataclasses import dataclass
from typing import Any, ClassVar

from lamina.dtype import DType, PtrDType, dtypes
from lamina.uop.ops import AxisKind, GroupOp, Ops

UOpDType = DType | PtrDType
ConstValue = bool | int | float


@dataclass(frozen=True, slots=True)
class BufferRef:
    """What a BUFFER node stands for: a unique buffer of `size` elements on `device`."""

    uid: int
    device: str
    size: int

    def __hash__(self) -> int:
        # uids are unique, so they alone tell buffers apart: a cheap hash for the intern table's keys.
        return hash(self.uid)


_buffer_uids = itertools.count()


_PLAIN_ARGS: frozenset[type] = frozenset((type(None), int, str))


def arg_key(arg: Any) -> Any:
    """`arg` as a dictionary key that tells apart every argument that differs: the intern table's, and the
    schedule cache's (Python equates 0.0 with -0.0 and 1 with True, and NaN with nothing, so floats are
    keyed by their bits and bools are tagged)."""
    kind = type(arg)
    if kind in _PLAIN_ARGS:  # the common arguments, keyed as they are (bool is not `int` here)
        return arg
    if kind is tuple and all(type(item) is int for item in arg):  # shapes, axes, permutations
        return arg
    if isinstance(arg, float):
        return ("float", struct.pack("<d", arg))
    if isinstance(arg, bool):
        return ("bool", arg)
    if isinstance(arg, tuple):
        return tuple(arg_key(item) for item in arg)
    return arg


def normalize_const(value: ConstValue, dtype: DType) -> ConstValue:
    """`value` as the Python type that matches `dtype`'s kind, wrapped like C would for integers."""
    if dtype.is_bool:
        return bool(value)
    if dtype.is_int:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"cannot represent {value} as {dtype}")
        integer = int(value)
        modulus = 1 << dtype.bits
        integer %= modulus
        if not dtype.is_unsigned and integer >= modulus // 2:
            integer -= modulus
        return integer
    if dtype.is_float:
        return float(value)
    raise TypeError(f"a constant cannot have dtype {dtype}")


# The intern table: each live node by its key, held weakly (an entry goes with its node). A plain dict of keyed
# references rather than a WeakValueDictionary, whose Python-level get and set cost more than the rest of
# building a node.
_INTERNED: dict[tuple[Any, ...], weakref.KeyedRef[tuple[Any, ...], UOp]] = {}


def _forget_interned(
    reference: weakref.KeyedRef[tuple[Any, ...], UOp], table: dict[tuple[Any, ...], Any] = _INTERNED
) -> None:
    """A node died: its entry goes, unless a new node of the same key took its place already. (The table is bound
    here: at interpreter exit, nodes die after the module's globals are cleared.)"""
    if table.get(reference.key) is reference:
        del table[reference.key]


class UOp:
    """One node: an op, the dtype it produces, its sources and an op-specific argument."""

    __slots__ = ("__weakref__", "_shape", "arg", "dtype", "keyed_arg", "op", "src")
    _interned: ClassVar[dict[tuple[Any, ...], weakref.KeyedRef[tuple[Any, ...], UOp]]] = _INTERNED

    op: Ops
    dtype: UOpDType
    src: tuple[UOp, ...]
    arg: Any
    keyed_arg: Any  # arg_key(arg), kept from the intern key: the schedule cache keys on it (see graph_structure)
    _shape: tuple[int, ...] | None

    def __new__(cls, op: Ops, dtype: UOpDType = dtypes.void, src: tuple[UOp, ...] = (), arg: Any = None) -> UOp:
        keyed_arg = arg_key(arg)
        key = (op, dtype, src, keyed_arg)
        reference = _INTERNED.get(key)
        if reference is not None:
            existing: UOp | None = reference()
            if existing is not None:
                return existing
        node = object.__new__(cls)
        object.__setattr__(node, "op", op)
        object.__setattr__(node, "dtype", dtype)
        object.__setattr__(node, "src", src)
        object.__setattr__(node, "arg", arg)
        object.__setattr__(node, "keyed_arg", keyed_arg)
        object.__setattr__(node, "_shape", None)
        _INTERNED[key] = weakref.KeyedRef(node, _forget_interned, key)
        return node

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"UOp is immutable: cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (UOp, (self.op, self.dtype, self.src, self.arg))

    def __repr__(self) -> str:
        arg = "" if self.arg is None else f", arg={self.arg!r}"
        return f"UOp({self.op}, {self.dtype!r}, src=<{len(self.src)}>{arg})"

    # -- derived properties --

    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor shape this node produces (kernel-level nodes are scalars: `()`)."""
        cached = self._shape
        if cached is not None:
            return cached
        # graph and shapes build on UOp: importing them at use breaks the cycle.
        from lamina.uop.graph import toposort
        from lamina.uop.shapes import infer_shape

        if all(source._shape is not None for source in self.src):
            # The usual case, a node just built on known ones: no walk needed.
            shape = infer_shape(self)
            object.__setattr__(self, "_shape", shape)
            return shape
        # Sources first, without recursion, so a graph of any depth gets its shapes.
        for node in toposort(self, stop=lambda node: node._shape is not None):
            if node._shape is None:
                object.__setattr__(node, "_shape", infer_shape(node))
        assert self._shape is not None
        return self._shape

    @property
    def scalar_dtype(self) -> DType:
        """The element dtype: the dtype itself, or what a pointer points to."""
        return self.dtype.base if isinstance(self.dtype, PtrDType) else self.dtype

    @property
    def buffer(self) -> BufferRef:
        """The BufferRef of a BUFFER node."""
        if self.op is not Ops.BUFFER or not isinstance(self.arg, BufferRef):
            raise TypeError(f"{self.op} is not a BUFFER")
        return self.arg

    # -- constructors --

    @staticmethod
    def const(dtype: DType, value: ConstValue) -> UOp:
        """A scalar constant of `dtype`."""
        return UOp(Ops.CONST, dtype, (), normalize_const(value, dtype))

    @staticmethod
    def new_buffer(device: str, size: int, dtype: DType) -> UOp:
        """A BUFFER node for a fresh, unique buffer of `size` elements (memory comes later, from a device)."""
        if size < 0:
            raise ValueError(f"a buffer cannot have {size} elements")
        buffer = UOp(Ops.BUFFER, dtype, (), BufferRef(next(_buffer_uids), device, size))
        object.__setattr__(buffer, "_shape", (size,))
        return buffer

    @staticmethod
    def new_buffer_view(device: str, size: int, dtype: DType, shape: tuple[int, ...]) -> UOp:
        """A fresh BUFFER of `size` elements seen as `shape` (a RESHAPE of it unless `shape` is `(size,)`).

        The JIT makes one per result on every replay, so the shapes are set here, not inferred.
        """
        return UOp.new_buffer(device, size, dtype).view_as(shape)

    def view_as(self, shape: tuple[int, ...]) -> UOp:
        """This BUFFER seen as `shape`: itself for its own shape, else a RESHAPE whose shape is set, not inferred
        (every replay and every cached schedule views its new buffers so)."""
        if self.op is not Ops.BUFFER:
            raise TypeError(f"{self.op} is not a BUFFER")
        size = self.arg.size
        if math.prod(shape) != size or any(extent < 0 for extent in shape):
            raise ValueError(f"a buffer of {size} elements cannot be viewed as shape {shape}")
        if shape == (size,):
            return self
        view = UOp(Ops.RESHAPE, self.dtype, (self,), shape)
        object.__setattr__(view, "_shape", shape)
        return view

    @staticmethod
    def variable(name: str, min_value: int, max_value: int, dtype: DType = dtypes.index) -> UOp:
        """An integer symbol known to lie in [min_value, max_value]."""
        if min_value > max_value:
            raise ValueError(f"variable {name!r}: empty range [{min_value}, {max_value}]")
        return UOp(Ops.DEFINE_VAR, dtype, (), (name, min_value, max_value))

    def bind(self, value: int) -> UOp:
        """This DEFINE_VAR at `value` for one realize (a BIND); raises ValueError outside its declared range."""
        if self.op is not Ops.DEFINE_VAR:
            raise TypeError(f"only a DEFINE_VAR can be bound, not {self.op}")
        name, low, high = self.arg
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"variable {name!r} takes an int in [{low}, {high}], got {value!r}")
        return UOp(Ops.BIND, self.dtype, (self,), value)

    @staticmethod
    def range(end: int | UOp, axis: int, kind: AxisKind, dtype: DType = dtypes.index) -> UOp:
        """A loop index 0 <= i < end for kernel axis `axis` of AxisKind `kind`."""
        end_uop = end if isinstance(end, UOp) else UOp.const(dtype, end)
        return UOp(Ops.RANGE, dtype, (end_uop,), (axis, kind))

    def alu(self, op: Ops, *others: UOp) -> UOp:
        """`op` applied to self and others; comparisons give bool, everything else self's dtype."""
        dtype = dtypes.bool if op in GroupOp.COMPARISON else self.scalar_dtype
        return UOp(op, dtype, (self, *others))

    def cast(self, dtype: DType) -> UOp:
        return self if self.dtype == dtype else UOp(Ops.CAST, dtype, (self,))

    def where(self, if_true: UOp | ConstValue, if_false: UOp | ConstValue) -> UOp:
        """self ? if_true : if_false (self is a bool)."""
        true_uop = if_true if isinstance(if_true, UOp) else None
        false_uop = if_false if isinstance(if_false, UOp) else None
        value_dtype = (true_uop or false_uop or self).scalar_dtype
        true_node = true_uop if true_uop is not None else UOp.const(value_dtype, if_true)  # type: ignore[arg-type]
        false_node = false_uop if false_uop is not None else UOp.const(value_dtype, if_false)  # type: ignore[arg-type]
        return UOp(Ops.WHERE, true_node.scalar_dtype, (self, true_node, false_node))

    # -- index arithmetic sugar: equality stays identity, so comparisons are methods --

    def _operand(self, other: UOp | ConstValue) -> UOp:
        return other if isinstance(other, UOp) else UOp.const(self.scalar_dtype, other)

    def __add__(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.ADD, self._operand(other))

    def __radd__(self, other: ConstValue) -> UOp:
        return self._operand(other).alu(Ops.ADD, self)

    def __sub__(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.SUB, self._operand(other))

    def __rsub__(self, other: ConstValue) -> UOp:
        return self._operand(other).alu(Ops.SUB, self)

    def __mul__(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.MUL, self._operand(other))

    def __rmul__(self, other: ConstValue) -> UOp:
        return self._operand(other).alu(Ops.MUL, self)

    def __floordiv__(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.IDIV, self._operand(other))

    def __mod__(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.MOD, self._operand(other))

    def __neg__(self) -> UOp:
        return self.alu(Ops.NEG)

    def __and__(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.AND, self._operand(other))

    def __or__(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.OR, self._operand(other))

    def maximum(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.MAX, self._operand(other))

    def lt(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.CMPLT, self._operand(other))

    def ne(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.CMPNE, self._operand(other))

    def eq(self, other: UOp | ConstValue) -> UOp:
        return self.alu(Ops.CMPEQ, self._operand(other))

    # -- tensor-graph builders: each validates its result's shape now, and a no-op returns self --

    def _built(self, op: Ops, arg: Any) -> UOp:
        node = UOp(op, self.dtype, (self,), arg)
        _ = node.shape
        return node

    def reshape(self, shape: tuple[int, ...]) -> UOp:
        return self if self.shape == shape else self._built(Ops.RESHAPE, shape)

    def permute(self, order: tuple[int, ...]) -> UOp:
        return self if order == tuple(range(len(order))) else self._built(Ops.PERMUTE, order)

    def expand(self, shape: tuple[int, ...]) -> UOp:
        return self if self.shape == shape else self._built(Ops.EXPAND, shape)

    def pad(self, padding: tuple[tuple[int, int], ...]) -> UOp:
        return self if all(before == 0 and after == 0 for before, after in padding) else self._built(Ops.PAD, padding)

    def shrink(self, bounds: tuple[tuple[int, int], ...]) -> UOp:
        full = tuple((0, size) for size in self.shape)
        return self if bounds == full else self._built(Ops.SHRINK, bounds)

    def flip(self, flags: tuple[bool, ...]) -> UOp:
        return self._built(Ops.FLIP, flags) if any(flags) else self

    def reduce_axis(self, op: Ops, axes: tuple[int, ...]) -> UOp:
        """Reduce over `axes` with ADD, MAX or MUL; the reduced axes keep size 1."""
        if op not in GroupOp.REDUCTION:
            raise ValueError(f"cannot reduce with {op}; use one of {sorted(o.name for o in GroupOp.REDUCTION)}")
        return self._built(Ops.REDUCE_AXIS, (op, tuple(sorted(axes)))) if axes else self

    def contiguous(self) -> UOp:
        return UOp(Ops.CONTIGUOUS, self.dtype, (self,))

    @staticmethod
    def full(shape: tuple[int, ...], dtype: DType, value: ConstValue) -> UOp:
        """A constant of `dtype` broadcast to `shape` (no memory: a CONST reshaped and expanded)."""
        scalar = UOp.const(dtype, value)
        return scalar.reshape((1,) * len(shape)).expand(shape) if shape else scalar

    @staticmethod
    def arange(length: int, dtype: DType) -> UOp:
        """0, 1, ..., length-1 of `dtype` (an integer dtype wide enough) as a constant-only graph."""
        if length < 0:
            raise ValueError(f"arange needs a non-negative length, got {length}")
        if length <= 1:
            return UOp.full((length,), dtype, 0)
        bits = (length - 1).bit_length()
        shape = (2,) * bits
        total: UOp | None = None
        for bit in range(bits):
            # Axis `bit` counts 2**(bits-1-bit): the most significant digit is the outermost axis.
            weight = 1 << (bits - 1 - bit)
            digit = UOp.full((1,), dtype, weight).pad(((1, 0),))
            placed = digit.reshape(tuple(2 if axis == bit else 1 for axis in range(bits))).expand(shape)
            total = placed if total is None else total + placed
        assert total is not None
        return total.reshape((1 << bits,)).shrink(((0, length),))

    def const_like(self, value: ConstValue) -> UOp:
        """A constant with self's shape and dtype."""
        return UOp.full(self.shape, self.scalar_dtype, value)
