"""Every movement op becomes index math that the kernel interpreter agrees with numpy on, simplified."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lamina.schedule import Schedule
from lamina.uop import Ops, UOp, toposort

Runner = Callable[..., Schedule]
Maker = Callable[..., UOp]

MOVEMENTS: dict[str, Callable[[UOp], UOp]] = {
    "reshape_of_reshape": lambda x: x.reshape((4, 6)).reshape((2, 12)).reshape((3, 8)),
    "permute": lambda x: x.reshape((2, 3, 4)).permute((2, 0, 1)),
    "expand": lambda x: x.reshape((1, 24)).expand((3, 24)),
    "expand_middle": lambda x: x.reshape((4, 1, 6)).expand((4, 2, 6)),
    "pad": lambda x: x.reshape((4, 6)).pad(((1, 2), (0, 3))),
    "pad_negative": lambda x: x.reshape((4, 6)).pad(((-1, 1), (2, -3))),
    "shrink": lambda x: x.reshape((4, 6)).shrink(((1, 3), (2, 6))),
    "flip": lambda x: x.reshape((4, 6)).flip((True, False)),
    "flip_both": lambda x: x.reshape((2, 3, 4)).flip((True, False, True)),
    "permute_then_reshape": lambda x: x.reshape((4, 6)).permute((1, 0)).reshape((24,)),
    "shrink_of_pad": lambda x: x.reshape((4, 6)).pad(((2, 2), (2, 2))).shrink(((1, 7), (3, 9))),
    "pad_of_flip_of_permute": lambda x: x.reshape((4, 6)).permute((1, 0)).flip((False, True)).pad(((1, 0), (0, 1))),
    "expand_of_shrink": lambda x: x.reshape((4, 6)).shrink(((1, 2), (0, 6))).expand((3, 6)),
    "reshape_after_pad": lambda x: x.reshape((4, 6)).pad(((0, 0), (1, 1))).reshape((8, 4)),
}


@pytest.mark.parametrize("name", list(MOVEMENTS))
def test_movement_op_matches_numpy_in_one_kernel(name: str, run_schedule: Runner, tensor: Maker) -> None:
    moved = MOVEMENTS[name](tensor((24,)))
    # The exponent makes padding observable: exp of a padded zero is 1, a padded read must not leak.
    schedule = run_schedule([moved.alu(Ops.EXP) + moved])
    assert len(schedule.items) == 1


@pytest.mark.parametrize("name", ["pad", "pad_negative", "shrink_of_pad"])
def test_padded_value_is_zero_after_elementwise_work(name: str, run_schedule: Runner, tensor: Maker) -> None:
    # Pad the *result* of elementwise work: the kernel must gate exp(x), not only the load of x.
    moved = MOVEMENTS[name](tensor((24,)).alu(Ops.EXP))
    run_schedule([moved * moved.const_like(3.0)])


def test_reshape_round_trip_loads_with_a_plain_row_major_address(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((24,))
    schedule = run_schedule([x.reshape((4, 6)).reshape((24,)).reshape((4, 6)).contiguous()])
    ast = schedule.items[0].ast
    (load,) = (node for node in toposort(ast) if node.op is Ops.LOAD)
    (store,) = ast.src
    address = load.src[0].src[1]
    assert not {node.op for node in toposort(address)} & {Ops.IDIV, Ops.MOD}
    rows, columns = sorted((node for node in toposort(ast) if node.op is Ops.RANGE), key=lambda r: r.arg[0])
    assert {rows.src[0].arg, columns.src[0].arg} == {4, 6}
    # Hash-consing makes equal expressions identical: the load reads where the store writes, r0*6+r1.
    assert address is store.src[0].src[1]
    assert {node.op for node in toposort(address)} == {Ops.RANGE, Ops.CONST, Ops.MUL, Ops.ADD}


def test_permute_loads_with_transposed_strides_and_no_division(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((4, 6))
    schedule = run_schedule([x.permute((1, 0)).contiguous()])
    ast = schedule.items[0].ast
    (load,) = (node for node in toposort(ast) if node.op is Ops.LOAD)
    assert not {node.op for node in toposort(load)} & {Ops.IDIV, Ops.MOD}


def test_broadcast_add_of_row_and_column(run_schedule: Runner, tensor: Maker) -> None:
    column, row = tensor((3, 1)), tensor((1, 4))
    schedule = run_schedule([column.expand((3, 4)) + row.expand((3, 4))])
    assert len(schedule.items) == 1


def test_zero_d_tensor_is_one_kernel_without_loops(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor(())
    schedule = run_schedule([x * x + x.const_like(1.0)])
    assert len(schedule.items) == 1
    assert not [node for node in toposort(schedule.items[0].ast) if node.op is Ops.RANGE]


def test_zero_size_result_needs_no_kernel(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((0, 4))
    schedule = run_schedule([(x + x).permute((1, 0))])
    assert schedule.items == ()
    assert schedule.results[(x + x).permute((1, 0))].shape == (4, 0)


def test_reading_an_empty_buffer_inside_an_empty_loop_loads_nothing(run_schedule: Runner, tensor: Maker) -> None:
    # The reduce loop of (3, 0) never runs; its read must not survive as a load the linearizer could hoist.
    schedule = run_schedule([tensor((3, 0)).reduce_axis(Ops.ADD, (1,))])
    assert len(schedule.items) == 1
    assert [node for node in toposort(schedule.items[0].ast) if node.op is Ops.LOAD] == []


def test_padded_load_is_gated_once(run_schedule: Runner, tensor: Maker) -> None:
    # The load already reads zero outside the pad: wrapping it in a WHERE on the same condition is noise.
    schedule = run_schedule([tensor((4, 6)).pad(((1, 1), (0, 2))).alu(Ops.EXP)])
    assert [node for node in toposort(schedule.items[0].ast) if node.op is Ops.WHERE] == []
