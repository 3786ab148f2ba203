"""`lamina.nn.functional`: the stateless operations layers are made of, named and shaped as in torch.

Convolution and pooling live in `convolution`, losses in `losses`; this module adds linear, the
normalizations, dropout and attention, and gathers everything under the one familiar namespace.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from lamina.dtype import dtypes
from lamina.nn.convolution import (
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from lamina.nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from lamina.nn.pooling_functions import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from lamina.nn.resampling import fold, interpolate, pad, pixel_shuffle, pixel_unshuffle, unfold
from lamina.tensor import Tensor, no_grad, realize

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cosine_embedding_loss",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "fold",
    "gelu",
    "glu",
    "group_norm",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "huber_loss",
    "instance_norm",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "logsigmoid",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "mish",
    "mse_loss",
    "nll_loss",
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "relu",
    "relu6",
    "rms_norm",
    "scaled_dot_product_attention",
    "selu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softmin",
    "softplus",
    "softshrink",
    "softsign",
    "tanh",
    "tanhshrink",
    "unfold",
]


def embedding(input: Tensor, weight: Tensor) -> Tensor:
    """The rows of `weight` (num_embeddings, dim) at the integer indices `input`, shape (*input.shape, dim): a
    gather reading only the picked rows; an index outside [0, num_embeddings) raises IndexError (as in torch)."""
    if input.dtype.is_float or input.dtype.is_bool:
        raise TypeError(f"embedding needs integer indices, got {input.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding needs a 2-D weight, got shape {weight.shape}")
    return weight._take_along(0, input)._guarded(input, "embedding", 0, weight.shape[0])


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias."""
    return x.linear(weight, bias)


def _result(x: Tensor, result: Tensor, inplace: bool) -> Tensor:
    """`result`, written into `x` when `inplace` (torch's inplace=True: x holds the result afterwards)."""
    if inplace:
        x[...] = result
        return x
    return result


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    return _result(x, x.relu(), inplace)


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    return _result(x, x.relu6(), inplace)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _result(x, x.leaky_relu(negative_slope), inplace)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    return _result(x, x.hardtanh(min_val, max_val), inplace)


def hardsigmoid(x: Tensor, inplace: bool = False) -> Tensor:
    return _result(x, x.hardsigmoid(), inplace)


def hardswish(x: Tensor, inplace: bool = False) -> Tensor:
    return _result(x, x.hardswish(), inplace)


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _result(x, x.elu(alpha), inplace)


def selu(x: Tensor, inplace: bool = False) -> Tensor:
    return _result(x, x.selu(), inplace)


def celu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _result(x, x.celu(alpha), inplace)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    return _result(x, x.silu(), inplace)


def mish(x: Tensor, inplace: bool = False) -> Tensor:
    return _result(x, x.mish(), inplace)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    return x.gelu(approximate)


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return x.softplus(beta, threshold)


def softsign(x: Tensor) -> Tensor:
    return x.softsign()


def logsigmoid(x: Tensor) -> Tensor:
    return x.logsigmoid()


def tanhshrink(x: Tensor) -> Tensor:
    return x.tanhshrink()


def softshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    return x.softshrink(lambd)


def hardshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    return x.hardshrink(lambd)


def glu(x: Tensor, dim: int = -1) -> Tensor:
    """The first half of `x` along `dim` times the sigmoid of the second (a gated linear unit)."""
    if x.ndim == 0:
        raise ValueError("glu needs at least one dim, got a 0-d tensor")
    size = x.shape[dim]
    if size % 2:
        raise ValueError(f"glu halves dim {dim} of shape {x.shape}, whose size {size} is odd")
    first, second = x.chunk(2, dim)
    return first * second.sigmoid()


def softmin(x: Tensor, dim: int = -1) -> Tensor:
    return (-x).softmax(dim)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    return x.log_softmax(dim)


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize over the trailing `normalized_shape` dims (biased variance), then scale and shift."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(f"layer_norm over {shape} does not match the trailing dims of input {x.shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centered = x - x.mean(axes, keepdim=True)
    variance = (centered * centered).mean(axes, keepdim=True)
    result = centered * (variance + eps).rsqrt()
    if weight is not None:
        result = result * weight
    return result if bias is None else result + bias


def batch_norm(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float | Tensor = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each channel (dim 1) by batch statistics (training) or the running ones (evaluation).

    In training the running statistics are updated like torch's (the variance unbiased) and made
    real at once, so they never hold on to the graphs of earlier batches.
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm needs an input with a channel dim, got shape {x.shape}")
    axes = (0, *range(2, x.ndim))
    broadcast = (1, x.shape[1], *(1,) * (x.ndim - 2))
    if training or running_mean is None or running_var is None:
        mean = x.mean(axes, keepdim=True)
        centered = x - mean
        variance = (centered * centered).mean(axes, keepdim=True)
        if training and running_mean is not None and running_var is not None:
            _update_running(x.numel() // x.shape[1], mean, variance, running_mean, running_var, momentum)
    else:
        centered = x - running_mean.reshape(broadcast)
        variance = running_var.reshape(broadcast)
    return _channel_affine(centered * (variance + eps).rsqrt(), weight, bias)


def _channel_affine(normalized: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """`normalized` (N, C, ...) scaled by `weight` and shifted by `bias` per channel (dim 1), where given."""
    broadcast = (1, normalized.shape[1], *(1,) * (normalized.ndim - 2))
    result = normalized if weight is None else normalized * weight.reshape(broadcast)
    return result if bias is None else result + bias.reshape(broadcast)


def _update_running(
    count: int, mean: Tensor, variance: Tensor, running_mean: Tensor, running_var: Tensor, momentum: float | Tensor
) -> None:
    """Move the running statistics toward per-channel `mean` and `variance` (the variance made unbiased over
    `count` values each), as torch does in training."""
    channels = running_mean.shape[0]
    with no_grad():
        batch_mean = mean.detach().reshape((channels,))
        unbiased = variance.detach().reshape((channels,)) * (count / max(count - 1, 1))
        running_mean.assign(running_mean * (1 - momentum) + batch_mean * momentum)
        running_var.assign(running_var * (1 - momentum) + unbiased * momentum)
        realize(running_mean, running_var)


def group_norm(
    x: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5
) -> Tensor:
    """Normalize each group of `num_groups` channel groups of each sample (biased variance), then scale and shift
    per channel (torch.nn.functional.group_norm)."""
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ValueError(f"group_norm: {num_groups} groups must divide the channels (dim 1) of shape {x.shape}")
    grouped = x.reshape((x.shape[0], num_groups, -1))
    centered = grouped - grouped.mean(-1, keepdim=True)
    variance = (centered * centered).mean(-1, keepdim=True)
    return _channel_affine((centered * (variance + eps).rsqrt()).reshape(x.shape), weight, bias)


def instance_norm(
    x: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each channel of each sample over its spatial dims (torch.nn.functional.instance_norm); with
    running statistics, training updates them with the instances' mean statistics, and without
    `use_input_stats` they normalize instead."""
    if x.ndim < 3:
        raise ValueError(f"instance_norm needs (N, C, ...) with spatial dims, got shape {x.shape}")
    axes = tuple(range(2, x.ndim))
    broadcast = (1, x.shape[1], *(1,) * (x.ndim - 2))
    if use_input_stats or running_mean is None or running_var is None:
        mean = x.mean(axes, keepdim=True)
        centered = x - mean
        variance = (centered * centered).mean(axes, keepdim=True)
        if use_input_stats and running_mean is not None and running_var is not None:
            # torch's instance norm moves the running statistics toward the instances' average statistics.
            count = math.prod(x.shape[2:])
            _update_running(count, mean.mean(0), variance.mean(0), running_mean, running_var, momentum)
    else:
        centered = x - running_mean.reshape(broadcast)
        variance = running_var.reshape(broadcast)
    return _channel_affine(centered * (variance + eps).rsqrt(), weight, bias)


_MACHINE_EPSILON: Final = {
    dtypes.float16: 2.0**-10,
    dtypes.bfloat16: 2.0**-7,
    dtypes.float32: 2.0**-23,
    dtypes.float64: 2.0**-52,
}


def rms_norm(
    x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None, eps: float | None = None
) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over the trailing `normalized_shape` dims, times `weight` (torch's rms_norm;
    eps defaults to the dtype's machine epsilon)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(f"rms_norm over {shape} does not match the trailing dims of input {x.shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    floor = _MACHINE_EPSILON.get(x.dtype, _MACHINE_EPSILON[dtypes.float32]) if eps is None else eps
    result = x * ((x * x).mean(axes, keepdim=True) + floor).rsqrt()
    return result if weight is None else result * weight


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity unless training)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = Tensor.rand(x.shape, dtype=x.dtype if x.dtype.is_float else None, device=x.device).ge(p)
    return (x * (1.0 / (1.0 - p))).where(keep, 0.0)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(q @ k.T * scale + mask) @ v; a bool mask keeps where True, a float mask is added. With `enable_gqa`,
    key and value may have fewer heads (dim -3) than query, each serving a group of query heads in turn."""
    if is_causal and attn_mask is not None:
        raise ValueError("give either attn_mask or is_causal, not both")
    if enable_gqa and key.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        heads, shared = query.shape[-3], key.shape[-3]
        if heads % shared:
            raise ValueError(f"enable_gqa: {heads} query heads cannot share {shared} key/value heads evenly")
        key = key.repeat_interleave(heads // shared, dim=-3)
        value = value.repeat_interleave(heads // shared, dim=-3)
    length, source = query.shape[-2], key.shape[-2]
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = query.matmul(key.transpose(-2, -1)) * factor
    if is_causal:
        rows = Tensor.arange(length, device=query.device).reshape((length, 1))
        columns = Tensor.arange(source, device=query.device).reshape((1, source))
        attn_mask = columns.le(rows)
    if attn_mask is not None:
        scores = scores.where(attn_mask, float("-inf")) if attn_mask.dtype.is_bool else scores + attn_mask
    weights = dropout(scores.softmax(-1), dropout_p, training=dropout_p > 0.0)
    return weights.matmul(value)
