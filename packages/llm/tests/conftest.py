"""numpy implementations of GPT-2 and Llama from the papers' formulas, the oracle the models are tested against
(fixtures `gpt2_reference` and `llama_reference`).

Each takes the model's weights by Hugging Face's names (numpy arrays) and token ids, and returns the logits
of every position, computing in float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

Array = npt.NDArray[Any]
Weights = dict[str, Array]


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(variance + eps) * weight + bias)


def _rms_norm(x: Array, weight: Array, eps: float) -> Array:
    return np.asarray(x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * weight)


def _softmax(x: Array) -> Array:
    shifted = np.exp(x - x.max(-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(-1, keepdims=True))


def _attention(query: Array, key: Array, value: Array) -> Array:
    """Causal attention of (heads, T, d) queries over (heads, T, d) keys and values."""
    length = query.shape[1]
    scores = query @ key.transpose(0, 2, 1) / math.sqrt(query.shape[-1])
    scores = np.where(np.tril(np.ones((length, length), dtype=bool)), scores, -np.inf)
    return _softmax(scores) @ value


def _gelu_tanh(x: Array) -> Array:
    return np.asarray(0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))))


def gpt2_logits(weights: Weights, ids: Array, heads: int, layers: int, eps: float = 1e-5) -> Array:
    """GPT-2's logits (batch, T, vocab) for `ids` (batch, T)."""
    w = {name: value.astype(np.float64) for name, value in weights.items()}
    outputs = []
    for sequence in ids:
        length = len(sequence)
        x = w["transformer.wte.weight"][sequence] + w["transformer.wpe.weight"][:length]
        for layer in range(layers):
            p = f"transformer.h.{layer}."
            h = _layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
            qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
            q, k, v = (part.reshape(length, heads, -1).transpose(1, 0, 2) for part in np.split(qkv, 3, axis=-1))
            attended = _attention(q, k, v).transpose(1, 0, 2).reshape(length, -1)
            x = x + attended @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            h = _layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
            inner = _gelu_tanh(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            x = x + inner @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = _layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
        outputs.append(x @ w["transformer.wte.weight"].T)
    return np.stack(outputs)


def _rotate(x: Array, length: int, theta: float) -> Array:
    """RoPE in the rotate-half layout: pairs (i, i + d/2) rotated by position * theta^(-2i/d)."""
    dim = x.shape[-1]
    frequencies = 1.0 / theta ** (np.arange(0, dim, 2) / dim)
    angles = np.arange(length)[:, None] * frequencies[None, :]
    cos, sin = np.cos(angles), np.sin(angles)
    first, second = x[..., : dim // 2], x[..., dim // 2 :]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def llama_logits(
    weights: Weights, ids: Array, heads: int, kv_heads: int, layers: int, eps: float, theta: float, tied: bool
) -> Array:
    """Llama's logits (batch, T, vocab) for `ids` (batch, T)."""
    w = {name: value.astype(np.float64) for name, value in weights.items()}
    outputs = []
    for sequence in ids:
        length = len(sequence)
        x = w["model.embed_tokens.weight"][sequence]
        for layer in range(layers):
            p = f"model.layers.{layer}."
            h = _rms_norm(x, w[p + "input_layernorm.weight"], eps)
            q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(length, heads, -1).transpose(1, 0, 2)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(length, kv_heads, -1).transpose(1, 0, 2)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(length, kv_heads, -1).transpose(1, 0, 2)
            q, k = _rotate(q, length, theta), _rotate(k, length, theta)
            group = heads // kv_heads
            k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
            attended = _attention(q, k, v).transpose(1, 0, 2).reshape(length, -1)
            x = x + attended @ w[p + "self_attn.o_proj.weight"].T
            h = _rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
            gate = h @ w[p + "mlp.gate_proj.weight"].T
            up = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
        x = _rms_norm(x, w["model.norm.weight"], eps)
        head = w["model.embed_tokens.weight"] if tied else w["lm_head.weight"]
        outputs.append(x @ head.T)
    return np.stack(outputs)


@pytest.fixture
def gpt2_reference() -> Any:
    return gpt2_logits


@pytest.fixture
def llama_reference() -> Any:
    return llama_logits
