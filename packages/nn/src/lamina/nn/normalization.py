"""Normalization layers: BatchNorm2d (batch statistics in training, running ones in evaluation) and LayerNorm.

Running statistics are buffers (saved in `state_dict`, never trained), with torch's names, so
checkpoints exchange with torch's BatchNorm2d key for key.
"""

from __future__ import annotations

from collections.abc import Sequence

from lamina.dtype import dtypes
from lamina.nn.functional import batch_norm, layer_norm
from lamina.nn.module import Module
from lamina.tensor import Tensor, no_grad, realize


class BatchNorm2d(Module):
    """Per-channel normalization of (N, C, H, W)."""

    running_mean: Tensor
    running_var: Tensor
    num_batches_tracked: Tensor

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.track_running_stats = track_running_stats
        self.weight = Tensor.ones(num_features, requires_grad=True) if affine else None
        self.bias = Tensor.zeros(num_features, requires_grad=True) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor.zeros(num_features))
            self.register_buffer("running_var", Tensor.ones(num_features))
            self.register_buffer("num_batches_tracked", Tensor.zeros((), dtype=dtypes.int64))
        # Real from the start, so a forward pass's graph and later reads name the same leaves (see layers.py).
        realize(*self.state_dict().values())

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d({self.num_features}) needs (N, {self.num_features}, H, W), got {x.shape}")
        if not self.track_running_stats:
            return batch_norm(x, None, None, self.weight, self.bias, True, self.momentum, self.eps)
        if self.training:
            with no_grad():
                self.num_batches_tracked.assign(self.num_batches_tracked + 1).realize()
        return batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps
        )


class LayerNorm(Module):
    """Normalization over the trailing `normalized_shape` dims, with optional learned scale and shift."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ) -> None:
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = Tensor.ones(self.normalized_shape, requires_grad=True) if elementwise_affine else None
        self.bias = Tensor.zeros(self.normalized_shape, requires_grad=True) if elementwise_affine and bias else None
        realize(*self.parameters())

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
