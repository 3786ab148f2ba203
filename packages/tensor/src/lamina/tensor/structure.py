"""Structure: triangles and diagonals, rolls, rotations, narrowing and moving dims, splits by sections,
repeat_interleave, unfold (sliding windows), and the small products (outer, cross, kron, bmm, addmm).

All are movement ops, masks and existing reductions, so they fuse into the kernels around them and
differentiate for free. A diagonal is a strided view of the flattened matrix (every n+1-th element); a
window of unfold is one strided view per position in the window, stacked.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Self

import numpy as np

from lamina.shape import normalize_axis
from lamina.tensor.core import TensorCore
from lamina.tensor.sorting import SortingMixin


def _dims(value: int | Sequence[int]) -> list[int]:
    return [value] if isinstance(value, int) else list(value)


class StructureMixin(SortingMixin):
    """Matrix structure and dim bookkeeping."""

    __slots__ = ()

    # -- triangles and diagonals --

    def _triangle(self, diagonal: int, lower: bool) -> Self:
        if self.ndim < 2:
            raise ValueError(f"{'tril' if lower else 'triu'} needs at least 2 dims, got shape {self.shape}")
        rows, columns = self.shape[-2:]
        row = self._index_along(self.ndim - 2, rows)
        column = self._index_along(self.ndim - 1, columns)
        offset = column - row
        keep = offset.le(diagonal) if lower else offset.ge(diagonal)
        return keep._select(self, 0)

    def tril(self, diagonal: int = 0) -> Self:
        return self._triangle(diagonal, lower=True)

    def triu(self, diagonal: int = 0) -> Self:
        return self._triangle(diagonal, lower=False)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Self:
        """The diagonal of the (dim1, dim2) matrices, `offset` above the main one, as a last dim (torch's)."""
        first, second = normalize_axis(dim1, self.ndim), normalize_axis(dim2, self.ndim)
        if first == second:
            raise ValueError(f"diagonal needs two different dims, got {dim1} and {dim2} of shape {self.shape}")
        order = [dim for dim in range(self.ndim) if dim not in (first, second)] + [first, second]
        moved = self.permute(order)
        rows, columns = moved.shape[-2:]
        length = max(0, min(rows, columns - offset) if offset >= 0 else min(rows + offset, columns))
        flat = moved.reshape((*moved.shape[:-2], rows * columns))
        start = offset if offset >= 0 else -offset * columns
        if length == 0:
            return flat.shrink([*([None] * (flat.ndim - 1)), (0, 0)])
        stop = start + (length - 1) * (columns + 1) + 1
        return flat[(..., slice(start, stop, columns + 1))]

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Self:
        """Matrices with the last dim on their `offset` diagonal, zeros elsewhere (torch.diag_embed)."""
        if self.ndim == 0:
            raise ValueError("diag_embed needs at least one dim, got a 0-d tensor")
        length = self.shape[-1]
        size = length + abs(offset)
        # Pad the values to the matrix's size on the side the diagonal leaves, then keep them where j - i = offset.
        along_rows = self.pad(((0, 0),) * (self.ndim - 1) + ((0, abs(offset)),)) if offset else self
        values = along_rows.unsqueeze(-1 if offset >= 0 else -2).expand((*self.shape[:-1], size, size))
        row = values._index_along(values.ndim - 2, size)
        column = values._index_along(values.ndim - 1, size)
        matrix = (column - row).eq(offset)._select(values, 0)
        out_ndim = self.ndim + 1
        first, second = normalize_axis(dim1, out_ndim), normalize_axis(dim2, out_ndim)
        if first == second:
            raise ValueError(f"diag_embed needs two different dims, got {dim1} and {dim2}")
        order: list[int] = [0] * out_ndim
        rest = iter(range(out_ndim - 2))
        for dim in range(out_ndim):
            order[dim] = out_ndim - 2 if dim == first else out_ndim - 1 if dim == second else next(rest)
        return matrix.permute(order)

    def diag(self, diagonal: int = 0) -> Self:
        """A 1-D tensor as the `diagonal` of a square matrix; a 2-D one's `diagonal` as a 1-D tensor (torch.diag)."""
        if self.ndim == 1:
            return self.diag_embed(diagonal)
        if self.ndim == 2:
            return self.diagonal(diagonal)
        raise ValueError(f"diag needs a 1-D or 2-D tensor, got shape {self.shape}")

    def trace(self) -> Self:
        if self.ndim != 2:
            raise ValueError(f"trace needs a 2-D tensor, got shape {self.shape}")
        return self.diagonal().sum()

    # -- moving and cutting --

    def roll(self, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Self:
        """Elements shifted along `dims` (all flattened without), those pushed off the end coming back at the front."""
        if dims is None:
            if not isinstance(shifts, int):
                raise ValueError(f"roll without dims takes one shift, got {shifts}")
            return self.flatten().roll(shifts, 0).reshape(self.shape)
        shift_list, dim_list = _dims(shifts), _dims(dims)
        if len(shift_list) != len(dim_list):
            raise ValueError(f"roll needs a shift per dim, got shifts {shifts} and dims {dims}")
        result = self
        for shift, dim in zip(shift_list, dim_list, strict=True):
            axis = normalize_axis(dim, self.ndim)
            size = self.shape[axis]
            amount = shift % size if size else 0
            if amount:
                front = result.narrow(axis, size - amount, amount)
                back = result.narrow(axis, 0, size - amount)
                result = front.cat(back, dim=axis)
        return result

    def narrow(self, dim: int, start: int, length: int) -> Self:
        axis = normalize_axis(dim, self.ndim)
        size = self.shape[axis]
        begin = start + size if start < 0 else start
        if not (0 <= begin <= size and 0 <= length <= size - begin):
            raise IndexError(f"narrow: start {start} and length {length} do not fit dim {dim} of size {size}")
        return self.shrink([(begin, begin + length) if other == axis else None for other in range(self.ndim)])

    def movedim(self, source: int | Sequence[int], destination: int | Sequence[int]) -> Self:
        sources = [normalize_axis(dim, self.ndim) for dim in _dims(source)]
        targets = [normalize_axis(dim, self.ndim) for dim in _dims(destination)]
        if len(sources) != len(targets) or len(set(sources)) != len(sources) or len(set(targets)) != len(targets):
            raise ValueError(f"movedim needs as many distinct source dims as destinations, got {source}, {destination}")
        rest = iter(dim for dim in range(self.ndim) if dim not in sources)
        placed = dict(zip(targets, sources, strict=True))
        return self.permute([placed[dim] if dim in placed else next(rest) for dim in range(self.ndim)])

    def moveaxis(self, source: int | Sequence[int], destination: int | Sequence[int]) -> Self:
        return self.movedim(source, destination)

    def swapaxes(self, axis0: int, axis1: int) -> Self:
        return self.transpose(axis0, axis1)

    def swapdims(self, dim0: int, dim1: int) -> Self:
        return self.transpose(dim0, dim1)

    def rot90(self, k: int = 1, dims: Sequence[int] = (0, 1)) -> Self:
        """Rotated by 90 degrees k times, from the first of `dims` toward the second (torch.rot90)."""
        if len(dims) != 2 or normalize_axis(dims[0], self.ndim) == normalize_axis(dims[1], self.ndim):
            raise ValueError(f"rot90 needs two different dims, got {dims} for shape {self.shape}")
        first, second = dims
        turns = k % 4
        if turns == 1:
            return self.flip(second).transpose(first, second)
        if turns == 2:
            return self.flip((first, second))
        if turns == 3:
            return self.flip(first).transpose(first, second)
        return self

    def tensor_split(self, indices_or_sections: int | Sequence[int], dim: int = 0) -> list[Self]:
        """Pieces along `dim`: n nearly equal ones (the first size % n one longer), or cut at the given indices."""
        axis = normalize_axis(dim, self.ndim)
        size = self.shape[axis]
        if isinstance(indices_or_sections, int):
            sections = indices_or_sections
            if sections <= 0:
                raise ValueError(f"tensor_split needs a positive number of sections, got {sections}")
            base, extra = divmod(size, sections)
            bounds = np.cumsum([0] + [base + (1 if part < extra else 0) for part in range(sections)]).tolist()
        else:
            cuts = [min(max(cut + size if cut < 0 else cut, 0), size) for cut in indices_or_sections]
            bounds = [0, *cuts, size]
        pieces = []
        for begin, end in itertools.pairwise(bounds):
            begin, end = int(begin), max(int(end), int(begin))
            pieces.append(self.shrink([(begin, end) if other == axis else None for other in range(self.ndim)]))
        return pieces

    def repeat_interleave(self, repeats: int | TensorCore, dim: int | None = None) -> Self:
        """Each element repeated `repeats` times in place along `dim` (flattened without); tensor repeats, one per
        element, make a size that depends on the data: they are read (realized) first."""
        source = self.flatten() if dim is None else self
        axis = 0 if dim is None else normalize_axis(dim, self.ndim)
        if isinstance(repeats, int):
            if repeats < 0:
                raise ValueError(f"repeat_interleave needs non-negative repeats, got {repeats}")
            widened = source.unsqueeze(axis + 1)
            shape = list(widened.shape)
            shape[axis + 1] = repeats
            merged = list(source.shape)
            merged[axis] *= repeats
            return widened.expand(tuple(shape)).reshape(tuple(merged))
        counts = repeats.numpy().astype(np.int64).reshape(-1)
        length = source.shape[axis]
        if counts.size == 1:
            counts = np.full(length, counts[0])
        if counts.size != length or (counts < 0).any():
            raise ValueError(f"repeat_interleave needs {length} non-negative repeats along dim {axis}, got {counts}")
        chosen = np.repeat(np.arange(length, dtype=np.int64), counts)
        return source.index_select(axis, type(self)(chosen, device=self.device))

    def unfold(self, dimension: int, size: int, step: int) -> Self:
        """Every window of `size` elements along `dimension`, `step` apart, as a new last dim (Tensor.unfold)."""
        axis = normalize_axis(dimension, max(self.ndim, 1))
        length = self.shape[axis] if self.ndim else 1
        if size <= 0 or step <= 0 or size > length:
            raise ValueError(f"unfold: windows of size {size}, step {step} do not fit dim {dimension} of size {length}")
        count = (length - size) // step + 1
        taps = []
        for offset in range(size):
            key = [slice(None)] * self.ndim
            key[axis] = slice(offset, offset + (count - 1) * step + 1, step)
            taps.append(self[tuple(key)])
        return taps[0].stack(*taps[1:], dim=-1)

    # -- small products --

    def outer(self, other: Self) -> Self:
        if self.ndim != 1 or other.ndim != 1:
            raise ValueError(f"outer needs two 1-D tensors, got {self.shape} and {other.shape}")
        return self.unsqueeze(1) * other.unsqueeze(0)

    def ger(self, other: Self) -> Self:
        return self.outer(other)

    def cross(self, other: Self, dim: int | None = None) -> Self:
        """The cross product of 3-vectors along `dim` (the first dim of size 3 without, as torch.cross)."""
        if dim is None:
            dim = next((axis for axis, size in enumerate(self.shape) if size == 3), -1)
        axis = normalize_axis(dim, self.ndim)
        if self.shape[axis] != 3 or other.shape[normalize_axis(dim, other.ndim)] != 3:
            raise ValueError(f"cross needs size 3 along dim {dim}, got {self.shape} and {other.shape}")
        a = [self.narrow(axis, index, 1) for index in range(3)]
        b = [other.narrow(normalize_axis(dim, other.ndim), index, 1) for index in range(3)]
        parts = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
        return parts[0].cat(parts[1], parts[2], dim=axis)

    def kron(self, other: Self) -> Self:
        """The Kronecker product (torch.kron): blocks of `other` scaled by each element of self."""
        ndim = max(self.ndim, other.ndim)
        a = self.reshape((1,) * (ndim - self.ndim) + self.shape)
        b = other.reshape((1,) * (ndim - other.ndim) + other.shape)
        # a as (a0, 1, a1, 1, ...) times b as (1, b0, 1, b1, ...), then each pair of dims merged.
        spread_a = a.reshape(tuple(size for each in a.shape for size in (each, 1)))
        spread_b = b.reshape(tuple(size for each in b.shape for size in (1, each)))
        return (spread_a * spread_b).reshape(tuple(x * y for x, y in zip(a.shape, b.shape, strict=True)))

    def bmm(self, other: Self) -> Self:
        if self.ndim != 3 or other.ndim != 3 or self.shape[0] != other.shape[0] or self.shape[2] != other.shape[1]:
            raise ValueError(f"bmm needs (b, n, k) and (b, k, m) tensors, got {self.shape} and {other.shape}")
        return self.matmul(other)

    def mm(self, other: Self) -> Self:
        if self.ndim != 2 or other.ndim != 2:
            raise ValueError(f"mm needs two 2-D tensors, got {self.shape} and {other.shape}")
        return self.matmul(other)

    def addmm(self, mat1: Self, mat2: Self, *, beta: float = 1.0, alpha: float = 1.0) -> Self:
        """beta * self + alpha * (mat1 @ mat2) (torch.addmm)."""
        return self._scaled_sum(mat1.mm(mat2), beta, alpha)

    def baddbmm(self, batch1: Self, batch2: Self, *, beta: float = 1.0, alpha: float = 1.0) -> Self:
        return self._scaled_sum(batch1.bmm(batch2), beta, alpha)

    def addmv(self, mat: Self, vec: Self, *, beta: float = 1.0, alpha: float = 1.0) -> Self:
        return self._scaled_sum(mat.matmul(vec), beta, alpha)

    def _scaled_sum(self, product: Self, beta: float, alpha: float) -> Self:
        # beta = 0 ignores self entirely (NaN and inf in it included), as torch's does.
        scaled = product if alpha == 1 else product * alpha
        if beta == 0:
            return scaled + self.zeros_like(product.dtype)
        return scaled + (self if beta == 1 else self * beta)

    def index_select(self, dim: int, index: TensorCore) -> Self:
        """The slices at the 1-D `index` along `dim` (torch.index_select); an index out of range raises IndexError."""
        if index.ndim > 1:
            raise ValueError(f"index_select needs a 1-D index, got shape {index.shape}")
        axis = normalize_axis(dim, max(self.ndim, 1))
        flat = self._derive(index.uop.reshape((1,))) if index.ndim == 0 else index
        key: tuple[slice | TensorCore, ...] = (*(slice(None),) * axis, flat)
        return self[key]
