"""Normalization layers: BatchNorm1d/2d/3d (batch statistics in training, running ones in evaluation;
momentum=None for a cumulative average), InstanceNorm1d/2d/3d, GroupNorm, LayerNorm and RMSNorm.

Running statistics are buffers (saved in `state_dict`, never trained), with torch's names, so
checkpoints exchange with torch's layers key for key.
"""

from __future__ import annotations

from collections.abc import Sequence

from lamina.dtype import dtypes
from lamina.nn.functional import batch_norm, group_norm, instance_norm, layer_norm, rms_norm
from lamina.nn.module import Module
from lamina.tensor import Tensor, no_grad, realize


class _Normalization(Module):
    """Per-channel scale and shift, and (optionally) running statistics: what batch and instance norm share."""

    running_mean: Tensor
    running_var: Tensor
    num_batches_tracked: Tensor
    # The input dims the layer takes, as torch's layers check them, and how to say so.
    dims: tuple[int, ...] = (4,)
    expected: str = "(N, C, H, W)"

    def __init__(
        self,
        num_features: int,
        eps: float,
        momentum: float | None,
        affine: bool,
        track_running_stats: bool,
    ) -> None:
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Tensor.ones(num_features, requires_grad=True) if affine else None
        self.bias = Tensor.zeros(num_features, requires_grad=True) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor.zeros(num_features))
            self.register_buffer("running_var", Tensor.ones(num_features))
            self.register_buffer("num_batches_tracked", Tensor.zeros((), dtype=dtypes.int64))
        # Real from the start, so a forward pass's graph and later reads name the same leaves (see layers.py).
        realize(*self.state_dict().values())

    def _check(self, x: Tensor) -> None:
        if x.ndim not in self.dims or x.shape[1] != self.num_features:
            shape = self.expected.replace("C", str(self.num_features))
            raise ValueError(f"{type(self).__name__}({self.num_features}) needs {shape}, got {x.shape}")

    def _factor(self) -> float | Tensor:
        """This step's weight of the batch statistics: momentum, or 1 / batches seen for a cumulative average
        (a device value: a new constant each step would be a new kernel each step)."""
        if self.momentum is not None:
            return self.momentum
        return 1.0 / self.num_batches_tracked.cast(dtypes.float32)

    def _count_batch(self) -> None:
        with no_grad():
            self.num_batches_tracked.assign(self.num_batches_tracked + 1).realize()


class _BatchNorm(_Normalization):
    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        if not self.track_running_stats:
            return batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        if self.training:
            self._count_batch()
        return batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, self.training, self._factor(), self.eps
        )


class BatchNorm1d(_BatchNorm):
    """Per-channel normalization of (N, C) or (N, C, L)."""

    dims = (2, 3)
    expected = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Per-channel normalization of (N, C, H, W)."""


class BatchNorm3d(_BatchNorm):
    """Per-channel normalization of (N, C, D, H, W)."""

    dims = (5,)
    expected = "(N, C, D, H, W)"


class _InstanceNorm(_Normalization):
    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        tracked = self.track_running_stats
        use_input_stats = self.training or not tracked
        # (torch's instance norm keeps num_batches_tracked at 0: its running averages always use momentum)
        momentum = self.momentum if self.momentum is not None else 0.1
        return instance_norm(
            x,
            self.running_mean if tracked else None,
            self.running_var if tracked else None,
            self.weight,
            self.bias,
            use_input_stats,
            momentum,
            self.eps,
        )


class InstanceNorm1d(_InstanceNorm):
    dims = (3,)
    expected = "(N, C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Per-sample, per-channel normalization of (N, C, H, W) over H and W."""


class InstanceNorm3d(_InstanceNorm):
    dims = (5,)
    expected = "(N, C, D, H, W)"


class GroupNorm(Module):
    """Normalization over groups of channels of each sample, then a per-channel scale and shift."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: {num_groups} groups must divide {num_channels} channels")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.weight = Tensor.ones(num_channels, requires_grad=True) if affine else None
        self.bias = Tensor.zeros(num_channels, requires_grad=True) if affine else None
        realize(*self.parameters())

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm({self.num_groups}, {self.num_channels}) needs (N, {self.num_channels}, ...), got {x.shape}"
            )
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


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


class RMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) over the trailing `normalized_shape` dims, times a learned weight."""

    def __init__(
        self, normalized_shape: int | Sequence[int], eps: float | None = None, elementwise_affine: bool = True
    ) -> None:
        self.normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.eps = eps
        self.weight = Tensor.ones(self.normalized_shape, requires_grad=True) if elementwise_affine else None
        realize(*self.parameters())

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)
