"""The convolution family beyond conv2d: conv1d/3d, transposed convolutions, pad modes, pooling options,
unpooling, adaptive pools, interpolate and pixel shuffles. Against numpy references everywhere, and torch
(values and gradients) when it is importable."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from lamina import nn
from lamina.nn import functional as F  # noqa: N812 - the name every torch user reads
from lamina.tensor import Tensor, stats

RNG = np.random.default_rng(0)


def _torch() -> Any:
    return pytest.importorskip("torch")


def _conv_nd_reference(x: Any, w: Any, stride: int, padding: int, dilation: int) -> Any:
    """A direct N-d cross-correlation by loops over the output positions."""
    count = w.ndim - 2
    padded = np.pad(x, ((0, 0), (0, 0), *((padding, padding),) * count))
    outs = [
        (size - dilation * (k - 1) - 1) // stride + 1 for size, k in zip(padded.shape[2:], w.shape[2:], strict=True)
    ]
    out = np.zeros((x.shape[0], w.shape[0], *outs))
    for position in itertools.product(*(range(o) for o in outs)):
        window: tuple[slice, ...] = tuple(
            slice(p * stride, p * stride + dilation * (k - 1) + 1, dilation)
            for p, k in zip(position, w.shape[2:], strict=True)
        )
        patch = padded[(slice(None), slice(None), *window)]
        axes = list(range(1, w.ndim))
        spot: tuple[int | slice, ...] = (slice(None), slice(None), *position)
        out[spot] = np.tensordot(patch, w, axes=(axes, axes))
    return out


@pytest.mark.parametrize(
    ("count", "stride", "padding", "dilation"), [(1, 1, 0, 1), (1, 2, 2, 2), (3, 1, 1, 1), (3, 2, 0, 1)]
)
def test_conv1d_and_conv3d_equal_loops(count: int, stride: int, padding: int, dilation: int) -> None:
    x = RNG.standard_normal((2, 3, *([7] * count)))
    w = RNG.standard_normal((4, 3, *([3] * count)))
    function = F.conv1d if count == 1 else F.conv3d
    result = function(Tensor(x), Tensor(w), stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(result.numpy(), _conv_nd_reference(x, w, stride, padding, dilation), rtol=1e-10)


def _conv_transpose_reference(x: Any, w: Any, stride: int, padding: int, output_padding: int) -> Any:
    """Each input element scatters the kernel, scaled, into the output; then the padding is cropped."""
    count = w.ndim - 2
    full = [(size - 1) * stride + k for size, k in zip(x.shape[2:], w.shape[2:], strict=True)]
    out = np.zeros((x.shape[0], w.shape[1], *[f + output_padding for f in full]))
    for position in itertools.product(*(range(size) for size in x.shape[2:])):
        window = tuple(slice(p * stride, p * stride + k) for p, k in zip(position, w.shape[2:], strict=True))
        here = x[(slice(None), slice(None), *position)]
        out[(slice(None), slice(None), *window)] += np.tensordot(here, w, axes=([1], [0]))
    crop = tuple(slice(padding, out.shape[2 + axis] - padding) for axis in range(count))
    return out[(slice(None), slice(None), *crop)]


@pytest.mark.parametrize(
    ("count", "stride", "padding", "output_padding"), [(1, 2, 1, 1), (2, 1, 0, 0), (2, 3, 1, 2), (3, 2, 1, 0)]
)
def test_transposed_convolutions_equal_scatter_loops(
    count: int, stride: int, padding: int, output_padding: int
) -> None:
    x = RNG.standard_normal((2, 3, *([4] * count)))
    w = RNG.standard_normal((3, 2, *([3] * count)))
    result = F.conv_transpose2d if count == 2 else (F.conv_transpose1d if count == 1 else F.conv_transpose3d)
    ours = result(Tensor(x), Tensor(w), stride=stride, padding=padding, output_padding=output_padding)
    np.testing.assert_allclose(
        ours.numpy(), _conv_transpose_reference(x, w, stride, padding, output_padding), rtol=1e-10, atol=1e-12
    )


def test_convolutions_equal_torch_with_gradients() -> None:
    torch = _torch()
    # module name, positional and keyword arguments (the same for torch's), input shape
    cases: list[tuple[str, tuple[Any, ...], dict[str, Any], tuple[int, ...]]] = [
        ("Conv1d", (4, 6, 3), {"stride": 2, "padding": 1, "groups": 2}, (2, 4, 9)),
        ("Conv2d", (2, 3, (3, 2)), {"padding": "same", "dilation": 2}, (2, 2, 6, 5)),
        ("Conv2d", (2, 3, 3), {"padding": 2, "padding_mode": "reflect"}, (1, 2, 5, 6)),
        ("Conv2d", (2, 3, 3), {"padding": 1, "padding_mode": "circular"}, (1, 2, 5, 6)),
        ("Conv3d", (2, 2, 2), {"stride": (1, 2, 1)}, (1, 2, 4, 5, 3)),
        ("ConvTranspose1d", (4, 2, 3), {"stride": 2, "output_padding": 1, "groups": 2}, (2, 4, 5)),
        ("ConvTranspose2d", (3, 2, (3, 2)), {"stride": (2, 1), "padding": (1, 0), "dilation": 2}, (2, 3, 4, 3)),
        ("ConvTranspose3d", (2, 2, 2), {"stride": 2}, (1, 2, 2, 3, 2)),
    ]
    for name, arguments, keywords, shape in cases:
        ours = getattr(nn, name)(*arguments, **keywords)
        theirs = getattr(torch.nn, name)(*arguments, **keywords)
        theirs = theirs.double()
        theirs.weight.data = torch.tensor(ours.weight.numpy().astype(np.float64))
        theirs.bias.data = torch.tensor(ours.bias.numpy().astype(np.float64))
        values = RNG.standard_normal(shape)
        x, tx = Tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
        result, expected = ours(x.float()), theirs(tx)
        np.testing.assert_allclose(result.numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-5)
        result.square().sum().backward()
        expected.square().sum().backward()
        assert x.grad is not None
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes_equal_numpy(mode: str) -> None:
    values = RNG.standard_normal((2, 3, 5, 4))
    numpy_mode: Any = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    ours = F.pad(Tensor(values), (1, 2, 3, 0), mode=mode)
    np.testing.assert_allclose(ours.numpy(), np.pad(values, ((0, 0), (0, 0), (3, 0), (1, 2)), mode=numpy_mode))
    cropped = F.pad(Tensor(values), (-1, 2, 0, -2), mode=mode)
    grown = np.pad(values[:, :, :3, 1:], ((0, 0), (0, 0), (0, 0), (0, 2)), mode=numpy_mode)
    np.testing.assert_allclose(cropped.numpy(), grown)
    fill = 2.5 if mode == "constant" else None
    three = F.pad(Tensor(values), (1, 1, 1, 1, 1, 1), value=fill, mode=mode)
    extra: dict[str, Any] = {"constant_values": 2.5} if mode == "constant" else {}
    np.testing.assert_allclose(
        three.numpy(), np.pad(values, ((0, 0), (1, 1), (1, 1), (1, 1)), mode=numpy_mode, **extra)
    )


def test_pad_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="must be below the size"):
        F.pad(Tensor.ones(1, 1, 3), (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="even number"):
        F.pad(Tensor.ones(2, 2), (1,))
    with pytest.raises(ValueError, match="pad mode"):
        F.pad(Tensor.ones(2, 2), (1, 1), mode="mirror")


def test_pooling_options_equal_torch() -> None:
    torch = _torch()
    tf = torch.nn.functional
    values = RNG.standard_normal((2, 3, 9, 8))
    x, t = Tensor(values), torch.tensor(values)
    pairs = [
        (F.max_pool2d(x, 3, 2, 1, ceil_mode=True), tf.max_pool2d(t, 3, 2, 1, ceil_mode=True)),
        (F.max_pool2d(x, 2, 1, 0, dilation=2), tf.max_pool2d(t, 2, 1, 0, dilation=2)),
        (F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), tf.avg_pool2d(t, 3, 2, 1, ceil_mode=True)),
        (F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), tf.avg_pool2d(t, 3, 2, 1, count_include_pad=False)),
        (
            F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
            tf.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        ),
        (F.avg_pool2d(x, 2, divisor_override=3), tf.avg_pool2d(t, 2, divisor_override=3)),
        (F.max_pool1d(x[0], 3, 2), tf.max_pool1d(t[0], 3, 2)),
        (F.avg_pool1d(x[0], 4, 3, 2, ceil_mode=True), tf.avg_pool1d(t[0], 4, 3, 2, ceil_mode=True)),
        (F.max_pool3d(x, 2, (1, 2, 2)), tf.max_pool3d(t, 2, (1, 2, 2))),
        (F.avg_pool3d(x, 2, 1, 1), tf.avg_pool3d(t, 2, 1, 1)),
        (F.adaptive_avg_pool2d(x, (4, 3)), tf.adaptive_avg_pool2d(t, (4, 3))),
        (F.adaptive_avg_pool2d(x, (None, 5)), tf.adaptive_avg_pool2d(t, (None, 5))),
        (F.adaptive_avg_pool1d(x[0], 5), tf.adaptive_avg_pool1d(t[0], 5)),
        (F.adaptive_max_pool2d(x, (4, 3)), tf.adaptive_max_pool2d(t, (4, 3))),
        (F.adaptive_max_pool1d(x[0], 3), tf.adaptive_max_pool1d(t[0], 3)),
    ]  # fmt: skip
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)


def test_max_pool_indices_and_unpool_equal_torch() -> None:
    torch = _torch()
    values = RNG.standard_normal((2, 2, 7, 6))
    values[0, 0, 0, :2] = 5.0  # a tie: the first wins
    pooled, indices = F.max_pool2d(Tensor(values), 3, 2, 1, return_indices=True)
    expected, expected_indices = torch.nn.functional.max_pool2d(torch.tensor(values), 3, 2, 1, return_indices=True)
    np.testing.assert_allclose(pooled.numpy(), expected.numpy())
    np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())
    unpooled = F.max_unpool2d(pooled, indices, 3, 2, 1, output_size=(7, 6))
    np.testing.assert_allclose(
        unpooled.numpy(),
        torch.nn.functional.max_unpool2d(expected, expected_indices, 3, 2, 1, output_size=(7, 6)).numpy(),
    )
    _, module_indices = nn.MaxPool2d(3, 2, 1, return_indices=True)(Tensor(values))  # type: ignore[misc]
    np.testing.assert_array_equal(module_indices.numpy(), expected_indices.numpy())


@pytest.mark.parametrize(
    ("mode", "size", "scale", "align"),
    [
        ("nearest", (5, 7), None, None),
        ("nearest", None, 2.0, None),
        ("nearest-exact", (3, 11), None, None),
        ("bilinear", (5, 7), None, False),
        ("bilinear", (5, 7), None, True),
        ("bilinear", None, (1.5, 0.5), False),
        ("bicubic", (6, 9), None, False),
        ("bicubic", (6, 9), None, True),
        ("area", (2, 3), None, None),
    ],
)
def test_interpolate_equals_torch(mode: str, size: Any, scale: Any, align: Any) -> None:
    torch = _torch()
    values = RNG.standard_normal((2, 3, 4, 6))
    ours = F.interpolate(Tensor(values), size, scale, mode, align)
    theirs = torch.nn.functional.interpolate(torch.tensor(values), size, scale, mode, align)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)


def test_interpolate_1d_3d_and_nearest_against_numpy() -> None:
    values = RNG.standard_normal((1, 2, 5))
    np.testing.assert_allclose(F.interpolate(Tensor(values), scale_factor=2.0).numpy(), np.repeat(values, 2, axis=2))
    linear = F.interpolate(Tensor(values), size=9, mode="linear", align_corners=True).numpy()
    np.testing.assert_allclose(linear[..., ::2], values)
    volume = RNG.standard_normal((1, 1, 2, 3, 2))
    assert F.interpolate(Tensor(volume), scale_factor=2, mode="trilinear").shape == (1, 1, 4, 6, 4)


def test_pixel_shuffles_equal_numpy_and_invert() -> None:
    values = RNG.standard_normal((2, 8, 3, 5))
    shuffled = F.pixel_shuffle(Tensor(values), 2)
    expected = values.reshape(2, 2, 2, 2, 3, 5).transpose(0, 1, 4, 2, 5, 3).reshape(2, 2, 6, 10)
    np.testing.assert_allclose(shuffled.numpy(), expected)
    np.testing.assert_allclose(F.pixel_unshuffle(shuffled, 2).numpy(), values)
    np.testing.assert_allclose(nn.PixelShuffle(2)(Tensor(values)).numpy(), expected)


def test_adaptive_average_is_one_fused_contraction_and_differentiates() -> None:
    x = Tensor(RNG.standard_normal((1, 2, 7)), requires_grad=True)
    F.adaptive_avg_pool1d(x, 3).sum().backward()
    assert x.grad is not None
    # Windows [0, 3), [2, 5), [4, 7): elements 2 and 4 are in two windows each.
    np.testing.assert_allclose(x.grad.numpy()[0, 0], [1 / 3, 1 / 3, 2 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 3])
    y = Tensor(RNG.standard_normal((2, 3, 8, 8))).realize()
    before = stats.kernels_run
    F.adaptive_avg_pool2d(y, 4).realize()
    assert stats.kernels_run - before <= 2


@pytest.mark.parametrize(
    ("kernel", "dilation", "padding", "stride"), [(3, 1, 0, 1), (2, 2, 1, 2), ((3, 2), (1, 2), (1, 0), (2, 1))]
)
def test_unfold_and_fold_equal_numpy_im2col(kernel: Any, dilation: Any, padding: Any, stride: Any) -> None:
    values = RNG.standard_normal((2, 3, 7, 6))
    columns = F.unfold(Tensor(values), kernel, dilation, padding, stride)
    k_h, k_w = (kernel, kernel) if isinstance(kernel, int) else kernel
    d_h, d_w = (dilation, dilation) if isinstance(dilation, int) else dilation
    p_h, p_w = (padding, padding) if isinstance(padding, int) else padding
    s_h, s_w = (stride, stride) if isinstance(stride, int) else stride
    padded = np.pad(values, ((0, 0), (0, 0), (p_h, p_h), (p_w, p_w)))
    out_h, out_w = (
        (padded.shape[2] - d_h * (k_h - 1) - 1) // s_h + 1,
        (padded.shape[3] - d_w * (k_w - 1) - 1) // s_w + 1,
    )
    expected = np.zeros((2, 3 * k_h * k_w, out_h * out_w))
    folded = np.zeros_like(padded)
    for c, i, j in itertools.product(range(3), range(k_h), range(k_w)):
        row = (c * k_h + i) * k_w + j
        taps = padded[:, c, i * d_h :: s_h, j * d_w :: s_w][:, :out_h, :out_w]
        expected[:, row] = taps.reshape(2, -1)
        folded[
            :, c, i * d_h : i * d_h + s_h * (out_h - 1) + 1 : s_h, j * d_w : j * d_w + s_w * (out_w - 1) + 1 : s_w
        ] += taps
    np.testing.assert_allclose(columns.numpy(), expected)
    back = F.fold(columns, (7, 6), kernel, dilation, padding, stride)
    np.testing.assert_allclose(back.numpy(), folded[:, :, p_h : p_h + 7, p_w : p_w + 6])
