"""lamina.uop: the one IR, from the lazy tensor graph to the kernel's linear program.

`Ops` (grouped by kind in `GroupOp`) names the operations; `UOp` is the immutable, hash-consed
node; `toposort`/`substitute`/`consumers` walk graphs without recursion; `format_graph` prints them.
"""

from lamina.uop.check import CHECK_PASSED, Check, CheckKind, checked
from lamina.uop.graph import consumers, substitute, toposort
from lamina.uop.kernel_reference import run_kernel
from lamina.uop.ops import GRID_AXES, SPREAD_AXES, AxisKind, GroupOp, Ops
from lamina.uop.printer import format_graph, format_kernel
from lamina.uop.reference import evaluate
from lamina.uop.shapes import infer_shape
from lamina.uop.uop import BufferRef, ConstValue, UOp, UOpDType, arg_key, normalize_const

__all__ = [
    "CHECK_PASSED",
    "GRID_AXES",
    "SPREAD_AXES",
    "AxisKind",
    "BufferRef",
    "Check",
    "CheckKind",
    "ConstValue",
    "GroupOp",
    "Ops",
    "UOp",
    "UOpDType",
    "arg_key",
    "checked",
    "consumers",
    "evaluate",
    "format_graph",
    "format_kernel",
    "infer_shape",
    "normalize_const",
    "run_kernel",
    "substitute",
    "toposort",
]
