"""Linear, Embedding, Dropout, BatchNorm2d and LayerNorm against numpy, including gradients and modes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import dtypes
from lamina.nn import BatchNorm2d, Dropout, Embedding, LayerNorm, Linear, functional
from lamina.tensor import Tensor

GradCheck = Callable[[Callable[..., Tensor], Sequence[npt.NDArray[np.float64]]], None]


def test_linear_initialises_like_torch_within_one_over_sqrt_fan_in() -> None:
    Tensor.manual_seed(3)
    layer = Linear(16, 32)
    assert layer.weight.shape == (32, 16)
    assert layer.bias is not None
    assert layer.bias.shape == (32,)
    bound = 1 / math.sqrt(16)
    weight = layer.weight.numpy()
    assert np.abs(weight).max() <= bound
    # Uniform on ±bound has standard deviation bound/sqrt(3); 512 samples land close to it.
    assert weight.std() == pytest.approx(bound / math.sqrt(3), rel=0.15)
    assert np.abs(layer.bias.numpy()).max() <= bound
    assert layer.weight.requires_grad


def test_linear_computes_x_weight_transpose_plus_bias(rng: np.random.Generator) -> None:
    layer = Linear(4, 3)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    assert layer.bias is not None
    expected = x @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert Linear(4, 3, bias=False).bias is None


def test_linear_gradients_match_finite_differences(rng: np.random.Generator, grad_check: GradCheck) -> None:
    def loss(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return functional.linear(x, weight, bias).tanh().sum()

    grad_check(loss, [rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)])


def test_embedding_picks_rows_and_scatters_gradients() -> None:
    layer = Embedding(5, 3)
    indices = np.array([[0, 4], [4, 2]])
    out = layer(Tensor(indices))
    out.sum().backward()
    np.testing.assert_allclose(out.numpy(), layer.weight.numpy()[indices], rtol=1e-6)
    assert layer.weight.grad is not None
    counts = np.bincount(indices.reshape(-1), minlength=5).astype(np.float32)
    np.testing.assert_array_equal(layer.weight.grad.numpy(), np.repeat(counts[:, None], 3, axis=1))


def test_dropout_zeroes_about_p_and_scales_the_rest_in_training_only() -> None:
    Tensor.manual_seed(5)
    layer = Dropout(0.25)
    x = Tensor.ones(64, 64)
    out = layer(x).numpy()
    kept = out != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.03)
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    layer.eval()
    assert layer(x) is x


def test_dropout_rejects_probabilities_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.5)


def test_batchnorm2d_training_uses_batch_statistics_and_updates_running_ones(rng: np.random.Generator) -> None:
    layer = BatchNorm2d(3, momentum=0.2)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32) * 2 + 1
    out = layer(Tensor(x)).numpy()
    mean = x.mean((0, 2, 3), keepdims=True)
    variance = x.var((0, 2, 3), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(variance + 1e-5), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.running_mean.numpy(), 0.2 * mean.reshape(3), rtol=1e-5)
    unbiased = x.var((0, 2, 3), ddof=1)
    np.testing.assert_allclose(layer.running_var.numpy(), 0.8 + 0.2 * unbiased, rtol=1e-5)
    assert layer.num_batches_tracked.item() == 1
    assert layer.num_batches_tracked.dtype == dtypes.int64


def test_batchnorm2d_eval_uses_running_statistics(rng: np.random.Generator) -> None:
    layer = BatchNorm2d(3)
    layer.running_mean.assign(Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32)))
    layer.running_var.assign(Tensor(np.array([4.0, 1.0, 0.25], dtype=np.float32)))
    assert layer.weight is not None
    layer.weight.assign(Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32)))
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    out = layer.eval()(Tensor(x)).numpy()
    shape = (1, 3, 1, 1)
    expected = (x - np.array([1, 2, 3]).reshape(shape)) / np.sqrt(np.array([4, 1, 0.25]).reshape(shape) + 1e-5)
    np.testing.assert_allclose(out, expected * np.array([1, 2, 3]).reshape(shape), rtol=1e-4, atol=1e-5)
    assert layer.num_batches_tracked.item() == 0


def test_batchnorm2d_gradients_match_finite_differences(rng: np.random.Generator, grad_check: GradCheck) -> None:
    def loss(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return (functional.batch_norm(x, None, None, weight, bias, training=True) ** 3).sum()

    grad_check(loss, [rng.standard_normal((4, 3, 5, 5)), rng.standard_normal(3), rng.standard_normal(3)])


def test_layer_norm_matches_numpy(rng: np.random.Generator) -> None:
    layer = LayerNorm((2, 3))
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    mean = x.mean((1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(layer(Tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert LayerNorm(3, elementwise_affine=False).parameters() == []


def test_layer_norm_gradients_match_finite_differences(rng: np.random.Generator, grad_check: GradCheck) -> None:
    def loss(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return (functional.layer_norm(x, 3, weight, bias) ** 3).sum()

    grad_check(loss, [rng.standard_normal((4, 2, 3)), rng.standard_normal(3), rng.standard_normal(3)])


def test_layer_norm_rejects_a_shape_that_is_not_trailing() -> None:
    with pytest.raises(ValueError, match="trailing dims"):
        functional.layer_norm(Tensor.zeros(2, 3), 2)


def test_embedding_refuses_an_index_outside_its_table() -> None:
    layer = Embedding(5, 3)
    for bad in (5, -1):
        with pytest.raises(IndexError, match=f"embedding: index {bad} is out of bounds for dimension 0 with size 5"):
            layer(Tensor([[0, bad]])).numpy()
