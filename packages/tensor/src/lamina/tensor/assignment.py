"""Item assignment: `t[key] = value` for every key `t[key]` reads (ints, slices, None, `...`, integer
tensors and lists, boolean masks), with torch's meaning.

The write is lazy like every op: `t` takes a new graph that equals `value` (broadcast to `t[key]`'s
shape and cast to `t`'s dtype) inside the region the key selects and `t`'s old value outside it,
so it fuses with whatever reads `t` next and autograd differentiates it (the region's old values get
no gradient, `value` gets the region's). Slices and ints place the value with movement ops (pads,
flips and reshapes, free in a kernel); integer tensors place it by comparing each position with the
indices, and when an index repeats, the last value written wins; a boolean mask with a value that
does not depend on the selected count is a plain `where`, with nothing read back to the host.

Other tensors keep the values they were computed from: `u = t[0]` made before `t[0] = 1` keeps
the old row (lamina has no aliasing views; torch's view would see the write).
"""

from __future__ import annotations

import math
import weakref
from typing import Any

from lamina.dtype import dtypes
from lamina.engine.capture import active_capture
from lamina.engine.runtime import attach_buffer, buffer_of
from lamina.schedule import view_base
from lamina.shape import broadcast_shapes, contiguous_strides
from lamina.tensor.core import TensorCore, grad_enabled, scalar_uop, with_realized
from lamina.tensor.elementwise import Operand
from lamina.tensor.indexing import IndexingMixin, _index_tensor
from lamina.tensor.scatter import ScatterMixin
from lamina.tensor.state import frontend, note_outside_write
from lamina.tensor.variable import Bound
from lamina.uop import Ops, UOp


class AssignmentMixin(ScatterMixin):
    """`__setitem__`."""

    __slots__ = ()

    def __setitem__(self, key: Any, value: Operand) -> None:
        if self._leaf and self._requires_grad and grad_enabled():
            raise RuntimeError(
                "a leaf tensor that requires grad cannot be written in place (as in torch); "
                "write inside no_grad(), or into a clone()"
            )
        source = (
            value if isinstance(value, TensorCore) else type(self)(scalar_uop(self.dtype, value), device=self.device)
        )
        if source.device != self.device:
            raise ValueError(f"cannot write a tensor on {source.device} into one on {self.device}")
        if _holds_variable(key):
            self._write_at_variable(key, source)
            return
        mask = _single_mask(key)
        if mask is not None and _independent_of_count(source, self.shape[mask.ndim :]):
            updated = self._masked_write(mask, source)
        else:
            items = self._expanded_key(key)
            basic = not any(isinstance(item, TensorCore) for item in items)
            if basic and not (grad_enabled() and (self._requires_grad or source._requires_grad)):
                self._write_in_place([item for item in items if item is not None], self._region_value(items, source))
                return
            updated = self._placed_write(items, source)
        capture = active_capture()
        if capture is not None:
            capture.assigned.setdefault(id(self), (self, self.uop))
        else:
            note_outside_write(self.uop)
        self.uop = updated.uop
        if updated._requires_grad and not self._requires_grad:
            self._requires_grad, self._leaf = True, False

    def _masked_write(self, mask: TensorCore, source: TensorCore) -> IndexingMixin:
        """self with `source` (broadcast over the selected elements) wherever `mask` holds."""
        if mask.shape != self.shape[: mask.ndim]:
            raise IndexError(f"a mask of shape {mask.shape} does not match {self.shape[: mask.ndim]} of {self.shape}")
        rest = self.shape[mask.ndim :]
        kept = source.shape[source.ndim - len(rest) :] if source.ndim > len(rest) else source.shape
        if not _broadcasts_to(kept, rest):
            raise ValueError(f"cannot write a value of shape {source.shape} where a mask selects rows of shape {rest}")
        aligned = _index_tensor(source).reshape((1,) * (self.ndim - len(kept)) + kept)
        condition = _index_tensor(mask).reshape(mask.shape + (1,) * len(rest))
        return condition._select(aligned.cast(self.dtype), self)

    def _write_at_variable(self, key: Any, source: TensorCore) -> None:
        """`t[key] = source` where ints or slice starts of `key` are `Bound` variables: in place, at the position
        the variables hold when the kernel runs. Each variable's whole range must fit (one kernel serves all)."""
        if grad_enabled() and (self._requires_grad or source._requires_grad):
            raise RuntimeError("a write at a variable position is not recorded by autograd: write inside no_grad()")
        raw = list(key) if isinstance(key, tuple) else [key]
        if any(item is None or item is Ellipsis or isinstance(item, (TensorCore, list)) for item in raw):
            raise TypeError("a key holding a variable takes ints, slices and variables only (no None, ..., tensors)")
        if len(raw) > self.ndim:
            raise IndexError(f"too many indices ({len(raw)}) for a tensor of shape {self.shape}")
        items = raw + [slice(None)] * (self.ndim - len(raw))
        concrete: list[int | slice] = []
        moved: UOp | None = None
        for dim, (item, size, stride) in enumerate(zip(items, self.shape, contiguous_strides(self.shape), strict=True)):
            start, stop = (item.start, item.stop) if isinstance(item, slice) else (item, None)
            if not isinstance(start, Bound):
                if isinstance(stop, Bound):
                    raise TypeError(f"dim {dim}: a slice ending at a variable must start at the same variable")
                concrete.append(item)
                continue
            if isinstance(item, slice):
                if item.step not in (None, 1) or not isinstance(stop, Bound) or stop.variable is not start.variable:
                    raise TypeError(
                        f"dim {dim}: a slice at a variable is `pos : pos + n` (step 1), for a fixed length n"
                    )
                count = stop.offset - start.offset
            else:
                count = 1
            if start.min < 0 or start.max + count > size or count < 0:
                raise IndexError(
                    f"dim {dim} of size {size}: variable {start.name} in [{start.min}, {start.max}] places "
                    f"{count} element(s) outside it"
                )
            concrete.append(slice(0, count) if isinstance(item, slice) else 0)
            term = start.uop.alu(Ops.MUL, UOp.const(start.bind.scalar_dtype, stride))
            moved = term if moved is None else moved.alu(Ops.ADD, term)
        self._write_in_place(concrete, self._region_value(concrete, source), moved)

    def _write_in_place(self, items: list[Any], value: IndexingMixin, moved: UOp | None = None) -> None:
        """Write `value` into the region the ints and slices `items` select, in self's own buffer: one kernel over
        the region, no copy of the rest. Where another graph still reads self's old values (a tensor made from
        it, `value` itself), they keep them: the write then goes into a copy of self instead."""
        if value.numel() == 0:
            return
        self.realize()
        source = with_realized([value.uop])[0]  # reads of self's old graph now name its buffer
        layout = _region_layout(self.shape, items)
        old_base = view_base(self.uop)
        memory, size, probe = buffer_of(old_base), old_base.buffer.size, weakref.ref(old_base)
        shape, dtype = self.shape, self.dtype
        self.uop = UOp.const(dtype, 0)  # drops self's reference, so the probe sees only the others'
        del old_base
        shared = probe()
        if shared is None:
            target = UOp.new_buffer(self.device, size, dtype)
            attach_buffer(target, memory)
            before = target
        else:
            target, before = shared.contiguous(), shared
        capture = active_capture()
        if capture is not None:
            capture.assigned.setdefault(id(self), (self, before.reshape(shape)))
        else:
            note_outside_write(before)
        # `moved`: how far variables move the region, in elements (a scalar graph over their BINDs).
        sources = (target, source) if moved is None else (target, source, moved)
        self.uop = UOp(Ops.WRITE, dtype, sources, layout).reshape(shape)
        # The write happens with the next realize on the device, whatever it computes (as torch's write happens at
        # once): a realize of something reading the new values would compute the WRITE without updating self.
        frontend.awaiting_value[id(self)] = self

    def _region_value(self, items: list[Any], source: TensorCore) -> IndexingMixin:
        """`source` as the values of the region `items` (an expanded key) selects: broadcast to its shape (torch
        drops the value's leading dims of size 1 first), cast to self's dtype, without the dims None adds."""
        region = self[tuple(items)].shape
        # torch drops a value's leading dims of size 1 that the region lacks, then broadcasts.
        leading = 0
        while source.ndim - leading > len(region) and source.shape[leading] == 1:
            leading += 1
        if leading:
            source = _index_tensor(source).reshape(source.shape[leading:])
        if not _broadcasts_to(source.shape, region):
            raise ValueError(f"cannot write a value of shape {source.shape} into a region of shape {region}")
        plain_region = self[tuple(item for item in items if item is not None)].shape
        return _index_tensor(source).cast(self.dtype).expand(region).reshape(plain_region)

    def _placed_write(self, items: list[Any], source: TensorCore) -> IndexingMixin:
        """self with `source` written into the region `items` (an expanded key) selects, as a new value."""
        value = self._region_value(items, source)
        dims_items = [item for item in items if item is not None]
        if not any(isinstance(item, TensorCore) for item in dims_items):
            return self._place(dims_items, value)
        # Integer tensors: write into the sub-tensor the other items select, then place that sub-tensor.
        outer = [slice(None) if isinstance(item, TensorCore) else item for item in dims_items]
        inner = [item for item in dims_items if not isinstance(item, int)]
        written = self[tuple(outer)]._scatter(inner, value)
        return self._place(outer, written)

    def _place(self, items: list[Any], value: IndexingMixin) -> IndexingMixin:
        """self with `value` written where the ints and slices `items` (one per dim) select: the value is moved
        into self's shape by pads, flips and reshapes, and a mask moved the same way picks it."""
        placed, inside = value, _index_tensor(value.full_like(True, dtypes.bool))
        for dim, (item, size) in enumerate(zip(items, self.shape, strict=True)):
            if isinstance(item, int):
                position = item % size if size else 0
                placed, inside = placed.unsqueeze(dim), inside.unsqueeze(dim)
                placed, inside = _pad_dim(placed, dim, position, size), _pad_dim(inside, dim, position, size)
            else:
                start, stop, step = item.indices(size)
                count = len(range(start, stop, step))
                placed, inside = (
                    _spread(placed, dim, start, step, count, size),
                    _spread(inside, dim, start, step, count, size),
                )
        return inside._select(placed, self)

    def _scatter(self, items: list[Any], value: IndexingMixin) -> IndexingMixin:
        """self with `value` written at the positions the integer tensors among `items` (the rest full slices)
        select; value's shape is self[items]'s. Where an index repeats, the last value in order wins."""
        dims = [dim for dim, item in enumerate(items) if isinstance(item, TensorCore)]
        indices = [_index_tensor(items[dim]) for dim in dims]
        index_shape = broadcast_shapes(*(index.shape for index in indices))
        others = [dim for dim in range(self.ndim) if dim not in dims]
        sizes = [self.shape[dim] for dim in dims]
        total = 1
        for size in sizes:
            total *= size
        count = math.prod(index_shape)
        if count == 0:
            return self
        flat: IndexingMixin | None = None
        for index, size, stride in zip(indices, sizes, contiguous_strides(tuple(sizes)), strict=True):
            wrapped = index.lt(0)._select(index + size, index).cast(dtypes.int64)
            term = wrapped.expand(index_shape) * stride
            flat = term if flat is None else flat + term
        assert flat is not None
        # value is laid out as self[items] is: (*pre, *index_shape, *post), the index dims where the indexed dims
        # were when those are adjacent, else first.
        adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
        insert_at = dims[0] if adjacent else 0
        pre = [self.shape[axis] for axis in others[:insert_at]]
        post = [self.shape[axis] for axis in others[insert_at:]]
        # Each position takes the value of the last j (in index order) whose flat index is that position.
        positions = self._arange_like(total).cast(dtypes.int64).reshape((total, 1))
        order = self._arange_like(count).cast(dtypes.int64).reshape((1, count))
        last = positions.eq(flat.reshape((1, count)))._select(order, -1).amax(-1)  # (total,), -1 where none
        chosen = order.eq(last.reshape((total, 1)))  # (total, count): a one-hot of the winning j
        lead = len(pre)
        values = value.reshape((*pre, count, *post))
        values = values.permute((*range(lead), *range(lead + 1, lead + 1 + len(post)), lead))
        values = values.reshape((*pre, *post, 1, count))
        around = (1,) * (len(pre) + len(post))
        picked = chosen.reshape((*around, total, count))._select(values, 0).sum(-1)
        moved = self.permute((*others, *dims)).reshape((*pre, *post, total))
        hit = last.ge(0).reshape((*around, total))
        updated = hit._select(picked.cast(self.dtype), moved)
        unmoved = updated.reshape((*pre, *post, *sizes))
        inverse = [0] * self.ndim
        for position, axis in enumerate((*others, *dims)):
            inverse[axis] = position
        result = unmoved.permute(tuple(inverse))
        for dim, index in zip(dims, indices, strict=True):
            result = result._guarded(index, "index", dim, self.shape[dim], low=-self.shape[dim])
        return result


def _holds_variable(key: Any) -> bool:
    """Whether `key` places anything at a variable (a `Bound` as an int, or as a slice's start or stop)."""
    for item in key if isinstance(key, tuple) else (key,):
        if isinstance(item, Bound) or (
            isinstance(item, slice) and (isinstance(item.start, Bound) or isinstance(item.stop, Bound))
        ):
            return True
    return False


def _single_mask(key: Any) -> TensorCore | None:
    """The boolean mask when the key is one (alone or as a 1-tuple), else None."""
    item = key[0] if isinstance(key, tuple) and len(key) == 1 else key
    if isinstance(item, TensorCore) and item.dtype.is_bool and item.ndim > 0:
        return item
    return None


def _independent_of_count(source: TensorCore, rest: tuple[int, ...]) -> bool:
    """Whether `source` broadcasts to (k, *rest) for any count k of selected elements: its dims beyond `rest`
    are all of size 1, so a mask can write it with a plain `where`."""
    if source.ndim <= len(rest):
        return True
    return all(size == 1 for size in source.shape[: source.ndim - len(rest)])


def _region_layout(shape: tuple[int, ...], items: list[Any]) -> tuple[int, tuple[int, ...]]:
    """Where the region the ints and slices `items` (one per dim) select lies in a contiguous array of `shape`: the
    flat position of its first element, and the step in flat positions along each of its dims (a WRITE's arg)."""
    offset, strides = 0, []
    for item, size, stride in zip(items, shape, contiguous_strides(shape), strict=True):
        if isinstance(item, int):
            offset += (item % size) * stride
        else:
            start, _, step = item.indices(size)
            offset += start * stride
            strides.append(step * stride)
    return offset, tuple(strides)


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        return len(shape) <= len(target) and broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _pad_dim(tensor: IndexingMixin, dim: int, before: int, total: int) -> IndexingMixin:
    padding = [(0, 0)] * tensor.ndim
    padding[dim] = (before, total - before - tensor.shape[dim])
    return tensor.pad(tuple(padding))


def _spread(tensor: IndexingMixin, dim: int, start: int, step: int, count: int, size: int) -> IndexingMixin:
    """`tensor`'s `count` entries along `dim` moved to positions start, start + step, ... of a dim of `size`
    (zeros elsewhere): a negative step is the positive one over the flipped entries."""
    if count == 0:
        shape = list(tensor.shape)
        shape[dim] = size
        return (
            tensor.full_like(0)
            .reshape((*shape[:dim], 0, *shape[dim + 1 :]))
            .pad(tuple((0, size) if axis == dim else (0, 0) for axis in range(tensor.ndim)))
        )
    if step < 0:
        tensor, start, step = tensor.flip(dim), start + (count - 1) * step, -step
    if step > 1:
        # Each entry followed by step - 1 zeros: entry k lands at k * step.
        tensor = _pad_dim(tensor.unsqueeze(dim + 1), dim + 1, 0, step)
        tensor = tensor.reshape((*tensor.shape[:dim], count * step, *tensor.shape[dim + 2 :]))
        keep = min(count * step, size - start)
        bounds: list[tuple[int, int] | None] = [None] * tensor.ndim
        bounds[dim] = (0, keep)
        tensor = tensor.shrink(bounds)
    return _pad_dim(tensor, dim, start, size)
