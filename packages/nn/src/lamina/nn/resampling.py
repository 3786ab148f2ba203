"""Padding modes, resizing, pixel shuffles and blocks (torch.nn.functional's pad, interpolate, pixel_shuffle,
pixel_unshuffle, unfold, fold).

`pad` takes torch's flat pad tuples of any even length (last dim first), negative amounts cropping, and the
modes constant, reflect, replicate and circular, each built from slices and joins. `interpolate` resizes
each spatial dim by a product with a constant (out, in) matrix of its taps' weights (nearest, linear,
cubic with torch's A = -0.75 and clamped borders, area): one fused, differentiable contraction per dim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from lamina.nn.convolution import as_tuple, sliding_windows, spatial_padding
from lamina.nn.pooling import adaptive_avg_pool
from lamina.tensor import Tensor

Floats = npt.NDArray[np.float64]

PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """torch.nn.functional.pad: (left, right) for the last dim, then the one before, ...; negative crops."""
    if mode not in PAD_MODES:
        raise ValueError(f"pad mode must be one of {PAD_MODES}, got {mode!r}")
    amounts = [int(amount) for amount in pad]
    if len(amounts) % 2 or len(amounts) // 2 > x.ndim:
        raise ValueError(f"pad of shape {x.shape} needs an even number of at most {2 * x.ndim} values, got {amounts}")
    pairs = [(amounts[2 * i], amounts[2 * i + 1]) for i in range(len(amounts) // 2)]
    if mode != "constant" and value not in (None, 0, 0.0):
        raise ValueError(f"pad's value applies to mode 'constant' only, got mode {mode!r}")
    result = x
    for position, (before, after) in enumerate(pairs):
        dim = x.ndim - 1 - position
        # Crops first (negative amounts), then growth.
        start, stop = max(-before, 0), result.shape[dim] - max(-after, 0)
        if stop < start:
            raise ValueError(f"pad: cropping {-before} and {-after} from dim {dim} of size {result.shape[dim]}")
        if start or stop != result.shape[dim]:
            result = result.narrow(dim, start, stop - start)
        result = _grow(result, dim, max(before, 0), max(after, 0), mode, 0.0 if value is None else value)
    return result


def _grow(x: Tensor, dim: int, before: int, after: int, mode: str, value: float) -> Tensor:
    if not before and not after:
        return x
    if mode == "constant":
        pairs = [(0, 0)] * x.ndim
        pairs[dim] = (before, after)
        return x.pad(tuple(pairs), value=value)
    size = x.shape[dim]
    if mode == "reflect" and (before >= size or after >= size):
        raise ValueError(f"reflect padding ({before}, {after}) must be below the size {size} of dim {dim}")
    if mode == "circular" and (before > size or after > size):
        raise ValueError(f"circular padding ({before}, {after}) must be at most the size {size} of dim {dim}")
    if size == 0:
        raise ValueError(f"{mode} padding of an empty dim {dim} (shape {x.shape})")
    parts = []
    if before:
        if mode == "reflect":
            parts.append(x.narrow(dim, 1, before).flip(dim))
        elif mode == "replicate":
            parts.append(x.narrow(dim, 0, 1).repeat_interleave(before, dim))
        else:
            parts.append(x.narrow(dim, size - before, before))
    parts.append(x)
    if after:
        if mode == "reflect":
            parts.append(x.narrow(dim, size - 1 - after, after).flip(dim))
        elif mode == "replicate":
            parts.append(x.narrow(dim, size - 1, 1).repeat_interleave(after, dim))
        else:
            parts.append(x.narrow(dim, 0, after))
    return parts[0].cat(*parts[1:], dim=dim)


INTERPOLATE_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "bicubic", "area")


def interpolate(
    x: Tensor,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
) -> Tensor:
    """Resize the spatial dims (all but N and C) to `size`, or by `scale_factor`, as torch's interpolate."""
    if mode not in INTERPOLATE_MODES:
        raise ValueError(f"interpolate mode must be one of {INTERPOLATE_MODES}, got {mode!r}")
    count = x.ndim - 2
    if count < 1:
        raise ValueError(f"interpolate needs (N, C, *spatial), got shape {x.shape}")
    expected = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode)
    if expected is not None and expected != count:
        raise ValueError(f"interpolate mode {mode!r} needs {expected} spatial dims, got shape {x.shape}")
    if align_corners is not None and mode in ("nearest", "nearest-exact", "area"):
        raise ValueError(f"align_corners applies to the linear and cubic modes, not {mode!r}")
    sizes = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate needs exactly one of size and scale_factor")
    if size is not None:
        outs = (size,) * count if isinstance(size, int) else tuple(size)
        scales: tuple[float | None, ...] = (None,) * count
    else:
        assert scale_factor is not None
        factors = (scale_factor,) * count if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
        if len(factors) != count:
            raise ValueError(f"scale_factor needs {count} values, got {scale_factor!r}")
        outs = tuple(math.floor(each * factor) for each, factor in zip(sizes, factors, strict=True))
        scales = tuple(float(factor) for factor in factors)
    if len(outs) != count or any(out <= 0 for out in outs):
        raise ValueError(f"interpolate needs {count} positive output sizes, got {outs}")
    if mode == "area":
        return adaptive_avg_pool(x, count, outs)
    result = x
    for axis, (source, out, scale) in enumerate(zip(sizes, outs, scales, strict=True)):
        matrix = _weights(mode, source, out, scale, bool(align_corners))
        taps = Tensor(matrix, device=x.device).cast(x.dtype)
        dim = 2 + axis
        result = (result.movedim(dim, -1) @ taps.transpose(0, 1)).movedim(-1, dim)
    return result


def _source_positions(source: int, out: int, scale: float | None, align_corners: bool, exact: bool) -> Floats:
    """Where each output position samples the input, as torch computes it."""
    positions = np.arange(out, dtype=np.float64)
    if align_corners:
        return positions * ((source - 1) / (out - 1) if out > 1 else 0.0)
    ratio = 1.0 / scale if scale is not None else source / out
    return (positions + 0.5) * ratio - 0.5 if exact else positions * ratio


def _weights(mode: str, source: int, out: int, scale: float | None, align_corners: bool) -> Floats:
    matrix = np.zeros((out, source), dtype=np.float64)
    rows = np.arange(out)
    if mode in ("nearest", "nearest-exact"):
        exact = mode == "nearest-exact"
        positions = _source_positions(source, out, scale, False, False)
        if exact:
            positions = _source_positions(source, out, scale, False, True) + 0.5
        nearest = np.minimum(np.floor(positions).astype(np.int64), source - 1)
        matrix[rows, nearest] = 1.0
        return matrix
    positions = (
        _source_positions(source, out, scale, align_corners, True)
        if not align_corners
        else (_source_positions(source, out, scale, True, False))
    )
    if mode == "bicubic":
        base = np.floor(positions)
        fraction = positions - base
        for offset, weight in zip(range(-1, 3), _cubic_weights(fraction), strict=True):
            taps = np.clip(base.astype(np.int64) + offset, 0, source - 1)
            np.add.at(matrix, (rows, taps), weight)
        return matrix
    # Linear: torch clamps a position below 0 to 0 (not for align_corners, where none is).
    positions = np.maximum(positions, 0.0)
    low = np.minimum(np.floor(positions).astype(np.int64), source - 1)
    high = np.minimum(low + 1, source - 1)
    fraction = positions - low
    np.add.at(matrix, (rows, low), 1.0 - fraction)
    np.add.at(matrix, (rows, high), fraction)
    return matrix


def _cubic_weights(t: Floats) -> list[Floats]:
    """Keys' cubic convolution weights of the taps at -1, 0, 1, 2 for fraction t, with torch's A = -0.75."""
    a = -0.75

    def near(d: Floats) -> Floats:
        return np.asarray(((a + 2) * d - (a + 3)) * d * d + 1, dtype=np.float64)

    def far(d: Floats) -> Floats:
        return np.asarray(((a * d - 5 * a) * d + 8 * a) * d - 4 * a, dtype=np.float64)

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def pixel_shuffle(x: Tensor, upscale_factor: int) -> Tensor:
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r)."""
    r = upscale_factor
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: channels (dim -3) of shape {x.shape} must divide by {r}^2")
    *lead, channels, height, width = x.shape
    split = x.reshape((*lead, channels // (r * r), r, r, height, width))
    axes = len(lead)
    order = (*range(axes), axes, axes + 3, axes + 1, axes + 4, axes + 2)
    return split.permute(order).reshape((*lead, channels // (r * r), height * r, width * r))


def pixel_unshuffle(x: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W)."""
    r = downscale_factor
    if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: height and width of shape {x.shape} must divide by {r}")
    *lead, channels, height, width = x.shape
    split = x.reshape((*lead, channels, height // r, r, width // r, r))
    axes = len(lead)
    order = (*range(axes), axes, axes + 2, axes + 4, axes + 1, axes + 3)
    return split.permute(order).reshape((*lead, channels * r * r, height // r, width // r))


def unfold(
    x: Tensor, kernel_size: int | Sequence[int], dilation: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
    stride: int | Sequence[int] = 1,
) -> Tensor:  # fmt: skip
    """(N, C, H, W) -> (N, C * k_h * k_w, L): every sliding block as a column (torch's F.unfold, im2col), a view."""
    if x.ndim != 4:
        raise ValueError(f"unfold needs (N, C, H, W), got shape {x.shape}")
    kernel, dilations = as_tuple(kernel_size, 2, "kernel_size"), as_tuple(dilation, 2, "dilation")
    pads, strides = as_tuple(padding, 2, "padding"), as_tuple(stride, 2, "stride")
    padded = x.pad(spatial_padding([(p, p) for p in pads]))
    windows = sliding_windows(padded, kernel, strides, dilations)  # (N, C, oh, ow, kh, kw)
    batch, channels, out_h, out_w = windows.shape[:4]
    return windows.permute((0, 1, 4, 5, 2, 3)).reshape((batch, channels * kernel[0] * kernel[1], out_h * out_w))


def fold(
    x: Tensor, output_size: int | Sequence[int], kernel_size: int | Sequence[int], dilation: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0, stride: int | Sequence[int] = 1,
) -> Tensor:  # fmt: skip
    """(N, C * k_h * k_w, L) -> (N, C, H, W): the blocks summed back where unfold took them (torch's F.fold)."""
    size, kernel = as_tuple(output_size, 2, "output_size"), as_tuple(kernel_size, 2, "kernel_size")
    dilations, pads = as_tuple(dilation, 2, "dilation"), as_tuple(padding, 2, "padding")
    strides = as_tuple(stride, 2, "stride")
    padded_size = tuple(s + 2 * p for s, p in zip(size, pads, strict=True))
    outs = tuple(
        (s - d * (k - 1) - 1) // st + 1 for s, d, k, st in zip(padded_size, dilations, kernel, strides, strict=True)
    )
    taps = kernel[0] * kernel[1]
    if x.ndim != 3 or x.shape[1] % taps or x.shape[2] != outs[0] * outs[1]:
        raise ValueError(
            f"fold: input {x.shape} needs (N, C * {taps}, {outs[0] * outs[1]}) for output {size}, kernel {kernel}"
        )
    batch, channels = x.shape[0], x.shape[1] // taps
    blocks = x.reshape((batch, channels, kernel[0], kernel[1], outs[0], outs[1]))
    total: Tensor | None = None
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            # Tap (i, j) of block (o, p) lands at (o * stride + i * dilation, p * stride + j * dilation).
            placed = _spread(blocks[:, :, i, j], strides)
            before = (i * dilations[0], j * dilations[1])
            after = tuple(full - b - s for full, b, s in zip(padded_size, before, placed.shape[2:], strict=True))
            part = placed.pad(spatial_padding([(before[0], after[0]), (before[1], after[1])]))
            total = part if total is None else total + part
    assert total is not None
    return total[:, :, pads[0] : pads[0] + size[0], pads[1] : pads[1] + size[1]]


def _spread(x: Tensor, strides: tuple[int, ...]) -> Tensor:
    """(N, C, a, b) with stride - 1 zeros between neighbours along the last two dims."""
    result = x
    for axis, step in enumerate(strides):
        if step > 1:
            dim = 2 + axis
            length = result.shape[dim]
            widened = result.unsqueeze(dim + 1)
            pairs = [(0, 0)] * widened.ndim
            pairs[dim + 1] = (0, step - 1)
            merged = widened.pad(tuple(pairs)).reshape((*result.shape[:dim], length * step, *result.shape[dim + 1 :]))
            result = merged.narrow(dim, 0, (length - 1) * step + 1)
    return result
