"""conv2d and pooling against naive numpy loops, their gradients, and their errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lamina.dtype import DType, dtypes
from lamina.nn import Conv2d, functional
from lamina.tensor import Tensor, stats

Array = npt.NDArray[np.float64]
GradCheck = Callable[[Callable[..., Tensor], Sequence[Array]], None]


def conv2d_reference(x: Array, weight: Array, stride: int, padding: int, dilation: int, groups: int) -> Array:
    batch, _, height, width = x.shape
    out_channels, group_channels, k_h, k_w = weight.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = (height + 2 * padding - dilation * (k_h - 1) - 1) // stride + 1
    out_w = (width + 2 * padding - dilation * (k_w - 1) - 1) // stride + 1
    out = np.zeros((batch, out_channels, out_h, out_w))
    per_group = out_channels // groups
    for n in range(batch):
        for o in range(out_channels):
            first = (o // per_group) * group_channels
            for i in range(out_h):
                for j in range(out_w):
                    rows = slice(i * stride, i * stride + dilation * (k_h - 1) + 1, dilation)
                    columns = slice(j * stride, j * stride + dilation * (k_w - 1) + 1, dilation)
                    patch = padded[n, first : first + group_channels, rows, columns]
                    out[n, o, i, j] = (patch * weight[o]).sum()
    return out


def pool_reference(x: Array, kernel: int, stride: int, padding: int, fill: float, reduce: str) -> Array:
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=fill)
    out_h = (padded.shape[2] - kernel) // stride + 1
    out_w = (padded.shape[3] - kernel) // stride + 1
    out = np.zeros((*x.shape[:2], out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, :, i * stride : i * stride + kernel, j * stride : j * stride + kernel]
            out[:, :, i, j] = window.max((2, 3)) if reduce == "max" else window.mean((2, 3))
    return out


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups"),
    [(1, 0, 1, 1), (2, 1, 1, 1), (1, 1, 2, 2), (3, 0, 1, 4), (5, 2, 1, 1)],
)
def test_conv2d_matches_naive_loop(
    rng: np.random.Generator, stride: int, padding: int, dilation: int, groups: int
) -> None:
    x = rng.standard_normal((2, 4, 7, 6))
    weight = rng.standard_normal((4, 4 // groups, 3, 2))
    bias = rng.standard_normal(4)
    out = functional.conv2d(Tensor(x), Tensor(weight), Tensor(bias), stride, padding, dilation, groups).numpy()
    expected = conv2d_reference(x, weight, stride, padding, dilation, groups) + bias.reshape(1, 4, 1, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_takes_separate_height_and_width_settings(rng: np.random.Generator) -> None:
    x = rng.standard_normal((1, 2, 6, 7))
    weight = rng.standard_normal((3, 2, 2, 3))
    out = functional.conv2d(Tensor(x), Tensor(weight), stride=(2, 1), padding=(0, 1)).numpy()
    padded = np.pad(x, ((0, 0), (0, 0), (0, 0), (1, 1)))
    expected = conv2d_reference(padded, weight, 1, 0, 1, 1)[:, :, ::2, :]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_layer_matches_functional(rng: np.random.Generator) -> None:
    layer = Conv2d(4, 4, 3, stride=2, padding=1)
    assert layer.weight.shape == (4, 4, 3, 3)
    assert layer.bias is not None
    x = Tensor(rng.standard_normal((2, 4, 7, 6)).astype(np.float32))
    weight = layer.weight.numpy().astype(np.float64)
    expected = conv2d_reference(x.numpy().astype(np.float64), weight, 2, 1, 1, 1) + layer.bias.numpy().reshape(
        1, 4, 1, 1
    )
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_conv2d_gradients_match_finite_differences(rng: np.random.Generator, grad_check: GradCheck) -> None:
    def loss(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return (functional.conv2d(x, weight, bias, stride=2, padding=1, groups=2) ** 2).sum()

    grad_check(loss, [rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((4, 2, 3, 2)), rng.standard_normal(4)])


def test_conv2d_matches_torch(rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    x, weight = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((4, 2, 3, 2))
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(weight), stride=2, padding=1, groups=2)
    out = functional.conv2d(Tensor(x), Tensor(weight), stride=2, padding=1, groups=2).numpy()
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-12, atol=1e-12)


def test_conv2d_rejects_mismatched_groups() -> None:
    with pytest.raises(ValueError, match="groups=3"):
        functional.conv2d(Tensor.zeros(1, 4, 5, 5), Tensor.zeros(4, 2, 3, 3), groups=3)


def test_conv2d_rejects_a_kernel_larger_than_the_input() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        functional.conv2d(Tensor.zeros(1, 1, 2, 2), Tensor.zeros(1, 1, 3, 3))


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(2, None, 0), (3, 2, 1)])
def test_max_pool2d_matches_naive_loop(rng: np.random.Generator, kernel: int, stride: int | None, padding: int) -> None:
    x = rng.standard_normal((2, 4, 7, 6))
    out = functional.max_pool2d(Tensor(x), kernel, stride, padding).numpy()
    expected = pool_reference(x, kernel, stride or kernel, padding, -np.inf, "max")
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [dtypes.int32, dtypes.int8, dtypes.uint8, dtypes.int64], ids=lambda d: d.name)
def test_max_pool2d_of_integers_pads_with_the_lowest_value(rng: np.random.Generator, dtype: DType) -> None:
    low, high = int(dtype.min_value), int(dtype.max_value)
    x = rng.integers(max(low, -1000), min(high, 1000), (2, 3, 7, 6)).astype(dtype.np_name)
    x[0, 0] = low  # an all-minimum window must still give the minimum, never a padded value
    out = functional.max_pool2d(Tensor(x, dtype=dtype), 3, 2, 1)
    assert out.dtype == dtype
    expected = pool_reference(x.astype(np.float64), 3, 2, 1, -np.inf, "max")
    np.testing.assert_array_equal(out.numpy(), expected.astype(dtype.np_name))


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(2, None, 0), (3, 2, 1)])
def test_avg_pool2d_matches_naive_loop_counting_padding(
    rng: np.random.Generator, kernel: int, stride: int | None, padding: int
) -> None:
    x = rng.standard_normal((2, 4, 7, 6))
    out = functional.avg_pool2d(Tensor(x), kernel, stride, padding).numpy()
    expected = pool_reference(x, kernel, stride or kernel, padding, 0.0, "mean")
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_max_pool2d_gradient_flows_to_the_maxima(rng: np.random.Generator, grad_check: GradCheck) -> None:
    grad_check(lambda x: (functional.max_pool2d(x, 3, 2, 1) ** 2).sum(), [rng.standard_normal((2, 4, 7, 6))])


@pytest.mark.parametrize("shape", [(2, 4, 8, 6), (2, 3, 7, 5)], ids=["whole", "ragged"])
def test_tiling_max_pool2d_gradient_flows_to_the_maxima(
    rng: np.random.Generator, grad_check: GradCheck, shape: tuple[int, ...]
) -> None:
    # Stride = kernel: the windows tile the input (a reshape); a ragged last row and column get no gradient.
    grad_check(lambda x: (functional.max_pool2d(x, 2) ** 2).sum(), [rng.standard_normal(shape)])


def test_tiling_avg_pool2d_gradient(rng: np.random.Generator, grad_check: GradCheck) -> None:
    grad_check(lambda x: (functional.avg_pool2d(x, (2, 3)) ** 2).sum(), [rng.standard_normal((2, 3, 7, 8))])


def test_tiling_pool_windows_are_a_reshape_and_a_permute(rng: np.random.Generator) -> None:
    # No padded views to stack, so neither the pool nor its gradient tests the parity of an index.
    x = Tensor(rng.standard_normal((2, 3, 8, 6)))
    pending, ops = [functional.max_pool2d(x, 2).uop], set()
    while pending:
        node = pending.pop()
        ops.add(node.op.name)
        # (The window positions the pool counts to find each first maximum are an arange, padded as it is built:
        # only the views of x matter here.)
        pending.extend(source for source in node.src if _reads(source, x.uop))
    assert ops >= {"RESHAPE", "PERMUTE"}
    assert not ops & {"PAD", "SHRINK"}


def _reads(node: Any, leaf: Any) -> bool:
    return node is leaf or any(_reads(source, leaf) for source in node.src)


def test_a_tiling_pool_larger_than_the_input_is_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        functional.max_pool2d(Tensor.zeros(1, 1, 1, 4), 2)


def test_pool_padding_must_be_at_most_half_the_kernel() -> None:
    with pytest.raises(ValueError, match="at most half"):
        functional.max_pool2d(Tensor.zeros(1, 1, 4, 4), 2, padding=2)


@pytest.mark.parametrize(
    ("operation", "kernels"),
    [
        (lambda x, w: functional.conv2d(x, w, stride=2, padding=1, groups=2), 1),
        # The max, the first position holding it (where the gradient goes), the value read there: three reads of
        # windows that tile the input; padded ones are gathered once for the three (a fourth kernel).
        (lambda x, w: functional.max_pool2d(x, 2), 3),
        (lambda x, w: functional.max_pool2d(x, 3, 2, 1), 4),
        (lambda x, w: functional.avg_pool2d(x, 2), 1),
    ],
    ids=["conv2d", "max_pool2d_tiling", "max_pool2d_padded", "avg_pool2d"],
)
def test_windowed_ops_read_their_windows_as_views(
    rng: np.random.Generator, operation: Callable[[Tensor, Tensor], Tensor], kernels: int
) -> None:
    # The sliding windows are views: no im2col buffer for one read of them; each kernel reads the input directly.
    x = Tensor(rng.standard_normal((2, 4, 7, 6))).realize()
    weight = Tensor(rng.standard_normal((4, 2, 3, 3))).realize()
    before = stats.kernels_run
    operation(x, weight).realize()
    assert stats.kernels_run - before == kernels
