"""The listings: `format_graph` is exact (a line a node), `format_kernel` compact and still unambiguous."""

from __future__ import annotations

from lamina.dtype import dtypes
from lamina.uop import AxisKind, Ops, UOp, format_graph, format_kernel, toposort


def _kernel() -> UOp:
    # out[i] = a[i + 1] * a[i + 1] + (i < 3 ? b[i] : 0) over 16 elements: a shared load and a padded one.
    output = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(), (), 0)
    a = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(), (), 1)
    b = UOp(Ops.DEFINE_GLOBAL, dtypes.float32.ptr(), (), 2)
    i = UOp.range(16, 0, AxisKind.LOOP)
    shared = UOp(Ops.LOAD, dtypes.float32, (UOp(Ops.INDEX, a.dtype, (a, i + 1)),))
    valid = i.lt(3)
    padded = UOp(Ops.LOAD, dtypes.float32, (UOp(Ops.INDEX, b.dtype, (b, i, valid)),))
    value = shared * shared + padded
    store = UOp(Ops.STORE, dtypes.void, (UOp(Ops.INDEX, output.dtype, (output, i)), value))
    return UOp(Ops.SINK, dtypes.void, (store,))


def test_format_graph_has_a_line_for_every_node() -> None:
    kernel = _kernel()
    listing = format_graph(kernel)
    assert listing.count("\n") + 1 == len(toposort(kernel))
    assert "%0 = DEFINE_GLOBAL float32*" in listing


def test_format_kernel_writes_constants_and_single_uses_inline_and_shared_values_once() -> None:
    listing = format_kernel(_kernel())
    assert listing.splitlines() == [
        "r0 = RANGE 16 LOOP",
        "%0 = LOAD float32 data1[(r0+1)]",
        "%1 = LOAD float32 data2[r0] if (r0<3)",
        "%2 = STORE void data0[r0] = ((%0*%0)+%1)",
        "%3 = SINK void (%2)",
    ]
    assert len(listing.splitlines()) < len(format_graph(_kernel()).splitlines()) / 2
