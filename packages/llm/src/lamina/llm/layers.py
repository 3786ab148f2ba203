"""What both architectures share: the KV cache, attention over it, GPT-2's Conv1D and rotary positions.

A decode step attends over a cache preallocated for the whole generation. Its kernels must not depend on
the step's position, so the position is a `Bound` variable: the step's keys and values are written into
the cache at it (in place, `cache[:, :, pos] = k`), and the query at position p sees the cache's first
p + 1 entries through a mask comparing each cache slot with the variable. Slots past the position hold
zeros (never NaN), which the mask's -inf scores weigh by exactly 0. A prefill writes the prompt's
entries from slot 0, with a plain int start.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from lamina.nn import Module
from lamina.nn.functional import scaled_dot_product_attention
from lamina.tensor import Bound, Tensor

Start = int | Bound
"""Where a forward pass's tokens begin in the sequence: an int (a prefill), or a variable (a decode step)."""


class Conv1D(Module):
    """Hugging Face GPT-2's Conv1D: a linear layer whose weight is stored (in_features, out_features)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        self.weight = Tensor.normal(in_features, out_features, std=0.02).realize()
        self.bias = Tensor.zeros(out_features).contiguous().realize()

    def forward(self, x: Tensor) -> Tensor:
        return x.matmul(self.weight) + self.bias


class KVCache:
    """Keys and values of every position so far, (batch, kv_heads, capacity, head_dim) each, written in place."""

    def __init__(self, batch: int, kv_heads: int, capacity: int, head_dim: int) -> None:
        self.capacity = capacity
        self.keys = Tensor.zeros(batch, kv_heads, capacity, head_dim).contiguous().realize()
        self.values = Tensor.zeros(batch, kv_heads, capacity, head_dim).contiguous().realize()

    def attend(self, query: Tensor, key: Tensor, value: Tensor, start: Start, scale: float | None = None) -> Tensor:
        """Attention of `query` (batch, heads, T, head_dim) at positions start..start+T-1 over the cache, after
        writing this step's `key` and `value` (batch, kv_heads, T, head_dim) at those positions; scores scaled by
        `scale` (None: 1/sqrt(head_dim))."""
        length = query.shape[2]
        if isinstance(start, int) and start + length > self.capacity:
            raise ValueError(f"positions {start}..{start + length - 1} exceed the cache's {self.capacity} slots")
        # A variable start is range-checked by the write itself (every value it may take must fit).
        self.keys[:, :, start : start + length] = key
        self.values[:, :, start : start + length] = value
        # A known start (a prefill) reads only the slots filled so far; a variable one reads them all, masked.
        used = start + length if isinstance(start, int) else self.capacity
        slots = Tensor.arange(used).reshape(1, used)
        visible = slots.le(positions(length, start).reshape(length, 1))
        keys, values = self.keys[:, :, :used], self.values[:, :, :used]
        return scaled_dot_product_attention(query, keys, values, attn_mask=visible, scale=scale, enable_gqa=True)


def causal_attention(query: Tensor, key: Tensor, value: Tensor, scale: float | None = None) -> Tensor:
    """Attention of a whole sequence over itself, each position seeing those up to it (no cache)."""
    return scaled_dot_product_attention(query, key, value, is_causal=True, scale=scale, enable_gqa=True)


def positions(length: int, start: Start) -> Tensor:
    """The positions start, ..., start + length - 1 as an int32 tensor."""
    steps = Tensor.arange(length).int()
    return steps + start if isinstance(start, int) else steps + Tensor(start)


def split_heads(x: Tensor, heads: int) -> Tensor:
    """(batch, T, heads * head_dim) -> (batch, heads, T, head_dim)."""
    batch, length, width = x.shape
    return x.reshape(batch, length, heads, width // heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(batch, heads, T, head_dim) -> (batch, T, heads * head_dim)."""
    batch, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * head_dim)


class RotaryEmbedding:
    """Rotary positions' frequencies, and the cos and sin of any positions. Not a Module: its one tensor is
    recomputed from the config, never stored (as Hugging Face's non-persistent inv_freq)."""

    def __init__(self, head_dim: int, theta: float, scaling: dict[str, object] | None) -> None:
        self.frequencies = rope_frequencies(head_dim, theta, scaling).realize()

    def __call__(self, at: Tensor) -> tuple[Tensor, Tensor]:
        return rope_angles(self.frequencies, at)


def rope_frequencies(head_dim: int, theta: float, scaling: dict[str, object] | None) -> Tensor:
    """The inverse frequencies of rotary positions, (head_dim / 2,), as Hugging Face computes them (float32),
    with its "linear" and "llama3" scalings."""
    exponents = np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32) / np.float32(head_dim)
    inverse = (1.0 / (np.float32(theta) ** exponents)).astype(np.float32)
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    if kind == "linear":
        inverse = inverse / np.float32(_number(scaling, "factor"))
    elif kind == "llama3":
        inverse = _llama3_frequencies(inverse, scaling or {})
    return Tensor(inverse.astype(np.float32))


def _number(values: dict[str, object] | None, key: str) -> float:
    value = (values or {}).get(key)
    if not isinstance(value, (int, float)):
        raise ValueError(f"rope_scaling needs a number for {key!r}, got {value!r}")
    return float(value)


def _llama3_frequencies(inverse: npt.NDArray[np.float32], scaling: dict[str, object]) -> npt.NDArray[np.float32]:
    # Llama 3.1's rule: long wavelengths slowed by `factor`, short ones kept, the band between blended.
    factor = _number(scaling, "factor")
    low, high = _number(scaling, "low_freq_factor"), _number(scaling, "high_freq_factor")
    original = _number(scaling, "original_max_position_embeddings")
    wavelength = 2 * math.pi / inverse
    scaled = np.where(wavelength > original / low, inverse / factor, inverse)
    smooth = (original / wavelength - low) / (high - low)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    middle = ~(wavelength < original / high) & ~(wavelength > original / low)
    return np.where(middle, blended, scaled).astype(np.float32)


def apply_rope(x: Tensor, angles_cos: Tensor, angles_sin: Tensor) -> Tensor:
    """x (batch, heads, T, head_dim) rotated by Hugging Face's rotate-half: x * cos + rotate_half(x) * sin, where
    rotate_half(x) = cat(-x2, x1) of x's halves and cos, sin are (T, head_dim)."""
    half = x.shape[-1] // 2
    rotated = Tensor.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * angles_cos + rotated * angles_sin


def rope_angles(frequencies: Tensor, at: Tensor) -> tuple[Tensor, Tensor]:
    """cos and sin of each position in `at` (T,) times each frequency, duplicated over both halves: (T, head_dim)."""
    angles = at.float().reshape(at.shape[0], 1) * frequencies.reshape(1, frequencies.shape[0])
    doubled = Tensor.cat([angles, angles], dim=-1)
    return doubled.cos(), doubled.sin()
