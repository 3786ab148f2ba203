"""`Tensor`: the user-facing lazy tensor, and the functions that make tensors from nothing.

The class itself only adds creation functions; its operations come from the layers of mixins it
stands on (core -> movement -> elementwise -> reduce -> indexing), one module each. Random
numbers are generated on the device by a counter-based hash of (seed, call, index).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Self

from lamina.dtype import DType, dtypes
from lamina.engine.capture import active_capture
from lamina.shape import prod
from lamina.tensor.assignment import AssignmentMixin
from lamina.tensor.core import scalar_full
from lamina.tensor.creation import index_dtype_for, random_keys, uniform_bits, uniform_unit
from lamina.tensor.state import note_outside_write
from lamina.uop import ConstValue, UOp

ShapeArg = int | Sequence[int]


def _shape(first: ShapeArg, rest: tuple[int, ...]) -> tuple[int, ...]:
    shape = (first, *rest) if isinstance(first, int) else (*first, *rest)
    if any(not isinstance(size, int) or size < 0 for size in shape):
        raise ValueError(f"a shape needs non-negative integer sizes, got {shape}")
    return tuple(shape)


class Tensor(AssignmentMixin):
    """A lazy n-dimensional array: operations build a graph; realize(), numpy() or item() compute it."""

    __slots__ = ()
    _seed: ClassVar[list[int]] = [0, 0]  # [seed, calls made since it was set]

    # -- constants --

    @classmethod
    def full(
        cls,
        shape: ShapeArg,
        value: ConstValue,
        dtype: DType | None = None,
        device: str | None = None,
        requires_grad: bool = False,
    ) -> Self:
        resolved = dtype or (
            dtypes.bool
            if isinstance(value, bool)
            else dtypes.default_int
            if isinstance(value, int)
            else dtypes.default_float
        )
        shape_tuple = _shape(shape, ())
        result = cls(scalar_full(shape_tuple, resolved, value), device=device)
        return result.requires_grad_(requires_grad)

    @classmethod
    def zeros(
        cls,
        *shape: int | Sequence[int],
        dtype: DType | None = None,
        device: str | None = None,
        requires_grad: bool = False,
    ) -> Self:
        return cls.full(_flatten_shape(shape), 0.0, dtype or dtypes.default_float, device, requires_grad)

    @classmethod
    def ones(
        cls,
        *shape: int | Sequence[int],
        dtype: DType | None = None,
        device: str | None = None,
        requires_grad: bool = False,
    ) -> Self:
        return cls.full(_flatten_shape(shape), 1.0, dtype or dtypes.default_float, device, requires_grad)

    @classmethod
    def empty(cls, *shape: int | Sequence[int], dtype: DType | None = None, device: str | None = None) -> Self:
        return cls.zeros(*shape, dtype=dtype, device=device)

    @classmethod
    def arange(
        cls,
        start: float,
        stop: float | None = None,
        step: float = 1,
        dtype: DType | None = None,
        device: str | None = None,
    ) -> Self:
        if stop is None:
            start, stop = 0, start
        if step == 0:
            raise ValueError("arange step must be nonzero")
        integral = all(isinstance(value, int) for value in (start, stop, step))
        # Whole numbers count exactly (a float quotient of two large ints could be off by one).
        length = max(-((start - stop) // step) if integral else math.ceil((stop - start) / step), 0)
        resolved = dtype or (dtypes.default_int if integral else dtypes.default_float)
        if resolved.is_int and length:
            for end in (start, start + (length - 1) * step):
                if not resolved.holds(math.floor(end)):
                    raise OverflowError(
                        f"arange({start}, {stop}, {step}) reaches {end}, which does not fit in {resolved}"
                    )
        counter = cls(UOp.arange(int(length), index_dtype_for(int(length))), device=device)
        if start == 0 and step == 1:
            return counter.cast(resolved)
        compute = resolved if resolved.is_float else dtypes.int64
        return (counter.cast(compute) * step + start).cast(resolved)

    @classmethod
    def linspace(
        cls, start: float, end: float, steps: int, dtype: DType | None = None, device: str | None = None
    ) -> Self:
        if steps < 0:
            raise ValueError(f"linspace needs a non-negative number of steps, got {steps}")
        resolved = dtype or dtypes.default_float
        if steps == 1:
            return cls.full((1,), float(start), resolved, device)
        counter = cls(UOp.arange(steps, dtypes.int32), device=device).cast(dtypes.float32)
        return (counter * ((end - start) / max(steps - 1, 1)) + start).cast(resolved)

    @classmethod
    def eye(cls, rows: int, columns: int | None = None, dtype: DType | None = None, device: str | None = None) -> Self:
        columns = rows if columns is None else columns
        row = cls.arange(rows, device=device).reshape(rows, 1).expand(rows, columns)
        column = cls.arange(columns, device=device).reshape(1, columns).expand(rows, columns)
        return row.eq(column).cast(dtype or dtypes.default_float)

    # -- random --

    @classmethod
    def manual_seed(cls, seed: int = 0) -> None:
        """Make the random functions reproducible from here on."""
        cls._seed[0], cls._seed[1] = seed, 0

    @classmethod
    def _next_keys(cls, device: str | None) -> UOp:
        """The next call's random keys, uploaded as a (2,) uint32 buffer on `device`."""
        cls._seed[1] += 1
        keys = cls(list(random_keys(cls._seed[0], cls._seed[1])), dtype=dtypes.uint32, device=device)
        return keys.uop

    @classmethod
    def rand(
        cls,
        *shape: int | Sequence[int],
        dtype: DType | None = None,
        device: str | None = None,
        requires_grad: bool = False,
    ) -> Self:
        """Uniform in [0, 1)."""
        dims = _flatten_shape(shape)
        resolved = dtype or dtypes.default_float
        if not resolved.is_float:
            raise TypeError(f"rand makes floats, not {resolved}")
        keys = cls._next_keys(device)
        result = cls(uniform_unit(prod(dims), keys, resolved).reshape(dims), device=device)
        return result.requires_grad_(requires_grad)

    @classmethod
    def uniform(
        cls,
        *shape: int | Sequence[int],
        low: float = 0.0,
        high: float = 1.0,
        dtype: DType | None = None,
        device: str | None = None,
        requires_grad: bool = False,
    ) -> Self:
        values = cls.rand(*shape, dtype=dtypes.float32, device=device) * (high - low) + low
        result = values.cast(dtype or dtypes.default_float).detach()
        return result.requires_grad_(requires_grad)

    @classmethod
    def randn(
        cls,
        *shape: int | Sequence[int],
        dtype: DType | None = None,
        device: str | None = None,
        requires_grad: bool = False,
    ) -> Self:
        """Standard normal samples (Box-Muller over two uniform draws)."""
        dims = _flatten_shape(shape)
        first = cls.rand(dims, dtype=dtypes.float32, device=device)
        second = cls.rand(dims, dtype=dtypes.float32, device=device)
        radius = (-2 * (1 - first).log()).sqrt()
        result = (radius * (second * (2 * math.pi)).cos()).cast(dtype or dtypes.default_float).detach()
        return result.requires_grad_(requires_grad)

    @classmethod
    def normal(
        cls,
        *shape: int | Sequence[int],
        mean: float = 0.0,
        std: float = 1.0,
        dtype: DType | None = None,
        device: str | None = None,
        requires_grad: bool = False,
    ) -> Self:
        result = (
            (cls.randn(*shape, dtype=dtypes.float32, device=device) * std + mean)
            .cast(dtype or dtypes.default_float)
            .detach()
        )
        return result.requires_grad_(requires_grad)

    @classmethod
    def randint(
        cls,
        low: int,
        high: int | Sequence[int] | None = None,
        size: Sequence[int] = (),
        dtype: DType | None = None,
        device: str | None = None,
    ) -> Self:
        """Integers uniform in [low, high) (or [0, low) with one bound); `randint(high, size)` as in torch."""
        if high is not None and not isinstance(high, int):
            size = high
            high = None
        if high is None:
            low, high = 0, low
        if high <= low:
            raise ValueError(f"randint needs low < high, got [{low}, {high})")
        dims = tuple(size)
        bits = uniform_bits(prod(dims), cls._next_keys(device))
        span = high - low
        # 32 random bits modulo the span: the bias is below span / 2**32, negligible for the spans used here.
        offset = cls(bits, device=device).cast(dtypes.int64) % span
        return (offset + low).cast(dtype or dtypes.default_int).reshape(dims)

    @classmethod
    def kaiming_uniform(
        cls, *shape: int | Sequence[int], a: float = 0.01, device: str | None = None, requires_grad: bool = False
    ) -> Self:
        dims = _flatten_shape(shape)
        fan_in = prod(dims[1:]) if len(dims) > 1 else dims[0]
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + a * a)) / math.sqrt(max(fan_in, 1))
        return cls.uniform(dims, low=-bound, high=bound, device=device, requires_grad=requires_grad)

    @classmethod
    def glorot_uniform(
        cls, *shape: int | Sequence[int], device: str | None = None, requires_grad: bool = False
    ) -> Self:
        dims = _flatten_shape(shape)
        receptive = prod(dims[2:]) if len(dims) > 2 else 1
        fan_out, fan_in = (dims[0] * receptive, (dims[1] if len(dims) > 1 else 1) * receptive)
        bound = math.sqrt(6.0 / max(fan_in + fan_out, 1))
        return cls.uniform(dims, low=-bound, high=bound, device=device, requires_grad=requires_grad)

    # -- joins as functions --

    def clone(self) -> Self:
        return self._derive(self.uop.contiguous())

    def contiguous(self) -> Self:
        return self._derive(self.uop.contiguous())

    def assign(self, value: Tensor) -> Self:
        """Replace this tensor's value with `value` (same shape and dtype), keeping the object (for optimizers)."""
        if value.shape != self.shape:
            raise ValueError(f"assign of shape {value.shape} to a tensor of shape {self.shape}")
        capture = active_capture()
        if capture is not None:
            capture.assigned.setdefault(id(self), (self, self.uop))
        else:
            note_outside_write(self.uop)
        self.uop = value.uop.cast(self.dtype)
        return self


def where(condition: Tensor, input: Tensor | ConstValue, other: Tensor | ConstValue) -> Tensor:
    """torch.where: `input` where `condition` holds, else `other` (broadcast together, types promoted like torch)."""
    if not isinstance(condition, Tensor):
        raise TypeError(f"where needs a condition Tensor, got {type(condition).__name__}")
    return condition._select(input, other)


def _flatten_shape(shape: tuple[int | Sequence[int], ...]) -> tuple[int, ...]:
    if len(shape) == 1 and not isinstance(shape[0], int):
        return _shape(shape[0], ())
    return _shape(tuple(size for size in shape if isinstance(size, int)), ())
