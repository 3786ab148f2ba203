"""Llama (Touvron et al. 2023) with Hugging Face's module and tensor names, so its checkpoints load as they are.

Each layer: x + attn(rms_norm(x)), then + mlp(rms_norm(x)) with mlp = down(silu(gate(x)) * up(x));
queries and keys are rotated by their position (RoPE in Hugging Face's rotate-half layout, base
`rope_theta`); keys and values have `num_key_value_heads` heads, each shared by a group of query heads.
"""

from __future__ import annotations

from collections.abc import Sequence

from lamina.llm.config import LlamaConfig
from lamina.llm.layers import (
    KVCache,
    RotaryEmbedding,
    Start,
    apply_rope,
    causal_attention,
    merge_heads,
    positions,
    split_heads,
)
from lamina.llm.model import CausalLM, check_ids
from lamina.nn import Embedding, Linear, Module, ModuleList, RMSNorm
from lamina.tensor import Tensor


class LlamaAttention(Module):
    def __init__(self, config: LlamaConfig) -> None:
        self.heads, self.kv_heads, self.head_dim = (
            config.num_attention_heads,
            config.kv_heads,
            config.attention_head_dim,
        )
        bias = config.attention_bias
        self.q_proj = Linear(config.hidden_size, self.heads * self.head_dim, bias=bias)
        self.k_proj = Linear(config.hidden_size, self.kv_heads * self.head_dim, bias=bias)
        self.v_proj = Linear(config.hidden_size, self.kv_heads * self.head_dim, bias=bias)
        self.o_proj = Linear(self.heads * self.head_dim, config.hidden_size, bias=bias)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], cache: KVCache | None, start: Start) -> Tensor:
        query = apply_rope(split_heads(self.q_proj(x), self.heads), *rope)
        key = apply_rope(split_heads(self.k_proj(x), self.kv_heads), *rope)
        value = split_heads(self.v_proj(x), self.kv_heads)
        attended = causal_attention(query, key, value) if cache is None else cache.attend(query, key, value, start)
        return self.o_proj(merge_heads(attended))


class LlamaMLP(Module):
    def __init__(self, config: LlamaConfig) -> None:
        width, inner, bias = config.hidden_size, config.intermediate_size, config.mlp_bias
        self.gate_proj = Linear(width, inner, bias=bias)
        self.up_proj = Linear(width, inner, bias=bias)
        self.down_proj = Linear(inner, width, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(self.gate_proj(x).silu() * self.up_proj(x))


class LlamaDecoderLayer(Module):
    def __init__(self, config: LlamaConfig) -> None:
        self.input_layernorm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.self_attn = LlamaAttention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.mlp = LlamaMLP(config)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], cache: KVCache | None, start: Start) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope, cache, start)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(Module):
    def __init__(self, config: LlamaConfig) -> None:
        self.embed_tokens = Embedding(config.vocab_size, config.hidden_size)
        self.layers = ModuleList([LlamaDecoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.norm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps)


class LlamaForCausalLM(CausalLM):
    """Llama with its language-model head (its own `lm_head`, or the token embedding when tied)."""

    config: LlamaConfig

    def __init__(self, config: LlamaConfig) -> None:
        self.config = config
        self.model = LlamaModel(config)
        if not config.tie_word_embeddings:
            self.lm_head = Linear(config.hidden_size, config.vocab_size, bias=False)
        self.rotary = RotaryEmbedding(config.attention_head_dim, config.rope_theta, config.rope_scaling)

    def forward_cached(self, ids: Tensor, caches: Sequence[KVCache] | None, start: Start, last: bool = False) -> Tensor:
        check_ids(ids, self.config.vocab_size)
        rope = self.rotary(positions(ids.shape[1], start))
        x = self.model.embed_tokens(ids)
        for index, layer in enumerate(self.model.layers):
            x = layer(x, rope, None if caches is None else caches[index], start)
        x = self.model.norm(x[:, -1:] if last else x)
        if self.config.tie_word_embeddings:
            return x.matmul(self.model.embed_tokens.weight.transpose(0, 1))
        return self.lm_head(x)

    def new_caches(self, batch: int, capacity: int) -> list[KVCache]:
        config = self.config
        return [
            KVCache(batch, config.kv_heads, capacity, config.attention_head_dim)
            for _ in range(config.num_hidden_layers)
        ]
