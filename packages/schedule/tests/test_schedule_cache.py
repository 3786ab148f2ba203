"""The schedule cache: a graph of a known structure reuses its kernels on its own buffers, and nothing else does."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.dtype import dtypes
from lamina.schedule import Schedule, create_schedule, graph_structure, schedule_cache, view_base
from lamina.uop import Ops, UOp, arg_key, toposort

Runner = Callable[..., Schedule]
Maker = Callable[..., UOp]


def _mlp_layer(tensor: Maker) -> UOp:
    x, weight, bias = tensor((8, 6)), tensor((6, 5)), tensor((5,))
    product = (x.reshape((8, 6, 1)).expand((8, 6, 5)) * weight.reshape((1, 6, 5)).expand((8, 6, 5))).reduce_axis(
        Ops.ADD, (1,)
    )
    hidden = product.reshape((8, 5)) + bias.reshape((1, 5)).expand((8, 5))
    return hidden.maximum(UOp.const(dtypes.float32, 0.0).reshape((1, 1)).expand((8, 5)))


def test_the_same_structure_on_new_buffers_reuses_the_kernels(run_schedule: Runner, tensor: Maker) -> None:
    first = run_schedule([_mlp_layer(tensor)])
    hits = schedule_cache.hits
    second = run_schedule([_mlp_layer(tensor)])
    assert schedule_cache.hits == hits + 1
    assert [item.ast for item in second.items] == [item.ast for item in first.items]
    # The repeat computes on its own inputs and writes fresh buffers: none is shared with the first.
    assert not {buffer for item in first.items for buffer in item.buffers} & {
        buffer for item in second.items for buffer in item.buffers
    }


def test_a_buffer_used_twice_is_not_confused_with_two_buffers(run_schedule: Runner, tensor: Maker) -> None:
    x, y = tensor((4,)), tensor((4,))
    run_schedule([x * y])
    z = tensor((4,))
    schedule = run_schedule([z * z])
    assert len(schedule.items[0].buffers) == 2


def _under(view: UOp) -> UOp:
    return view.src[0] if view.op is Ops.RESHAPE else view


def _plus(x: UOp, value: float) -> UOp:
    return x + UOp.full(x.shape, x.scalar_dtype, value)


@pytest.mark.parametrize(("a", "b"), [(0.0, -0.0), (1.0, 2.0)])
def test_constants_that_differ_give_different_structures(tensor: Maker, a: float, b: float) -> None:
    x = tensor((3,))
    assert graph_structure([_plus(x, a)], "CPU").key != graph_structure([_plus(x, b)], "CPU").key


def test_equal_constants_nan_included_give_one_structure(tensor: Maker) -> None:
    nan = float("nan")
    first, second = (graph_structure([_plus(tensor((3,)), nan)], "CPU") for _ in range(2))
    assert first.key == second.key


def test_structure_numbers_buffers_by_first_use(tensor: Maker) -> None:
    x, y = tensor((2,)), tensor((2,))
    structure = graph_structure([x + y, y], "CPU")
    assert structure.buffers == (_under(x), _under(y))
    assert graph_structure([tensor((2,)) + tensor((2,)), tensor((2,))], "CPU").key != structure.key


def test_a_target_that_is_already_a_buffer_stays_itself_on_a_hit(tensor: Maker) -> None:
    create_schedule([tensor((3,)), _plus(tensor((3,)), 1.0)], "CPU")
    x, y = tensor((3,)), tensor((3,))
    schedule = create_schedule([x, _plus(y, 1.0)], "CPU")
    assert schedule.results[x] is x
    assert _under(schedule.results[_plus(y, 1.0)]) is schedule.items[0].output


def test_a_buffer_on_another_device_is_refused_even_on_a_hit(tensor: Maker) -> None:
    create_schedule([_plus(tensor((2,)), 1.0)], "CPU")
    other = UOp.new_buffer("GPU", 2, dtypes.float32).reshape((2,))
    with pytest.raises(ValueError, match="buffer on GPU"):
        create_schedule([_plus(other, 1.0)], "CPU")


def test_checks_become_verdict_targets_and_survive_the_cache(tensor: Maker) -> None:
    from lamina.uop import Check, CheckKind, checked, toposort

    def guarded() -> UOp:
        values, index = tensor((6,)), tensor((4,), dtypes.int64)
        return checked(values * values, index, Check(CheckKind.INDEX, "index", -6, 6, 0, 6))

    for _ in range(2):  # the second is built from the cache's template
        schedule = create_schedule([guarded()], "CPU")
        assert len(schedule.checks) == 1
        verdict, check = schedule.checks[0]
        assert check.op == "index"
        assert verdict.shape in ((), (1,))
        assert len(schedule.items) == 2
        assert all(node.op is not Ops.CHECK for item in schedule.items for node in toposort([item.ast]))
        written = {item.output for item in schedule.items}
        assert view_base(verdict) in written


def test_a_variable_is_structure_and_its_value_is_not(tensor: Maker) -> None:
    position = UOp.variable("position", 0, 9)
    x = tensor((10,))

    def masked(value: int) -> UOp:
        bound = position.bind(value).reshape((1,)).expand((10,))
        return UOp.arange(10, dtypes.int32).alu(Ops.CMPLT, bound).where(x, UOp.full((10,), dtypes.float32, 0.0))

    three, five = graph_structure([masked(3)], "CPU"), graph_structure([masked(5)], "CPU")
    assert three.key == five.key
    assert (three.variables, five.variables) == ({"position": 3}, {"position": 5})
    with pytest.raises(ValueError, match="bound to both 3 and 5"):
        graph_structure([masked(3) + masked(5)], "CPU")


def test_gathers_and_variable_writes_match_the_evaluator(run_schedule: Runner, tensor: Maker) -> None:
    table = tensor((7, 3))
    rows = UOp.new_buffer("CPU", 4, dtypes.int32).reshape((2, 2))
    gathered = UOp(Ops.TAKE, dtypes.float32, (table, rows))
    run_schedule([gathered * gathered])
    target = UOp.new_buffer("CPU", 12, dtypes.float32)
    values = tensor((2,))
    moved = UOp.variable("at", 0, 5).bind(4) * UOp.const(dtypes.int32, 2)
    written = UOp(Ops.WRITE, dtypes.float32, (target, values, moved), (1, (1,)))
    schedule = run_schedule([written])
    assert schedule.variables == {"at": 4}


def _reference_structure(targets: list[UOp], device: str) -> tuple[object, tuple[UOp, ...]]:
    """The structure key as its definition says, over toposort's order: one row per node, buffers numbered by
    first use, every other node by its sources' rows."""
    position: dict[UOp, int] = {}
    buffers: list[UOp] = []
    rows: list[object] = []
    for node in toposort(targets):
        if node.op is Ops.BUFFER:
            rows.append((Ops.BUFFER, node.dtype, len(buffers), node.buffer.size))
            buffers.append(node)
        else:
            rows.append((node.op, node.dtype, arg_key(node.arg), tuple(position[source] for source in node.src)))
        position[node] = len(position)
    return (device, None, tuple(rows), tuple(position[target] for target in targets)), tuple(buffers)


@st.composite
def _graphs_over_buffers(draw: st.DrawFn) -> list[UOp]:
    """Random DAGs over a few buffers (some used twice) and constants that Python equates (0.0, -0.0, NaN)."""
    pool = [UOp.new_buffer("CPU", 4, dtypes.float32) for _ in range(draw(st.integers(1, 3)))]
    values = st.sampled_from([0.0, -0.0, float("nan"), 1.0])
    nodes = [draw(st.sampled_from(pool)) for _ in range(draw(st.integers(1, 4)))]
    nodes += [
        UOp.const(dtypes.float32, draw(values)).reshape((1,)).expand((4,)) for _ in range(draw(st.integers(0, 2)))
    ]
    for _ in range(draw(st.integers(0, 12))):
        left = nodes[draw(st.integers(0, len(nodes) - 1))]
        if draw(st.booleans()):
            nodes.append(left.alu(Ops.NEG))
        else:
            right = nodes[draw(st.integers(0, len(nodes) - 1))]
            nodes.append(left.alu(draw(st.sampled_from((Ops.ADD, Ops.MUL))), right))
    return [nodes[index] for index in draw(st.lists(st.integers(0, len(nodes) - 1), min_size=1, max_size=3))]


@settings(max_examples=200, deadline=None)
@given(_graphs_over_buffers())
def test_the_one_pass_structure_is_the_structure_by_definition(targets: list[UOp]) -> None:
    structure = graph_structure(targets, "CPU")
    assert (structure.key, structure.buffers) == _reference_structure(targets, "CPU")
