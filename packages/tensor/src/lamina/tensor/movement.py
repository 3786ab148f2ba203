"""Movement operations: views that reshape, reorder, broadcast, pad, crop and mirror a tensor.

None of them costs a kernel or a copy: each is one UOp that the scheduler turns into index math.
Shapes are checked here, when the op is built, by the shape layer's rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from lamina.shape import (
    expand_shape,
    flip_axes,
    normalize_axis,
    normalize_permutation,
    reshape_shape,
    squeeze_shape,
    transpose_order,
    unsqueeze_shape,
)
from lamina.tensor.core import TensorCore, scalar_full
from lamina.uop import ConstValue, UOp

ShapeArg = int | Sequence[int]


def _shape_args(first: ShapeArg, rest: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(first, int):
        return (first, *rest)
    if rest:
        raise TypeError("give the shape either as separate ints or as one sequence, not both")
    return tuple(first)


class MovementMixin(TensorCore):
    """reshape, permute, expand, pad, shrink, flip and the conveniences built from them."""

    __slots__ = ()

    def reshape(self, shape: ShapeArg, *more: int) -> Self:
        new_shape = reshape_shape(self.shape, _shape_args(shape, more))
        return self._derive(self.uop.reshape(new_shape))

    def view(self, shape: ShapeArg, *more: int) -> Self:
        return self.reshape(shape, *more)

    def permute(self, order: ShapeArg, *more: int) -> Self:
        return self._derive(self.uop.permute(normalize_permutation(_shape_args(order, more), self.ndim)))

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Self:
        if self.ndim < 2 and dim0 in (-2, -1) and dim1 in (-2, -1):
            return self
        return self.permute(transpose_order(self.ndim, dim0, dim1))

    @property
    def T(self) -> Self:  # noqa: N802 - torch's name
        return self.permute(tuple(reversed(range(self.ndim))))

    def expand(self, shape: ShapeArg, *more: int) -> Self:
        target = expand_shape(self.shape, _shape_args(shape, more))
        aligned = self.uop.reshape((1,) * (len(target) - self.ndim) + self.shape)
        return self._derive(aligned.expand(target))

    def broadcast_to(self, shape: ShapeArg, *more: int) -> Self:
        return self.expand(shape, *more)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Self:
        if self.ndim == 0:
            return self.reshape((1,))
        start, end = normalize_axis(start_dim, self.ndim), normalize_axis(end_dim, self.ndim)
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {self.shape}")
        merged = 1
        for size in self.shape[start : end + 1]:
            merged *= size
        return self.reshape((*self.shape[:start], merged, *self.shape[end + 1 :]))

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Self:
        axis = normalize_axis(dim, self.ndim)
        inner = reshape_shape((self.shape[axis],), tuple(sizes))
        return self.reshape((*self.shape[:axis], *inner, *self.shape[axis + 1 :]))

    def squeeze(self, dim: int | Sequence[int] | None = None) -> Self:
        return self.reshape(squeeze_shape(self.shape, dim))

    def unsqueeze(self, dim: int) -> Self:
        return self.reshape(unsqueeze_shape(self.shape, dim))

    def pad(self, padding: Sequence[int] | Sequence[tuple[int, int]], value: ConstValue = 0.0) -> Self:
        """Pad with `value`: torch's flat form (last dim first: (left, right, top, bottom, ...)) or per-dim pairs."""
        pairs = self._padding_pairs(padding)
        if all(before == 0 and after == 0 for before, after in pairs):
            return self
        padded = self._derive(self.uop.pad(pairs))
        if value == 0:
            return padded
        # Padding a constant one marks the original region; everywhere else takes `value`.
        mask = UOp.full(self.shape, self.dtype, 1).pad(pairs)
        fill = scalar_full(padded.shape, self.dtype, value)
        return padded._derive(mask.ne(mask.const_like(0)).where(padded.uop, fill), padded)

    def _padding_pairs(self, padding: Sequence[int] | Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
        if padding and isinstance(padding[0], tuple):
            pairs = tuple((int(before), int(after)) for before, after in padding)  # type: ignore[misc]
            if len(pairs) != self.ndim:
                raise ValueError(f"pad needs one (before, after) pair per dim of {self.shape}, got {len(pairs)}")
            return pairs
        flat = [int(amount) for amount in padding]  # type: ignore[arg-type]
        if len(flat) % 2 or len(flat) // 2 > self.ndim:
            raise ValueError(
                f"pad of shape {self.shape} needs an even number of at most {2 * self.ndim} values, got {flat}"
            )
        pairs_list = [(0, 0)] * self.ndim
        for position in range(len(flat) // 2):
            pairs_list[self.ndim - 1 - position] = (flat[2 * position], flat[2 * position + 1])
        return tuple(pairs_list)

    def shrink(self, bounds: Sequence[tuple[int, int] | None]) -> Self:
        """Keep [start, end) of each dim (None keeps the whole dim)."""
        if len(bounds) != self.ndim:
            raise ValueError(f"shrink needs one bound per dim of {self.shape}, got {len(bounds)}")
        resolved = tuple((0, size) if bound is None else bound for bound, size in zip(bounds, self.shape, strict=True))
        for (start, end), size in zip(resolved, self.shape, strict=True):
            if not 0 <= start <= end <= size:
                raise ValueError(f"shrink bounds {resolved} do not fit shape {self.shape}")
        return self._derive(self.uop.shrink(resolved))

    def flip(self, dims: int | Sequence[int]) -> Self:
        return self._derive(self.uop.flip(flip_axes(self.shape, dims)))

    def repeat(self, repeats: ShapeArg, *more: int) -> Self:
        """Tile the tensor `repeats[i]` times along dim i (torch.Tensor.repeat)."""
        counts = _shape_args(repeats, more)
        if len(counts) < self.ndim:
            raise ValueError(f"repeat needs at least {self.ndim} counts for shape {self.shape}, got {counts}")
        base = self.reshape((1,) * (len(counts) - self.ndim) + self.shape)
        interleaved = tuple(size for dim in base.shape for size in (1, dim))
        tiled = tuple(size for count, dim in zip(counts, base.shape, strict=True) for size in (count, dim))
        final = tuple(count * dim for count, dim in zip(counts, base.shape, strict=True))
        return base.reshape(interleaved).expand(tiled).reshape(final)
