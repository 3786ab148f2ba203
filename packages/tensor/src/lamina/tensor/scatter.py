"""Writes at indices, lazily: masked_fill, take_along_dim, scatter, scatter_add, scatter_reduce, index_add,
index_copy, index_fill.

A scatter along `dim` compares each index with every position of the output's `dim` (a one-hot of the
index's shape by that dim's length, fused like gather's) and reduces the matching sources over the index's
`dim`. Nothing is written in place: the result is a new tensor (`x.scatter_(...)` style in-place spellings
assign it back). Where several indices hit one position, `scatter` takes the last of them (torch leaves the
winner unspecified); an index out of range raises IndexError when the kernels run, as gather's does.
"""

from __future__ import annotations

from typing import Final, Self, cast

from lamina.shape import normalize_axis
from lamina.tensor.core import TensorCore, scalar_full
from lamina.tensor.elementwise import Operand
from lamina.tensor.indexing import _index_tensor
from lamina.tensor.scans import highest, lowest
from lamina.tensor.structure import StructureMixin

SCATTER_REDUCTIONS: Final = ("sum", "prod", "mean", "amax", "amin")


class ScatterMixin(StructureMixin):
    """Lazy writes at index tensors."""

    __slots__ = ()

    def masked_fill(self, mask: TensorCore, value: Operand) -> Self:
        """`value` where `mask` holds, self elsewhere, in self's dtype (torch.masked_fill)."""
        if not mask.dtype.is_bool:
            raise TypeError(f"masked_fill needs a bool mask, got {mask.dtype}")
        filled = mask._select(value, self).cast(self.dtype)  # type: ignore[attr-defined]
        if filled.shape != self.shape:
            raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to {self.shape}")
        return filled  # type: ignore[no-any-return]

    def take_along_dim(self, indices: TensorCore, dim: int | None = None) -> Self:
        """Values at `indices` along `dim` (all flattened without), the indices broadcast against self."""
        if dim is None:
            return self.flatten().gather(0, _index_tensor(indices).flatten())
        axis = normalize_axis(dim, self.ndim)
        index = _index_tensor(indices)
        if index.ndim != self.ndim:
            raise ValueError(f"take_along_dim: indices of shape {index.shape} need as many dims as {self.shape}")
        shape = tuple(size if other == axis else max(size, index.shape[other]) for other, size in enumerate(self.shape))
        source = self.expand(tuple(self.shape[axis] if other == axis else s for other, s in enumerate(shape)))
        wanted = index.expand(tuple(index.shape[axis] if other == axis else s for other, s in enumerate(shape)))
        return source.gather(axis, wanted)

    def _scattered(self, dim: int, index: TensorCore, source: Self, reduce: str) -> tuple[Self, Self]:
        """For each output position: the matching sources reduced by `reduce` ('sum', 'prod', 'amax', 'amin',
        'last', 'count'), and whether any index hit it; positions outside the index's extent get zero."""
        axis = normalize_axis(dim, self.ndim)
        typed = cast(Self, _index_tensor(index))
        if typed.ndim != self.ndim or source.ndim != self.ndim:
            raise ValueError(
                f"scatter: index {typed.shape} and source {source.shape} need as many dims as self {self.shape}"
            )
        for other, size in enumerate(typed.shape):
            if size > source.shape[other] or (other != axis and size > self.shape[other]):
                raise ValueError(
                    f"scatter: index of shape {typed.shape} exceeds source {source.shape} or self {self.shape}"
                )
        if typed.dtype.is_float or typed.dtype.is_bool:
            raise TypeError(f"scatter needs integer indices, got {typed.dtype}")
        length = self.shape[axis]
        region = source.shrink([(0, size) for size in typed.shape])
        shape = (*typed.shape, length)
        slots = self._arange_like(length).reshape((1,) * typed.ndim + (length,)).expand(shape)
        match = typed.unsqueeze(-1).expand(shape).eq(slots)
        values = region.unsqueeze(-1).expand(shape)
        hits = match.any(axis, keepdim=True)
        if reduce == "sum":
            combined = match._select(values, 0).sum(axis, keepdim=True).cast(self.dtype)
        elif reduce == "count":
            combined = match.sum(axis, keepdim=True)
        elif reduce == "prod":
            combined = match._select(values, 1).prod(axis, keepdim=True).cast(self.dtype)
        elif reduce == "amax":
            combined = match._select(values, lowest(self.dtype)).amax(axis, keepdim=True)
        elif reduce == "amin":
            combined = match._select(values, highest(self.dtype)).amin(axis, keepdim=True)
        else:  # the last index that hits each position
            order = region._index_along(axis, typed.shape[axis]).unsqueeze(-1).expand(shape)
            last = match._select(order, -1).amax(axis, keepdim=True)
            winner = match.logical_and(order.eq(last.expand(shape)))
            combined = winner._select(values, 0).sum(axis, keepdim=True).cast(self.dtype)
        # (..., 1 at axis, ..., length) -> the output's layout, padded to self's extent in the other dims.
        placed = [part.squeeze(axis).movedim(-1, axis) for part in (combined, hits)]
        padding = tuple(
            (0, self.shape[other] - typed.shape[other]) if other != axis else (0, 0) for other in range(self.ndim)
        )
        guarded = placed[0]._guarded(typed, "scatter", axis, length)
        return guarded.pad(padding, value=0), placed[1].pad(padding, value=False)

    def scatter(
        self,
        dim: int,
        index: TensorCore,
        src: TensorCore | float | int | None = None,
        *,
        value: float | int | None = None,
        reduce: str | None = None,
    ) -> Self:
        """self with `src` (or `value`) written at `index` along `dim` (torch.scatter); `reduce` 'add' or
        'multiply' combines instead (torch's older spelling of scatter_reduce)."""
        source = self._scatter_source(index, value if src is None else src)
        if reduce is not None:
            names = {"add": "sum", "multiply": "prod"}
            if reduce not in names:
                raise ValueError(f"scatter's reduce must be 'add' or 'multiply', got {reduce!r}")
            return self.scatter_reduce(dim, index, source, names[reduce])
        written, hits = self._scattered(dim, index, source, "last")
        return hits._select(written, self)

    def _scatter_source(self, index: TensorCore, src: TensorCore | float | int | None) -> Self:
        if src is None:
            raise TypeError("scatter needs src or value")
        if isinstance(src, TensorCore):
            return src.cast(self.dtype)  # type: ignore[attr-defined, no-any-return]
        return self._derive(scalar_full(tuple(index.shape), self.dtype, src))

    def scatter_add(self, dim: int, index: TensorCore, src: TensorCore) -> Self:
        return self.scatter_reduce(dim, index, src, "sum")

    def scatter_reduce(
        self, dim: int, index: TensorCore, src: TensorCore, reduce: str, *, include_self: bool = True
    ) -> Self:
        """self with the sources at each index combined by `reduce` ('sum', 'prod', 'mean', 'amax', 'amin'),
        self's own value included unless `include_self` is False (torch.scatter_reduce)."""
        if reduce not in SCATTER_REDUCTIONS:
            raise ValueError(f"scatter_reduce's reduce must be one of {SCATTER_REDUCTIONS}, got {reduce!r}")
        source = src.cast(self.dtype)  # type: ignore[attr-defined]
        if reduce == "mean":
            total, hits = self._scattered(dim, index, source, "sum")
            count, _ = self._scattered(dim, index, source, "count")
            own = self if include_self else self.zeros_like()
            counted = count + (1 if include_self else 0)
            # Integers divide rounding down, as torch's integer mean does.
            rounding = None if self.dtype.is_float else "floor"
            mean = (total + own).div(counted.maximum(1), rounding_mode=rounding).cast(self.dtype)
            return hits._select(mean, self)
        combined, hits = self._scattered(dim, index, source, reduce)
        if not include_self:
            return hits._select(combined, self)
        if reduce == "sum":
            merged = self + combined
        elif reduce == "prod":
            merged = self * combined
        elif reduce == "amax":
            merged = self.maximum(combined)
        else:
            merged = self.minimum(combined)
        return hits._select(merged, self)

    def _along_index(self, dim: int, index: TensorCore, source: TensorCore) -> tuple[int, Self]:
        """A 1-D `index` along `dim` as a full index tensor of `source`'s shape (index_add and its kin)."""
        axis = normalize_axis(dim, max(self.ndim, 1))
        if index.ndim != 1:
            raise ValueError(f"the index along dim {dim} must be 1-D, got shape {index.shape}")
        if source.ndim != self.ndim or source.shape[axis] != index.shape[0]:
            raise ValueError(
                f"source of shape {source.shape} needs {index.shape[0]} entries along dim {dim} of {self.shape}"
            )
        shape = tuple(1 if other != axis else index.shape[0] for other in range(self.ndim))
        return axis, cast(Self, _index_tensor(index)).reshape(shape).expand(source.shape)

    def index_add(self, dim: int, index: TensorCore, source: TensorCore, *, alpha: float | int = 1) -> Self:
        axis, full = self._along_index(dim, index, source)
        scaled = cast(Self, source) if alpha == 1 else cast(Self, source) * alpha
        return self.scatter_reduce(axis, full, scaled, "sum")

    def index_copy(self, dim: int, index: TensorCore, source: TensorCore) -> Self:
        axis, full = self._along_index(dim, index, source)
        return self.scatter(axis, full, source)

    def index_fill(self, dim: int, index: TensorCore, value: float | int) -> Self:
        axis = normalize_axis(dim, max(self.ndim, 1))
        shape = tuple(index.shape[0] if other == axis else size for other, size in enumerate(self.shape))
        return self.index_copy(axis, index, self._derive(scalar_full(shape, self.dtype, value)))
