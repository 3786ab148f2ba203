"""End to end: small models trained for a few steps with each optimizer lower their loss."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.nn import BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential, functional
from lamina.nn.optim import SGD, Adam, Optimizer
from lamina.tensor import Tensor, jit, no_grad


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_tiny_mlp_loss_decreases(rng: np.random.Generator, optimizer_name: str) -> None:
    Tensor.manual_seed(0)
    model = Sequential(Linear(4, 16), ReLU(), Linear(16, 3))
    optimizer: Optimizer = (
        SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer_name == "sgd" else Adam(model.parameters(), lr=0.02)
    )
    features = rng.standard_normal((32, 4)).astype(np.float32)
    labels = (features[:, 0] > 0).astype(np.int64) + (features[:, 1] > 0).astype(np.int64)
    x, y = Tensor(features), Tensor(labels)
    losses = []
    for _ in range(8):
        loss = functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    assert losses[-1] < losses[0] * 0.8


def test_tiny_convnet_with_batchnorm_trains_and_evaluates(rng: np.random.Generator) -> None:
    Tensor.manual_seed(1)
    model = Sequential(Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), Flatten(), Linear(4 * 6 * 6, 2))
    optimizer = Adam(model.parameters(), lr=0.02)
    images = rng.standard_normal((8, 1, 6, 6)).astype(np.float32)
    labels = (images[:, 0, :3].mean((1, 2)) > images[:, 0, 3:].mean((1, 2))).astype(np.int64)
    x, y = Tensor(images), Tensor(labels)
    losses = []
    for _ in range(6):
        loss = functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    assert losses[-1] < losses[0]
    model.eval()
    with no_grad():
        assert model(x).shape == (8, 2)


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_jitted_training_of_a_convnet_with_batchnorm_equals_eager(
    rng: np.random.Generator, optimizer_name: str
) -> None:
    images = rng.standard_normal((6, 8, 1, 6, 6)).astype(np.float32)
    labels = rng.integers(0, 2, (6, 8))

    def train(use_jit: bool) -> tuple[list[float], np.ndarray]:
        Tensor.manual_seed(2)
        model = Sequential(Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), Flatten(), Linear(4 * 6 * 6, 2))
        optimizer: Optimizer = (
            SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer_name == "sgd" else Adam(model.parameters())
        )

        def step(x: Tensor, y: Tensor) -> Tensor:
            loss = functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss

        run = jit(step) if use_jit else step
        losses = [float(run(Tensor(x), Tensor(y)).item()) for x, y in zip(images, labels, strict=True)]
        model.eval()
        with no_grad():
            return losses, model(Tensor(images[0])).numpy()

    eager_losses, eager_logits = train(False)
    jit_losses, jit_logits = train(True)
    np.testing.assert_allclose(jit_losses, eager_losses, rtol=1e-5)
    np.testing.assert_allclose(jit_logits, eager_logits, rtol=1e-5, atol=1e-6)
