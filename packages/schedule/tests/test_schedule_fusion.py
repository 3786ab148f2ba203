"""Kernel counts are part of the contract: how many kernels each expression is scheduled into, and why."""

from __future__ import annotations

from collections.abc import Callable

from lamina.dtype import dtypes
from lamina.schedule import Schedule
from lamina.uop import Ops, UOp, toposort

Runner = Callable[..., Schedule]
Maker = Callable[..., UOp]


def relu(x: UOp) -> UOp:
    """relu as the Tensor layer builds it: WHERE(CMPLT(0, x), x, 0)."""
    zero = x.const_like(0.0)
    return zero.lt(x).where(x, zero)


def matmul(a: UOp, b: UOp) -> UOp:
    """(m, k) @ (k, n) as the Tensor layer builds it: reshape, expand, multiply, sum over k."""
    (m, k), (_, n) = a.shape, b.shape
    left = a.reshape((m, 1, k)).expand((m, n, k))
    right = b.permute((1, 0)).reshape((1, n, k)).expand((m, n, k))
    return (left * right).reduce_axis(Ops.ADD, (2,)).reshape((m, n))


def softmax(x: UOp) -> UOp:
    peak = x.reduce_axis(Ops.MAX, (1,)).expand(x.shape)
    exponent = (x - peak).alu(Ops.EXP)
    return exponent.alu(Ops.DIV, exponent.reduce_axis(Ops.ADD, (1,)).expand(x.shape))


def _ops(schedule: Schedule, position: int) -> list[Ops]:
    return [node.op for node in toposort(schedule.items[position].ast)]


def test_elementwise_chain_fuses_into_one_kernel(run_schedule: Runner, tensor: Maker) -> None:
    a, b, c = tensor((4, 6)), tensor((4, 6)), tensor((4, 6))
    schedule = run_schedule([(relu(a * b + c) * a.const_like(2.0)).alu(Ops.EXP)])
    assert len(schedule.items) == 1


def test_matmul_then_relu_is_one_kernel(run_schedule: Runner, tensor: Maker) -> None:
    schedule = run_schedule([relu(matmul(tensor((3, 5)), tensor((5, 4))))])
    assert len(schedule.items) == 1
    assert _ops(schedule, 0).count(Ops.REDUCE) == 1


def test_sum_plus_one_is_one_kernel(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((3, 5))
    total = x.reduce_axis(Ops.ADD, (1,)).reshape((3,))
    schedule = run_schedule([total + UOp.full((3,), dtypes.float32, 1.0)])
    assert len(schedule.items) == 1


def test_softmax_is_three_kernels_max_sum_and_divide(run_schedule: Runner, tensor: Maker) -> None:
    # Each reduction is broadcast back over the row, so each is realized; the final divide is the third.
    schedule = run_schedule([softmax(tensor((3, 5)))])
    assert len(schedule.items) == 3
    assert [_ops(schedule, position).count(Ops.REDUCE) for position in range(3)] == [1, 1, 0]


def test_two_layer_mlp_forward_is_two_kernels(run_schedule: Runner, tensor: Maker) -> None:
    x, w1, b1, w2, b2 = tensor((2, 5)), tensor((5, 4)), tensor((4,)), tensor((4, 3)), tensor((3,))
    hidden = relu(matmul(x, w1) + b1.reshape((1, 4)).expand((2, 4)))
    output = matmul(hidden, w2) + b2.reshape((1, 3)).expand((2, 3))
    # The hidden layer is broadcast into the second matmul, so it is realized; bias and relu fuse into it.
    schedule = run_schedule([output])
    assert len(schedule.items) == 2


def test_reduce_used_by_two_targets_is_computed_once(run_schedule: Runner, tensor: Maker) -> None:
    total = tensor((3, 5)).reduce_axis(Ops.ADD, (1,))
    one = total.const_like(1.0)
    schedule = run_schedule([total + one, total * one.const_like(2.0)])
    assert len(schedule.items) == 3
    assert [_ops(schedule, position).count(Ops.REDUCE) for position in range(3)] == [1, 0, 0]


def test_realized_value_used_twice_is_loaded_not_recomputed(run_schedule: Runner, tensor: Maker) -> None:
    realized = (tensor((4,)) + tensor((4,))).contiguous()
    schedule = run_schedule([realized * realized + realized])
    assert len(schedule.items) == 2
    second = schedule.items[1]
    assert second.buffers[1] is schedule.items[0].output
    # Hash-consing makes the three reads of the realized buffer one LOAD.
    assert _ops(schedule, 1).count(Ops.LOAD) == 1


def test_input_buffer_read_twice_is_loaded_once(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((4,))
    schedule = run_schedule([x * x + x])
    assert len(schedule.items) == 1
    assert _ops(schedule, 0).count(Ops.LOAD) == 1


def test_contiguous_forces_its_own_buffer(run_schedule: Runner, tensor: Maker) -> None:
    a, b = tensor((4,)), tensor((4,))
    fused = run_schedule([(a + b) * a])
    split = run_schedule([(a + b).contiguous() * a])
    assert (len(fused.items), len(split.items)) == (1, 2)
    assert split.items[1].buffers[1] is split.items[0].output


def test_target_that_is_a_buffer_view_needs_no_kernel(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((2, 3))
    schedule = run_schedule([x.reshape((3, 2))])
    assert schedule.items == ()


def test_reduce_not_broadcast_fuses_into_its_consumer(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((4, 3))
    # A reduction consumed at the same shape needs no buffer: sum, then scale, then sum again.
    inner = x.reduce_axis(Ops.ADD, (1,))
    schedule = run_schedule([(inner * inner.const_like(0.5)).reduce_axis(Ops.MAX, (0,))])
    assert len(schedule.items) == 1
    assert _ops(schedule, 0).count(Ops.REDUCE) == 2


def test_a_large_reduction_consumed_by_another_is_a_kernel_of_its_own(run_schedule: Runner, tensor: Maker) -> None:
    # sum(relu(a @ w)): fused, the matmul would be a loop nest inside the sum's loop, a kernel with no output
    # loop to tile or vectorize; stored, it is a matmul kernel, and the sum reads its outputs once.
    schedule = run_schedule([relu(matmul(tensor((64, 64)), tensor((64, 128)))).reduce_axis(Ops.ADD, (0, 1))])
    assert len(schedule.items) == 2
    assert [_ops(schedule, position).count(Ops.REDUCE) for position in (0, 1)] == [1, 1]
    # A small one stays fused (see the test above).
    assert len(run_schedule([matmul(tensor((4, 4)), tensor((4, 8))).reduce_axis(Ops.ADD, (0, 1))]).items) == 1


def _write(target: UOp, values: UOp, offset: int, strides: tuple[int, ...]) -> UOp:
    return UOp(Ops.WRITE, target.dtype, (target, values), (offset, strides))


def test_a_write_stores_its_region_into_the_targets_own_buffer(run_schedule: Runner, tensor: Maker) -> None:
    target = tensor((6, 8)).src[0]
    values = tensor((3, 4))
    written = _write(target, values + values, 9, (16, -1))  # flat 9 + 16 i - j: any strided region
    schedule = run_schedule([written.reshape((6, 8)), written + written])
    assert len(schedule.items) == 2
    assert schedule.items[0].output is target
    assert schedule.results[written.reshape((6, 8))].src[0] is target
    assert target not in {buffer for each in schedule.frees for buffer in each}


def test_a_write_into_a_copy_leaves_the_original_alone(run_schedule: Runner, tensor: Maker) -> None:
    original = tensor((10,))  # a flat BUFFER itself
    written = _write(original.contiguous(), tensor((2,)), 3, (4,))
    schedule = run_schedule([written, original + original])
    assert [item.output is original for item in schedule.items].count(True) == 0


def _expensive(x: UOp, rounds: int) -> UOp:
    """An elementwise value costing about 8 ops per round (an exp and a few plain ops each): random numbers."""
    for _ in range(rounds):
        x = (x * x.const_like(1.5) + x.const_like(0.25)).alu(Ops.EXP).alu(Ops.SIN)
    return x


def test_an_expensive_value_broadcast_into_a_matmul_is_computed_once(run_schedule: Runner, tensor: Maker) -> None:
    # Fused, each element of the left operand would be computed once per column of the result.
    noisy = _expensive(tensor((6, 5)), 3)
    schedule = run_schedule([matmul(noisy, tensor((5, 4)))])
    assert len(schedule.items) == 2
    assert _ops(schedule, 0).count(Ops.REDUCE) == 0
    assert _ops(schedule, 1).count(Ops.EXP) == 0


def test_a_cheap_value_broadcast_into_a_matmul_fuses(run_schedule: Runner, tensor: Maker) -> None:
    scaled = tensor((6, 5)) * UOp.full((6, 5), dtypes.float32, 2.0) + UOp.full((6, 5), dtypes.float32, 1.0)
    schedule = run_schedule([matmul(_expensive(scaled, 1), tensor((5, 4)))])
    assert len(schedule.items) == 1


def test_an_expensive_value_of_two_targets_is_computed_once(run_schedule: Runner, tensor: Maker) -> None:
    noisy = _expensive(tensor((4, 5)), 3)
    schedule = run_schedule([noisy + noisy.const_like(1.0), noisy * noisy.const_like(2.0)])
    assert len(schedule.items) == 3
    assert [_ops(schedule, position).count(Ops.EXP) for position in range(3)] == [3, 0, 0]


def test_an_expensive_value_read_once_per_element_fuses(run_schedule: Runner, tensor: Maker) -> None:
    noisy = _expensive(tensor((4, 5)), 3)
    schedule = run_schedule([noisy.reduce_axis(Ops.ADD, (1,))])
    assert len(schedule.items) == 1


def test_a_gather_read_by_every_column_panel_of_a_matmul_is_computed_once(run_schedule: Runner, tensor: Maker) -> None:
    # Embedding rows fed to a layer: fused, the gather would be recomputed (a dependent, clamped, scalar load) for
    # each column panel the matmul's tile reads its rows in; stored, the matmul reads plain rows.
    table, indices = tensor((20, 16)), tensor((64,), dtypes.int32)
    rows = UOp(Ops.TAKE, dtypes.float32, (table, indices))
    assert len(run_schedule([matmul(rows, tensor((16, 64)))]).items) == 2
    # Read once per element, it fuses.
    assert len(run_schedule([rows * rows.const_like(2.0)]).items) == 1


def _heavy(x: UOp) -> UOp:
    """An epilogue costing as much as a GELU's tanh: a few transcendentals and divisions per element (bounded,
    well-conditioned ones, so the two oracles agree closely)."""
    for _ in range(2):
        x = x.alu(Ops.SIN).alu(Ops.DIV, x.alu(Ops.COS) + x.const_like(3.0))
    return x


def test_an_expensive_epilogue_of_a_large_matmul_is_a_kernel_of_its_own(run_schedule: Runner, tensor: Maker) -> None:
    # Fused, the epilogue would be unrolled over the matmul's register tile as scalar code; alone it vectorizes.
    schedule = run_schedule([_heavy(matmul(tensor((64, 8)), tensor((8, 128))))], rtol=1e-4)
    assert len(schedule.items) == 2
    assert _ops(schedule, 1).count(Ops.REDUCE) == 0
    # A cheap epilogue (relu) and a small matmul keep theirs.
    assert len(run_schedule([relu(matmul(tensor((64, 8)), tensor((8, 128))))]).items) == 1
    assert len(run_schedule([_heavy(matmul(tensor((8, 8)), tensor((8, 16))))], rtol=1e-4).items) == 1
