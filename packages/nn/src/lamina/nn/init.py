"""Parameter initialization with torch's names and formulas (torch.nn.init): each `name_` fills its tensor in
place (through `assign`, so a model's references see the new values) and returns it.

Fans follow torch: fan_in = size(1) * receptive field, fan_out = size(0) * receptive field. Random values
come from lamina's generator (`Tensor.manual_seed`), so they match torch's distributions, not its draws.
"""

from __future__ import annotations

import math

import numpy as np

from lamina.dtype import dtypes
from lamina.tensor import Tensor, no_grad


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def _fans(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need at least 2 dims, got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor: Tensor, values: Tensor) -> Tensor:
    with no_grad():
        tensor.assign(values.cast(tensor.dtype)).realize()
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    return _fill(tensor, Tensor.uniform(tensor.shape, low=a, high=b, device=tensor.device))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    return _fill(tensor, Tensor.normal(tensor.shape, mean=mean, std=std, device=tensor.device))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0) -> Tensor:
    """Normal values truncated to [a, b] (torch's method): a uniform draw between the bounds' CDFs, mapped back
    through the inverse CDF (erfinv, here Newton steps on erf from Winitzki's approximation), then clamped."""
    low = math.erf((a - mean) / (std * math.sqrt(2)))
    high = math.erf((b - mean) / (std * math.sqrt(2)))
    y = Tensor.uniform(tensor.shape, low=low, high=high, device=tensor.device, dtype=dtypes.float64)
    y = y.clip(-1 + 1e-12, 1 - 1e-12)
    w = -((1 - y) * (1 + y)).log()
    guess = 2 / (math.pi * _WINITZKI) - w / 2
    x = y.sign() * ((guess * guess + w / _WINITZKI).sqrt() - guess).sqrt()
    for _ in range(3):
        x = x - (x.erf() - y) / ((2 / math.sqrt(math.pi)) * (-x * x).exp())
    return _fill(tensor, (x * (std * math.sqrt(2)) + mean).clip(a, b))


_WINITZKI = 0.147


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _fill(tensor, Tensor.full(tensor.shape, val, dtype=tensor.dtype, device=tensor.device))


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    if tensor.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {tensor.shape}")
    return _fill(tensor, Tensor(np.eye(*tensor.shape, dtype=np.float32), device=tensor.device))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu") -> Tensor:
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix of the tensor's rows by the rest (QR of a normal draw, signs fixed as torch's)."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dims, got shape {tensor.shape}")
    rows, columns = tensor.shape[0], math.prod(tensor.shape[1:])
    flat = Tensor.randn(rows, columns).numpy().astype(np.float64)
    if rows < columns:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < columns:
        q = q.T
    return _fill(tensor, Tensor((gain * q).reshape(tensor.shape).astype(np.float32), device=tensor.device))
