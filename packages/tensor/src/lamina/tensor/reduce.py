"""Reductions (sum, max, mean, var, argmax, softmax...) and matrix products.

Three primitive reductions exist (ADD, MAX, MUL over axes); everything else composes them.
Integer and bool sums accumulate in int64, as torch does. `matmul` is a broadcast multiply and a
sum over the shared axis: the scheduler fuses it into one kernel with a reduction loop.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Generic, NamedTuple, Self, TypeVar, overload

from lamina.dtype import DType, dtypes, promote_types
from lamina.shape import broadcast_shapes, matmul_shape, normalize_axes, normalize_axis
from lamina.tensor.activations import ActivationMixin
from lamina.tensor.core import TensorCore
from lamina.tensor.creation import index_dtype_for
from lamina.tensor.elementwise import Operand, broadcast_uop
from lamina.uop import Ops, UOp

Axis = int | Sequence[int] | None


def resolve_dim(dim: Axis, axis: Axis) -> Axis:
    """torch's `dim=`, or numpy's `axis=` (torch accepts both names); giving both is an error."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"give either dim or axis, not both (dim={dim}, axis={axis})")
    return axis


T = TypeVar("T")


class MinMax(NamedTuple, Generic[T]):
    """aminmax's result, torch's field names."""

    min: T
    max: T


class ValuesIndices(NamedTuple, Generic[T]):
    """What `max(dim)` and `min(dim)` return, like torch.return_types.max: the extremes and where they are."""

    values: T
    indices: T


class ReduceMixin(ActivationMixin):
    """Reductions over dims, softmax-family functions and matmul.

    Every reduction takes torch's `dim=` and `keepdim=` (and numpy's `axis=` as another name for `dim`).
    """

    __slots__ = ()

    def _reduce(self, op: Ops, axis: Axis, keepdim: bool) -> Self:
        axes = normalize_axes(axis, self.ndim)
        reduced = self._derive(self.uop.reduce_axis(op, axes))
        if keepdim:
            return reduced
        return reduced.reshape(tuple(size for dim, size in enumerate(self.shape) if dim not in axes))

    def _accumulating(self) -> Self:
        """self in the dtype sums and products accumulate in: int64 for integers and bool, as in torch."""
        return self.cast(dtypes.int64) if (self.dtype.is_int or self.dtype.is_bool) else self

    def sum(self, dim: Axis = None, keepdim: bool = False, *, dtype: DType | None = None, axis: Axis = None) -> Self:
        """The sum over `dim` (all dims by default); integers and bools in int64, or in `dtype` (cast first)."""
        source = self._accumulating() if dtype is None else self.cast(dtype)
        return source._reduce(Ops.ADD, resolve_dim(dim, axis), keepdim)

    def prod(self, dim: Axis = None, keepdim: bool = False, *, dtype: DType | None = None, axis: Axis = None) -> Self:
        source = self._accumulating() if dtype is None else self.cast(dtype)
        return source._reduce(Ops.MUL, resolve_dim(dim, axis), keepdim)

    def count_nonzero(self, dim: Axis = None) -> Self:
        return self.ne(0).sum(dim)

    def aminmax(self, *, dim: int | None = None, keepdim: bool = False) -> MinMax[Self]:
        """The smallest and largest values (over `dim`, or all), as torch.aminmax's (min, max)."""
        return MinMax(self.amin(dim, keepdim), self.amax(dim, keepdim))

    def var_mean(self, dim: Axis = None, keepdim: bool = False, correction: int = 1) -> tuple[Self, Self]:
        return self.var(dim, keepdim, correction), self.mean(dim, keepdim)

    def std_mean(self, dim: Axis = None, keepdim: bool = False, correction: int = 1) -> tuple[Self, Self]:
        return self.std(dim, keepdim, correction), self.mean(dim, keepdim)

    def allclose(
        self,
        other: Operand,
        rtol: builtins.float = 1e-05,
        atol: builtins.float = 1e-08,
        equal_nan: builtins.bool = False,
    ) -> builtins.bool:
        """Whether every element isclose (torch.allclose): computes both tensors."""
        return builtins.bool(self.isclose(other, rtol, atol, equal_nan).all().item())

    def _check_nonempty(self, name: str, axis: Axis) -> None:
        for dim in normalize_axes(axis, self.ndim):
            if self.shape[dim] == 0:
                raise ValueError(f"{name} of an empty dim: shape {self.shape}, dim {dim}")

    def amax(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None) -> Self:
        """The largest values over `dim` (all dims by default); NaN wins, and ties share the gradient."""
        dims = resolve_dim(dim, axis)
        self._check_nonempty("amax", dims)
        return self._reduce(Ops.MAX, dims, keepdim)

    def amin(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None) -> Self:
        dims = resolve_dim(dim, axis)
        self._check_nonempty("amin", dims)
        if not self.dtype.is_float:
            # ~x reverses the order of every integer without overflow (-x does not: -INT_MIN wraps to INT_MIN).
            return self.bitwise_not().amax(dims, keepdim).bitwise_not()
        return -((-self).amax(dims, keepdim))

    @overload
    def max(self) -> Self: ...
    @overload
    def max(self, dim: TensorCore) -> Self: ...
    @overload
    def max(self, dim: int, keepdim: bool = False) -> ValuesIndices[Self]: ...
    @overload
    def max(self, *, axis: int, keepdim: bool = False) -> ValuesIndices[Self]: ...

    def max(
        self, dim: int | TensorCore | None = None, keepdim: bool = False, *, axis: int | None = None
    ) -> Self | ValuesIndices[Self]:
        """torch's max: of every element (a tensor); along `dim`, the values and their indices; of two tensors,
        the elementwise maximum."""
        if isinstance(dim, TensorCore):
            return self.maximum(dim)
        return self._extreme_along(resolve_dim(dim, axis), keepdim, largest=True)

    @overload
    def min(self) -> Self: ...
    @overload
    def min(self, dim: TensorCore) -> Self: ...
    @overload
    def min(self, dim: int, keepdim: bool = False) -> ValuesIndices[Self]: ...
    @overload
    def min(self, *, axis: int, keepdim: bool = False) -> ValuesIndices[Self]: ...

    def min(
        self, dim: int | TensorCore | None = None, keepdim: bool = False, *, axis: int | None = None
    ) -> Self | ValuesIndices[Self]:
        """torch's min: of every element; along `dim`, the values and their indices; of two tensors, elementwise."""
        if isinstance(dim, TensorCore):
            return self.minimum(dim)
        return self._extreme_along(resolve_dim(dim, axis), keepdim, largest=False)

    def _extreme_along(self, dim: Axis, keepdim: bool, largest: bool) -> Self | ValuesIndices[Self]:
        if dim is None:
            return self.amax() if largest else self.amin()
        if not isinstance(dim, int):
            raise TypeError(f"{'max' if largest else 'min'}(dim) takes one int dim, got {dim!r}; use amax/amin")
        if self.ndim == 0:
            normalize_axis(dim, 1)
            return ValuesIndices(self, self.zeros_like(dtypes.int64))
        along = normalize_axis(dim, self.ndim)
        indices = self._arg_extreme(along, True, largest)
        # The value at the index, not amax: the gradient goes to that one element, as torch's max(dim) does.
        chosen = self._index_along(along, self.shape[along]).eq(indices.expand(self.shape))
        values = chosen._select(self, 0)._reduce(Ops.ADD, along, True).cast(self.dtype)
        if not keepdim:
            values, indices = values.squeeze(along), indices.squeeze(along)
        return ValuesIndices(values, indices)

    def mean(self, dim: Axis = None, keepdim: bool = False, *, dtype: DType | None = None, axis: Axis = None) -> Self:
        if dtype is not None:
            if not dtype.is_float:
                raise TypeError(f"mean needs a float dtype, got {dtype}")
            return self.cast(dtype).mean(dim, keepdim, axis=axis)
        dims = resolve_dim(dim, axis)
        count = math.prod(self.shape[each] for each in normalize_axes(dims, self.ndim))
        total = self._floating().sum(dims, keepdim)
        return total / count if count else total * float("nan")

    def var(self, dim: Axis = None, keepdim: bool = False, correction: int = 1, *, axis: Axis = None) -> Self:
        axes = normalize_axes(resolve_dim(dim, axis), self.ndim)
        count = math.prod(self.shape[each] for each in axes)
        centered = self._floating() - self._floating().mean(axes, keepdim=True)
        return (centered * centered).sum(axes, keepdim) / max(count - correction, 0)

    def std(self, dim: Axis = None, keepdim: bool = False, correction: int = 1, *, axis: Axis = None) -> Self:
        variance = self.var(dim, keepdim, correction, axis=axis)
        # Where the values are all equal, torch defines the derivative as 0 (sqrt's 1/0 times var's 0 is NaN):
        # the square root is taken of 1 there, whose choice sends var no gradient.
        flat = variance.eq(0)
        return flat._select(0.0, flat._select(1.0, variance).sqrt())

    def any(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None) -> Self:
        return self.ne(0)._reduce(Ops.MAX, resolve_dim(dim, axis), keepdim)

    def all(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None) -> Self:
        return self.eq(0)._reduce(Ops.MAX, resolve_dim(dim, axis), keepdim).logical_not()

    def _arg_extreme(self, axis: int | None, keepdim: bool, largest: bool) -> Self:
        if axis is None:
            return self.flatten()._arg_extreme(0, False, largest).reshape(() if not keepdim else (1,) * self.ndim)
        if self.ndim == 0:
            normalize_axis(axis, 1)
            return self.zeros_like(dtypes.int64)
        dim = normalize_axis(axis, self.ndim)
        self._check_nonempty("argmax" if largest else "argmin", dim)
        length = self.shape[dim]
        target = self.amax(dim, keepdim=True) if largest else self.amin(dim, keepdim=True)
        hits = self.eq(target.expand(self.shape))
        if self.dtype.is_float:
            # max and min propagate NaN, so a NaN is the extreme, and it equals nothing: torch returns its index.
            hits = hits.logical_or(self.isnan())
        # The first index of the extreme: reverse the indices so MAX picks the smallest one.
        position = self._index_along(dim, length)
        reversed_index = hits._select(length - position, 0)
        first = length - reversed_index.amax(dim, keepdim=keepdim)
        return first.cast(dtypes.int64)

    def _index_along(self, dim: int, length: int) -> Self:
        shape = tuple(length if axis == dim else 1 for axis in range(self.ndim))
        return self._derive(UOp.arange(length, index_dtype_for(length)).reshape(shape).expand(self.shape))

    def argmax(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Self:
        return self._arg_extreme(resolve_dim(dim, axis), keepdim, largest=True)  # type: ignore[arg-type]

    def argmin(self, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Self:
        return self._arg_extreme(resolve_dim(dim, axis), keepdim, largest=False)  # type: ignore[arg-type]

    def logsumexp(self, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None) -> Self:
        dims = resolve_dim(dim, axis)
        floating = self._floating()
        # The shift only keeps exp in range; an infinite peak would make inf - inf: shift by 0 there (torch too).
        peak = floating.amax(dims, keepdim=True).detach()
        peak = peak.isinf()._select(0.0, peak)
        shifted = (floating - peak).exp().sum(dims, keepdim=True).log() + peak
        if keepdim:
            return shifted
        kept = normalize_axes(dims, self.ndim)
        return shifted.reshape(tuple(size for each, size in enumerate(self.shape) if each not in kept))

    def softmax(self, dim: int = -1, *, axis: int | None = None) -> Self:
        along = resolve_dim(dim if axis is None else None, axis)
        floating = self._floating()
        shifted = floating - floating.amax(along, keepdim=True).detach()
        exponent = shifted.exp()
        return exponent / exponent.sum(along, keepdim=True)

    def log_softmax(self, dim: int = -1, *, axis: int | None = None) -> Self:
        along = resolve_dim(dim if axis is None else None, axis)
        floating = self._floating()
        shifted = floating - floating.amax(along, keepdim=True).detach()
        return shifted - shifted.exp().sum(along, keepdim=True).log()

    # -- matrix products --

    def matmul(self, other: Self) -> Self:
        """torch.matmul: batched, broadcasting, with torch's 1-D rules; the result has the operands' promoted
        dtype (integers wrap in it, as torch's do).

        Built as IR directly, one tensor for the result: (..., n, k) x (..., k, m) is (..., n, 1, k) times
        (..., 1, m, k), summed over k. Through the tensor methods it took eight tensors and ~150 us per call.
        """
        result_shape = matmul_shape(self.shape, other.shape)
        dtype = promote_types(self.dtype, other.dtype)
        left, right = self.uop.cast(dtype), other.uop.cast(dtype)
        if self.ndim == 1:
            left = left.reshape((1, *left.shape))
        if other.ndim == 1:
            right = right.reshape((*right.shape, 1))
        (rows, inner), columns = left.shape[-2:], right.shape[-1]
        batch = broadcast_shapes(left.shape[:-2], right.shape[:-2])
        depth = len(right.shape)
        order = (*range(depth - 2), depth - 1, depth - 2)
        full = (*batch, rows, columns, inner)
        left = broadcast_uop(left.reshape((*left.shape[:-1], 1, inner)), full)
        right = broadcast_uop(right.permute(order).reshape((*right.shape[:-2], 1, columns, inner)), full)
        summed = left.alu(Ops.MUL, right).reduce_axis(Ops.ADD, (len(full) - 1,))
        return self._derive(summed.reshape(result_shape), other)

    def __matmul__(self, other: Self) -> Self:
        return self.matmul(other)

    def __rmatmul__(self, other: Self) -> Self:
        return other.matmul(self)

    def dot(self, other: Self) -> Self:
        if self.ndim != 1 or other.ndim != 1:
            raise ValueError(f"dot needs two 1-D tensors, got {self.shape} and {other.shape}")
        return self.matmul(other)

    def linear(self, weight: Self, bias: Self | None = None) -> Self:
        """self @ weight.T + bias (torch.nn.functional.linear)."""
        result = self.matmul(weight.transpose(-1, -2))
        return result if bias is None else result + bias
