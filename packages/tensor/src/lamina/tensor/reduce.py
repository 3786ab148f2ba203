"""Reductions (sum, max, mean, var, argmax, softmax...) and matrix products.

Three primitive reductions exist (ADD, MAX, MUL over axes); everything else composes them.
Integer and bool sums accumulate in int64, as torch does. `matmul` is a broadcast multiply and a
sum over the shared axis: the scheduler fuses it into one kernel with a reduction loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, Self

from lamina.codegen.optimize import WIDE_UPCAST
from lamina.dtype import dtypes
from lamina.shape import matmul_shape, normalize_axes, normalize_axis
from lamina.tensor.elementwise import ElementwiseMixin
from lamina.uop import Ops

Axis = int | Sequence[int] | None


# A matmul's right operand is read in panels of this many columns (the width of the kernel optimizer's
# register tile) when it is too big to sit in a core's L2 cache beside the rows of A in use, and the
# left operand has enough rows to pay for the copy. (Packing smaller transposed weights, x @ W.T, saved
# 0.1 ms of the MLP step under clang, but gcc left that tile with its bias epilogue scalar: 5x slower.)
PANEL_COLUMNS: Final = WIDE_UPCAST
PANEL_MIN_ELEMENTS: Final = 1 << 18
PANEL_MIN_ROWS: Final = 64


class ReduceMixin(ElementwiseMixin):
    """Reductions over axes, softmax-family functions, cumsum and matmul."""

    __slots__ = ()

    def _reduce(self, op: Ops, axis: Axis, keepdim: bool) -> Self:
        axes = normalize_axes(axis, self.ndim)
        reduced = self._derive(self.uop.reduce_axis(op, axes))
        if keepdim:
            return reduced
        return reduced.reshape(tuple(size for dim, size in enumerate(self.shape) if dim not in axes))

    def sum(self, axis: Axis = None, keepdim: bool = False) -> Self:
        accumulate = dtypes.int64 if (self.dtype.is_int or self.dtype.is_bool) else self.dtype
        return self.cast(accumulate)._reduce(Ops.ADD, axis, keepdim)

    def prod(self, axis: Axis = None, keepdim: bool = False) -> Self:
        accumulate = dtypes.int64 if (self.dtype.is_int or self.dtype.is_bool) else self.dtype
        return self.cast(accumulate)._reduce(Ops.MUL, axis, keepdim)

    def _check_nonempty(self, name: str, axis: Axis) -> None:
        for dim in normalize_axes(axis, self.ndim):
            if self.shape[dim] == 0:
                raise ValueError(f"{name} of an empty dim: shape {self.shape}, axis {dim}")
        if self.ndim == 0:
            return

    def max(self, axis: Axis = None, keepdim: bool = False) -> Self:
        self._check_nonempty("max", axis)
        return self._reduce(Ops.MAX, axis, keepdim)

    def min(self, axis: Axis = None, keepdim: bool = False) -> Self:
        self._check_nonempty("min", axis)
        if self.dtype.is_unsigned or self.dtype.is_bool:
            return self.bitwise_not().max(axis, keepdim).bitwise_not()
        return -((-self).max(axis, keepdim))

    def mean(self, axis: Axis = None, keepdim: bool = False) -> Self:
        axes = normalize_axes(axis, self.ndim)
        count = 1
        for dim in axes:
            count *= self.shape[dim]
        floating = self._floating()
        total = floating.sum(axis, keepdim)
        return total / count if count else total * float("nan")

    def var(self, axis: Axis = None, keepdim: bool = False, correction: int = 1) -> Self:
        axes = normalize_axes(axis, self.ndim)
        count = 1
        for dim in axes:
            count *= self.shape[dim]
        centered = self._floating() - self._floating().mean(axes, keepdim=True)
        return (centered * centered).sum(axes, keepdim) / max(count - correction, 0)

    def std(self, axis: Axis = None, keepdim: bool = False, correction: int = 1) -> Self:
        return self.var(axis, keepdim, correction).sqrt()

    def any(self, axis: Axis = None, keepdim: bool = False) -> Self:
        return self.ne(0)._reduce(Ops.MAX, axis, keepdim)

    def all(self, axis: Axis = None, keepdim: bool = False) -> Self:
        return self.eq(0)._reduce(Ops.MAX, axis, keepdim).logical_not()

    def _arg_extreme(self, axis: int | None, keepdim: bool, largest: bool) -> Self:
        if axis is None:
            return self.flatten()._arg_extreme(0, False, largest).reshape(() if not keepdim else (1,) * self.ndim)
        dim = normalize_axis(axis, self.ndim)
        self._check_nonempty("argmax" if largest else "argmin", dim)
        length = self.shape[dim]
        target = self.max(dim, keepdim=True) if largest else self.min(dim, keepdim=True)
        hits = self.eq(target.expand(self.shape))
        # The first index of the extreme: reverse the indices so MAX picks the smallest one.
        position = self._index_along(dim, length)
        reversed_index = hits.where(length - position, 0)
        first = length - reversed_index.max(dim, keepdim=keepdim)
        return first.cast(dtypes.int64)

    def _index_along(self, dim: int, length: int) -> Self:
        from lamina.tensor.creation import arange_uop

        shape = tuple(length if axis == dim else 1 for axis in range(self.ndim))
        return self._derive(arange_uop(length, dtypes.int32).reshape(shape).expand(self.shape))

    def argmax(self, axis: int | None = None, keepdim: bool = False) -> Self:
        return self._arg_extreme(axis, keepdim, largest=True)

    def argmin(self, axis: int | None = None, keepdim: bool = False) -> Self:
        return self._arg_extreme(axis, keepdim, largest=False)

    def logsumexp(self, axis: Axis = None, keepdim: bool = False) -> Self:
        floating = self._floating()
        peak = floating.max(axis, keepdim=True).detach()
        shifted = (floating - peak).exp().sum(axis, keepdim=True).log() + peak
        if keepdim:
            return shifted
        return shifted.reshape(
            tuple(size for dim, size in enumerate(self.shape) if dim not in normalize_axes(axis, self.ndim))
        )

    def softmax(self, axis: int = -1) -> Self:
        floating = self._floating()
        shifted = floating - floating.max(axis, keepdim=True).detach()
        exponent = shifted.exp()
        return exponent / exponent.sum(axis, keepdim=True)

    def log_softmax(self, axis: int = -1) -> Self:
        floating = self._floating()
        shifted = floating - floating.max(axis, keepdim=True).detach()
        return shifted - shifted.exp().sum(axis, keepdim=True).log()

    def cumsum(self, axis: int = 0) -> Self:
        """Running sums along `axis` (a triangular-masked sum: O(n²) work per row, fused in one kernel)."""
        if self.ndim == 0:
            return self
        dim = normalize_axis(axis, self.ndim)
        length = self.shape[dim]
        moved = self.transpose(dim, -1)
        expanded = moved.unsqueeze(-2).expand((*moved.shape[:-1], length, length))
        rows = moved._index_along(moved.ndim - 1, length).unsqueeze(-1).expand(expanded.shape)
        columns = moved._index_along(moved.ndim - 1, length).unsqueeze(-2).expand(expanded.shape)
        lower = columns.le(rows)
        summed = lower.where(expanded, 0).sum(-1)
        return summed.transpose(dim, -1)

    # -- matrix products --

    def matmul(self, other: Self) -> Self:
        """torch.matmul: batched, broadcasting, with torch's 1-D rules."""
        matmul_shape(self.shape, other.shape)
        if self.ndim == 0 or other.ndim == 0:
            raise ValueError(f"matmul needs at least 1-D operands, got {self.shape} and {other.shape}")
        left = self.unsqueeze(0) if self.ndim == 1 else self
        right = other.unsqueeze(-1) if other.ndim == 1 else other
        if left._reads_in_panels(right):
            return left._panel_matmul(right)
        # (..., n, k) x (..., k, m): multiply as (..., n, 1, k) * (..., 1, m, k) and sum the k axis.
        product = left.unsqueeze(-2) * right.transpose(-1, -2).unsqueeze(-3)
        result = product.sum(-1)
        if self.ndim == 1:
            result = result.squeeze(-2)
        if other.ndim == 1:
            result = result.squeeze(-1)
        return result

    def _reads_in_panels(self, right: Self) -> bool:
        if right.ndim != 2 or self.device != "CPU":
            return False
        depth, columns = right.shape
        return (
            columns % PANEL_COLUMNS == 0
            and columns > PANEL_COLUMNS
            and depth * columns > PANEL_MIN_ELEMENTS
            and math.prod(self.shape[:-1]) >= PANEL_MIN_ROWS
        )

    def _panel_matmul(self, right: Self) -> Self:
        # `right` copied once into panels of PANEL_COLUMNS columns, each contiguous over all its rows:
        # the kernel's tile reads one panel, row after row, instead of a short run per 4 KB page of
        # a wide matrix (which misses the TLB and fights over a few cache sets on every step).
        depth, columns = right.shape
        by_panel = right.reshape(depth, columns // PANEL_COLUMNS, PANEL_COLUMNS).permute(1, 0, 2)
        panels = by_panel._derive(by_panel.uop.contiguous())
        rows = self.shape[:-1]
        product = self.reshape((*rows, 1, depth, 1)) * panels.reshape((1,) * (len(rows) - 1) + panels.shape)
        return product.sum(-2).reshape((*rows, columns))

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
