"""Train the 784-128-10 MLP on MNIST with lamina, top to bottom, in the fewest lines that stay clear.

Run it with `uv run python examples/mnist.py` (add `fashion-mnist` as an argument for Fashion-MNIST).
Every line below only builds a lazy graph until `loss.backward()`, `optimizer.step()` or `.numpy()`
asks for values; then lamina fuses the graph into kernels, writes them in C, compiles and runs them.
`@jit` on the training step captures its kernels on the second call and from then on only replays them.
"""

from __future__ import annotations

import sys

import numpy as np

from lamina.dataset import load
from lamina.nn import Linear, Module
from lamina.nn import functional as F  # noqa: N812 - the name every torch user reads
from lamina.nn.optim import Adam
from lamina.tensor import Tensor, jit, no_grad


class MLP(Module):
    def __init__(self) -> None:
        self.hidden = Linear(784, 128)
        self.output = Linear(128, 10)

    def forward(self, images: Tensor) -> Tensor:
        return self.output(self.hidden(images).relu())


def main() -> None:
    dataset = sys.argv[1] if len(sys.argv) > 1 else "mnist"
    data = load(dataset)  # type: ignore[arg-type]
    train_x = (data.train_images.reshape(-1, 784) / 255.0).astype(np.float32)
    test_x = (data.test_images.reshape(-1, 784) / 255.0).astype(np.float32)
    train_y, test_y = data.train_labels.astype(np.int64), data.test_labels.astype(np.int64)

    Tensor.manual_seed(0)
    model = MLP()
    optimizer = Adam(model.parameters(), lr=1e-3)

    @jit
    def train_step(images: Tensor, labels: Tensor) -> Tensor:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    rng = np.random.default_rng(0)
    batch = 128
    for epoch in range(3):
        order = rng.permutation(len(train_x))
        for start in range(0, len(order) - batch + 1, batch):
            picked = order[start : start + batch]
            loss = train_step(Tensor(train_x[picked]), Tensor(train_y[picked]))
        with no_grad():
            predictions = model(Tensor(test_x)).argmax(axis=1).numpy()
        print(f"epoch {epoch + 1}: loss {float(loss.item()):.3f}, test accuracy {(predictions == test_y).mean():.2%}")


if __name__ == "__main__":
    main()
