"""Convolution, pooling and resampling modules with torch's names, arguments and initialization:
Conv1d/2d/3d (padding_mode included), ConvTranspose1d/2d/3d, MaxPool/AvgPool 1d/2d/3d, MaxUnpool1d/2d/3d,
AdaptiveAvgPool1d/2d/3d, AdaptiveMaxPool1d/2d/3d, Upsample, PixelShuffle, PixelUnshuffle."""

from __future__ import annotations

import math
from collections.abc import Sequence

from lamina.nn.convolution import IntOrTuple, as_tuple, conv, conv_transpose
from lamina.nn.layers import TORCH_KAIMING_A, uniform_bias
from lamina.nn.module import Module
from lamina.nn.pooling import adaptive_avg_pool, adaptive_max_pool, avg_pool, max_pool, max_unpool
from lamina.nn.resampling import interpolate, pad, pixel_shuffle, pixel_unshuffle
from lamina.tensor import Tensor, realize

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    dims = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple | str = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
    ) -> None:
        name = type(self).__name__
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: {in_channels} and {out_channels} channels must both divide into {groups} groups")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        kernel = as_tuple(kernel_size, self.dims, "kernel_size")
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.padding_mode = padding_mode
        shape = (out_channels, in_channels // groups, *kernel)
        self.weight = Tensor.kaiming_uniform(shape, a=TORCH_KAIMING_A, requires_grad=True)
        self.bias = uniform_bias(out_channels, shape[1] * math.prod(kernel)) if bias else None
        realize(*self.parameters())

    def forward(self, x: Tensor) -> Tensor:
        if self.padding_mode == "zeros" or self.padding in (0, "valid"):
            return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if isinstance(self.padding, str):
            raise ValueError(f"padding={self.padding!r} with padding_mode={self.padding_mode!r} is not supported")
        amounts = as_tuple(self.padding, self.dims, "padding")
        flat = tuple(amount for each in reversed(amounts) for amount in (each, each))
        padded = pad(x, flat, self.padding_mode)
        return conv(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class Conv1d(_ConvNd):
    dims = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) with weight (C_out, C_in/groups, k_h, k_w)."""


class Conv3d(_ConvNd):
    dims = 3


class _ConvTransposeNd(Module):
    dims = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrTuple = 1,
    ) -> None:
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{type(self).__name__}: {in_channels} and {out_channels} channels must divide into {groups} groups"
            )
        kernel = as_tuple(kernel_size, self.dims, "kernel_size")
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.groups, self.dilation = groups, dilation
        shape = (in_channels, out_channels // groups, *kernel)
        self.weight = Tensor.kaiming_uniform(shape, a=TORCH_KAIMING_A, requires_grad=True)
        self.bias = uniform_bias(out_channels, shape[1] * math.prod(kernel)) if bias else None
        realize(*self.parameters())

    def forward(self, x: Tensor) -> Tensor:
        return conv_transpose(
            x, self.weight, self.bias, self.stride, self.padding, self.output_padding, self.groups, self.dilation
        )


class ConvTranspose1d(_ConvTransposeNd):
    dims = 1


class ConvTranspose2d(_ConvTransposeNd):
    pass


class ConvTranspose3d(_ConvTransposeNd):
    dims = 3


class _MaxPoolNd(Module):
    dims = 2

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        if self.return_indices:
            raise TypeError(
                f"{type(self).__name__}(return_indices=True) returns two tensors: call forward_with_indices"
            )
        result = max_pool(x, self.dims, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        assert isinstance(result, Tensor)
        return result

    def __call__(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:  # type: ignore[override]
        if self.return_indices:
            return max_pool(
                x, self.dims, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, True
            )
        return self.forward(x)


class MaxPool1d(_MaxPoolNd):
    dims = 1


class MaxPool2d(_MaxPoolNd):
    pass


class MaxPool3d(_MaxPoolNd):
    dims = 3


class _AvgPoolNd(Module):
    dims = 2

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool(x, self.dims, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                        self.count_include_pad, self.divisor_override)  # fmt: skip


class AvgPool1d(_AvgPoolNd):
    dims = 1


class AvgPool2d(_AvgPoolNd):
    pass


class AvgPool3d(_AvgPoolNd):
    dims = 3


class _MaxUnpoolNd(Module):
    dims = 2

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Tensor, indices: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        return max_unpool(x, indices, self.dims, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool1d(_MaxUnpoolNd):
    dims = 1


class MaxUnpool2d(_MaxUnpoolNd):
    pass


class MaxUnpool3d(_MaxUnpoolNd):
    dims = 3


class _AdaptivePool(Module):
    dims = 2
    maximum = False

    def __init__(self, output_size: int | Sequence[int | None]) -> None:
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        pool = adaptive_max_pool if self.maximum else adaptive_avg_pool
        return pool(x, self.dims, self.output_size)


class AdaptiveAvgPool1d(_AdaptivePool):
    dims = 1


class AdaptiveAvgPool2d(_AdaptivePool):
    pass


class AdaptiveAvgPool3d(_AdaptivePool):
    dims = 3


class AdaptiveMaxPool1d(_AdaptivePool):
    dims, maximum = 1, True


class AdaptiveMaxPool2d(_AdaptivePool):
    maximum = True


class AdaptiveMaxPool3d(_AdaptivePool):
    dims, maximum = 3, True


class Upsample(Module):
    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
    ) -> None:
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners

    def forward(self, x: Tensor) -> Tensor:
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)


class PixelShuffle(Module):
    def __init__(self, upscale_factor: int) -> None:
        self.upscale_factor = upscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return pixel_shuffle(x, self.upscale_factor)


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor: int) -> None:
        self.downscale_factor = downscale_factor

    def forward(self, x: Tensor) -> Tensor:
        return pixel_unshuffle(x, self.downscale_factor)
