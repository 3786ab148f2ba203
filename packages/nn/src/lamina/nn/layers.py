"""The layers: Linear, Embedding, Dropout, Flatten and Sequential, initialised like torch (convolutions and
pooling: conv_layers.py).

Weights use torch's defaults (kaiming_uniform with a = sqrt(5), which is uniform in
±1/sqrt(fan_in), and biases uniform in the same bound), so a model built here starts from the
same distribution as its torch twin. Each layer holds its tensors as plain attributes; `Module`
finds them. Parameters are made real as they are created: a tensor realized after a forward pass
used it would no longer be the leaf that pass's graph names, and would get no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from lamina.nn.functional import dropout, embedding
from lamina.nn.module import Module
from lamina.tensor import Tensor, realize

TORCH_KAIMING_A = math.sqrt(5)


def uniform_bias(size: int, fan_in: int) -> Tensor:
    """torch's default bias: uniform in ±1/sqrt(fan_in)."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return Tensor.uniform(size, low=-bound, high=bound, requires_grad=True)


class Linear(Module):
    """y = x @ weight.T + bias, weight of shape (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        self.weight = Tensor.kaiming_uniform(out_features, in_features, a=TORCH_KAIMING_A, requires_grad=True)
        self.bias = uniform_bias(out_features, in_features) if bias else None
        realize(*self.parameters())

    def forward(self, x: Tensor) -> Tensor:
        return x.linear(self.weight, self.bias)


class Embedding(Module):
    """Rows of a (num_embeddings, embedding_dim) table picked by integer indices."""

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Tensor.normal(num_embeddings, embedding_dim, requires_grad=True).realize()

    def forward(self, indices: Tensor) -> Tensor:
        return embedding(indices, self.weight)


class Dropout(Module):
    """Zero elements with probability p while training (the rest scaled by 1/(1-p)); identity in eval."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)


class Sequential(Module):
    """Modules applied in order; their state is named "0.weight", "1.bias", ... as in torch."""

    def __init__(self, *layers: Module) -> None:
        # Attributes named "0", "1", ... give torch's state_dict keys without special cases in Module.
        for index, layer in enumerate(layers):
            setattr(self, str(index), layer)
        self._count = len(layers)

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> Module:
        if not -self._count <= index < self._count:
            raise IndexError(f"Sequential of {self._count} layers has no layer {index}")
        layer: Module = getattr(self, str(index % self._count))
        return layer

    def __iter__(self) -> Iterator[Module]:
        return (self[index] for index in range(self._count))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self:
            x = layer(x)
        return x
