"""A readable listing of a UOp graph: one numbered line per node, sources by number.

Shared nodes print once, so the listing is as long as the graph has nodes, not paths; it is what
`DEBUG=3` shows for a kernel.
"""

from __future__ import annotations

from collections.abc import Iterable

from lamina.uop.graph import toposort
from lamina.uop.ops import Ops
from lamina.uop.uop import UOp

_TENSOR_LEVEL = frozenset(
    {
        Ops.BUFFER, Ops.CONTIGUOUS, Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.PAD, Ops.SHRINK, Ops.FLIP,
        Ops.REDUCE_AXIS,
    }
)  # fmt: skip


def _format_arg(node: UOp) -> str:
    if node.arg is None:
        return ""
    if isinstance(node.arg, Ops):
        return f" {node.arg.name}"
    if isinstance(node.arg, tuple) and node.arg and isinstance(node.arg[0], Ops):
        return f" {node.arg[0].name} {node.arg[1:]}"
    return f" {node.arg!r}"


def format_graph(roots: UOp | Iterable[UOp]) -> str:
    """The graph under `roots` as numbered lines: `%3 = ADD float32 (%1, %2)`."""
    numbers: dict[UOp, int] = {}
    lines: list[str] = []
    show_shapes = False
    for node in toposort(roots):
        numbers[node] = len(numbers)
        show_shapes = show_shapes or node.op in _TENSOR_LEVEL
    for node, number in numbers.items():
        sources = ", ".join(f"%{numbers[source]}" for source in node.src)
        dtype_name = node.dtype.name
        shape = f" {node.shape}" if show_shapes else ""
        lines.append(f"%{number} = {node.op.name} {dtype_name}{shape} ({sources}){_format_arg(node)}")
    return "\n".join(lines)
