"""Creating tensors: from Python data and numpy, constants, ranges, identity, and random numbers.

Random numbers are generated on the device: the tests check reproducibility after
`manual_seed`, independence between calls, ranges, and rough moments of the distributions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lamina.dtype import DType, dtypes
from lamina.engine import stats
from lamina.tensor import Tensor

Matcher = Callable[..., None]

# data, dtype argument, expected dtype, expected shape
FROM_DATA: list[tuple[Any, DType | None, DType, tuple[int, ...]]] = [
    ([1, 2, 3], None, dtypes.int64, (3,)),
    ([[1.5, 2.0]], None, dtypes.float32, (1, 2)),
    ([True, False], None, dtypes.bool, (2,)),
    ([1, 2.5], None, dtypes.float32, (2,)),
    ([1, 2], dtypes.float64, dtypes.float64, (2,)),
    ([1.7, -2.2], dtypes.int8, dtypes.int8, (2,)),
    (3, None, dtypes.int64, ()),
    (2.5, None, dtypes.float32, ()),
    (True, None, dtypes.bool, ()),
    (2.5, dtypes.float16, dtypes.float16, ()),
    ([], None, dtypes.float32, (0,)),
    (np.arange(6, dtype=np.int64).reshape(2, 3), None, dtypes.int64, (2, 3)),
    (np.arange(6, dtype=np.uint8)[::-2], None, dtypes.uint8, (3,)),
    (np.ones((2, 2), np.float16).T, None, dtypes.float16, (2, 2)),
    (np.zeros((0, 4), np.float64), None, dtypes.float64, (0, 4)),
    (np.float16(1.5), None, dtypes.float16, ()),
    (np.int8(-3), None, dtypes.int8, ()),
]


@pytest.mark.parametrize(("data", "dtype", "expected_dtype", "shape"), FROM_DATA, ids=lambda value: None)
def test_tensor_from_data_keeps_values_and_infers_dtype(
    data: Any, dtype: DType | None, expected_dtype: DType, shape: tuple[int, ...], matches: Matcher
) -> None:
    tensor = Tensor(data, dtype=dtype)
    assert tensor.dtype == expected_dtype
    assert tensor.shape == shape
    matches(tensor, np.asarray(data, dtype=np.float64 if expected_dtype.is_float else None))


def test_numpy_item_and_tolist_round_trip() -> None:
    tensor = Tensor([[1, 2], [3, 4]])
    assert tensor.tolist() == [[1, 2], [3, 4]]
    assert Tensor(2.5).item() == 2.5
    assert Tensor([7]).item() == 7
    assert isinstance(Tensor([True]).item(), bool)
    with pytest.raises(ValueError, match=re.escape("(2, 2)")):
        tensor.item()


@pytest.mark.parametrize(
    ("data", "error"),
    [([[1, 2], [3]], ValueError), (["a", "b"], TypeError), ([None], TypeError)],
    ids=["ragged", "strings", "none"],
)
def test_tensor_rejects_data_that_is_not_numbers(data: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        Tensor(data)


def test_tensor_of_a_tensor_is_rejected() -> None:
    with pytest.raises(TypeError):
        Tensor(Tensor([1.0]))  # type: ignore[arg-type]


def test_unknown_device_is_rejected() -> None:
    with pytest.raises((KeyError, ValueError)):
        Tensor([1.0], device="NOPE")


# factory, expected numpy values, expected dtype
CONSTANTS: list[tuple[str, Callable[[], Tensor], Any, DType]] = [
    ("zeros", lambda: Tensor.zeros(2, 3), np.zeros((2, 3)), dtypes.float32),
    ("zeros-tuple", lambda: Tensor.zeros((2, 3), dtype=dtypes.int8), np.zeros((2, 3)), dtypes.int8),
    ("ones", lambda: Tensor.ones(3), np.ones(3), dtypes.float32),
    ("ones-bool", lambda: Tensor.ones(2, dtype=dtypes.bool), np.ones(2, bool), dtypes.bool),
    ("empty", lambda: Tensor.empty(0, 2), np.zeros((0, 2)), dtypes.float32),
    ("full-int", lambda: Tensor.full((2,), 7), np.full(2, 7), dtypes.int64),
    ("full-float", lambda: Tensor.full((2, 1), 2.5), np.full((2, 1), 2.5), dtypes.float32),
    ("full-bool", lambda: Tensor.full(2, True), np.ones(2, bool), dtypes.bool),
    ("full-dtype", lambda: Tensor.full((), 3, dtype=dtypes.float64), np.float64(3), dtypes.float64),
    ("zeros_like", lambda: Tensor([[1, 2]]).zeros_like(), np.zeros((1, 2)), dtypes.int64),
    ("ones_like", lambda: Tensor([1.0]).ones_like(dtypes.float16), np.ones(1), dtypes.float16),
    ("full_like", lambda: Tensor([1.0, 2.0]).full_like(4), np.full(2, 4.0), dtypes.float32),
    ("empty_like", lambda: Tensor.zeros(2, 0).empty_like(), np.zeros((2, 0)), dtypes.float32),
    ("arange", lambda: Tensor.arange(5), np.arange(5), dtypes.int64),
    ("arange-start", lambda: Tensor.arange(2, 9, 3), np.arange(2, 9, 3), dtypes.int64),
    ("arange-negative", lambda: Tensor.arange(5, -4, -2), np.arange(5, -4, -2), dtypes.int64),
    ("arange-float", lambda: Tensor.arange(0.5, 2.0, 0.25), np.arange(0.5, 2.0, 0.25), dtypes.float32),
    ("arange-empty", lambda: Tensor.arange(3, 1), np.arange(3, 1), dtypes.int64),
    ("arange-dtype", lambda: Tensor.arange(4, dtype=dtypes.float64), np.arange(4.0), dtypes.float64),
    ("arange-large", lambda: Tensor.arange(1000)[-3:], np.arange(997, 1000), dtypes.int64),
    ("linspace", lambda: Tensor.linspace(-1, 2, 7), np.linspace(-1, 2, 7), dtypes.float32),
    ("linspace-one", lambda: Tensor.linspace(3, 5, 1), np.linspace(3, 5, 1), dtypes.float32),
    ("linspace-zero", lambda: Tensor.linspace(3, 5, 0), np.linspace(3, 5, 0), dtypes.float32),
    ("eye", lambda: Tensor.eye(3), np.eye(3), dtypes.float32),
    ("eye-rect", lambda: Tensor.eye(2, 4, dtype=dtypes.int32), np.eye(2, 4), dtypes.int32),
]


@pytest.mark.parametrize(("name", "factory", "expected", "dtype"), CONSTANTS, ids=[case[0] for case in CONSTANTS])
def test_constant_factories_match_numpy(
    name: str, factory: Callable[[], Tensor], expected: Any, dtype: DType, matches: Matcher
) -> None:
    matches(factory(), np.asarray(expected), dtype=dtype)


def test_like_functions_are_outside_the_autograd_graph() -> None:
    source = Tensor([1.0, 2.0], requires_grad=True)
    assert not source.zeros_like().requires_grad
    assert not source.full_like(3.0).requires_grad


@pytest.mark.parametrize(
    "factory",
    [lambda: Tensor.zeros(-1), lambda: Tensor.arange(0, 5, 0), lambda: Tensor.linspace(0, 1, -1)],
    ids=["negative-size", "zero-step", "negative-steps"],
)
def test_bad_factory_arguments_are_rejected(factory: Callable[[], Tensor]) -> None:
    with pytest.raises(ValueError, match=r"-1|nonzero"):
        factory()


# name, sampler drawing `count` values, check of the values' range, expected mean, expected std
DISTRIBUTIONS: list[tuple[str, Callable[[int], Tensor], tuple[float, float], float, float]] = [
    ("rand", lambda count: Tensor.rand(count), (0.0, 1.0), 0.5, math.sqrt(1 / 12)),
    ("uniform", lambda count: Tensor.uniform(count, low=-2.0, high=4.0), (-2.0, 4.0), 1.0, 6 / math.sqrt(12)),
    ("randn", lambda count: Tensor.randn(count), (-8.0, 8.0), 0.0, 1.0),
    ("normal", lambda count: Tensor.normal(count, mean=3.0, std=0.5), (-1.0, 7.0), 3.0, 0.5),
    ("randint", lambda count: Tensor.randint(-3, 5, size=(count,)), (-3, 4), 0.5, math.sqrt((8**2 - 1) / 12)),
    ("rand-float16", lambda count: Tensor.rand(count, dtype=dtypes.float16), (0.0, 1.0), 0.5, math.sqrt(1 / 12)),
]


@pytest.mark.parametrize(
    ("sampler", "bounds", "mean", "std"), [case[1:] for case in DISTRIBUTIONS], ids=[case[0] for case in DISTRIBUTIONS]
)
def test_random_values_have_the_right_range_and_moments(
    sampler: Callable[[int], Tensor], bounds: tuple[float, float], mean: float, std: float
) -> None:
    Tensor.manual_seed(1)
    values = sampler(20000).numpy().astype(np.float64)
    low, high = bounds
    assert values.min() >= low
    assert values.max() <= high if isinstance(high, int) else values.max() < high
    # 20000 samples: the standard error of the mean is std / 141, so 5% of std is a > 7-sigma margin.
    assert abs(values.mean() - mean) < 0.05 * std
    assert abs(values.std() - std) < 0.05 * std


def test_randint_covers_every_value_in_the_range() -> None:
    Tensor.manual_seed(2)
    values = Tensor.randint(10, size=(2000,)).numpy()
    assert set(values.tolist()) == set(range(10))
    assert Tensor.randint(0, 3, size=(2, 4)).shape == (2, 4)
    assert Tensor.randint(3, (2, 5)).shape == (2, 5)
    assert Tensor.randint(3, (50,)).numpy().max() == 2
    assert Tensor.randint(0, 3, size=(4,), dtype=dtypes.int64).dtype == dtypes.int64


def test_randint_rejects_an_empty_range() -> None:
    with pytest.raises(ValueError, match=re.escape("[5, 5)")):
        Tensor.randint(5, 5)


def test_manual_seed_makes_random_numbers_reproducible() -> None:
    Tensor.manual_seed(42)
    first = [Tensor.rand(3, 4).numpy(), Tensor.randn(5).numpy(), Tensor.randint(0, 100, size=(6,)).numpy()]
    Tensor.manual_seed(42)
    second = [Tensor.rand(3, 4).numpy(), Tensor.randn(5).numpy(), Tensor.randint(0, 100, size=(6,)).numpy()]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_successive_calls_and_seeds_give_different_numbers() -> None:
    Tensor.manual_seed(0)
    first, second = Tensor.rand(64).numpy(), Tensor.rand(64).numpy()
    Tensor.manual_seed(1)
    other_seed = Tensor.rand(64).numpy()
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, other_seed)
    # Neighbouring elements are uncorrelated.
    assert abs(np.corrcoef(first[:-1], first[1:])[0, 1]) < 0.4


def test_random_tensor_is_fixed_once_realized() -> None:
    Tensor.manual_seed(3)
    values = Tensor.rand(8)
    np.testing.assert_array_equal(values.numpy(), values.numpy())
    np.testing.assert_array_equal((values + 0).numpy(), values.numpy())


@pytest.mark.parametrize(
    ("factory", "bound"),
    [
        (lambda: Tensor.kaiming_uniform(64, 32), math.sqrt(3.0) * math.sqrt(2.0 / (1 + 0.01**2)) / math.sqrt(32)),
        (lambda: Tensor.glorot_uniform(64, 32), math.sqrt(6.0 / (64 + 32))),
        (lambda: Tensor.kaiming_uniform(8, 4, 3, 3), math.sqrt(3.0) * math.sqrt(2.0 / (1 + 0.01**2)) / 6),
    ],
    ids=["kaiming", "glorot", "kaiming-conv"],
)
def test_initializers_stay_within_their_bound(factory: Callable[[], Tensor], bound: float) -> None:
    Tensor.manual_seed(4)
    values = factory().numpy()
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.9 * bound
    assert abs(values.mean()) < 0.1 * bound


def test_random_factories_can_require_grad() -> None:
    weights = Tensor.kaiming_uniform(4, 3, requires_grad=True)
    assert weights.requires_grad
    assert Tensor.randn(2, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="int64"):
        Tensor([1, 2], requires_grad=True)


def test_random_calls_reuse_one_compiled_kernel() -> None:
    from lamina.tensor import stats

    Tensor.rand(7, 3).numpy()
    built = stats.programs_built
    for _ in range(3):
        Tensor.rand(7, 3).numpy()
    # The seed and call number are data, not constants in the kernel's source.
    assert stats.programs_built == built


def test_random_operands_of_a_matmul_are_generated_once_not_per_multiply_add() -> None:
    # Fused into the matmul, each random number would be generated again for every column it meets.
    Tensor.manual_seed(3)
    a, b = Tensor.randn(64, 96), Tensor.randn(96, 32)
    before = stats.kernels_run
    product = (a @ b).realize()
    assert stats.kernels_run - before == 3  # each operand, then the matmul
    Tensor.manual_seed(3)
    expected = Tensor.randn(64, 96).numpy() @ Tensor.randn(96, 32).numpy()
    np.testing.assert_allclose(product.numpy(), expected, rtol=1e-4, atol=1e-4)
