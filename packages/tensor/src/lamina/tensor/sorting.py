"""Sorting and selection: sort, argsort, msort, topk, kthvalue, median, searchsorted, bucketize, and the ops
whose result size depends on the data (nonzero, masked_select, unique).

A sort finds its indices first and gathers the values there, so the gradient goes back to the elements
that were moved. Up to SORT_ON_DEVICE elements along the dim, the indices come from ranks, in one fused
kernel: element i's rank counts the elements before it in the order (smaller, or equal at a smaller index:
a stable sort; NaN sorts as the largest, as in torch), and position r takes the element ranked r. That is
O(n^2) work per row; longer rows are sorted on the host (numpy's stable argsort of the realized input).
The data-dependent ops realize their input to learn their result's size, as they must.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple, Self, overload

import numpy as np

from lamina.dtype import dtypes
from lamina.shape import normalize_axis
from lamina.tensor.core import TensorCore
from lamina.tensor.reduce import ValuesIndices
from lamina.tensor.scans import ScanMixin

SORT_ON_DEVICE: Final = 2048
"""The longest row sorted by ranks on the device (4M comparisons a row); longer ones sort on the host."""


class Unique(NamedTuple):
    """unique's optional results, as torch returns them when asked: the values, then inverse, then counts."""

    values: TensorCore
    inverse: TensorCore | None
    counts: TensorCore | None


class SortingMixin(ScanMixin):
    """Sorting, selection and the data-dependent ops."""

    __slots__ = ()

    def _sort_indices(self, dim: int, descending: bool) -> Self:
        """The int64 indices that sort self along `dim` stably (NaN the largest)."""
        length = self.shape[dim]
        source = self.detach()
        if source.dtype.is_bool:
            source = source.cast(dtypes.int8)
        if length > SORT_ON_DEVICE:
            values = np.moveaxis(source.numpy(), dim, -1)
            if descending:  # stable descending: sort the reversed row ascending, then reverse the result
                order = length - 1 - np.flip(np.argsort(np.flip(values, -1), axis=-1, kind="stable"), -1)
            else:
                order = np.argsort(values, axis=-1, kind="stable")
            return self._derive_constant(np.ascontiguousarray(np.moveaxis(order, -1, dim)).astype(np.int64))
        moved = source.transpose(dim, -1)
        shape = (*moved.shape, length)
        mine = moved.unsqueeze(-1).expand(shape)  # [..., i, j] = x[i]
        other = moved.unsqueeze(-2).expand(shape)  # [..., i, j] = x[j]
        before = other.gt(mine) if descending else other.lt(mine)
        if source.dtype.is_float:
            larger_nan = other.isnan().logical_and(mine.isnan().logical_not())
            smaller_than_nan = mine.isnan().logical_and(other.isnan().logical_not())
            before = before.logical_or(larger_nan if descending else smaller_than_nan)
            tie = other.eq(mine).logical_or(other.isnan().logical_and(mine.isnan()))
        else:
            tie = other.eq(mine)
        i = moved._index_along(moved.ndim - 1, length).unsqueeze(-1).expand(shape)
        j = moved._index_along(moved.ndim - 1, length).unsqueeze(-2).expand(shape)
        rank = before.logical_or(tie.logical_and(j.lt(i))).sum(-1)  # (..., i)
        # Position r takes the i ranked r: [..., r, i] = (rank[i] == r).
        placed = rank.unsqueeze(-2).expand(shape).eq(i)
        indices = placed._select(j, 0).sum(-1)
        return indices.cast(dtypes.int64).transpose(dim, -1)

    def _derive_constant(self, values: np.ndarray) -> Self:
        return type(self)(values, device=self.device)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> ValuesIndices[Self]:
        """The values along `dim` in order, and where each came from (torch.sort; always stable)."""
        if self.ndim == 0:
            normalize_axis(dim, 1)
            return ValuesIndices(self, self.zeros_like(dtypes.int64))
        along = normalize_axis(dim, self.ndim)
        indices = self._sort_indices(along, descending)
        return ValuesIndices(self.gather(along, indices), indices)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Self:
        return self.sort(dim, descending, stable).indices

    def msort(self) -> Self:
        return self.sort(0).values

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices[Self]:
        """The k largest (or smallest) values along `dim`, in order, and their indices (torch.topk)."""
        along = normalize_axis(dim, max(self.ndim, 1))
        length = self.shape[along] if self.ndim else 1
        if not 0 <= k <= length:
            raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {length} (shape {self.shape})")
        if self.ndim == 0:
            return ValuesIndices(self, self.zeros_like(dtypes.int64))
        order = self._sort_indices(along, descending=largest)
        bounds = [None if other != along else (0, k) for other in range(self.ndim)]
        indices = order.shrink(bounds)
        return ValuesIndices(self.gather(along, indices), indices)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices[Self]:
        """The k-th smallest value along `dim` (k from 1) and its index (torch.kthvalue)."""
        along = normalize_axis(dim, max(self.ndim, 1))
        length = self.shape[along] if self.ndim else 1
        if not 1 <= k <= length:
            raise ValueError(f"kthvalue: k={k} is out of range for dim {dim} of size {length} (shape {self.shape})")
        return self._select_rank(along, k - 1, keepdim)

    def _select_rank(self, along: int, position: int, keepdim: bool) -> ValuesIndices[Self]:
        if self.ndim == 0:
            return ValuesIndices(self, self.zeros_like(dtypes.int64))
        order = self._sort_indices(along, descending=False)
        bounds = [None if other != along else (position, position + 1) for other in range(self.ndim)]
        indices = order.shrink(bounds)
        values = self.gather(along, indices)
        if not keepdim:
            values, indices = values.squeeze(along), indices.squeeze(along)
        return ValuesIndices(values, indices)

    @overload
    def median(self) -> Self: ...
    @overload
    def median(self, dim: int, keepdim: bool = False) -> ValuesIndices[Self]: ...

    def median(self, dim: int | None = None, keepdim: bool = False) -> Self | ValuesIndices[Self]:
        """The lower median (torch.median): of every element without `dim`; along `dim`, values and indices.
        A NaN makes the median NaN (its index the first NaN's)."""
        if dim is None:
            flat = self.flatten()
            if flat.numel() == 0:
                return flat.sum() * float("nan") if flat.dtype.is_float else flat.sum()
            median = flat._median_along(0, False).values
            if not flat.dtype.is_float:
                return median
            # torch shares the gradient of a median of every element among the elements equal to it (along a dim,
            # it goes to the index returned): the max of those elements alone has that value and that gradient.
            equal = flat.eq(median.detach()).logical_or(flat.isnan())
            return equal._select(flat, float("-inf")).amax()
        return self._median_along(normalize_axis(dim, max(self.ndim, 1)), keepdim)

    def _median_along(self, along: int, keepdim: bool) -> ValuesIndices[Self]:
        length = self.shape[along] if self.ndim else 1
        if length == 0:
            raise ValueError(f"median of an empty dim: shape {self.shape}, dim {along}")
        result = self._select_rank(along, (length - 1) // 2, keepdim)
        if not self.dtype.is_float or self.ndim == 0:
            return result
        nans = self.isnan()
        has_nan = nans.any(along, keepdim=keepdim)
        first_nan = nans.argmax(along, keepdim=keepdim)
        values = has_nan._select(float("nan"), result.values)
        return ValuesIndices(values, has_nan._select(first_nan, result.indices))

    # -- searching --

    def searchsorted(self, values: TensorCore | float, *, right: bool = False, side: str | None = None) -> Self:
        """For each of `values`, the index where it would be inserted into self's sorted last dim (torch's
        searchsorted(self, values)): the count of elements below it (`right`: at or below)."""
        after = right if side is None else side == "right"
        if side not in (None, "left", "right"):
            raise ValueError(f"searchsorted's side must be 'left' or 'right', got {side!r}")
        probe = values if isinstance(values, TensorCore) else self._as_tensor(values)
        if self.ndim > 1 and probe.shape[:-1] != self.shape[:-1]:
            raise ValueError(
                f"searchsorted: sorted_sequence {self.shape} and values {probe.shape} differ in their leading dims"
            )
        sequence = self.unsqueeze(-2) if self.ndim > 1 else self
        probes = probe.unsqueeze(-1)  # type: ignore[attr-defined]
        below = sequence.le(probes) if after else sequence.lt(probes)
        return below.sum(-1).cast(dtypes.int64)

    def bucketize(self, boundaries: TensorCore, *, right: bool = False) -> Self:
        """The bucket of each element among 1-D `boundaries` (torch.bucketize: right=False counts the boundaries
        strictly below the element)."""
        if boundaries.ndim != 1:
            raise ValueError(f"bucketize needs 1-D boundaries, got shape {boundaries.shape}")
        return boundaries.searchsorted(self, right=right)  # type: ignore[attr-defined, no-any-return]

    # -- sizes that depend on the data (these realize their input) --

    @overload
    def nonzero(self, as_tuple: Literal[False] = False) -> Self: ...
    @overload
    def nonzero(self, as_tuple: Literal[True]) -> tuple[Self, ...]: ...

    def nonzero(self, as_tuple: bool = False) -> Self | tuple[Self, ...]:
        """The indices of the nonzero elements, (count, ndim) int64 (torch.nonzero). Realizes self."""
        found = np.nonzero(self.numpy())
        if as_tuple:
            return tuple(self._derive_constant(axis.astype(np.int64)) for axis in found)
        return self._derive_constant(np.stack(found, axis=-1).astype(np.int64).reshape(-1, self.ndim))

    def argwhere(self) -> Self:
        return self.nonzero()

    def masked_select(self, mask: TensorCore) -> Self:
        """The elements where `mask` holds, as a 1-D tensor (torch.masked_select). Realizes the mask; the
        values are gathered lazily, so the gradient reaches self."""
        if not mask.dtype.is_bool:
            raise TypeError(f"masked_select needs a bool mask, got {mask.dtype}")
        shape = np.broadcast_shapes(self.shape, mask.shape)
        chosen = np.flatnonzero(np.broadcast_to(mask.numpy(), shape)).astype(np.int64)
        flat = self.expand(shape).flatten() if self.shape != shape else self.flatten()
        return flat.gather(0, self._derive_constant(chosen))

    @overload
    def unique(
        self,
        sorted: bool = True,
        return_inverse: Literal[False] = False,
        return_counts: Literal[False] = False,
        dim: int | None = None,
    ) -> Self: ...
    @overload
    def unique(
        self,
        sorted: bool = True,
        *,
        return_inverse: Literal[True],
        return_counts: bool = False,
        dim: int | None = None,
    ) -> tuple[Self, ...]: ...
    @overload
    def unique(
        self,
        sorted: bool = True,
        return_inverse: bool = False,
        *,
        return_counts: Literal[True],
        dim: int | None = None,
    ) -> tuple[Self, ...]: ...

    def unique(
        self,
        sorted: bool = True,
        return_inverse: bool = False,
        return_counts: bool = False,
        dim: int | None = None,
    ) -> Self | tuple[Self, ...]:
        """The distinct values, sorted (torch.unique; with `dim`, the distinct slices). Realizes self."""
        values = self.numpy()
        if dim is None:
            found, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
            inverse = inverse.reshape(values.shape)
        else:
            axis = normalize_axis(dim, self.ndim)
            found, inverse, counts = np.unique(values, return_inverse=True, return_counts=True, axis=axis)
        results: list[Self] = [self._derive_constant(found.astype(values.dtype))]
        if return_inverse:
            results.append(self._derive_constant(np.asarray(inverse).astype(np.int64)))
        if return_counts:
            results.append(self._derive_constant(counts.astype(np.int64)))
        return results[0] if len(results) == 1 else tuple(results)
