"""Laziness and realization: building ops runs nothing, realize runs each kernel once, and realized
tensors are reused rather than recomputed. Kernel counts are part of the contract.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from lamina.tensor import Tensor, realize, stats


def _kernels(action: Callable[[], object]) -> int:
    before = stats.kernels_run
    action()
    return stats.kernels_run - before


@pytest.fixture
def x() -> Tensor:
    return Tensor(np.arange(32, dtype=np.float32).reshape(4, 8))


def test_building_ops_runs_no_kernel(x: Tensor) -> None:
    assert _kernels(lambda: ((x + 1) * 2).exp().sum(1).softmax()[::2] @ Tensor.ones(2, 3)) == 0


def test_realized_tensor_used_twice_is_not_recomputed(x: Tensor) -> None:
    y = (x * 3).exp()
    assert _kernels(y.realize) == 1
    assert _kernels(y.realize) == 0
    assert _kernels(y.numpy) == 0
    assert _kernels(lambda: (y + y).realize()) == 1
    assert _kernels(lambda: (y * 2).realize()) == 1


def test_tensor_built_before_its_input_was_realized_uses_the_result(x: Tensor) -> None:
    y = x * 7
    z = y + 1
    assert _kernels(y.realize) == 1
    assert _kernels(z.realize) == 1
    np.testing.assert_array_equal(z.numpy(), np.arange(32, dtype=np.float32).reshape(4, 8) * 7 + 1)


def test_realize_of_several_tensors_shares_their_work(x: Tensor) -> None:
    a, b = (x + 1).sum(), (x + 1).max()
    assert _kernels(lambda: realize(a, b)) <= 2
    assert a.item() == pytest.approx(float((np.arange(32) + 1).sum()))
    assert b.item() == 32.0


@pytest.mark.parametrize(
    ("name", "build", "kernels"),
    [
        ("elementwise-chain", lambda t: ((t + 1) * 2).exp().sqrt(), 1),
        ("broadcast-and-movement", lambda t: t.T.flip(0)[::2] * t[0, ::2].reshape(4, 1), 1),
        ("reduce", lambda t: (t * 2).sum(1), 1),
        ("matmul", lambda t: t @ t.T, 1),
        ("matmul-bias-relu", lambda t: (t @ t.T + 1).relu(), 1),
        ("detach", lambda t: t.detach() * 2, 1),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_expression_fuses_into_a_known_number_of_kernels(
    name: str, build: Callable[[Tensor], Tensor], kernels: int, x: Tensor
) -> None:
    assert _kernels(build(x).realize) == kernels


def test_constants_and_ranges_need_no_input_buffer() -> None:
    assert _kernels(lambda: Tensor.arange(6).numpy()) <= 1
    assert Tensor.zeros(3).numpy().tolist() == [0.0, 0.0, 0.0]


def test_item_and_tolist_realize(x: Tensor) -> None:
    assert (x.sum()).item() == float(np.arange(32).sum())
    assert x[1, :2].tolist() == [8.0, 9.0]
    assert bool(x[0, 1] > 0)
    with pytest.raises(ValueError, match=r"\(4, 8\)"):
        bool(x > 0)


def test_a_tensor_named_twice_is_realized_once(x: Tensor) -> None:
    doubled = x * 2
    realize(doubled, doubled)
    np.testing.assert_array_equal(doubled.numpy(), x.numpy() * 2)
