"""Indexing and joining: `t[...]` with ints, slices of any step, None, `...` and integer tensors;
`gather`, `one_hot`, `cat`, `stack`, `split` and `chunk`.

Basic indexing is pure movement (shrink, flip, reshape), so it is free. Indexing by an integer
tensor is a one-hot comparison against the indices followed by a sum: the same fused kernel
shape as a reduction, with no data-dependent control flow. Indices out of range select nothing
(the result is zero there) since they are only known when the kernel runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self, TypeVar

from lamina.dtype import dtypes
from lamina.shape import broadcast_shapes, contiguous_strides, normalize_axis
from lamina.tensor.core import TensorCore
from lamina.tensor.creation import arange_uop
from lamina.tensor.reduce import ReduceMixin

IndexItem = int | slice | None | TensorCore | type(Ellipsis)
JoinedT = TypeVar("JoinedT", bound="IndexingMixin")


class IndexingMixin(ReduceMixin):
    """`__getitem__`, gather, one_hot and the joins."""

    __slots__ = ()

    def _arange_like(self, length: int) -> Self:
        return self._derive(arange_uop(length, dtypes.int32))

    def _slice(self, dim: int, item: slice) -> Self:
        size = self.shape[dim]
        start, stop, step = item.indices(size)
        count = len(range(start, stop, step))
        view = self
        if step < 0:
            view = view.flip(dim)
            start, step = size - 1 - start, -step
        end = start + count * step
        bounds: list[tuple[int, int] | None] = [None] * self.ndim
        if step == 1 or count == 0:
            bounds[dim] = (start, start + count) if step == 1 else (0, 0)
            return view.shrink(bounds)
        # Every step-th element: a window of count*step (padded past the end), folded into (count, step), column 0.
        overhang = max(end - size, 0)
        padding = [(0, 0)] * self.ndim
        padding[dim] = (0, overhang)
        padded = view.pad(tuple(padding)) if overhang else view
        bounds[dim] = (start, end)
        window = padded.shrink(bounds)
        folded = window.reshape((*window.shape[:dim], count, step, *window.shape[dim + 1 :]))
        keep: list[tuple[int, int] | None] = [None] * folded.ndim
        keep[dim + 1] = (0, 1)
        return folded.shrink(keep).squeeze(dim + 1)

    def __getitem__(self, key: Any) -> Self:
        items = list(key) if isinstance(key, tuple) else [key]
        items = [self._derive(self._to_index(item).uop) if isinstance(item, list) else item for item in items]
        consumed = sum(1 for item in items if item is not None and item is not Ellipsis)
        if consumed > self.ndim:
            raise IndexError(f"too many indices ({consumed}) for a tensor of shape {self.shape}")
        if sum(1 for item in items if item is Ellipsis) > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        ellipsis_at = [position for position, item in enumerate(items) if item is Ellipsis]
        if ellipsis_at:
            at = ellipsis_at[0]
            items[at : at + 1] = [slice(None)] * (self.ndim - consumed)
        else:
            items += [slice(None)] * (self.ndim - consumed)
        result, dim, squeezed = self, 0, []
        tensor_dims: list[tuple[int, TensorCore]] = []
        for item in items:
            if item is None:
                result = result.unsqueeze(dim)
                dim += 1
            elif isinstance(item, bool):
                raise TypeError("boolean scalars as indices are not supported")
            elif isinstance(item, int):
                size = result.shape[dim]
                if not -size <= item < size:
                    raise IndexError(f"index {item} is out of bounds for dim {dim} of size {size} (shape {self.shape})")
                position = item % size
                bounds: list[tuple[int, int] | None] = [None] * result.ndim
                bounds[dim] = (position, position + 1)
                result = result.shrink(bounds)
                squeezed.append(dim)
                dim += 1
            elif isinstance(item, slice):
                result = result._slice(dim, item)
                dim += 1
            elif isinstance(item, TensorCore):
                if item.dtype.is_float or item.dtype.is_bool:
                    raise IndexError(f"tensors used as indices must be integer tensors, got {item.dtype}")
                tensor_dims.append((dim, item))
                dim += 1
            else:
                raise TypeError(f"unsupported index {item!r}")
        if tensor_dims:
            result = result._take(tensor_dims, squeezed)
            return result
        return result.reshape(tuple(size for axis, size in enumerate(result.shape) if axis not in squeezed))

    def _to_index(self, values: Sequence[int]) -> Self:
        return type(self)(list(values), dtype=dtypes.int32, device=self.device)

    def _take(self, tensor_dims: list[tuple[int, TensorCore]], squeezed: list[int]) -> Self:
        """Advanced indexing by integer tensors at `tensor_dims` (broadcast together, like numpy)."""
        dims = [dim for dim, _ in tensor_dims]
        index_shape = broadcast_shapes(*(index.shape for _, index in tensor_dims))
        others = [axis for axis in range(self.ndim) if axis not in dims]
        indexed_sizes = [self.shape[dim] for dim in dims]
        total = 1
        for size in indexed_sizes:
            total *= size
        flat: IndexingMixin | None = None
        for (dim, index), stride in zip(tensor_dims, contiguous_strides(tuple(indexed_sizes)), strict=True):
            size = self.shape[dim]
            typed = _index_tensor(index)
            wrapped = typed.lt(0)._select(typed + size, typed).cast(dtypes.int32)
            term = wrapped.expand(index_shape) * stride
            flat = term if flat is None else flat + term
        assert flat is not None
        # Index tensors side by side keep their place (numpy's and torch's rule); a dim an int selects away does not
        # separate them (torch treats such an int as a select: x[None, i, 2, i] keeps i's dims in place).
        adjacent = all(axis in dims or axis in squeezed for axis in range(dims[0], dims[-1] + 1))
        insert_at = sum(1 for axis in others if axis < dims[0]) if adjacent else 0
        pre = [self.shape[axis] for axis in others[:insert_at]]
        post = [self.shape[axis] for axis in others[insert_at:]]
        moved = self.permute((*others, *dims)).reshape((*pre, *post, total))
        values = moved.reshape((*pre, *(1,) * len(index_shape), *post, total))
        positions = self._arange_like(total).reshape((1,) * (len(pre) + len(index_shape) + len(post)) + (total,))
        chosen = flat.reshape((*(1,) * len(pre), *index_shape, *(1,) * len(post), 1))
        shape = (*pre, *index_shape, *post, total)
        mask = positions.expand(shape).eq(chosen.expand(shape))
        picked = mask._select(values.expand(shape), 0).sum(-1).cast(self.dtype)
        # Dims indexed by plain ints were kept as size 1 until now; drop them.
        dropped = [
            (position if position < insert_at else position + len(index_shape))
            for position, axis in enumerate(others)
            if axis in squeezed
        ]
        return picked.reshape(tuple(size for axis, size in enumerate(picked.shape) if axis not in dropped))

    def gather(self, dim: int, index: TensorCore) -> Self:
        """out[..., j, ...] = self[..., index[..., j, ...], ...] along `dim` (torch.gather)."""
        axis = normalize_axis(dim, self.ndim)
        if index.ndim != self.ndim:
            raise ValueError(f"gather: index of shape {index.shape} needs as many dims as {self.shape}")
        for other, (wanted, available) in enumerate(zip(index.shape, self.shape, strict=True)):
            if other != axis and wanted > available:
                raise ValueError(f"gather: index shape {index.shape} exceeds {self.shape} in dim {other}")
        length = self.shape[axis]
        bounds = [None if other == axis else (0, index.shape[other]) for other in range(self.ndim)]
        source = self.shrink(bounds)
        order = [other for other in range(self.ndim) if other != axis] + [axis]
        moved = source.permute(order).unsqueeze(axis).expand((*index.shape, length))
        typed = _index_tensor(index)
        wrapped = typed.lt(0)._select(typed + length, typed)
        positions = self._arange_like(length).reshape((1,) * index.ndim + (length,))
        mask = positions.expand((*index.shape, length)).eq(wrapped.unsqueeze(-1).expand((*index.shape, length)))
        return mask._select(moved, 0).sum(-1).cast(self.dtype)

    def one_hot(self, num_classes: int = -1) -> Self:
        if self.dtype.is_float or self.dtype.is_bool:
            raise TypeError(f"one_hot needs an integer tensor, got {self.dtype}")
        if num_classes < 0:
            num_classes = int(self.max().item()) + 1 if self.numel() else 0
        classes = self._arange_like(num_classes).reshape((1,) * self.ndim + (num_classes,))
        shape = (*self.shape, num_classes)
        return self.unsqueeze(-1).expand(shape).eq(classes.expand(shape)).cast(dtypes.int64)

    def cat(self: JoinedT | Sequence[JoinedT], *others: JoinedT | int, dim: int = 0) -> JoinedT:
        """Join along an existing dim: `Tensor.cat([a, b], dim)` as torch.cat, or `a.cat(b, dim=dim)`.

        Each part is padded into place and the parts are added (one fused kernel reads them all).
        """
        parts, axis_arg = _join_arguments("cat", self, others, dim)
        first = parts[0]
        axis = normalize_axis(axis_arg, first.ndim)
        for part in parts[1:]:
            if part.ndim != first.ndim or any(
                a != b for position, (a, b) in enumerate(zip(part.shape, first.shape, strict=True)) if position != axis
            ):
                raise ValueError(f"cat: shapes {first.shape} and {part.shape} differ outside dim {axis}")
        total = sum(part.shape[axis] for part in parts)
        result: JoinedT | None = None
        offset = 0
        for part in parts:
            padding = [(0, 0)] * first.ndim
            padding[axis] = (offset, total - offset - part.shape[axis])
            placed = part.pad(tuple(padding))
            result = placed if result is None else result + placed
            offset += part.shape[axis]
        assert result is not None
        return result

    def stack(self: JoinedT | Sequence[JoinedT], *others: JoinedT | int, dim: int = 0) -> JoinedT:
        """Join along a new dim: `Tensor.stack([a, b], dim)` as torch.stack, or `a.stack(b, dim=dim)`."""
        parts, axis_arg = _join_arguments("stack", self, others, dim)
        axis = normalize_axis(axis_arg, parts[0].ndim + 1)
        for other in parts[1:]:
            if other.shape != parts[0].shape:
                raise ValueError(f"stack needs tensors of one shape, got {parts[0].shape} and {other.shape}")
        lifted = [part.unsqueeze(axis) for part in parts]
        return lifted[0].cat(*lifted[1:], dim=axis)

    def split(self, sizes: int | Sequence[int], dim: int = 0) -> list[Self]:
        axis = normalize_axis(dim, self.ndim)
        length = self.shape[axis]
        if isinstance(sizes, int):
            if sizes <= 0:
                raise ValueError(f"split size must be positive, got {sizes}")
            sizes = [min(sizes, length - start) for start in range(0, length, sizes)] or [0]
        if sum(sizes) != length:
            raise ValueError(f"split sizes {list(sizes)} do not add up to {length} (dim {axis} of {self.shape})")
        pieces: list[Self] = []
        start = 0
        for size in sizes:
            bounds: list[tuple[int, int] | None] = [None] * self.ndim
            bounds[axis] = (start, start + size)
            pieces.append(self.shrink(bounds))
            start += size
        return pieces

    def chunk(self, chunks: int, dim: int = 0) -> list[Self]:
        if chunks <= 0:
            raise ValueError(f"chunk count must be positive, got {chunks}")
        length = self.shape[normalize_axis(dim, self.ndim)]
        return self.split(max(-(-length // chunks), 1), dim)


def _join_arguments(
    name: str, first: JoinedT | Sequence[JoinedT], others: tuple[JoinedT | int, ...], dim: int
) -> tuple[list[JoinedT], int]:
    """The tensors and the dim of a cat or stack, called on a tensor (`a.cat(b, c)`) or on a list or tuple of
    them (`Tensor.cat([a, b], 1)`, torch's form, whose dim may come positionally)."""
    if isinstance(first, IndexingMixin):
        items: list[object] = [first, *others]
    elif isinstance(first, (list, tuple)):
        items = list(first)
        if len(others) == 1 and isinstance(others[0], int) and not isinstance(others[0], bool):
            dim = others[0]
        elif others:
            raise TypeError(f"{name}([tensors], dim): after the list only the dim may follow, got {others!r}")
    else:
        raise TypeError(f"{name} takes tensors or a list or tuple of them, got {type(first).__name__}")
    if not items:
        raise ValueError(f"{name} needs at least one tensor")
    parts = [item for item in items if isinstance(item, IndexingMixin)]
    if len(parts) != len(items):
        bad = next(item for item in items if not isinstance(item, IndexingMixin))
        raise TypeError(f"{name} joins Tensors, got a {type(bad).__name__}")
    return parts, dim  # type: ignore[return-value]


def _index_tensor(index: TensorCore) -> IndexingMixin:
    """An index tensor with the full Tensor API (every Tensor is one; a bare TensorCore is not)."""
    if not isinstance(index, IndexingMixin):
        raise TypeError(f"indices must be Tensors, got {type(index).__name__}")
    return index
