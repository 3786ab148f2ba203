"""The transform itself: accumulation, shared nodes, long chains, which targets get gradients, lean graphs, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import dtypes
from lamina.gradient import GradientRule, compute_gradient, gradient_rules
from lamina.uop import AxisKind, Ops, UOp, toposort
from lamina.uop.reference import evaluate

Array = npt.NDArray[Any]
Checker = Callable[..., None]
Gradients = Callable[..., list[Array]]
BufferFor = Callable[[Array], UOp]


def test_node_used_twice_gets_both_contributions(gradients_of: Gradients) -> None:
    x = np.array([1.0, -2.0, 3.0])
    (grad,) = gradients_of(lambda a: a * a, x)
    np.testing.assert_array_equal(grad, 2 * x)


def test_gradients_from_several_consumers_add(check_gradient: Checker, rng: np.random.Generator) -> None:
    def fan_out(x: UOp, y: UOp) -> UOp:
        shared = x * y
        return shared.alu(Ops.SIN) + shared.alu(Ops.COS) * x - shared.reduce_axis(Ops.ADD, (1,)).expand(x.shape)

    check_gradient(fan_out, rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))


def test_each_node_rule_runs_once(monkeypatch: pytest.MonkeyPatch, buffer_for: BufferFor) -> None:
    calls: list[UOp] = []
    sin_rule = gradient_rules[Ops.SIN]

    def counting(node: UOp, grad: UOp) -> tuple[UOp | None, ...]:
        calls.append(node)
        return sin_rule(node, grad)

    counted: GradientRule = counting
    monkeypatch.setitem(gradient_rules, Ops.SIN, counted)
    x = buffer_for(np.zeros(3))
    shared = x.alu(Ops.SIN)
    root = shared * shared + shared
    compute_gradient(root, root.const_like(1.0), [x])
    assert calls == [shared]


def test_a_10000_op_chain_differentiates(buffer_for: BufferFor) -> None:
    data = np.array([0.3, -0.7])
    x = buffer_for(data)
    scale = x.const_like(0.9999)
    chain = x
    for _ in range(5_000):
        chain = (chain * scale).alu(Ops.SIN)
    # The seed is built from x's shape: asking the unwalked chain for its shape would recurse through it.
    grads = compute_gradient(chain, x.const_like(1.0), [x])
    (grad,) = evaluate([grads[x]], {x: data})
    value, expected = data.copy(), np.ones(2)
    for _ in range(5_000):
        expected = expected * 0.9999 * np.cos(value * 0.9999)
        value = np.sin(value * 0.9999)
    np.testing.assert_allclose(grad, expected, rtol=1e-9)


def test_gradients_accumulate_over_thousands_of_consumers(buffer_for: BufferFor) -> None:
    data = np.array([1.0, 2.0])
    x = buffer_for(data)
    total = x
    for step in range(10_000):
        total = total + x * x.const_like(float(step % 7))
    grads = compute_gradient(total, x.const_like(1.0), [x])
    (grad,) = evaluate([grads[x]], {x: data})
    np.testing.assert_allclose(grad, 1.0 + sum(step % 7 for step in range(10_000)))


def test_targets_not_reached_are_absent(buffer_for: BufferFor) -> None:
    x, unused = buffer_for(np.zeros(2)), buffer_for(np.zeros(2))
    root = x.alu(Ops.EXP)
    assert set(compute_gradient(root, root.const_like(1.0), [x, unused])) == {x}


def test_target_reached_only_without_gradient_gets_zero(buffer_for: BufferFor) -> None:
    data = np.array([1.5, -0.5])
    x = buffer_for(data)
    root = x.alu(Ops.FLOOR)
    grads = compute_gradient(root, root.const_like(1.0), [x])
    (grad,) = evaluate([grads[x]], {x: data})
    np.testing.assert_array_equal(grad, [0.0, 0.0])


def test_integer_target_gets_zero_of_its_dtype(buffer_for: BufferFor) -> None:
    indices = buffer_for(np.array([1, 2], np.int32))
    root = indices.cast(dtypes.float64) * indices.cast(dtypes.float64).const_like(2.0)
    grads = compute_gradient(root, root.const_like(1.0), [indices])
    assert grads[indices].dtype == dtypes.int32
    assert grads[indices].shape == (2,)


def test_root_as_target_gets_root_grad(buffer_for: BufferFor) -> None:
    x = buffer_for(np.zeros(3))
    root = x.alu(Ops.EXP)
    seed = root.const_like(2.0)
    assert compute_gradient(root, seed, [root, x])[root] is seed


def test_intermediate_target_and_its_source_both_get_gradients(buffer_for: BufferFor) -> None:
    data = np.array([0.5, 1.0])
    x = buffer_for(data)
    middle = x * x
    root = middle.alu(Ops.SIN) + x
    grads = compute_gradient(root, root.const_like(1.0), [middle, x])
    grad_middle, grad_x = evaluate([grads[middle], grads[x]], {x: data})
    np.testing.assert_allclose(grad_middle, np.cos(data * data))
    np.testing.assert_allclose(grad_x, np.cos(data * data) * 2 * data + 1)


def test_op_without_rule_on_the_path_raises(buffer_for: BufferFor) -> None:
    x = buffer_for(np.zeros(1)).reshape(())
    loop = UOp.range(4, 0, AxisKind.REDUCE)
    root = UOp(Ops.REDUCE, dtypes.float64, (x, loop), Ops.ADD)
    with pytest.raises(NotImplementedError, match="REDUCE"):
        compute_gradient(root, root.const_like(1.0), [x])


def test_subgraph_reaching_no_target_is_not_differentiated(buffer_for: BufferFor) -> None:
    x, other = buffer_for(np.zeros(1)).reshape(()), buffer_for(np.zeros(1)).reshape(())
    loop = UOp.range(4, 0, AxisKind.REDUCE)
    # REDUCE has no gradient rule, but nothing below it is a target, so it is never asked for one.
    unruled = UOp(Ops.REDUCE, dtypes.float64, (other, loop), Ops.ADD)
    root = x * unruled
    grads = compute_gradient(root, root.const_like(1.0), [x])
    assert grads[x] is root.const_like(1.0) * unruled


def test_root_grad_of_wrong_shape_raises(buffer_for: BufferFor) -> None:
    x = buffer_for(np.zeros(3))
    with pytest.raises(ValueError, match="root_grad"):
        compute_gradient(x, UOp.full((2,), dtypes.float64, 1.0), [x])


def test_addition_passes_the_upstream_gradient_itself(buffer_for: BufferFor) -> None:
    x, y = buffer_for(np.zeros(3)), buffer_for(np.zeros(3))
    seed = buffer_for(np.zeros(3))
    grads = compute_gradient(x + y, seed, [x, y])
    assert grads[x] is seed
    assert grads[y] is seed


def test_sum_gradient_is_only_an_expand_of_the_seed(buffer_for: BufferFor) -> None:
    x = buffer_for(np.zeros(5))
    root = x.reduce_axis(Ops.ADD, (0,))
    seed = buffer_for(np.zeros(1))
    grad = compute_gradient(root, seed, [x])[x]
    assert [node.op for node in toposort(grad)] == [Ops.BUFFER, Ops.EXPAND]


def test_float32_graph_gets_float32_gradients(buffer_for: BufferFor) -> None:
    data = np.array([0.5, 2.0], np.float32)
    x = buffer_for(data)
    root = (x * x).alu(Ops.LOG)
    grads = compute_gradient(root, root.const_like(1.0), [x])
    assert grads[x].dtype == dtypes.float32
    (grad,) = evaluate([grads[x]], {x: data})
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, 2 / data, rtol=1e-6)
