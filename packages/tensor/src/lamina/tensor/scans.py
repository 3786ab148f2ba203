"""Scans along a dim: cumsum, cumprod, cummax, cummin, logcumsumexp.

Each is the reduction of a prefix: element i of the result reduces the elements j <= i, written as the
input broadcast to (..., i, j) with the j > i half masked out, then reduced over j. That is O(n^2) work per
row, but one fused kernel with no data-dependent control flow, and each scan's gradient is its reduction's.
cummax and cummin find their indices first and take the values there, so the gradient goes to that one
element, as torch's does.
"""

from __future__ import annotations

import math
from typing import Self

from lamina.dtype import DType, dtypes
from lamina.shape import normalize_axis
from lamina.tensor.indexing import IndexingMixin
from lamina.tensor.reduce import ValuesIndices, resolve_dim
from lamina.uop import ConstValue


def lowest(dtype: DType) -> ConstValue:
    """The value below every other of `dtype` (what a masked-out element of a max is)."""
    if dtype.is_float:
        return -math.inf
    if dtype.is_bool:
        return False
    return 0 if dtype.is_unsigned else -(1 << (dtype.bits - 1))


def highest(dtype: DType) -> ConstValue:
    if dtype.is_float:
        return math.inf
    if dtype.is_bool:
        return True
    return (1 << dtype.bits) - 1 if dtype.is_unsigned else (1 << (dtype.bits - 1)) - 1


class ScanMixin(IndexingMixin):
    """Running reductions along a dim."""

    __slots__ = ()

    def _prefixes(self, dim: int) -> tuple[Self, Self, Self, Self]:
        """self along `dim` (moved last) broadcast to (..., i, j), the mask j <= i, and i and j as index tensors."""
        moved = self.transpose(dim, -1)
        length = moved.shape[-1]
        expanded = moved.unsqueeze(-2).expand((*moved.shape[:-1], length, length))
        rows = moved._index_along(moved.ndim - 1, length).unsqueeze(-1).expand(expanded.shape)
        columns = moved._index_along(moved.ndim - 1, length).unsqueeze(-2).expand(expanded.shape)
        return expanded, columns.le(rows), rows, columns

    def _scan_dim(self, dim: int | None, axis: int | None) -> int:
        chosen = resolve_dim(dim if axis is None else None, axis)
        if not isinstance(chosen, int):
            raise TypeError(f"a scan runs along one int dim, got {chosen!r}")
        return normalize_axis(chosen, self.ndim)

    def cumsum(self, dim: int = 0, *, dtype: DType | None = None, axis: int | None = None) -> Self:
        """Running sums along `dim` (integers and bools in int64, as torch; `dtype` casts the input first)."""
        source = self if dtype is None else self.cast(dtype)
        if source.ndim == 0:
            return source._accumulating()
        along = source._scan_dim(dim, axis)
        windows, inside, _, _ = source._accumulating()._prefixes(along)
        return inside._select(windows, 0).sum(-1).transpose(along, -1)

    def cumprod(self, dim: int = 0, *, dtype: DType | None = None, axis: int | None = None) -> Self:
        """Running products along `dim` (integers and bools in int64, as torch)."""
        source = self if dtype is None else self.cast(dtype)
        if source.ndim == 0:
            return source._accumulating()
        along = source._scan_dim(dim, axis)
        windows, inside, _, _ = source._accumulating()._prefixes(along)
        return inside._select(windows, 1).prod(-1).transpose(along, -1)

    def logcumsumexp(self, dim: int = 0, *, axis: int | None = None) -> Self:
        """log(cumsum(exp(x))) along `dim`, without overflow (each prefix's logsumexp)."""
        source = self._floating()
        if source.ndim == 0:
            return source
        along = source._scan_dim(dim, axis)
        windows, inside, _, _ = source._prefixes(along)
        return inside._select(windows, -math.inf).logsumexp(-1).transpose(along, -1)

    def cummax(self, dim: int, *, axis: int | None = None) -> ValuesIndices[Self]:
        """The running maximum along `dim` and where it is: the last index holding it (the first NaN, once one is
        seen), as torch's cummax."""
        return self._running_extreme(dim, axis, largest=True)

    def cummin(self, dim: int, *, axis: int | None = None) -> ValuesIndices[Self]:
        return self._running_extreme(dim, axis, largest=False)

    def _running_extreme(self, dim: int, axis: int | None, largest: bool) -> ValuesIndices[Self]:
        if self.ndim == 0:
            self._scan_dim(dim, axis)
            return ValuesIndices(self, self.zeros_like(dtypes.int64))
        along = self._scan_dim(dim, axis)
        windows, inside, _, columns = self.detach()._prefixes(along)
        if largest:
            extreme = inside._select(windows, lowest(self.dtype)).amax(-1, keepdim=True)
        else:
            extreme = inside._select(windows, highest(self.dtype)).amin(-1, keepdim=True)
        holders = inside.logical_and(windows.eq(extreme.expand(windows.shape)))
        last = holders._select(columns, -1).amax(-1)
        if self.dtype.is_float:
            length = windows.shape[-1]
            first_nan = length - inside.logical_and(windows.isnan())._select(length - columns, 0).amax(-1)
            last = extreme.squeeze(-1).isnan()._select(first_nan, last)
        indices = last.cast(dtypes.int64).transpose(along, -1)
        return ValuesIndices(self.gather(along, indices), indices)
