"""The linearizer nests loops by axis, hoists loop-invariant work, and places accumulators around their loops."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from lamina.codegen import linearize, reduce_identity
from lamina.dtype import DType, dtypes
from lamina.uop import AxisKind, Ops, UOp

if TYPE_CHECKING:
    from packages.codegen.tests.conftest import KernelKit


def _position(uops: tuple[UOp, ...], node: UOp) -> int:
    return uops.index(node)


def _end(uops: tuple[UOp, ...], loop: UOp) -> int:
    return next(position for position, uop in enumerate(uops) if uop.op is Ops.END and uop.src[0] is loop)


def _inside(uops: tuple[UOp, ...], node: UOp, loop: UOp) -> bool:
    return _position(uops, loop) < _position(uops, node) < _end(uops, loop)


def test_output_loops_nest_in_axis_order(kit: KernelKit) -> None:
    rows, columns = kit.loop(3, 0), kit.loop(4, 1)
    # Built with the inner axis first: nesting follows the axis number, not the order of construction.
    ast = kit.kernel(rows * 4 + columns, kit.load(1, dtypes.float32, columns * 3 + rows))
    uops = linearize(ast).uops
    assert [uop.op for uop in uops].count(Ops.RANGE) == 2
    assert _position(uops, rows) < _position(uops, columns) < _end(uops, columns) < _end(uops, rows)


def test_row_invariant_work_is_hoisted_out_of_the_inner_loop(kit: KernelKit) -> None:
    rows, columns = kit.loop(3, 0), kit.loop(4, 1)
    row_value = kit.load(2, dtypes.float32, rows).alu(Ops.EXP)
    ast = kit.kernel(rows * 4 + columns, kit.load(1, dtypes.float32, rows * 4 + columns) * row_value)
    uops = linearize(ast).uops
    assert _inside(uops, row_value, rows)
    assert not _inside(uops, row_value, columns)
    assert _inside(uops, row_value.src[0], rows)
    assert not _inside(uops, row_value.src[0], columns)


def test_accumulator_is_defined_before_its_loop_and_read_after_it(kit: KernelKit) -> None:
    rows, inner = kit.loop(3, 0), kit.reduce_range(5, 1)
    element = kit.load(1, dtypes.float32, rows * 5 + inner)
    total = kit.reduce(Ops.ADD, element, inner)
    uops = linearize(kit.kernel(rows, total)).uops
    (accumulator,) = (uop for uop in uops if uop.op is Ops.DEFINE_ACC)
    (update,) = (uop for uop in uops if uop.op is Ops.ASSIGN)
    assert accumulator.src[0].arg == 0.0
    assert _inside(uops, accumulator, rows)
    assert _position(uops, accumulator) < _position(uops, inner)
    assert _inside(uops, update, inner)
    assert _position(uops, total) > _end(uops, inner)
    assert _inside(uops, total, rows)


def test_reduce_independent_of_the_outer_loop_runs_once_before_it(kit: KernelKit) -> None:
    rows, inner = kit.loop(3, 0), kit.reduce_range(5, 1)
    total = kit.reduce(Ops.ADD, kit.load(2, dtypes.float32, inner), inner)
    uops = linearize(kit.kernel(rows, kit.load(1, dtypes.float32, rows) + total)).uops
    (accumulator,) = (uop for uop in uops if uop.op is Ops.DEFINE_ACC)
    # The whole reduction, accumulator to result, happens before the row loop opens.
    assert _position(uops, accumulator) < _position(uops, inner) < _end(uops, inner) < _position(uops, rows)
    assert _position(uops, total) < _position(uops, rows)


def test_nested_reduces_get_nested_accumulators(kit: KernelKit) -> None:
    rows, middle, inner = kit.loop(2, 0), kit.reduce_range(3, 1), kit.reduce_range(4, 2)
    largest = kit.reduce(Ops.MAX, kit.load(1, dtypes.float32, rows * 12 + middle * 4 + inner), inner)
    total = kit.reduce(Ops.ADD, largest, middle)
    uops = linearize(kit.kernel(rows, total)).uops
    outer_acc, inner_acc = (uop for uop in uops if uop.op is Ops.DEFINE_ACC)
    assert outer_acc.arg[1] is total
    assert inner_acc.arg[1] is largest
    assert _inside(uops, outer_acc, rows)
    assert not _inside(uops, outer_acc, middle)
    assert _inside(uops, inner_acc, middle)
    assert not _inside(uops, inner_acc, inner)
    assert inner_acc.src[0].arg == float("-inf")


def test_reduce_over_two_ranges_shares_one_accumulator(kit: KernelKit) -> None:
    first, second = kit.reduce_range(3, 0), kit.reduce_range(4, 1)
    total = kit.reduce(Ops.ADD, kit.load(1, dtypes.float32, first * 4 + second), first, second)
    uops = linearize(kit.kernel(UOp.const(dtypes.index, 0), total)).uops
    assert [uop.op for uop in uops].count(Ops.DEFINE_ACC) == 1
    (update,) = (uop for uop in uops if uop.op is Ops.ASSIGN)
    assert _inside(uops, update, second)
    assert _inside(uops, second, first)


def test_every_node_is_emitted_once(kit: KernelKit) -> None:
    rows = kit.loop(4, 0)
    value = kit.load(1, dtypes.float32, rows)
    uops = linearize(kit.kernel(rows, value * value + value)).uops
    assert len(uops) == len(set(uops))


def test_parameters_are_in_argument_order_and_the_name_follows_the_loops(kit: KernelKit) -> None:
    rows, inner = kit.loop(3, 0), kit.reduce_range(5, 1)
    total = kit.reduce(Ops.ADD, kit.load(2, dtypes.float32, inner) * kit.load(1, dtypes.float32, rows), inner)
    program = linearize(kit.kernel(rows, total))
    assert [parameter.arg for parameter in program.parameters] == [0, 1, 2]
    assert program.name == "r_3_5"
    assert linearize(kit.kernel(rows, kit.load(1, dtypes.float32, rows), name="copy")).name == "copy"


@pytest.mark.parametrize(
    ("op", "dtype", "identity"),
    [
        (Ops.ADD, dtypes.float32, 0),
        (Ops.MUL, dtypes.int32, 1),
        (Ops.MAX, dtypes.float16, float("-inf")),
        (Ops.MAX, dtypes.int8, -128),
        (Ops.MAX, dtypes.uint8, 0),
        (Ops.MAX, dtypes.int64, -(2**63)),
    ],
)
def test_reduce_identity_is_the_neutral_element(op: Ops, dtype: DType, identity: float) -> None:
    assert reduce_identity(op, dtype) == identity


def test_reduces_over_the_same_loops_share_one_loop_nest(kit: KernelKit) -> None:
    rows, inner = kit.loop(3, 0), kit.reduce_range(4, 1)
    element = kit.load(1, dtypes.float32, rows * 4 + inner)
    both = kit.reduce(Ops.ADD, element, inner) + kit.reduce(Ops.MAX, element, inner)
    uops = linearize(kit.kernel(rows, both)).uops
    assert sum(1 for uop in uops if uop.op is Ops.RANGE and uop.arg[0] == 1) == 1
    assert sum(1 for uop in uops if uop.op is Ops.DEFINE_ACC) == 2
    assert sum(1 for uop in uops if uop.op is Ops.LOAD) == 1


def test_a_reduce_over_part_of_another_reduces_loops_is_rejected(kit: KernelKit) -> None:
    inner, outer = kit.reduce_range(4, 0), kit.reduce_range(3, 1)
    element = kit.load(1, dtypes.float32, outer * 4 + inner)
    both = kit.reduce(Ops.ADD, element, inner) + kit.reduce(Ops.MAX, element, outer, inner)
    with pytest.raises(ValueError, match="two REDUCEs"):
        linearize(kit.kernel(UOp.const(dtypes.index, 0), kit.reduce(Ops.ADD, both, outer)))


def test_a_reduce_reading_another_over_the_same_loops_is_rejected(kit: KernelKit) -> None:
    rows, inner = kit.loop(3, 0), kit.reduce_range(4, 1)
    element = kit.load(1, dtypes.float32, rows * 4 + inner)
    nested = kit.reduce(Ops.ADD, element * kit.reduce(Ops.MAX, element, inner), inner)
    with pytest.raises(ValueError, match="reads another REDUCE"):
        linearize(kit.kernel(rows, nested))


def test_non_sink_is_rejected() -> None:
    with pytest.raises(ValueError, match="SINK"):
        linearize(UOp.const(dtypes.float32, 1.0))


def test_reduces_over_the_same_loops_inside_different_outer_loops_get_loops_of_their_own(kit: KernelKit) -> None:
    rows, inner = kit.loop(3, 0), kit.reduce_range(4, 1)
    per_row = kit.reduce(Ops.ADD, kit.load(1, dtypes.float32, rows * 4 + inner), inner)
    shared = kit.reduce(Ops.ADD, kit.load(2, dtypes.float32, inner), inner)
    uops = linearize(kit.kernel(rows, per_row + shared)).uops
    loops = [uop for uop in uops if uop.op is Ops.RANGE and uop.arg[1] is AxisKind.REDUCE]
    assert len(loops) == 2
    assert len({loop.arg[0] for loop in loops}) == 2
