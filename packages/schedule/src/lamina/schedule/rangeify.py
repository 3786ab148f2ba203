"""Rangeify: the kernel that computes one realized node, with every movement op turned into index math.

The kernel gets one LOOP range per output dim. Starting from the output index, each node is asked
for its value *at an index* (a tuple of integer UOps) under a *validity* (a bool UOp, or None):
movement ops only transform the index (RESHAPE ravels and unravels, PERMUTE reorders, EXPAND
pins broadcast dims to 0, SHRINK offsets, FLIP mirrors, PAD offsets and narrows the validity);
elementwise ops ask their sources at the same index; REDUCE_AXIS asks its source with fresh REDUCE
ranges on the reduced dims; buffers and realized nodes become LOADs whose index is the
contiguous address, gated by the validity so padding never reads out of bounds. The walk is
iterative and memoized on (node, index, validity). The symbolic simplifier then folds the index math.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from lamina.dtype import DType, dtypes
from lamina.rewrite import simplify as _simplify
from lamina.rewrite import simplify_under
from lamina.schedule.reduce_sums import merge_summed_reduces
from lamina.shape import contiguous_strides
from lamina.uop import AxisKind, GroupOp, Ops, UOp, substitute, toposort

Index = tuple[UOp, ...]

# Index expressions repeat across kernels and training steps, and hash-consing makes equal ones
# identical, so each is simplified once. The unsimplified ones die with each schedule, so the
# cache holds them strongly, bounded by a size at which it starts afresh.
_simplified_cache: dict[UOp, UOp] = {}
_SIMPLIFIED_CACHE_LIMIT = 200_000


def simplify(expression: UOp) -> UOp:
    """The symbolic simplifier's result for `expression`, memoized."""
    known = _simplified_cache.get(expression)
    if known is None:
        if len(_simplified_cache) >= _SIMPLIFIED_CACHE_LIMIT:
            _simplified_cache.clear()
        known = _simplify(expression)
        _simplified_cache[expression] = known
    return known


_address_cache: dict[tuple[UOp, UOp], UOp] = {}


def _address_under(address: UOp, validity: UOp | None) -> UOp:
    """The simplified address of a load, using the bounds its validity puts on the loop indices (memoized)."""
    if validity is None:
        return simplify(address)
    key = (address, validity)
    known = _address_cache.get(key)
    if known is None:
        if len(_address_cache) >= _SIMPLIFIED_CACHE_LIMIT:
            _address_cache.clear()
        known = _address_cache[key] = simplify_under(address, validity)
    return known


Request = tuple[UOp, Index, UOp | None]


WIDE_INDEX_FROM: Final = 2**31
"""A kernel touching this many elements (in a buffer or any value it computes) indexes with int64, not int32."""


def _const(value: int, dtype: DType = dtypes.index) -> UOp:
    return UOp.const(dtype, value)


def flat_index(index: Index, shape: tuple[int, ...], dtype: DType = dtypes.index) -> UOp:
    """The row-major address of `index` in a contiguous array of `shape`."""
    address = _const(0, dtype)
    for position, stride, size in zip(index, contiguous_strides(shape), shape, strict=True):
        if size != 1:
            address = address + position * stride
    return address


def _unravel(address: UOp, shape: tuple[int, ...]) -> Index:
    strides = contiguous_strides(shape)
    parts: list[UOp] = []
    for dim, (stride, size) in enumerate(zip(strides, shape, strict=True)):
        if size == 1:
            parts.append(_const(0, address.scalar_dtype))
            continue
        part = address if stride == 1 else address // stride
        parts.append(part if dim == 0 else part % size)
    return tuple(parts)


def _and(validity: UOp | None, condition: UOp) -> UOp:
    return condition if validity is None else validity & condition


@dataclass
class KernelBuilder:
    """Builds the AST of one kernel; `buffer_of` maps realized nodes (and BUFFERs) to their BUFFER."""

    buffer_of: Mapping[UOp, UOp]
    index_dtype: DType = dtypes.index  # int64 for kernels over 2**31 elements or more (see index_dtype_for)
    parameters: list[UOp] = field(default_factory=list)
    _memo: dict[Request, UOp] = field(default_factory=dict)
    _reduce_ranges: dict[Request, Index] = field(default_factory=dict)
    _next_axis: int = 0

    def parameter(self, buffer: UOp) -> UOp:
        """The DEFINE_GLOBAL of `buffer`, numbering buffers by first use."""
        if buffer not in self.parameters:
            self.parameters.append(buffer)
        position = self.parameters.index(buffer)
        return UOp(Ops.DEFINE_GLOBAL, buffer.scalar_dtype.ptr(), (), position)

    def _zero(self) -> UOp:
        return _const(0, self.index_dtype)

    def new_range(self, size: int, kind: AxisKind) -> UOp:
        axis = self._next_axis
        self._next_axis += 1
        return UOp.range(size, axis, kind, self.index_dtype)

    def _load(self, buffer: UOp, address: UOp, validity: UOp | None) -> UOp:
        if buffer.buffer.size == 0:
            # Only a loop that never runs could read an empty buffer, but the linearizer may hoist the
            # read out of that loop (its address need not depend on it): a constant is never out of bounds.
            return UOp.const(buffer.scalar_dtype, 0)
        pointer = self.parameter(buffer)
        sources = (pointer, address) if validity is None else (pointer, address, validity)
        index = UOp(Ops.INDEX, pointer.dtype, sources)
        return UOp(Ops.LOAD, buffer.scalar_dtype, (index,))

    def _requests(self, node: UOp, index: Index, validity: UOp | None) -> list[Request]:
        """What `node` needs to know to give its value at `index`: (source, index, validity) per source."""
        if node in self.buffer_of or node.op in (Ops.CONST, Ops.BUFFER, Ops.BIND):
            return []
        if node.op is Ops.TAKE:
            return [(node.src[0], (self._row(node, index), *index[len(node.src[1].shape) :]), validity)]
        source = node.src[0] if node.src else node
        source_shape = source.shape
        if node.op is Ops.RESHAPE:
            return [(source, _unravel(flat_index(index, node.shape, self.index_dtype), source_shape), validity)]
        if node.op is Ops.PERMUTE:
            permuted: list[UOp] = [self._zero()] * len(index)
            for output_axis, axis in enumerate(node.arg):
                permuted[axis] = index[output_axis]
            return [(source, tuple(permuted), validity)]
        if node.op is Ops.EXPAND:
            pinned = tuple(
                self._zero() if old == 1 and new != 1 else position
                for position, old, new in zip(index, source_shape, node.shape, strict=True)
            )
            return [(source, pinned, validity)]
        if node.op is Ops.SHRINK:
            offset = tuple(position + start for position, (start, _) in zip(index, node.arg, strict=True))
            return [(source, offset, validity)]
        if node.op is Ops.FLIP:
            flipped = tuple(
                (size - 1 - position) if flag else position
                for position, flag, size in zip(index, node.arg, node.shape, strict=True)
            )
            return [(source, flipped, validity)]
        if node.op is Ops.PAD:
            shifted: list[UOp] = []
            for position, (before, after), size in zip(index, node.arg, source_shape, strict=True):
                shifted.append(position - before)
                if before > 0:
                    validity = _and(validity, _const(before - 1, self.index_dtype).lt(position))
                if after > 0:
                    validity = _and(validity, position.lt(before + size))
            return [(source, tuple(shifted), validity)]
        if node.op is Ops.REDUCE_AXIS:
            return [(source, self._reduce_index(node, index, validity), validity)]
        if node.op is Ops.CONTIGUOUS or node.op in GroupOp.ELEMENTWISE:
            return [(each, index, validity) for each in node.src]
        raise NotImplementedError(f"rangeify has no rule for {node.op}")

    def _row(self, take: UOp, index: Index) -> UOp:
        """The table row a TAKE reads at `index`: its index value there, clamped into the table (the tensor layer
        checks the range and raises; the clamp keeps every address inside the buffer meanwhile)."""
        indices = take.src[1]
        value = self.value_at(indices, tuple(simplify(each) for each in index[: len(indices.shape)]))
        rows = take.src[0].shape[0]
        row = value.cast(self.index_dtype) if value.scalar_dtype != self.index_dtype else value
        low = row.alu(Ops.MAX, self._zero())
        return low.lt(rows).where(low, _const(rows - 1, self.index_dtype))

    def _reduce_index(self, node: UOp, index: Index, validity: UOp | None) -> Index:
        """The source index of a REDUCE_AXIS: fresh REDUCE ranges on reduced dims (made once per request)."""
        key = (node, index, validity)
        if key not in self._reduce_ranges:
            _, axes = node.arg
            source_shape = node.src[0].shape
            self._reduce_ranges[key] = tuple(
                (self.new_range(source_shape[axis], AxisKind.REDUCE) if source_shape[axis] != 1 else self._zero())
                if axis in axes
                else position
                for axis, position in enumerate(index)
            )
        return self._reduce_ranges[key]

    def _value(self, request: Request, needed: list[Request], sources: list[UOp]) -> UOp:
        node, index, validity = request
        if node in self.buffer_of or node.op is Ops.BUFFER:
            buffer = self.buffer_of.get(node, node)
            address = index[0] if node.op is Ops.BUFFER else flat_index(index, node.shape, self.index_dtype)
            return self._load(buffer, _address_under(address, validity), validity)
        if node.op is Ops.CONST:
            return node
        if node.op is Ops.BIND:
            return node.src[0]  # the kernel takes the variable; its value comes with each launch
        if node.op is Ops.TAKE:
            return sources[0]
        if node.op is Ops.PAD:
            inner_validity = needed[0][2]
            # A LOAD already reads zero where its validity, which implies this one, is false.
            if inner_validity is validity or inner_validity is None or sources[0].op is Ops.LOAD:
                return sources[0]
            return inner_validity.where(sources[0], UOp.const(node.scalar_dtype, 0))
        if node.op is Ops.REDUCE_AXIS:
            _, axes = node.arg
            source_index = self._reduce_index(node, index, validity)
            ranges = tuple(source_index[axis] for axis in axes if source_index[axis].op is Ops.RANGE)
            return UOp(Ops.REDUCE, node.scalar_dtype, (sources[0], *ranges), node.arg[0]) if ranges else sources[0]
        if node.op in GroupOp.MOVEMENT or node.op is Ops.CONTIGUOUS:
            return sources[0]
        return UOp(node.op, node.scalar_dtype, tuple(sources), node.arg)

    def value_at(self, root: UOp, index: Index) -> UOp:
        """The scalar value of `root` at `index`, as kernel UOps (iterative: any graph depth works)."""
        start: Request = (root, index, None)
        stack: list[tuple[Request, bool]] = [(start, False)]
        while stack:
            request, sources_ready = stack.pop()
            if request in self._memo:
                continue
            node, at, validity = request
            needed = [self._simplified(each) for each in self._requests(node, at, validity)]
            if not sources_ready:
                stack.append((request, True))
                stack.extend((each, False) for each in reversed(needed) if each not in self._memo)
                continue
            self._memo[request] = self._value(request, needed, [self._memo[each] for each in needed])
        return self._memo[start]

    def _simplified(self, request: Request) -> Request:
        # Simplifying indices as they are made keeps them small and makes equal ones identical,
        # so the memo merges requests that differ only in how their index was written.
        node, index, validity = request
        return node, tuple(simplify(position) for position in index), None if validity is None else simplify(validity)


def index_dtype_for(node: UOp, realized: Mapping[UOp, UOp]) -> DType:
    """int32 for a kernel whose every buffer and value has fewer than 2**31 elements (C compilers vectorize int
    index arithmetic best), else int64: addresses and loop counts past int32 must not wrap."""
    for each in toposort([node], stop=lambda other: other is not node and other in realized):
        elements = realized[each].buffer.size if each is not node and each in realized else math.prod(each.shape)
        if elements >= WIDE_INDEX_FROM or (each.op is Ops.BUFFER and each.buffer.size >= WIDE_INDEX_FROM):
            return dtypes.int64
    return dtypes.index


def build_kernel(node: UOp, output: UOp, buffer_of: Mapping[UOp, UOp]) -> tuple[UOp, tuple[UOp, ...]]:
    """The kernel AST (a SINK over one STORE) that writes `node` into `output`, and its buffers in parameter order."""
    inputs = {key: value for key, value in buffer_of.items() if key is not node}
    builder = KernelBuilder(inputs, index_dtype_for(node, inputs))
    builder.parameter(output)
    if node.op is Ops.WRITE:
        return _write_kernel(builder, node, output)
    computed = node.src[0] if node.op is Ops.CONTIGUOUS else node
    output_index = tuple(
        builder.new_range(size, AxisKind.LOOP) if size != 1 else builder._zero() for size in node.shape
    )
    value = merge_summed_reduces(builder.value_at(computed, output_index))
    address = simplify(flat_index(output_index, node.shape, builder.index_dtype))
    pointer = builder.parameter(output)
    store = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, pointer.dtype, (pointer, address)), value))
    return _used_parameters(UOp(Ops.SINK, dtypes.void, (store,)), builder.parameters)


def _write_kernel(builder: KernelBuilder, node: UOp, output: UOp) -> tuple[UOp, tuple[UOp, ...]]:
    """A WRITE's kernel: loops over the written values, each stored at its address in the target's buffer."""
    values = node.src[1]
    offset, strides = node.arg
    region = tuple(builder.new_range(size, AxisKind.LOOP) if size != 1 else builder._zero() for size in values.shape)
    value = merge_summed_reduces(builder.value_at(values, region))
    address = _const(offset, builder.index_dtype)
    if len(node.src) > 2:
        address = address + builder.value_at(node.src[2], ()).cast(builder.index_dtype)
    for position, stride in zip(region, strides, strict=True):
        address = address + position * stride
    address = simplify(address)
    pointer = builder.parameter(output)
    store = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, pointer.dtype, (pointer, address)), value))
    return _used_parameters(UOp(Ops.SINK, dtypes.void, (store,)), builder.parameters)


def _used_parameters(sink: UOp, parameters: list[UOp]) -> tuple[UOp, tuple[UOp, ...]]:
    """The kernel and its buffers, less any buffer its value turned out not to read (a gather from a constant table
    loads its indices for nothing): the rest are numbered again in order."""
    used = sorted({node.arg for node in toposort(sink) if node.op is Ops.DEFINE_GLOBAL})
    if len(used) == len(parameters):
        return sink, tuple(parameters)
    renumbered = {
        UOp(Ops.DEFINE_GLOBAL, parameters[old].scalar_dtype.ptr(), (), old): UOp(
            Ops.DEFINE_GLOBAL, parameters[old].scalar_dtype.ptr(), (), new
        )
        for new, old in enumerate(used)
    }
    return substitute([sink], renumbered)[0], tuple(parameters[old] for old in used)
