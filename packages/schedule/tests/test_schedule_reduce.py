"""Reductions over every axis choice, nested reductions, matmuls and empty reductions run correctly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lamina.dtype import DType, dtypes
from lamina.schedule import Schedule
from lamina.uop import Ops, UOp

Runner = Callable[..., Schedule]
Maker = Callable[..., UOp]

AXES = [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]


@pytest.mark.parametrize("axes", AXES, ids=str)
@pytest.mark.parametrize("op", [Ops.ADD, Ops.MAX, Ops.MUL], ids=["ADD", "MAX", "MUL"])
def test_reduce_over_axes_matches_numpy(op: Ops, axes: tuple[int, ...], run_schedule: Runner, tensor: Maker) -> None:
    schedule = run_schedule([tensor((2, 3, 4)).reduce_axis(op, axes)])
    assert len(schedule.items) == 1


def test_integer_sum_and_max(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((3, 4), dtypes.int32)
    schedule = run_schedule([x.reduce_axis(Ops.ADD, (0,)), x.reduce_axis(Ops.MAX, (1,))])
    assert len(schedule.items) == 2


def test_nested_reduce_of_a_reduce(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((2, 3, 4))
    inner = x.reduce_axis(Ops.MAX, (2,))
    schedule = run_schedule([inner.reduce_axis(Ops.ADD, (1,))])
    assert len(schedule.items) == 1


def test_sum_to_a_scalar_then_reshape_to_0d(run_schedule: Runner, tensor: Maker) -> None:
    schedule = run_schedule([tensor((3, 4)).reduce_axis(Ops.ADD, (0, 1)).reshape(())])
    assert len(schedule.items) == 1


def test_reduce_of_permuted_and_padded_input(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((3, 4)).permute((1, 0)).pad(((1, 1), (0, 2)))
    run_schedule([x.reduce_axis(Ops.ADD, (1,)), x.reduce_axis(Ops.MAX, (0,))])


@pytest.mark.parametrize(("m", "k", "n"), [(1, 1, 1), (2, 3, 4), (5, 1, 3), (4, 7, 2)])
def test_matmul_matches_numpy(m: int, k: int, n: int, run_schedule: Runner, tensor: Maker) -> None:
    a, b = tensor((m, k)), tensor((k, n))
    product = a.reshape((m, 1, k)).expand((m, n, k)) * b.permute((1, 0)).reshape((1, n, k)).expand((m, n, k))
    schedule = run_schedule([product.reduce_axis(Ops.ADD, (2,)).reshape((m, n))])
    assert len(schedule.items) == 1


def test_mean_subtraction_broadcasts_the_reduce_back(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((3, 5))
    mean = x.reduce_axis(Ops.ADD, (1,)) * UOp.full((3, 1), dtypes.float32, 1 / 5)
    schedule = run_schedule([x - mean.expand((3, 5))])
    assert len(schedule.items) == 2


def test_reduce_over_an_empty_axis_gives_the_identity(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((3, 0))
    schedule = run_schedule([x.reduce_axis(Ops.ADD, (1,)), x.reduce_axis(Ops.MUL, (1,)), x.reduce_axis(Ops.MAX, (1,))])
    assert len(schedule.items) == 3


def test_reduce_of_an_empty_tensor_over_the_kept_axis_is_empty_and_needs_no_kernel(
    run_schedule: Runner, tensor: Maker
) -> None:
    schedule = run_schedule([tensor((0, 4)).reduce_axis(Ops.ADD, (1,))])
    assert schedule.items == ()


def test_a_broadcast_stack_of_shifted_views_realizes_the_reduction_under_it(
    run_schedule: Runner, tensor: Maker
) -> None:
    # A convolution's windows: shifted views of a reduced activation, joined (pad + add) and broadcast.
    # The small activation is stored, not the larger join: the consumer reads the views as index math.
    from math import prod

    from lamina.schedule import find_realize_points

    activation = tensor((4, 6)).reduce_axis(Ops.ADD, (1,)).reshape((4,))
    left = activation.pad(((0, 1),)).reshape((5, 1)).pad(((0, 0), (0, 1)))
    right = activation.pad(((1, 0),)).reshape((5, 1)).pad(((0, 0), (1, 0)))
    windows = (left + right).reshape((5, 2, 1)).expand((5, 2, 3))
    result = windows * tensor((5, 2, 3))
    realized = find_realize_points([result])
    assert sorted(prod(node.shape) for node in realized) == [4, 30]
    assert len(run_schedule([result]).items) == 2


def test_every_tap_of_a_padded_activation_reads_the_one_realized_activation(
    run_schedule: Runner, tensor: Maker
) -> None:
    # A 3-tap convolution over a zero-padded activation: each tap is a shrink of the padded value, each
    # smaller than it. Realizing one tap would leave the others computing the reduction, and the stack
    # would be stored too; the activation itself is the one value stored.
    from math import prod

    from lamina.schedule import find_realize_points

    activation = tensor((4, 6)).reduce_axis(Ops.ADD, (1,)).reshape((4,)).alu(Ops.MAX, UOp.full((4,), dtypes.float32, 0))
    padded = activation.pad(((1, 1),))
    taps = [
        padded.shrink(((start, start + 4),)).reshape((4, 1)).pad(((0, 0), (start, 2 - start))) for start in range(3)
    ]
    windows = (taps[0] + taps[1] + taps[2]).reshape((4, 3, 1)).expand((4, 3, 5))
    result = windows * tensor((4, 3, 5))
    realized = find_realize_points([result])
    assert sorted(prod(node.shape) for node in realized) == [4, 60]
    assert activation in realized
    assert len(run_schedule([result]).items) == 2


def test_a_shared_view_of_a_reduction_is_stored_as_its_source(run_schedule: Runner, tensor: Maker) -> None:
    # Two kernels read a transposed view of a reduced value: the value is stored in its own layout, and
    # the transpose stays index math for both readers (not a permuted copy).
    from lamina.schedule import find_realize_points

    value = tensor((4, 6)).reduce_axis(Ops.ADD, (1,)).reshape((2, 2)) * UOp.full((2, 2), dtypes.float32, 2)
    view = value.permute((1, 0))
    totals = view.reduce_axis(Ops.ADD, (0,))
    peaks = view.reduce_axis(Ops.MAX, (1,))
    realized = find_realize_points([totals, peaks])
    assert value in realized
    assert view not in realized
    assert len(run_schedule([totals, peaks]).items) == 3


def _reduces(schedule: Schedule) -> list[UOp]:
    from lamina.uop import toposort

    return [node for item in schedule.items for node in toposort(item.ast) if node.op is Ops.REDUCE]


def test_padded_sums_over_equal_loops_join_into_one_reduction(run_schedule: Runner, tensor: Maker) -> None:
    # A convolution's input gradient in small: each tap's sum over channels, shifted by a padding, then added.
    grad, weights = tensor((5, 4)), tensor((5, 3))
    taps = []
    for tap in range(3):
        products = grad * weights.shrink(((0, 5), (tap, tap + 1))).expand((5, 4))
        taps.append(products.reduce_axis(Ops.ADD, (0,)).reshape((4,)).pad(((tap, 2 - tap),)))
    result = taps[0] + taps[1] + taps[2]
    schedule = run_schedule([result])
    assert len(schedule.items) == 1
    assert len(_reduces(schedule)) == 1


def test_sums_over_loops_of_different_lengths_stay_apart(run_schedule: Runner, tensor: Maker) -> None:
    result = tensor((4, 3)).reduce_axis(Ops.ADD, (1,)) + tensor((4, 5)).reduce_axis(Ops.ADD, (1,))
    assert len(_reduces(run_schedule([result]))) == 2


def test_maxima_are_not_joined(run_schedule: Runner, tensor: Maker) -> None:
    result = tensor((4, 3)).reduce_axis(Ops.MAX, (1,)) + tensor((4, 3)).reduce_axis(Ops.MAX, (1,))
    assert len(_reduces(run_schedule([result]))) == 2


@pytest.mark.parametrize(("size", "index_dtype"), [(2**31 - 1, dtypes.int32), (2**31 + 5, dtypes.int64)])
def test_a_kernel_over_two_to_the_31_elements_indexes_with_int64(size: int, index_dtype: DType) -> None:
    from lamina.schedule import create_schedule
    from lamina.uop import toposort

    ones = UOp.full((size,), dtypes.int64, 1)
    (item,) = create_schedule([ones.reduce_axis(Ops.ADD, (0,))], "CPU").items
    ranges = [node for node in toposort([item.ast]) if node.op is Ops.RANGE]
    assert ranges
    assert all(node.dtype == index_dtype for node in ranges)
    assert int(ranges[0].src[0].arg) == size


def test_a_long_float_sum_is_a_sum_of_block_sums(run_schedule: Runner, tensor: Maker) -> None:
    from lamina.schedule.lowering import CASCADE_BLOCK, CASCADE_FROM
    from lamina.uop import toposort

    values = tensor((3, CASCADE_FROM + 5))
    schedule = run_schedule([values.reduce_axis(Ops.ADD, (1,))], rtol=1e-4)
    # The block sums are stored (the cores share them), then a second kernel adds each row's blocks.
    blocks, totals = schedule.items
    sizes = [
        [int(loop.src[0].arg) for node in toposort([item.ast]) if node.op is Ops.REDUCE for loop in node.src[1:]]
        for item in (blocks, totals)
    ]
    assert sizes == [[CASCADE_BLOCK], [-(-(CASCADE_FROM + 5) // CASCADE_BLOCK)]]
    short = run_schedule([tensor((CASCADE_FROM - 1,)).reduce_axis(Ops.ADD, (0,))], rtol=1e-4)
    assert len([node for node in toposort([short.items[0].ast]) if node.op is Ops.REDUCE]) == 1
    integers = run_schedule([tensor((CASCADE_FROM,), dtypes.int32).reduce_axis(Ops.ADD, (0,))])
    assert len([node for node in toposort([integers.items[0].ast]) if node.op is Ops.REDUCE]) == 1


@pytest.mark.parametrize("op", [Ops.ADD, Ops.MAX], ids=["sum", "max"])
def test_a_gpu_reduces_a_long_axis_in_stored_blocks(run_schedule: Runner, tensor: Maker, op: Ops) -> None:
    from lamina.schedule import GPU_LOWERING

    values = tensor((3, 10_001))  # not a whole number of blocks: the padding must be the reduction's identity
    negative = values.alu(Ops.NEG) - values.const_like(5.0)  # all below zero, so a zero pad would win a max
    schedule = run_schedule([negative.reduce_axis(op, (1,))], rtol=1e-4, lowering=GPU_LOWERING)
    assert len(schedule.items) == 2  # the block results side by side (one work item each), then their combination
    integers = run_schedule([tensor((20_000,), dtypes.int32).reduce_axis(op, (0,))], lowering=GPU_LOWERING)
    assert len(integers.items) == 2
    short = run_schedule([tensor((1000,)).reduce_axis(op, (0,))], lowering=GPU_LOWERING)
    assert len(short.items) == 1
