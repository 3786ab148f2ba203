"""A slow numpy interpreter for kernel ASTs: the oracle that scheduled and compiled kernels are checked against.

`run_kernel` executes a kernel (a SINK of STOREs over INDEX/LOAD/RANGE/REDUCE and scalar ALU ops)
on numpy arrays without compiling anything. Each RANGE is given its own numpy axis holding
0..n-1, so a node's value is an array broadcast over exactly the loops it depends on: running every
iteration of the loop nest at once gives what iterating it would, because a kernel never reads a
buffer it writes. A REDUCE folds its ranges' axes, a LOAD gathers (reading zero where its validity
is false), and a STORE scatters into the buffer of its DEFINE_GLOBAL. A GPU kernel's local memory
(DEFINE_LOCAL) is one array per work-group and per iteration of the loops its STOREs sit in: it has the
kernel's axes, those over a work-group's items (LOCAL) of size one since every item sees the same
memory, and an axis for its elements; its STOREs scatter the items' values along that axis and its
LOADs gather from it (BARRIERs order them, which the topological order already does). The scalar semantics (C
truncation for IDIV and MOD, integer wraparound, 16-bit floats rounded after every op) are those of
the tensor-graph evaluator in `reference.py`, whose per-op rules are reused so the oracles cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lamina.uop.graph import toposort
from lamina.uop.ops import AxisKind, GroupOp, Ops
from lamina.uop.reference import _bitcast, _cast, _constant, _evaluate_alu, _fold, _from_storage, _to_storage
from lamina.uop.uop import UOp

Array = npt.NDArray[Any]


def run_kernel(ast: UOp, buffers: Sequence[Array], variables: Mapping[str, int] | None = None) -> None:
    """Execute the kernel `ast` on flat `buffers` (numbered by DEFINE_GLOBAL arg) with each DEFINE_VAR at its value
    in `variables` (by name), writing its STOREs in place."""
    if ast.op is not Ops.SINK:
        raise ValueError(f"run_kernel needs a kernel SINK, got {ast.op}")
    nodes = toposort(ast)
    loops = [node for node in nodes if node.op is Ops.RANGE]
    interpreter = _Interpreter({loop: axis for axis, loop in enumerate(loops)}, buffers, variables or {})
    interpreter.local_axes = tuple(axis for axis, loop in enumerate(loops) if loop.arg[1] is AxisKind.LOCAL)
    # C semantics are silent: integer overflow wraps, 1/0 is inf, 0/0 is nan; numpy would warn about each.
    with np.errstate(all="ignore"):
        for node in nodes:
            interpreter.visit(node)


class _Interpreter:
    """The value of every node run so far, each an array with one axis per RANGE of the kernel."""

    def __init__(self, axis_of: dict[UOp, int], buffers: Sequence[Array], variables: Mapping[str, int]) -> None:
        self.axis_of = axis_of
        self.buffers = buffers
        self.variables = variables
        self.values: dict[UOp, Array] = {}
        self.local_axes: tuple[int, ...] = ()
        # Per DEFINE_LOCAL: its contents, the kernel's axes (LOCAL ones of size 1) then one for its elements.
        self.local_memory: dict[UOp, Array] = {}

    def visit(self, node: UOp) -> None:
        # Pointers and addresses are not values: LOAD and STORE read their INDEX's sources directly.
        if node.op in (Ops.SINK, Ops.DEFINE_GLOBAL, Ops.INDEX, Ops.BARRIER):
            return
        if node.op is Ops.DEFINE_LOCAL:
            return  # its array is made by its first STORE, in the values' dtype
        if node.op is Ops.STORE and node.src[0].src[0].op is Ops.DEFINE_LOCAL:
            self.store_local(node)
        elif node.op is Ops.STORE:
            self.store(node)
        elif node.op is Ops.CONST:
            self.values[node] = _constant(node).reshape((1,) * len(self.axis_of))
        elif node.op is Ops.DEFINE_VAR:
            self.values[node] = self.variable(node)
        elif node.op is Ops.RANGE:
            self.values[node] = self.loop_index(node)
        elif node.op is Ops.LOAD and node.src[0].src[0].op is Ops.DEFINE_LOCAL:
            self.values[node] = self.load_local(node)
        elif node.op is Ops.LOAD:
            self.values[node] = self.load(node)
        elif node.op is Ops.REDUCE:
            self.values[node] = self.reduce(node)
        elif node.op is Ops.CAST:
            self.values[node] = _cast(self.values[node.src[0]], node.src[0].scalar_dtype, node.scalar_dtype)
        elif node.op is Ops.BITCAST:
            self.values[node] = _bitcast(self.values[node.src[0]], node.src[0].scalar_dtype, node.scalar_dtype)
        elif node.op in GroupOp.ALU:
            self.values[node] = _evaluate_alu(node, [self.values[source] for source in node.src])
        else:
            raise NotImplementedError(f"the kernel interpreter does not run {node.op}")

    def variable(self, node: UOp) -> Array:
        name, low, high = node.arg
        if name not in self.variables:
            raise KeyError(f"the kernel reads variable {name!r}, which was given no value")
        value = self.variables[name]
        if not low <= value <= high:
            raise ValueError(f"variable {name!r} takes values in [{low}, {high}], got {value}")
        return _constant(UOp.const(node.scalar_dtype, value)).reshape((1,) * len(self.axis_of))

    def loop_index(self, node: UOp) -> Array:
        end = node.src[0]
        if end.op is not Ops.CONST:
            raise NotImplementedError(f"the kernel interpreter needs constant loop bounds, got {end.op}")
        shape = [1] * len(self.axis_of)
        shape[self.axis_of[node]] = end.arg
        return np.arange(end.arg, dtype=self.values[end].dtype).reshape(shape)

    def buffer(self, definition: UOp) -> Array:
        position = definition.arg
        if not isinstance(position, int) or not 0 <= position < len(self.buffers):
            raise IndexError(f"DEFINE_GLOBAL {position!r} has no buffer among the {len(self.buffers)} given")
        return self.buffers[position]

    def address(self, index: UOp) -> tuple[Array, Array, Array]:
        """The buffer of an INDEX, and its addresses and validity broadcast to one shape."""
        buffer = self.buffer(index.src[0])
        address = self.values[index.src[1]].astype(np.int64)
        valid = self.values[index.src[2]].astype(np.bool_) if len(index.src) == 3 else np.ones((), np.bool_)
        address, valid = np.broadcast_arrays(address, valid)
        outside = valid & ((address < 0) | (address >= buffer.size))
        if np.any(outside):
            raise IndexError(f"address {address[outside].ravel()[0]} is outside a buffer of {buffer.size} elements")
        return buffer, address, valid

    def load(self, node: UOp) -> Array:
        buffer, address, valid = self.address(node.src[0])
        if buffer.size == 0:
            # Every lane is invalid (address() checked): nothing to gather.
            return np.zeros(address.shape, dtype=_from_storage(buffer, node.scalar_dtype).dtype)
        # Invalid lanes may point anywhere: gather from address 0 instead, then replace them with zero.
        gathered = _from_storage(buffer[np.where(valid, address, 0)], node.scalar_dtype)
        return np.where(valid, gathered, np.zeros((), dtype=gathered.dtype))

    def reduce(self, node: UOp) -> Array:
        value = self.values[node.src[0]]
        axes = tuple(self.axis_of[loop] for loop in node.src[1:])
        # A value that does not vary along a reduced range still counts once per iteration of it.
        shape = list(value.shape)
        for loop, axis in zip(node.src[1:], axes, strict=True):
            shape[axis] = self.values[loop].shape[axis]
        return _fold(node.arg, np.broadcast_to(value, shape), axes, node.scalar_dtype)

    def store_local(self, node: UOp) -> None:
        """Each work item's value into its work-group's copy of the local memory, at its address (where valid)."""
        index, value = node.src[:2]
        stored = self.values[value]
        size = index.src[0].arg[1]
        # One slot past the end takes the writes of items whose store is not valid; it is dropped after.
        memory = self.local_memory.get(index.src[0], np.zeros((1,) * len(self.axis_of) + (size,), stored.dtype))
        address = self.values[index.src[1]].astype(np.int64)
        valid = self.values[index.src[2]].astype(np.bool_) if len(index.src) == 3 else np.ones((), np.bool_)
        shape = np.broadcast_shapes(address.shape, valid.shape, stored.shape, memory.shape[:-1])
        address = np.where(np.broadcast_to(valid, shape), np.broadcast_to(address, shape), size)
        if np.any(address < 0) or np.any(address > size):
            raise IndexError(f"a local address is outside local memory of {size} elements")
        context = tuple(1 if axis in self.local_axes else extent for axis, extent in enumerate(shape))
        memory = np.concatenate([np.broadcast_to(memory, (*context, size)), np.zeros((*context, 1), memory.dtype)], -1)
        # The items of a work-group (its LOCAL axes) are the positions written: moved last and flattened.
        order = [axis for axis in range(len(shape)) if axis not in self.local_axes] + list(self.local_axes)
        items = int(np.prod([shape[axis] for axis in self.local_axes], dtype=np.int64))
        addresses = address.transpose(order).reshape((*context, items))
        values = np.broadcast_to(stored, shape).transpose(order).reshape((*context, items))
        np.put_along_axis(memory, addresses, values.astype(memory.dtype), axis=-1)
        self.local_memory[index.src[0]] = memory[..., :size]

    def load_local(self, node: UOp) -> Array:
        index = node.src[0]
        memory = self.local_memory[index.src[0]]
        address = self.values[index.src[1]].astype(np.int64)
        shape = np.broadcast_shapes(address.shape, memory.shape[:-1])
        if np.any(address < 0) or np.any(address >= memory.shape[-1]):
            raise IndexError(f"a local address is outside local memory of {memory.shape[-1]} elements")
        spread = np.broadcast_to(memory, (*shape, memory.shape[-1]))
        return np.take_along_axis(spread, np.broadcast_to(address, shape)[..., None], axis=-1)[..., 0]

    def store(self, node: UOp) -> None:
        index, value = node.src[:2]
        buffer, address, valid = self.address(index)
        shape = np.broadcast_shapes(address.shape, self.values[value].shape)
        data = _to_storage(np.broadcast_to(self.values[value], shape), value.scalar_dtype)
        address = np.broadcast_to(address, shape)
        valid = np.broadcast_to(valid, shape)
        buffer[address[valid]] = data[valid]
