"""Pooling over 1, 2 or 3 spatial dims (max and average, with torch's padding, dilation, ceil_mode,
count_include_pad, divisor_override and return_indices), max_unpool, and the adaptive pools.

A pool is a max or mean over the window axes of `sliding_windows`; windows that tile the input (stride =
kernel, no padding) are a reshape and a permute instead, so their gradient needs no masks. ceil_mode adds
the windows that start inside the input but end past it, padding the far side with the pool's neutral
value; an average divides by the count of a "counting" input pooled the same way (1 on the input, 1 on
the explicit padding when it counts, 0 beyond), so every padding rule is one window sum. Adaptive pools
have windows of varying size: an average is a product with a constant (out, in) averaging matrix along
each dim, a max a masked max along each dim (both separable over the dims).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from lamina.dtype import dtypes
from lamina.nn.convolution import IntOrTuple, as_tuple, sliding_windows, spatial_padding
from lamina.tensor import Tensor


def _pool_output(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    reach = dilation * (kernel - 1) + 1
    span = size + 2 * padding - reach
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    # As torch: a last window must start inside the input or its left padding.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _windows(
    x: Tensor,
    count: int,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    padding: IntOrTuple,
    dilation: IntOrTuple,
    ceil_mode: bool,
    fill: int | float,
) -> tuple[Tensor, tuple[int, ...], list[tuple[int, int]]]:
    """x's pooling windows (..., *outs, *kernel) over its last `count` dims, the kernel, and the (before, after)
    padding of each dim (after includes ceil_mode's extra)."""
    kernel = as_tuple(kernel_size, count, "kernel_size")
    steps = (
        kernel
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else as_tuple(stride, count, "stride")
    )
    pads = as_tuple(padding, count, "padding")
    dilations = as_tuple(dilation, count, "dilation")
    if any(pad * 2 > k for pad, k in zip(pads, kernel, strict=True)):
        raise ValueError(f"pool padding {pads} must be at most half the kernel size {kernel}")
    if x.ndim < count + 1:
        raise ValueError(f"a {count}-d pool needs at least {count + 1} dims, got shape {x.shape}")
    sizes = x.shape[x.ndim - count :]
    outs = [
        _pool_output(size, k, s, p, d, ceil_mode)
        for size, k, s, p, d in zip(sizes, kernel, steps, pads, dilations, strict=True)
    ]
    if any(out <= 0 for out in outs):
        described = f"kernel {kernel}, stride {steps}, dilation {dilations}"
        raise ValueError(f"windows of {described} do not fit an input of spatial size {tuple(sizes)}")
    extra = [
        max((out - 1) * s + d * (k - 1) + 1 - (size + 2 * p), 0)
        for out, size, k, s, p, d in zip(outs, sizes, kernel, steps, pads, dilations, strict=True)
    ]
    pairs = [(p, p + e) for p, e in zip(pads, extra, strict=True)]
    if steps == kernel and not any(pads) and not any(extra) and all(d == 1 for d in dilations):
        return _tiles(x, kernel), kernel, pairs
    padded = x.pad(spatial_padding(pairs), value=fill)
    return sliding_windows(padded, kernel, steps, dilations), kernel, pairs


def _tiles(x: Tensor, kernel: tuple[int, ...]) -> Tensor:
    """(..., *spatial) as (..., *spatial // kernel, *kernel): windows that tile the input (stride = kernel).

    A reshape and a permute, where the stack of strided views would be masks and divisions: its gradient
    (max pooling's, into the activation) would test the parity of every index."""
    count = len(kernel)
    lead = x.shape[: x.ndim - count]
    outs = tuple(size // k for size, k in zip(x.shape[x.ndim - count :], kernel, strict=True))
    if any(out <= 0 for out in outs):
        spatial = x.shape[x.ndim - count :]
        raise ValueError(f"windows of kernel {kernel}, stride {kernel} do not fit an input of spatial size {spatial}")
    # Like torch, rows and columns past the last whole window are dropped.
    covered = x.shrink([*([None] * len(lead)), *((0, out * k) for out, k in zip(outs, kernel, strict=True))])
    split = covered.reshape((*lead, *(size for out, k in zip(outs, kernel, strict=True) for size in (out, k))))
    axes = len(lead)
    order = (*range(axes), *(axes + 2 * i for i in range(count)), *(axes + 2 * i + 1 for i in range(count)))
    return split.permute(order)


def max_pool(
    x: Tensor,
    count: int,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Max over each window of the last `count` dims; padding is the dtype's lowest value, so it never wins.
    With return_indices, also where each max is: its flat index in the (unpadded) spatial dims, as torch's."""
    windows, _, _ = _windows(x, count, kernel_size, stride, padding, dilation, ceil_mode, x.dtype.min_value)
    flat = windows.reshape((*windows.shape[: windows.ndim - count], -1))
    values, chosen = max_to_first(flat)
    if not return_indices:
        return values
    sizes = x.shape[x.ndim - count :]
    positions = Tensor(np.arange(math.prod(sizes), dtype=np.int64).reshape(sizes), device=x.device)
    position_windows, _, _ = _windows(positions.reshape((1,) * (x.ndim - count) + sizes), count, kernel_size, stride,
                                      padding, dilation, ceil_mode, -1)  # fmt: skip
    spots = position_windows.reshape((*position_windows.shape[: position_windows.ndim - count], -1)).expand(flat.shape)
    return values, spots.gather(flat.ndim - 1, chosen).squeeze(-1)


def max_to_first(values: Tensor, inside: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The max along the last axis and, kept, the position of its first occurrence (a NaN's, if any), counting
    only the positions `inside` marks. Its gradient goes to that element alone, as torch's max pooling routes it
    through its indices (amax shares it among ties: after a relu, a window of zeros is a four-way tie)."""
    length = values.shape[-1]
    masked = values if inside is None else inside._select(values, values.dtype.min_value)
    peak = masked.amax(-1, keepdim=True)
    hits = masked.eq(peak.expand(masked.shape))
    if values.dtype.is_float:
        hits = hits.logical_or(masked.isnan())  # amax propagates NaN, which equals nothing
    if inside is not None:
        hits = hits.logical_and(inside)
    position = Tensor.arange(length, dtype=dtypes.int32, device=values.device)
    # The first hit: MAX over the positions counted from the end picks the smallest.
    first = length - hits._select(length - position, 0).amax(-1, keepdim=True)
    if not values.dtype.is_float:
        return peak.squeeze(-1), first
    # The sum of the first maximum alone: its value (NaN too; a -0.0 comes back +0.0, a sum's start) and all of
    # the gradient to it, even where every position holds -inf (amax of it alone would share it there).
    chosen = position.eq(first.expand((*first.shape[:-1], length)))._select(values, -0.0)
    return chosen.sum(-1).cast(values.dtype), first


def avg_pool(
    x: Tensor,
    count: int,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over each window of the last `count` dims (torch's avg_pool: zero padding counted unless
    count_include_pad is False; ceil_mode's extra positions never counted; or a fixed divisor)."""
    windows, kernel, pairs = _windows(x, count, kernel_size, stride, padding, 1, ceil_mode, 0.0)
    axes = tuple(range(-count, 0))
    if divisor_override is not None:
        if divisor_override == 0:
            raise ValueError("avg_pool's divisor_override must not be 0")
        return windows.sum(axes) / divisor_override
    padded_somewhere = any(before or after for before, after in pairs)
    if not padded_somewhere:
        return windows.mean(axes)
    # The divisor: a counting input (1 on x, 1 on the explicit padding when it counts) pooled like x.
    sizes = x.shape[x.ndim - count :]
    ones = Tensor.ones(sizes, dtype=x.dtype if x.dtype.is_float else None, device=x.device)
    pads = [before for before, _ in pairs]
    if count_include_pad:
        ones = ones.pad(spatial_padding([(p, p) for p in pads]), value=1.0)
        counted = [(0, after - p) for p, (_, after) in zip(pads, pairs, strict=True)]
    else:
        counted = pairs
    counter = ones.pad(spatial_padding(counted))
    steps = as_tuple(kernel_size, count, "kernel_size") if stride is None else as_tuple(stride, count, "stride")
    divisor = sliding_windows(counter, kernel, steps, (1,) * count).sum(axes)
    return windows.sum(axes) / divisor


def max_unpool(x: Tensor, indices: Tensor, count: int, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, output_size: Sequence[int] | None = None) -> Tensor:  # fmt: skip
    """The inverse of max_pool with return_indices: each value written at its index, zeros elsewhere."""
    kernel = as_tuple(kernel_size, count, "kernel_size")
    steps = kernel if stride is None else as_tuple(stride, count, "stride")
    pads = as_tuple(padding, count, "padding")
    spatial = x.shape[x.ndim - count :]
    default = tuple((size - 1) * s - 2 * p + k for size, s, p, k in zip(spatial, steps, pads, kernel, strict=True))
    target = default if output_size is None else tuple(output_size)[-count:]
    if indices.shape != x.shape:
        raise ValueError(f"max_unpool: indices of shape {indices.shape} need the input's shape {x.shape}")
    lead = x.shape[: x.ndim - count]
    flat_values = x.reshape((*lead, -1))
    flat_indices = indices.reshape((*lead, -1))
    zeros = Tensor.zeros((*lead, math.prod(target)), dtype=x.dtype, device=x.device)
    return zeros.scatter(len(lead), flat_indices, flat_values).reshape((*lead, *target))


def _adaptive_windows(size: int, out: int) -> npt.NDArray[np.bool_]:
    """(out, size): row i marks window i, [floor(i * size / out), ceil((i + 1) * size / out)), as torch's."""
    windows = np.zeros((out, size), dtype=np.bool_)
    for row in range(out):
        windows[row, (row * size) // out : -(-((row + 1) * size) // out)] = True
    return windows


def _along_each(
    x: Tensor,
    count: int,
    output_size: IntOrTuple | Sequence[int | None],
    reduce: Callable[[Tensor, npt.NDArray[np.bool_]], Tensor],
    last_first: bool = False,
) -> Tensor:
    """`reduce(x with the dim moved last, its windows)` along each of the last `count` dims in turn (from the
    last one when `last_first`)."""
    result = x
    sizes = list(enumerate(_adaptive_sizes(x, count, output_size)))
    for axis, out in reversed(sizes) if last_first else sizes:
        dim = x.ndim - count + axis
        result = reduce(result.movedim(dim, -1), _adaptive_windows(x.shape[dim], out)).movedim(-1, dim)
    return result


def adaptive_avg_pool(x: Tensor, count: int, output_size: IntOrTuple | Sequence[int | None]) -> Tensor:
    """Means over windows that divide each of the last `count` dims into output_size parts: a product with an
    averaging matrix along each."""

    def average(moved: Tensor, windows: npt.NDArray[np.bool_]) -> Tensor:
        # The weights are constants, made on the host: uploaded, not computed by kernels.
        weights = windows / windows.sum(-1, keepdims=True)
        return moved @ Tensor(weights.T.copy(), device=x.device).cast(x.dtype)

    return _along_each(x, count, output_size, average)


def adaptive_max_pool(x: Tensor, count: int, output_size: IntOrTuple | Sequence[int | None]) -> Tensor:
    """Maxima over windows that divide each of the last `count` dims into output_size parts."""

    def maximum(moved: Tensor, windows: npt.NDArray[np.bool_]) -> Tensor:
        inside = Tensor(windows, device=x.device)
        spread = moved.unsqueeze(-2).expand((*moved.shape[:-1], *windows.shape))
        return max_to_first(spread, inside.expand(spread.shape))[0]

    # The last dim first: the first maximum along it, then the first of those along the dim before, is the first
    # maximum of the window in row-major order, where torch's gradient goes.
    return _along_each(x, count, output_size, maximum, last_first=True)


def _adaptive_sizes(x: Tensor, count: int, output_size: IntOrTuple | Sequence[int | None]) -> tuple[int, ...]:
    if x.ndim < count + 1:
        raise ValueError(f"a {count}-d adaptive pool needs at least {count + 1} dims, got shape {x.shape}")
    sizes = x.shape[x.ndim - count :]
    wanted = (output_size,) * count if isinstance(output_size, int) else tuple(output_size)
    if len(wanted) != count:
        raise ValueError(f"output_size must be an int or {count} sizes, got {output_size!r}")
    resolved = tuple(size if out is None else int(out) for out, size in zip(wanted, sizes, strict=True))
    if any(out <= 0 for out in resolved):
        raise ValueError(f"adaptive pool output sizes must be positive, got {resolved}")
    return resolved
