"""The networks `lamina mnist` trains (the 784-128-10 MLP and a small convolutional net) and its training step."""

from __future__ import annotations

from collections.abc import Callable

from lamina.nn import Conv2d, Linear, Module
from lamina.nn import functional as F  # noqa: N812 - the name every torch user reads
from lamina.nn.optim import Optimizer
from lamina.tensor import Tensor


class MLP(Module):
    """784 -> 128 -> 10 with a ReLU: the seed's network."""

    def __init__(self, hidden: int = 128) -> None:
        self.hidden = Linear(28 * 28, hidden)
        self.output = Linear(hidden, 10)

    def forward(self, images: Tensor) -> Tensor:
        return self.output(self.hidden(images.flatten(1)).relu())


class ConvNet(Module):
    """conv(8) - relu - conv(16) - relu - maxpool - linear: small enough for a laptop CPU."""

    def __init__(self) -> None:
        self.conv1 = Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = Conv2d(8, 16, kernel_size=3, padding=1)
        self.output = Linear(16 * 14 * 14, 10)

    def forward(self, images: Tensor) -> Tensor:
        x = images.reshape(images.shape[0], 1, 28, 28)
        x = self.conv1(x).relu()
        x = self.conv2(x).relu()
        x = F.max_pool2d(x, kernel_size=2)
        return self.output(x.flatten(1))


MODELS: dict[str, type[Module]] = {"mlp": MLP, "cnn": ConvNet}


def train_step(model: Module, optimizer: Optimizer) -> Callable[[Tensor, Tensor], Tensor]:
    """One training step of `model` on a batch (forward, cross-entropy, backward, update); returns the loss."""

    def step(images: Tensor, labels: Tensor) -> Tensor:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step
