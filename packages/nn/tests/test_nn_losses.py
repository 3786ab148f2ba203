"""Losses against numpy formulas: cross entropy (indices, probabilities, smoothing, ignore_index), nll, mse, bce."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from lamina.nn import functional
from lamina.nn.losses import Reduction
from lamina.tensor import Tensor

Array = npt.NDArray[np.float64]
GradCheck = Callable[[Callable[..., Tensor], Sequence[Array]], None]
REDUCTIONS: tuple[Reduction, ...] = ("none", "mean", "sum")


def log_softmax(logits: Array, axis: int) -> Array:
    shifted = logits - logits.max(axis, keepdims=True)
    result: Array = shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))
    return result


def reduce(values: Array, reduction: str) -> Array:
    if reduction == "none":
        return values
    return np.asarray(values.sum() if reduction == "sum" else values.mean())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_class_indices_matches_numpy(rng: np.random.Generator, reduction: Reduction) -> None:
    logits, target = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    expected = -log_softmax(logits, 1)[np.arange(6), target]
    out = functional.cross_entropy(Tensor(logits), Tensor(target), reduction=reduction).numpy()
    np.testing.assert_allclose(out, reduce(expected, reduction), rtol=1e-12)


def test_cross_entropy_takes_the_class_dim_as_dim_one(rng: np.random.Generator) -> None:
    logits, target = rng.standard_normal((2, 5, 3, 4)), rng.integers(0, 5, (2, 3, 4))
    log_probs = log_softmax(logits, 1)
    expected = -np.take_along_axis(log_probs, target[:, None], 1)[:, 0]
    out = functional.cross_entropy(Tensor(logits), Tensor(target), reduction="none").numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_cross_entropy_with_label_smoothing_mixes_in_the_uniform_distribution(rng: np.random.Generator) -> None:
    logits, target = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    log_probs = log_softmax(logits, 1)
    expected = 0.9 * -log_probs[np.arange(6), target] + 0.1 * -log_probs.mean(1)
    out = functional.cross_entropy(Tensor(logits), Tensor(target), label_smoothing=0.1).numpy()
    np.testing.assert_allclose(out, expected.mean(), rtol=1e-12)


def test_cross_entropy_ignores_targets_equal_to_ignore_index(rng: np.random.Generator) -> None:
    logits, target = rng.standard_normal((6, 5)), np.array([0, -100, 3, 4, -100, 1])
    kept = target != -100
    expected = -log_softmax(logits, 1)[np.arange(6)[kept], target[kept]]
    out = functional.cross_entropy(Tensor(logits), Tensor(target)).numpy()
    np.testing.assert_allclose(out, expected.mean(), rtol=1e-12)
    none = functional.cross_entropy(Tensor(logits), Tensor(target), reduction="none").numpy()
    assert none[1] == 0.0


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_probability_targets_matches_numpy(rng: np.random.Generator, reduction: Reduction) -> None:
    logits = rng.standard_normal((6, 5))
    probabilities = np.exp(log_softmax(rng.standard_normal((6, 5)), 1))
    smoothed = probabilities * 0.8 + 0.2 / 5
    expected = -(smoothed * log_softmax(logits, 1)).sum(1)
    out = functional.cross_entropy(
        Tensor(logits), Tensor(probabilities), reduction=reduction, label_smoothing=0.2
    ).numpy()
    np.testing.assert_allclose(out, reduce(expected, reduction), rtol=1e-12)


def test_cross_entropy_of_one_sample_without_batch_dim(rng: np.random.Generator) -> None:
    logits = rng.standard_normal(5)
    out = functional.cross_entropy(Tensor(logits), Tensor(np.array(2))).numpy()
    np.testing.assert_allclose(out, -log_softmax(logits, 0)[2], rtol=1e-12)


def test_cross_entropy_gradient_matches_finite_differences(rng: np.random.Generator, grad_check: GradCheck) -> None:
    target = Tensor(rng.integers(0, 5, 6))
    grad_check(
        lambda logits: functional.cross_entropy(logits, target, label_smoothing=0.1), [rng.standard_normal((6, 5))]
    )


def test_cross_entropy_matches_torch(rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    logits, target = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(target), label_smoothing=0.1)
    out = functional.cross_entropy(Tensor(logits), Tensor(target), label_smoothing=0.1).numpy()
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-12)


def test_cross_entropy_rejects_targets_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="does not match"):
        functional.cross_entropy(Tensor.zeros(4, 3), Tensor(np.zeros(5, dtype=np.int64)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_picks_the_target_log_probability(rng: np.random.Generator, reduction: Reduction) -> None:
    log_probs, target = log_softmax(rng.standard_normal((6, 5)), 1), rng.integers(0, 5, 6)
    out = functional.nll_loss(Tensor(log_probs), Tensor(target), reduction=reduction).numpy()
    np.testing.assert_allclose(out, reduce(-log_probs[np.arange(6), target], reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_numpy(rng: np.random.Generator, reduction: Reduction) -> None:
    prediction, target = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    out = functional.mse_loss(Tensor(prediction), Tensor(target), reduction).numpy()
    np.testing.assert_allclose(out, reduce((prediction - target) ** 2, reduction), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_numpy(rng: np.random.Generator, reduction: Reduction) -> None:
    probabilities, target = rng.uniform(0.05, 0.95, (6, 5)), rng.uniform(0, 1, (6, 5))
    expected = -(target * np.log(probabilities) + (1 - target) * np.log(1 - probabilities))
    out = functional.binary_cross_entropy(Tensor(probabilities), Tensor(target), reduction).numpy()
    np.testing.assert_allclose(out, reduce(expected, reduction), rtol=1e-12)


def test_binary_cross_entropy_clamps_logs_at_minus_100() -> None:
    out = functional.binary_cross_entropy(Tensor(np.array([0.0, 1.0])), Tensor(np.array([1.0, 0.0])), "none")
    np.testing.assert_array_equal(out.numpy(), [100.0, 100.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits_matches_numpy(rng: np.random.Generator, reduction: Reduction) -> None:
    logits, target = rng.standard_normal((6, 5)) * 3, rng.uniform(0, 1, (6, 5))
    probabilities = 1 / (1 + np.exp(-logits))
    expected = -(target * np.log(probabilities) + (1 - target) * np.log(1 - probabilities))
    out = functional.binary_cross_entropy_with_logits(Tensor(logits), Tensor(target), reduction).numpy()
    np.testing.assert_allclose(out, reduce(expected, reduction), rtol=1e-10)


def test_binary_cross_entropy_with_logits_is_stable_for_huge_logits() -> None:
    logits, target = Tensor(np.array([1000.0, -1000.0, 1000.0])), Tensor(np.array([1.0, 0.0, 0.0]))
    out = functional.binary_cross_entropy_with_logits(logits, target, "none").numpy()
    np.testing.assert_allclose(out, [0.0, 0.0, 1000.0])


def test_binary_cross_entropy_with_logits_weights_positives(rng: np.random.Generator) -> None:
    logits, target = rng.standard_normal((6, 5)), rng.uniform(0, 1, (6, 5))
    weight = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    log_sigmoid = -np.log1p(np.exp(-logits))
    expected = -(weight * target * log_sigmoid + (1 - target) * (log_sigmoid - logits))
    out = functional.binary_cross_entropy_with_logits(Tensor(logits), Tensor(target), "none", Tensor(weight))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)


def test_unknown_reduction_is_rejected() -> None:
    with pytest.raises(ValueError, match="reduction must be one of"):
        functional.mse_loss(Tensor.zeros(2), Tensor.zeros(2), "average")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [3, -1, -101])
def test_a_class_index_out_of_range_raises_index_error(bad: int) -> None:
    logits = Tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match=f"cross_entropy target: index {bad} is out of bounds"):
        functional.cross_entropy(logits, Tensor([0, bad])).numpy()
    with pytest.raises(IndexError, match=f"index {bad} "):
        functional.nll_loss(logits, Tensor([bad, 1])).numpy()


def test_ignore_index_is_not_a_range_error() -> None:
    logits = Tensor(np.zeros((2, 3), np.float32))
    loss = functional.cross_entropy(logits, Tensor([2, -100]))
    np.testing.assert_allclose(loss.numpy(), np.log(3.0), rtol=1e-6)
    loss = functional.cross_entropy(logits, Tensor([7, 1]), ignore_index=7)
    np.testing.assert_allclose(loss.numpy(), np.log(3.0), rtol=1e-6)
