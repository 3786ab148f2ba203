"""A slow numpy interpreter for kernel ASTs: the oracle that scheduled and compiled kernels are checked against.

`run_kernel` executes a kernel (a SINK of STOREs over INDEX/LOAD/RANGE/REDUCE and scalar ALU ops)
on numpy arrays without compiling anything. Each RANGE is given its own numpy axis holding
0..n-1, so a node's value is an array broadcast over exactly the loops it depends on: running every
iteration of the loop nest at once gives what iterating it would, because a kernel never reads a
buffer it writes. A REDUCE folds its ranges' axes, a LOAD gathers (reading zero where its validity
is false), and a STORE scatters into the buffer of its DEFINE_GLOBAL. The scalar semantics (C
truncation for IDIV and MOD, integer wraparound, 16-bit floats rounded after every op) are those of
the tensor-graph evaluator in `reference.py`, whose per-op rules are reused so the oracles cannot drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lamina.uop.graph import toposort
from lamina.uop.ops import GroupOp, Ops
from lamina.uop.reference import _bitcast, _cast, _constant, _evaluate_alu, _fold, _from_storage, _to_storage
from lamina.uop.uop import UOp

Array = npt.NDArray[Any]


def run_kernel(ast: UOp, buffers: Sequence[Array]) -> None:
    """Execute the kernel `ast` on flat `buffers` (numbered by DEFINE_GLOBAL arg), writing its STOREs in place."""
    if ast.op is not Ops.SINK:
        raise ValueError(f"run_kernel needs a kernel SINK, got {ast.op}")
    nodes = toposort(ast)
    loops = [node for node in nodes if node.op is Ops.RANGE]
    interpreter = _Interpreter({loop: axis for axis, loop in enumerate(loops)}, buffers)
    # C semantics are silent: integer overflow wraps, 1/0 is inf, 0/0 is nan; numpy would warn about each.
    with np.errstate(all="ignore"):
        for node in nodes:
            interpreter.visit(node)


class _Interpreter:
    """The value of every node run so far, each an array with one axis per RANGE of the kernel."""

    def __init__(self, axis_of: dict[UOp, int], buffers: Sequence[Array]) -> None:
        self.axis_of = axis_of
        self.buffers = buffers
        self.values: dict[UOp, Array] = {}

    def visit(self, node: UOp) -> None:
        # Pointers and addresses are not values: LOAD and STORE read their INDEX's sources directly.
        if node.op in (Ops.SINK, Ops.DEFINE_GLOBAL, Ops.INDEX):
            return
        if node.op is Ops.STORE:
            self.store(node)
        elif node.op is Ops.CONST:
            self.values[node] = _constant(node).reshape((1,) * len(self.axis_of))
        elif node.op is Ops.RANGE:
            self.values[node] = self.loop_index(node)
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

    def store(self, node: UOp) -> None:
        index, value = node.src
        buffer, address, valid = self.address(index)
        shape = np.broadcast_shapes(address.shape, self.values[value].shape)
        data = _to_storage(np.broadcast_to(self.values[value], shape), value.scalar_dtype)
        address = np.broadcast_to(address, shape)
        valid = np.broadcast_to(valid, shape)
        buffer[address[valid]] = data[valid]
