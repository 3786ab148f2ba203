"""Training without the JIT keeps memory flat: every step's graphs, buffers and autograd records are freed.

The counts are the process's live UOps (the intern table holds them weakly) and live device buffers, read
after a garbage collection; they must not grow from one stretch of steps to the next.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from lamina.nn import Linear, Module, functional
from lamina.nn.optim import SGD, Adam, Optimizer
from lamina.tensor import LiveCounts, Tensor, jit, live_counts, no_grad


class _Classifier(Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = Linear(20, 16)
        self.output = Linear(16, 4)

    def __call__(self, x: Tensor) -> Tensor:
        return self.output(self.hidden(x).relu())


def _live() -> LiveCounts:
    gc.collect()
    return live_counts()


@pytest.mark.parametrize(
    "make_optimizer",
    [lambda params: Adam(params, lr=1e-3), lambda params: SGD(params, lr=0.1, momentum=0.9)],
    ids=["adam", "sgd-momentum"],
)
def test_untraced_training_steps_leave_no_uops_or_buffers_behind(make_optimizer: object) -> None:
    Tensor.manual_seed(0)
    model = _Classifier()
    optimizer: Optimizer = make_optimizer(model.parameters())  # type: ignore[operator]
    rng = np.random.default_rng(0)

    def step() -> float:
        images = Tensor(rng.standard_normal((8, 20)).astype(np.float32))
        labels = Tensor(rng.integers(0, 4, 8))
        loss = functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.item())

    for _ in range(20):  # compile, fill the caches
        step()
    before = _live()
    for _ in range(300):
        step()
    after = _live()
    assert after == before, f"live (UOps, buffers) grew from {before} to {after} over 300 steps"


def test_jitted_training_and_evaluation_leave_nothing_behind() -> None:
    Tensor.manual_seed(1)
    model = _Classifier()
    optimizer = Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(1)

    @jit
    def train(images: Tensor, labels: Tensor) -> Tensor:
        loss = functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    def batch() -> tuple[Tensor, Tensor]:
        return Tensor(rng.standard_normal((8, 20)).astype(np.float32)), Tensor(rng.integers(0, 4, 8))

    def evaluate() -> None:
        with no_grad():
            model(batch()[0]).argmax(1).numpy()

    for _ in range(10):
        train(*batch()).item()
        evaluate()
    before = _live()
    for _ in range(200):
        train(*batch()).item()
        evaluate()
    after = _live()
    assert after == before, f"live (UOps, buffers) grew from {before} to {after} over 200 steps"
