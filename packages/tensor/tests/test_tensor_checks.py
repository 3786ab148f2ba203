"""Errors only the data shows: an index out of range and an integer division by zero raise like torch
(IndexError, ZeroDivisionError) when the realize that computes them runs, naming the op and the bad
value; never a silent zero. Checked on eager realizes, on JIT replays and against torch when importable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lamina.dtype import dtypes
from lamina.tensor import Tensor, jit, stats


def _kernels(action: Callable[[], object]) -> int:
    before = stats.kernels_run
    action()
    return stats.kernels_run - before


BAD_INDICES = [
    ("past-the-end", lambda: Tensor.arange(3)[Tensor([0, 7])], IndexError, "index 7 is out of bounds for dimension 0"),
    ("negative-past-the-start", lambda: Tensor.arange(3)[Tensor([-1, -5])], IndexError, "index -5 "),
    ("second-dim", lambda: Tensor.zeros(2, 3)[:, Tensor([3])], IndexError, "index 3 .* dimension 1 with size 3"),
    ("two-tensors", lambda: Tensor.zeros(2, 3)[Tensor([0]), Tensor([9])], IndexError, "index 9 "),
    ("list", lambda: Tensor.arange(3)[[0, 3]], IndexError, "index 3 "),
    ("int64-extreme", lambda: Tensor.arange(3)[Tensor([-(2**63)])], IndexError, f"index {-(2**63)} "),
    ("int32-index", lambda: Tensor.arange(3)[Tensor([5], dtype=dtypes.int32)], IndexError, "index 5 "),
    ("gather", lambda: Tensor([[1.0, 2.0]]).gather(1, Tensor([[0, 2]])), IndexError, "gather: index 2 "),
    ("gather-negative", lambda: Tensor([[1.0, 2.0]]).gather(1, Tensor([[-1, 0]])), IndexError, "gather: index -1 "),
    ("one-hot", lambda: Tensor([0, 5]).one_hot(3), IndexError, "one_hot: index 5 "),
    ("one-hot-negative", lambda: Tensor([-2, 1]).one_hot(3), IndexError, "one_hot: index -2 "),
    ("zero-size-dim", lambda: Tensor.zeros(0)[Tensor([0])], IndexError, "with size 0"),
]


@pytest.mark.parametrize(
    ("build", "error", "message"), [case[1:] for case in BAD_INDICES], ids=[c[0] for c in BAD_INDICES]
)
def test_an_index_out_of_range_raises_naming_it(build: Callable[[], Tensor], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        build().numpy()


@pytest.mark.parametrize(
    "build",
    [
        lambda: Tensor([4, 5]) // Tensor([0, 1]),
        lambda: Tensor([4, 5]) % Tensor([1, 0]),
        lambda: 7 // Tensor([3, 0]),
        lambda: 7 % Tensor([0]),
        lambda: Tensor([4], dtype=dtypes.uint8) // Tensor([0], dtype=dtypes.uint8),
        lambda: Tensor([[4, 5]], dtype=dtypes.int32) // Tensor([[1], [0]], dtype=dtypes.int32),
    ],
    ids=["floordiv", "mod", "rfloordiv", "rmod", "uint8", "broadcast"],
)
def test_an_integer_division_by_zero_raises(build: Callable[[], Tensor]) -> None:
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        build().numpy()


def test_a_constant_zero_divisor_raises_where_the_op_is_built() -> None:
    with pytest.raises(ZeroDivisionError, match="floor_divide"):
        _ = Tensor([4, 5]) // 0
    with pytest.raises(ZeroDivisionError, match="remainder"):
        _ = Tensor([4, 5]) % 0


def test_float_division_by_zero_is_not_an_error() -> None:
    np.testing.assert_array_equal((Tensor([4.0, -1.0]) // Tensor([0.0, 0.0])).numpy(), [np.inf, -np.inf])
    assert np.isnan((Tensor([4.0]) % Tensor([0.0])).numpy()[0])


def test_good_indices_and_divisors_compute_as_before() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = Tensor(values)
    np.testing.assert_array_equal(x[Tensor([2, -3, 0])].numpy(), values[[2, -3, 0]])
    np.testing.assert_array_equal(x[:, Tensor([[3], [-4]])].numpy(), values[:, [[3], [-4]]])
    np.testing.assert_array_equal(x.gather(1, Tensor([[3], [0], [2]])).numpy(), [[3], [4], [10]])
    np.testing.assert_array_equal(Tensor([2, 0]).one_hot(3).numpy(), np.eye(3, dtype=np.int64)[[2, 0]])
    np.testing.assert_array_equal((Tensor([-7, 7]) // Tensor([2, -2])).numpy(), [-4, -4])
    np.testing.assert_array_equal((Tensor([-7, 7]) % Tensor([2, -2])).numpy(), [1, -1])


def test_an_empty_index_needs_no_check() -> None:
    empty = Tensor(np.zeros(0, np.int64))
    assert Tensor.arange(3)[empty].numpy().shape == (0,)
    assert Tensor.zeros(0)[empty].numpy().shape == (0,)


def test_a_check_costs_one_small_kernel() -> None:
    values, index = Tensor.arange(8).realize(), Tensor([1, 2]).realize()
    assert _kernels(lambda: values[index].numpy()) == 2  # the pick, and the verdict over the two indices


def test_a_failed_check_leaves_the_tensor_lazy_and_raises_again() -> None:
    picked = Tensor.arange(3)[Tensor([4])]
    for _ in range(2):
        with pytest.raises(IndexError, match="index 4 "):
            picked.realize()


def test_a_check_inside_a_check_is_verified_too() -> None:
    index = Tensor([6, 2]) // Tensor([3, 0])  # the index itself divides by zero
    with pytest.raises(ZeroDivisionError):
        Tensor.arange(3)[index].numpy()
    index = Tensor([9, 2]) // Tensor([3, 1])  # divides fine, then 3 is out of range
    with pytest.raises(IndexError, match="index 3 "):
        Tensor.arange(3)[index].numpy()


def test_gradients_flow_through_a_checked_index() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[Tensor([2, 2, 0])].sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 2.0])


def test_a_jit_replay_raises_on_bad_indices_and_keeps_its_state() -> None:
    table = Tensor(np.arange(4, dtype=np.float32)).realize()
    total = Tensor([0.0]).realize()

    @jit
    def step(index: Tensor) -> Tensor:
        total.assign(total + table[index].sum())
        return total

    for _ in range(3):
        step(Tensor([1, 3])).realize()
    assert step.plan is not None
    np.testing.assert_array_equal(total.numpy(), [12.0])
    with pytest.raises(IndexError, match="index 4 "):
        step(Tensor([4, 0]))
    np.testing.assert_array_equal(total.numpy(), [12.0])
    step(Tensor([2, 2]))
    np.testing.assert_array_equal(total.numpy(), [16.0])


def test_a_jit_replay_raises_on_a_zero_divisor() -> None:
    @jit
    def divide(a: Tensor, b: Tensor) -> Tensor:
        return a // b

    for _ in range(3):
        np.testing.assert_array_equal(divide(Tensor([6]), Tensor([3])).numpy(), [2])
    with pytest.raises(ZeroDivisionError):
        divide(Tensor([6]), Tensor([0]))


@pytest.mark.parametrize("case", BAD_INDICES[:-1], ids=[c[0] for c in BAD_INDICES[:-1]])
def test_torch_refuses_the_same_indices(case: tuple[str, Callable[[], Tensor], type, str]) -> None:
    torch: Any = pytest.importorskip("torch")
    name, build, _, _ = case
    torch_cases = {
        "past-the-end": lambda: torch.arange(3)[torch.tensor([0, 7])],
        "negative-past-the-start": lambda: torch.arange(3)[torch.tensor([-1, -5])],
        "second-dim": lambda: torch.zeros(2, 3)[:, torch.tensor([3])],
        "two-tensors": lambda: torch.zeros(2, 3)[torch.tensor([0]), torch.tensor([9])],
        "list": lambda: torch.arange(3)[[0, 3]],
        "int64-extreme": lambda: torch.arange(3)[torch.tensor([-(2**63)])],
        "int32-index": lambda: torch.arange(3)[torch.tensor([5], dtype=torch.int32)],
        "gather": lambda: torch.tensor([[1.0, 2.0]]).gather(1, torch.tensor([[0, 2]])),
        "gather-negative": lambda: torch.tensor([[1.0, 2.0]]).gather(1, torch.tensor([[-1, 0]])),
        "one-hot": lambda: torch.nn.functional.one_hot(torch.tensor([0, 5]), 3),
        "one-hot-negative": lambda: torch.nn.functional.one_hot(torch.tensor([-2, 1]), 3),
    }
    with pytest.raises((IndexError, RuntimeError)):
        torch_cases[name]()
    with pytest.raises(IndexError):
        build().numpy()
