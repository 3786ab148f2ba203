"""Sliding windows as pure movement, and the convolution and pooling built on them.

`sliding_windows` turns (..., H, W) into (..., out_h, out_w, k_h, k_w) without copying: each
spatial dim is tiled, cropped and folded so that element (o, k) lands on x[o * stride + k *
dilation]. Convolution is then a broadcast multiply with the weight and a sum over (C/groups,
k_h, k_w), and pooling a max or mean over the window axes, so the scheduler fuses each into
kernels that read the input directly; no im2col buffer is ever materialised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lamina.tensor import Tensor

IntOrPair = int | Sequence[int]


def as_pair(value: IntOrPair, name: str) -> tuple[int, int]:
    """`value` as (height, width): an int is used for both."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(each, int) for each in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return (int(pair[0]), int(pair[1]))


def output_size(size: int, kernel: int, stride: int, dilation: int) -> int:
    """How many windows of `kernel` taps (spaced `dilation`) fit in `size` at `stride`."""
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def sliding_windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> Tensor:
    """(..., H, W) viewed as (..., out_h, out_w, k_h, k_w) windows (x must already be padded)."""
    batch, sizes = x.shape[:-2], x.shape[-2:]
    described = f"kernel {kernel}, stride {stride}, dilation {dilation}"
    if any(value <= 0 for value in (*kernel, *stride, *dilation)):
        raise ValueError(f"windows need positive sizes, got {described}")
    outs = tuple(output_size(size, k, s, d) for size, k, s, d in zip(sizes, kernel, stride, dilation, strict=True))
    if any(out <= 0 for out in outs):
        raise ValueError(f"windows of {described} do not fit an input of spatial size {sizes}")
    lead = len(batch)
    # Tile each spatial dim `reps` times: after tiling, a row of length size+dilation read at (k, b) is
    # x[(k * (size + dilation) + b) mod size] = x[k * dilation + b], with no wrap-around for the b we keep.
    reps = tuple(math.ceil(k * (size + d) / size) for k, size, d in zip(kernel, sizes, dilation, strict=True))
    tiled = (
        x.reshape((*batch, 1, sizes[0], 1, sizes[1]))
        .expand((*batch, reps[0], sizes[0], reps[1], sizes[1]))
        .reshape((*batch, reps[0] * sizes[0], reps[1] * sizes[1]))
    )
    rows = tuple(size + d for size, d in zip(sizes, dilation, strict=True))
    cropped = tiled.shrink([*([None] * lead), (0, kernel[0] * rows[0]), (0, kernel[1] * rows[1])])
    folded = cropped.reshape((*batch, kernel[0], rows[0], kernel[1], rows[1]))
    # Keep out*stride positions of each row (padding when a large stride asks for more than the row holds).
    spans = tuple(out * s for out, s in zip(outs, stride, strict=True))
    bounds = [(0, 0)] * lead + [(0, 0), (0, max(spans[0] - rows[0], 0)), (0, 0), (0, max(spans[1] - rows[1], 0))]
    widened = folded.pad(tuple(bounds))
    kept = widened.shrink([*([None] * lead), None, (0, spans[0]), None, (0, spans[1])])
    strided = kept.reshape((*batch, kernel[0], outs[0], stride[0], kernel[1], outs[1], stride[1]))
    picked = strided.shrink([*([None] * lead), None, None, (0, 1), None, None, (0, 1)])
    windows = picked.reshape((*batch, kernel[0], outs[0], kernel[1], outs[1]))
    return windows.permute((*range(lead), lead + 1, lead + 3, lead, lead + 2))


def _pad_spatial(x: Tensor, padding: tuple[int, int], value: float) -> Tensor:
    return x.pad((padding[1], padding[1], padding[0], padding[0]), value=value)


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (cross-correlation) of (N, C_in, H, W) with (C_out, C_in/groups, k_h, k_w), like torch."""
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d needs a 4-D input and weight, got {x.shape} and {weight.shape}")
    batch, channels = x.shape[:2]
    out_channels, group_channels, k_h, k_w = weight.shape
    if groups <= 0 or channels % groups or out_channels % groups or channels // groups != group_channels:
        raise ValueError(
            f"conv2d: input {x.shape} with groups={groups} does not match weight {weight.shape} "
            f"(need C_in = groups * weight.shape[1] and C_out divisible by groups)"
        )
    padded = _pad_spatial(x, as_pair(padding, "padding"), 0.0)
    windows = sliding_windows(padded, (k_h, k_w), as_pair(stride, "stride"), as_pair(dilation, "dilation"))
    out_h, out_w = windows.shape[2:4]
    per_group = out_channels // groups
    # (N, G, 1, oh, ow, Cg, kh, kw) * (1, G, Cout/G, 1, 1, Cg, kh, kw), summed over the last three axes.
    grouped = windows.reshape((batch, groups, group_channels, out_h, out_w, k_h, k_w))
    lhs = grouped.permute((0, 1, 3, 4, 2, 5, 6)).unsqueeze(2)
    rhs = weight.reshape((1, groups, per_group, 1, 1, group_channels, k_h, k_w))
    result = (lhs * rhs).sum((-3, -2, -1)).reshape((batch, out_channels, out_h, out_w))
    return result if bias is None else result + bias.reshape((1, out_channels, 1, 1))


def _pool_windows(
    x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None, padding: IntOrPair, fill: float
) -> Tensor:
    kernel = as_pair(kernel_size, "kernel_size")
    steps = kernel if stride is None else as_pair(stride, "stride")
    pads = as_pair(padding, "padding")
    if pads[0] * 2 > kernel[0] or pads[1] * 2 > kernel[1]:
        raise ValueError(f"pool padding {pads} must be at most half the kernel size {kernel}")
    return sliding_windows(_pad_spatial(x, pads, fill), kernel, steps, (1, 1))


def max_pool2d(x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0) -> Tensor:
    """Max over each window of the last two dims (stride defaults to the kernel size); padding is -inf."""
    return _pool_windows(x, kernel_size, stride, padding, float("-inf")).max((-2, -1))


def avg_pool2d(x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0) -> Tensor:
    """Mean over each window of the last two dims, counting zero padding like torch's default."""
    return _pool_windows(x, kernel_size, stride, padding, 0.0).mean((-2, -1))
