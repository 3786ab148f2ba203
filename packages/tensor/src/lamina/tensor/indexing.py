"""Indexing and joining: `t[...]` with ints, slices of any step, None, `...` and integer tensors;
`gather`, `one_hot`, `cat`, `stack`, `split` and `chunk`.

Basic indexing is pure movement (shrink, flip, reshape), so it is free. Indexing by an integer
tensor is a one-hot comparison against the indices followed by a sum: the same fused kernel
shape as a reduction, with no data-dependent control flow. An index out of range raises IndexError
as in torch: the result is guarded by a runtime check (see lamina.uop.check) that the realize
which computes it reads, since the indices are only known when the kernels run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self, TypeVar

import numpy as np

from lamina.dtype import dtypes
from lamina.shape import broadcast_shapes, contiguous_strides, normalize_axis
from lamina.tensor.core import TensorCore
from lamina.tensor.creation import index_dtype_for
from lamina.tensor.reduce import ReduceMixin
from lamina.uop import Check, CheckKind, Ops, UOp, checked

IndexItem = int | slice | None | TensorCore | type(Ellipsis)
JoinedT = TypeVar("JoinedT", bound="IndexingMixin")


class IndexingMixin(ReduceMixin):
    """`__getitem__`, gather, one_hot and the joins."""

    __slots__ = ()

    def _arange_like(self, length: int) -> Self:
        return self._derive(UOp.arange(length, index_dtype_for(length)))

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

    def _expanded_key(self, key: Any) -> list[Any]:
        """`key` as one item per dim (ints, slices, integer tensors) plus the Nones that add dims: lists become
        index tensors, a boolean mask becomes the index tensors of its true elements, `...` becomes slices."""
        items = list(key) if isinstance(key, tuple) else [key]
        items = [self._derive(self._to_index(item).uop) if isinstance(item, list) else item for item in items]
        consumed = sum(_dims_covered(item) for item in items)
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
        expanded: list[Any] = []
        for item in items:
            dim = sum(_dims_covered(each) for each in expanded)
            if isinstance(item, TensorCore) and item.dtype.is_bool:
                covered = self.shape[dim : dim + item.ndim]
                if item.shape != covered:
                    raise IndexError(
                        f"a mask of shape {item.shape} at dim {dim} does not match {covered} of {self.shape}"
                    )
            expanded.extend(_mask_positions(item))
        return expanded

    def __getitem__(self, key: Any) -> Self:
        """torch's indexing: ints, slices of any step, None, `...`, integer tensors and lists (advanced indexing,
        range-checked when the kernels run) and boolean masks. A mask's result size depends on its values, so
        the mask is computed and read when the index is built (inside `jit`, that raises JitError)."""
        items = self._expanded_key(key)
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
                if item.dtype.is_float:
                    raise IndexError(f"tensors used as indices must be integer or bool tensors, got {item.dtype}")
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
        if len(tensor_dims) == 1:
            dim, index = tensor_dims[0]
            picked = self._take_along(dim, index)._guarded(index, "index", dim, self.shape[dim], low=-self.shape[dim])
            # A squeezed dim of self after `dim` moved by the index's dims, less `dim` itself.
            squeezed_away = {axis if axis < dim else axis - 1 + index.ndim for axis in squeezed}
            return picked.reshape(tuple(size for axis, size in enumerate(picked.shape) if axis not in squeezed_away))
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
            wrapped = typed.lt(0)._select(typed + size, typed).cast(index_dtype_for(total))
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
        for dim, index in tensor_dims:
            picked = picked._guarded(index, "index", dim, self.shape[dim], low=-self.shape[dim])
        # Dims indexed by plain ints were kept as size 1 until now; drop them.
        dropped = [
            (position if position < insert_at else position + len(index_shape))
            for position, axis in enumerate(others)
            if axis in squeezed
        ]
        return picked.reshape(tuple(size for axis, size in enumerate(picked.shape) if axis not in dropped))

    def _take_along(self, dim: int, index: TensorCore) -> Self:
        """self's slices along `dim` at the integer `index` (negative counting from the end), the index's dims in
        place of `dim`: one gather (TAKE) whose kernels read each picked slice at its address. Unchecked: callers
        guard the range."""
        size = self.shape[dim]
        typed = _index_tensor(index)
        wrapped = typed.lt(0)._select(typed + size, typed)
        others = [axis for axis in range(self.ndim) if axis != dim]
        rows = self.permute((dim, *others))
        taken = self._derive(UOp(Ops.TAKE, self.dtype, (rows.uop, wrapped.uop)), wrapped)
        # taken is (*index, *others): the others before `dim` go back in front.
        count = index.ndim
        order = (*range(count, count + dim), *range(count), *range(count + dim, taken.ndim))
        return taken.permute(order)

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
        positions = self._arange_like(length).reshape((1,) * index.ndim + (length,))
        mask = positions.expand((*index.shape, length)).eq(typed.unsqueeze(-1).expand((*index.shape, length)))
        # torch.gather takes no negative index: the valid range is [0, length).
        return mask._select(moved, 0).sum(-1).cast(self.dtype)._guarded(index, "gather", axis, length)

    def one_hot(self, num_classes: int = -1) -> Self:
        """torch's one_hot: int64 rows with a 1 at each class; a class outside [0, num_classes) raises IndexError."""
        return self.one_hot_for("one_hot", num_classes)

    def one_hot_for(self, op: str, num_classes: int = -1, dim: int | None = None) -> Self:
        """`one_hot` whose range error names `op` (and the indexed `dim`), for the ops built on it."""
        if self.dtype.is_float or self.dtype.is_bool:
            raise TypeError(f"{op} needs an integer tensor of class indices, got {self.dtype}")
        if num_classes < 0:
            num_classes = int(self.max().item()) + 1 if self.numel() else 0
        classes = self._arange_like(num_classes).reshape((1,) * self.ndim + (num_classes,))
        shape = (*self.shape, num_classes)
        hot = self.unsqueeze(-1).expand(shape).eq(classes.expand(shape)).cast(dtypes.int64)
        return hot._guarded(self, op, dim, num_classes)

    def _guarded(self, index: TensorCore, op: str, dim: int | None, size: int, low: int = 0) -> Self:
        """self, computed from the indices `index` into a dimension of `size`: IndexError unless each is in
        [low, size) — now for a dimension of size 0 (no index fits), else when the kernels run."""
        check = Check(CheckKind.INDEX, op, low, size, dim, size)
        if index.numel() == 0:
            return self
        if size == 0:
            where = f" for dimension {dim}" if dim is not None else ""
            raise IndexError(f"{op}: index is out of bounds{where} with size 0")
        return self._derive(checked(self.uop, index.uop, check))

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


def _dims_covered(item: Any) -> int:
    """How many of the tensor's dims a key item indexes: a boolean mask its rank, None and `...` none."""
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, TensorCore) and item.dtype.is_bool:
        return max(item.ndim, 1)
    return 1


def _mask_positions(item: Any) -> list[Any]:
    """A boolean mask as the index tensors of its true elements, one per dim it covers (torch's rule; the mask is
    read now: how many elements it selects decides the result's shape); any other item as it is."""
    if not (isinstance(item, TensorCore) and item.dtype.is_bool):
        return [item]
    if item.ndim == 0:
        raise IndexError("a 0-d boolean mask as an index is not supported; use where()")
    positions = np.nonzero(item.numpy())
    return [type(item)(position.astype(np.int64), device=item.device) for position in positions]


def _index_tensor(index: TensorCore) -> IndexingMixin:
    """An index tensor with the full Tensor API (every Tensor is one; a bare TensorCore is not)."""
    if not isinstance(index, IndexingMixin):
        raise TypeError(f"indices must be Tensors, got {type(index).__name__}")
    return index
