"""Sliding windows as pure movement, and the N-d convolutions built on them (conv1d/2d/3d and the transposed
convolutions).

`sliding_windows` turns (..., *spatial) into (..., *outs, *kernel) without copying: a stack of one shifted,
strided view per tap, so that element (o, k) is x[o * stride + k * dilation]. Convolution is then a
broadcast multiply with the weight and a sum over (C/groups, *kernel), so the scheduler fuses it into
kernels that read the input directly (the optimizer writes the taps out, which folds the stack's masks);
no im2col buffer is ever materialised. One implementation serves 1, 2 and 3 spatial dims. A transposed
convolution is the convolution its gradient is: the input spread `stride` apart, padded by the kernel's
reach, convolved with the flipped kernel, its channels' roles swapped.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from lamina.tensor import Tensor

IntOrPair = int | Sequence[int]
IntOrTuple = int | Sequence[int]


def as_tuple(value: IntOrTuple, count: int, name: str) -> tuple[int, ...]:
    """`value` as `count` ints (one per spatial dim): an int is used for all."""
    values = (value,) * count if isinstance(value, int) else tuple(value)
    if len(values) != count or any(not isinstance(each, int) for each in values):
        raise ValueError(f"{name} must be an int or {count} ints, got {value!r}")
    return tuple(int(each) for each in values)


def as_pair(value: IntOrPair, name: str) -> tuple[int, int]:
    """`value` as (height, width): an int is used for both."""
    first, second = as_tuple(value, 2, name)
    return first, second


def output_size(size: int, kernel: int, stride: int, dilation: int) -> int:
    """How many windows of `kernel` taps (spaced `dilation`) fit in `size` at `stride`."""
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def sliding_windows(x: Tensor, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> Tensor:
    """(..., *spatial) viewed as (..., *outs, *kernel) windows over the last len(kernel) dims (x already padded)."""
    count = len(kernel)
    sizes = x.shape[x.ndim - count :]
    described = f"kernel {tuple(kernel)}, stride {tuple(stride)}, dilation {tuple(dilation)}"
    if any(value <= 0 for value in (*kernel, *stride, *dilation)):
        raise ValueError(f"windows need positive sizes, got {described}")
    outs = tuple(output_size(size, k, s, d) for size, k, s, d in zip(sizes, kernel, stride, dilation, strict=True))
    if any(out <= 0 for out in outs):
        raise ValueError(f"windows of {described} do not fit an input of spatial size {tuple(sizes)}")
    # One shifted (and strided) view of x per tap, stacked: tap k of window o is x[o * stride + k * dilation].
    # Every view is plain offset arithmetic, so the gradient of a stack is a sum of shifted views too: a direct
    # correlation, no division.
    taps = [
        _strided(x, tuple(k * d for k, d in zip(tap, dilation, strict=True)), outs, tuple(stride))
        for tap in itertools.product(*(range(k) for k in kernel))
    ]
    stacked = taps[0].stack(*taps[1:], dim=-1)
    return stacked.reshape((*x.shape[: x.ndim - count], *outs, *kernel))


def _strided(x: Tensor, start: tuple[int, ...], outs: tuple[int, ...], stride: tuple[int, ...]) -> Tensor:
    """x[..., start_i :: stride_i ...] over the last len(start) dims, `outs` elements along each."""
    count = len(start)
    lead_shape = x.shape[: x.ndim - count]
    lead = [None] * len(lead_shape)
    spans = [out * step for out, step in zip(outs, stride, strict=True)]
    # The last window may end inside the final stride step: pad so every row holds out * stride elements.
    sizes = x.shape[x.ndim - count :]
    short = [max(begin + span - size, 0) for begin, span, size in zip(start, spans, sizes, strict=True)]
    padded = x.pad(((0, 0),) * len(lead_shape) + tuple((0, each) for each in short)) if any(short) else x
    view = padded.shrink([*lead, *((begin, begin + span) for begin, span in zip(start, spans, strict=True))])
    if all(step == 1 for step in stride):
        return view
    split = view.reshape((*lead_shape, *(size for out, step in zip(outs, stride, strict=True) for size in (out, step))))
    picked = split.shrink([*lead, *(bound for _ in outs for bound in (None, (0, 1)))])
    return picked.reshape((*lead_shape, *outs))


def spatial_padding(padding: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """Per-dim (before, after) pairs of the spatial dims as torch's flat pad (last dim first)."""
    return tuple(amount for before, after in reversed(padding) for amount in (before, after))


def _conv_padding(padding: IntOrTuple | str, kernel: Sequence[int], dilation: Sequence[int]) -> list[tuple[int, int]]:
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "same":
        # As torch: the total the kernel's reach needs, its odd one on the far side.
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return [(total // 2, total - total // 2) for total in totals]
    if isinstance(padding, str):
        raise ValueError(f"padding must be 'valid', 'same', an int or ints, got {padding!r}")
    return [(each, each) for each in as_tuple(padding, len(kernel), "padding")]


def conv(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple | str = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> Tensor:
    """N-d convolution (cross-correlation) of (N, C_in, *spatial) with (C_out, C_in/groups, *kernel), like torch's
    conv1d/2d/3d; the spatial dims are the weight's."""
    count = weight.ndim - 2
    name = f"conv{count}d"
    if count < 1 or x.ndim != count + 2:
        raise ValueError(f"{name} needs a {count + 2}-D input and weight, got {x.shape} and {weight.shape}")
    batch, channels = x.shape[:2]
    out_channels, group_channels = weight.shape[:2]
    kernel = weight.shape[2:]
    if groups <= 0 or channels % groups or out_channels % groups or channels // groups != group_channels:
        raise ValueError(
            f"{name}: input {x.shape} with groups={groups} does not match weight {weight.shape} "
            f"(need C_in = groups * weight.shape[1] and C_out divisible by groups)"
        )
    dilations = as_tuple(dilation, count, "dilation")
    strides = as_tuple(stride, count, "stride")
    if padding == "same" and any(step != 1 for step in strides):
        raise ValueError(f"{name}: padding='same' needs stride 1, got stride {stride}")
    padded = x.pad(spatial_padding(_conv_padding(padding, kernel, dilations)))
    windows = sliding_windows(padded, kernel, strides, dilations)
    outs = windows.shape[2 : 2 + count]
    per_group = out_channels // groups
    # (N, G, 1, *outs, Cg, *k) * (1, G, Cout/G, *1, Cg, *k), summed over the last count + 1 axes.
    grouped = windows.reshape((batch, groups, group_channels, *outs, *kernel))
    order = (0, 1, *range(3, 3 + count), 2, *range(3 + count, 3 + 2 * count))
    lhs = grouped.permute(order).unsqueeze(2)
    rhs = weight.reshape((1, groups, per_group, *(1,) * count, group_channels, *kernel))
    result = (lhs * rhs).sum(tuple(range(-count - 1, 0))).reshape((batch, out_channels, *outs))
    return result if bias is None else result + bias.reshape((1, out_channels, *(1,) * count))


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:  # fmt: skip
    if weight.ndim != 3:
        raise ValueError(f"conv1d needs a 3-D weight, got {weight.shape}")
    return conv(x, weight, bias, stride, padding, dilation, groups)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:  # fmt: skip
    """2-D convolution (cross-correlation) of (N, C_in, H, W) with (C_out, C_in/groups, k_h, k_w), like torch."""
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d needs a 4-D input and weight, got {x.shape} and {weight.shape}")
    return conv(x, weight, bias, stride, padding, dilation, groups)


def conv3d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: IntOrTuple | str = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:  # fmt: skip
    if weight.ndim != 5:
        raise ValueError(f"conv3d needs a 5-D weight, got {weight.shape}")
    return conv(x, weight, bias, stride, padding, dilation, groups)


def conv_transpose(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> Tensor:
    """N-d transposed convolution of (N, C_in, *spatial) with (C_in, C_out/groups, *kernel), like torch's
    conv_transpose1d/2d/3d: the output has (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    elements along each spatial dim."""
    count = weight.ndim - 2
    name = f"conv_transpose{count}d"
    if count < 1 or x.ndim != count + 2:
        raise ValueError(f"{name} needs a {count + 2}-D input and weight, got {x.shape} and {weight.shape}")
    in_channels, per_group = weight.shape[:2]
    kernel = weight.shape[2:]
    if groups <= 0 or x.shape[1] != in_channels or in_channels % groups:
        raise ValueError(f"{name}: input {x.shape} with groups={groups} does not match weight {weight.shape}")
    strides = as_tuple(stride, count, "stride")
    pads = as_tuple(padding, count, "padding")
    extras = as_tuple(output_padding, count, "output_padding")
    dilations = as_tuple(dilation, count, "dilation")
    if any(extra >= max(step, reach) for extra, step, reach in zip(extras, strides, dilations, strict=True)):
        raise ValueError(f"{name}: output_padding {extras} must be smaller than stride {strides} or dilation")
    spread = x
    for axis, step in enumerate(strides):
        if step > 1:  # step - 1 zeros between neighbours: (..., n, 1) padded to (..., n, step), merged, trimmed
            dim = 2 + axis
            length = spread.shape[dim]
            widened = spread.unsqueeze(dim + 1).pad(
                ((0, 0),) * (dim + 1) + ((0, step - 1),) + ((0, 0),) * (count - 1 - axis)
            )
            merged = widened.reshape((*spread.shape[:dim], length * step, *spread.shape[dim + 1 :]))
            spread = merged.narrow(dim, 0, (length - 1) * step + 1)
    # Each side padded by the kernel's reach less `padding` (cropped where negative), output_padding on the far one.
    pairs = [
        (d * (k - 1) - p, d * (k - 1) - p + extra)
        for k, d, p, extra in zip(kernel, dilations, pads, extras, strict=True)
    ]
    cropped = spread
    for axis, (before, after) in enumerate(pairs):
        dim = 2 + axis
        start, stop = max(-before, 0), cropped.shape[dim] - max(-after, 0)
        if start or stop != cropped.shape[dim]:
            cropped = cropped.narrow(dim, start, stop - start)
    padded = cropped.pad(spatial_padding([(max(before, 0), max(after, 0)) for before, after in pairs]))
    # (C_in, C_out/G, *k) as a convolution's (C_out, C_in/G, *k): per group, in and out swapped; taps flipped.
    grouped = weight.reshape((groups, in_channels // groups, per_group, *kernel)).transpose(1, 2)
    flipped = grouped.reshape((groups * per_group, in_channels // groups, *kernel)).flip(tuple(range(2, 2 + count)))
    return conv(padded, flipped, bias, 1, 0, dilations, groups)


def conv_transpose1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:  # fmt: skip
    if weight.ndim != 3:
        raise ValueError(f"conv_transpose1d needs a 3-D weight, got {weight.shape}")
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:  # fmt: skip
    if weight.ndim != 4:
        raise ValueError(f"conv_transpose2d needs a 4-D weight, got {weight.shape}")
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:  # fmt: skip
    if weight.ndim != 5:
        raise ValueError(f"conv_transpose3d needs a 5-D weight, got {weight.shape}")
    return conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation)
