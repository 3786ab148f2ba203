"""Readable listings of a UOp graph.

`format_graph` prints one numbered line per node, sources by number: exact and complete (the disk
cache keys kernels by it). `format_kernel` is what `DEBUG=3` shows for a kernel: compact enough to
read beside its C, with constants, buffers and loop indices written by name, a value used once
written inside its user (arithmetic infix), and a line only for values used more than once, loads,
loops and stores, so a shared subgraph still prints once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from lamina.uop.graph import toposort
from lamina.uop.ops import Ops
from lamina.uop.uop import UOp

_TENSOR_LEVEL = frozenset(
    {
        Ops.BUFFER, Ops.CONTIGUOUS, Ops.CHECK, Ops.WRITE, Ops.RESHAPE, Ops.PERMUTE, Ops.EXPAND, Ops.PAD,
        Ops.SHRINK, Ops.FLIP, Ops.REDUCE_AXIS,
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


_INFIX: Final = {
    Ops.ADD: "+", Ops.SUB: "-", Ops.MUL: "*", Ops.DIV: "/", Ops.IDIV: "//", Ops.MOD: "%", Ops.CMPLT: "<",
    Ops.CMPNE: "!=", Ops.CMPEQ: "==", Ops.AND: "&", Ops.OR: "|", Ops.XOR: "^", Ops.SHL: "<<", Ops.SHR: ">>",
}  # fmt: skip
_OWN_LINE: Final = frozenset(
    {Ops.LOAD, Ops.STORE, Ops.REDUCE, Ops.RANGE, Ops.SINK, Ops.DEFINE_ACC, Ops.ASSIGN, Ops.BARRIER}
)
MAX_INLINE: Final = 100
"""The longest expression written inside its user; a longer one gets a line of its own."""


def _const_text(node: UOp) -> str:
    value = node.arg
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def format_kernel(sink: UOp) -> str:
    """A kernel AST as a compact listing (see the module): `%7 = LOAD float32 data2[(r0*784+r1)] if (r1<28)`."""
    nodes = toposort(sink)
    uses: dict[UOp, int] = {}
    for node in nodes:
        for source in node.src:
            uses[source] = uses.get(source, 0) + 1
    names: dict[UOp, str] = {}
    lines: list[str] = []
    numbered = 0
    for node in nodes:
        text = _expression(node, names)
        if node.op is Ops.CONST:
            names[node] = _const_text(node)
        elif node.op is Ops.DEFINE_GLOBAL:
            names[node] = f"data{node.arg}"
        elif node.op is Ops.DEFINE_LOCAL:
            names[node] = f"local{node.arg[0]}"
            lines.append(f"{names[node]} = DEFINE_LOCAL {node.dtype.name} [{node.arg[1]}]")
        elif node.op is Ops.RANGE:
            axis, kind = node.arg
            names[node] = f"r{axis}" if axis >= 0 else f"rm{-axis}"
            lines.append(f"{names[node]} = RANGE {names[node.src[0]]} {kind.name}")
        elif node.op not in _OWN_LINE and uses.get(node, 0) == 1 and len(text) <= MAX_INLINE:
            names[node] = text
        else:
            names[node] = f"%{numbered}"
            numbered += 1
            lines.append(f"{names[node]} = {node.op.name} {node.dtype.name} {text}")
    return "\n".join(lines)


def _expression(node: UOp, names: dict[UOp, str]) -> str:
    sources = [names.get(source, "?") for source in node.src]
    if node.op in _INFIX and len(sources) == 2:
        return f"({sources[0]}{_INFIX[node.op]}{sources[1]})"
    if node.op is Ops.INDEX:
        address = f"{sources[0]}[{sources[1]}]"
        return f"{address} if {sources[2]}" if len(sources) == 3 else address
    if node.op in (Ops.LOAD, Ops.STORE):
        # A BARRIER source is an ordering, not a value: it is written after the access.
        written = " = ".join(sources[:2]) if node.op is Ops.STORE else sources[0]
        waits = sources[2:] if node.op is Ops.STORE else sources[1:]
        return f"{written} after {waits[0]}" if waits else written
    if node.op is Ops.WHERE:
        return f"({sources[0]} ? {sources[1]} : {sources[2]})"
    if node.op is Ops.CAST:
        return f"({node.dtype.name}){sources[0]}"
    if node.op is Ops.REDUCE:
        return f"{node.arg.name}({sources[0]}) over {', '.join(sources[1:])}"
    if node.op is Ops.SINK:
        return f"({', '.join(sources)})"
    return f"{node.op.name}({', '.join(sources)}){_format_arg(node)}"
