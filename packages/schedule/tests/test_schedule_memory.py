"""Memory planning: intermediates are freed once, right after their last reader; targets never are."""

from __future__ import annotations

from collections.abc import Callable

from lamina.schedule import Schedule
from lamina.uop import Ops, UOp

Runner = Callable[..., Schedule]
Maker = Callable[..., UOp]


def test_single_kernel_frees_nothing(run_schedule: Runner, tensor: Maker) -> None:
    schedule = run_schedule([tensor((4,)) + tensor((4,))])
    assert schedule.frees == ((),)


def test_intermediate_is_freed_after_its_last_reader(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((3, 4))
    first = (x + x).contiguous()
    second = (first * first).contiguous()
    schedule = run_schedule([second + first])
    assert len(schedule.items) == 3
    # `first` is read by kernels 1 and 2, `second` only by kernel 2: both go after kernel 2.
    assert schedule.frees[:2] == ((), ())
    assert set(schedule.frees[2]) == {schedule.items[0].output, schedule.items[1].output}


def test_softmax_frees_its_two_reductions_after_the_divide(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((2, 5))
    peak = x.reduce_axis(Ops.MAX, (1,)).expand(x.shape)
    exponent = (x - peak).alu(Ops.EXP)
    schedule = run_schedule([exponent.alu(Ops.DIV, exponent.reduce_axis(Ops.ADD, (1,)).expand(x.shape))])
    assert [len(each) for each in schedule.frees] == [0, 0, 2]


def test_target_that_is_also_an_intermediate_is_kept(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((3,))
    inner = (x + x).contiguous()
    schedule = run_schedule([inner, inner * inner])
    assert len(schedule.items) == 2
    assert schedule.frees == ((), ())


def test_input_buffers_are_never_freed(run_schedule: Runner, tensor: Maker) -> None:
    x = tensor((3,))
    schedule = run_schedule([((x + x).contiguous() * x).contiguous() + x])
    freed = {buffer for each in schedule.frees for buffer in each}
    assert x.op is Ops.BUFFER
    assert x not in freed
