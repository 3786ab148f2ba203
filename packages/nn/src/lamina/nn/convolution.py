"""Sliding windows as pure movement, and the convolution and pooling built on them.

`sliding_windows` turns (..., H, W) into (..., out_h, out_w, k_h, k_w) without copying: a stack of
one shifted, strided view per tap, so that element (o, k) is x[o * stride + k * dilation].
Convolution is then a broadcast multiply with the weight and a sum over (C/groups, k_h, k_w), and
pooling a max or mean over the window axes, so the scheduler fuses each into kernels that read the
input directly (the optimizer writes the taps out, which folds the stack's masks); no im2col
buffer is ever materialised.
"""

from __future__ import annotations

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
    sizes = x.shape[-2:]
    described = f"kernel {kernel}, stride {stride}, dilation {dilation}"
    if any(value <= 0 for value in (*kernel, *stride, *dilation)):
        raise ValueError(f"windows need positive sizes, got {described}")
    outs = (
        output_size(sizes[0], kernel[0], stride[0], dilation[0]),
        output_size(sizes[1], kernel[1], stride[1], dilation[1]),
    )
    if any(out <= 0 for out in outs):
        raise ValueError(f"windows of {described} do not fit an input of spatial size {sizes}")
    # One shifted (and strided) view of x per tap, stacked: tap (i, j) of window (o, p) is
    # x[o * stride + i * dilation, p * stride + j * dilation]. Every view is plain offset arithmetic, so
    # the gradient of a stack is a sum of shifted views too: a direct correlation, no division.
    taps = [
        _strided(x, (i * dilation[0], j * dilation[1]), outs, stride)
        for i in range(kernel[0])
        for j in range(kernel[1])
    ]
    stacked = taps[0].stack(*taps[1:], dim=-1)
    return stacked.reshape((*x.shape[:-2], outs[0], outs[1], kernel[0], kernel[1]))


def _strided(x: Tensor, start: tuple[int, int], outs: tuple[int, int], stride: tuple[int, int]) -> Tensor:
    """x[..., start_h :: stride_h, start_w :: stride_w], `outs` elements along each."""
    lead = [None] * (x.ndim - 2)
    spans = [out * step for out, step in zip(outs, stride, strict=True)]
    # The last window may end inside the final stride step: pad so every row holds out * stride elements.
    short = [max(begin + span - size, 0) for begin, span, size in zip(start, spans, x.shape[-2:], strict=True)]
    padded = x.pad(((0, 0),) * (x.ndim - 2) + ((0, short[0]), (0, short[1]))) if any(short) else x
    view = padded.shrink([*lead, (start[0], start[0] + spans[0]), (start[1], start[1] + spans[1])])
    if stride == (1, 1):
        return view
    split = view.reshape((*x.shape[:-2], outs[0], stride[0], outs[1], stride[1]))
    picked = split.shrink([*lead, None, (0, 1), None, (0, 1)])
    return picked.reshape((*x.shape[:-2], outs[0], outs[1]))


def _pad_spatial(x: Tensor, padding: tuple[int, int], value: int | float) -> Tensor:
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
    x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None, padding: IntOrPair, fill: int | float
) -> Tensor:
    kernel = as_pair(kernel_size, "kernel_size")
    steps = kernel if stride is None else as_pair(stride, "stride")
    pads = as_pair(padding, "padding")
    if pads[0] * 2 > kernel[0] or pads[1] * 2 > kernel[1]:
        raise ValueError(f"pool padding {pads} must be at most half the kernel size {kernel}")
    if steps == kernel and pads == (0, 0) and x.ndim >= 2:
        return _tiles(x, kernel)
    return sliding_windows(_pad_spatial(x, pads, fill), kernel, steps, (1, 1))


def _tiles(x: Tensor, kernel: tuple[int, int]) -> Tensor:
    """(..., H, W) as (..., H // k_h, W // k_w, k_h, k_w): windows that tile the input (stride = kernel).

    A reshape and a permute, where the stack of strided views would be masks and divisions: its
    gradient (max pooling's, into the activation) would test the parity of every index.
    """
    lead = x.shape[:-2]
    outs = (x.shape[-2] // kernel[0], x.shape[-1] // kernel[1])
    if outs[0] <= 0 or outs[1] <= 0:
        raise ValueError(
            f"windows of kernel {kernel}, stride {kernel} do not fit an input of spatial size {x.shape[-2:]}"
        )
    # Like torch, rows and columns past the last whole window are dropped.
    covered = x.shrink([*([None] * len(lead)), (0, outs[0] * kernel[0]), (0, outs[1] * kernel[1])])
    split = covered.reshape((*lead, outs[0], kernel[0], outs[1], kernel[1]))
    axes = len(lead)
    return split.permute((*range(axes), axes, axes + 2, axes + 1, axes + 3))


def max_pool2d(x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0) -> Tensor:
    """Max over each window of the last two dims (stride defaults to the kernel size); padding is the dtype's
    lowest value (-inf for floats), so it never wins."""
    return _pool_windows(x, kernel_size, stride, padding, x.dtype.min_value).amax((-2, -1))


def avg_pool2d(x: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0) -> Tensor:
    """Mean over each window of the last two dims, counting zero padding like torch's default."""
    return _pool_windows(x, kernel_size, stride, padding, 0.0).mean((-2, -1))
