"""GPT-2 (Radford et al. 2019) with Hugging Face's module and tensor names, so its checkpoints load as they are.

Each block: x + attn(ln_1(x)), then + mlp(ln_2(x)); attention projects q, k and v with one fused Conv1D
(`c_attn`, weight stored (in, out)); positions are learned (`wpe`); the output head is the token
embedding transposed (tied: `lm_head.weight` is not stored).
"""

from __future__ import annotations

from collections.abc import Sequence

from lamina.llm.config import GPT2_ACTIVATIONS, GPT2Config
from lamina.llm.layers import Conv1D, KVCache, Start, causal_attention, merge_heads, positions, split_heads
from lamina.llm.model import CausalLM, check_ids
from lamina.nn import Embedding, LayerNorm, Module, ModuleList
from lamina.nn.functional import gelu
from lamina.tensor import Tensor


class GPT2Attention(Module):
    def __init__(self, config: GPT2Config) -> None:
        self.heads, self.width = config.n_head, config.n_embd
        self.scale = None if config.scale_attn_weights else 1.0
        self.c_attn = Conv1D(config.n_embd, 3 * config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)

    def forward(self, x: Tensor, cache: KVCache | None, start: Start) -> Tensor:
        query, key, value = (split_heads(part, self.heads) for part in self.c_attn(x).split(self.width, dim=-1))
        if cache is None:
            attended = causal_attention(query, key, value, self.scale)
        else:
            attended = cache.attend(query, key, value, start, self.scale)
        return self.c_proj(merge_heads(attended))


class GPT2MLP(Module):
    def __init__(self, config: GPT2Config) -> None:
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = Conv1D(config.n_embd, inner)
        self.c_proj = Conv1D(inner, config.n_embd)
        self.approximate = GPT2_ACTIVATIONS[config.activation_function]

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(gelu(self.c_fc(x), self.approximate))


class GPT2Block(Module):
    def __init__(self, config: GPT2Config) -> None:
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config)

    def forward(self, x: Tensor, cache: KVCache | None, start: Start) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache, start)
        return x + self.mlp(self.ln_2(x))


class GPT2Model(Module):
    def __init__(self, config: GPT2Config) -> None:
        self.wte = Embedding(config.vocab_size, config.n_embd)
        self.wpe = Embedding(config.n_positions, config.n_embd)
        self.h = ModuleList([GPT2Block(config) for _ in range(config.n_layer)])
        self.ln_f = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)


class GPT2LMHeadModel(CausalLM):
    """GPT-2 with its language-model head (the transposed token embedding)."""

    config: GPT2Config

    def __init__(self, config: GPT2Config) -> None:
        self.config = config
        self.transformer = GPT2Model(config)

    def forward_cached(self, ids: Tensor, caches: Sequence[KVCache] | None, start: Start, last: bool = False) -> Tensor:
        check_ids(ids, self.config.vocab_size)
        body = self.transformer
        length = ids.shape[1]
        # Positions start.. are in range by construction (a cache holds at most n_positions, a cacheless pass is
        # checked here), so their rows are gathered without the range check that would read a verdict back per step.
        if isinstance(start, int) and start + length > self.config.n_positions:
            raise ValueError(f"positions up to {start + length - 1} exceed GPT-2's {self.config.n_positions}")
        x = body.wte(ids) + body.wpe.weight._take_along(0, positions(length, start))
        for index, block in enumerate(body.h):
            x = block(x, None if caches is None else caches[index], start)
        x = body.ln_f(x[:, -1:] if last else x)
        return x.matmul(body.wte.weight.transpose(0, 1))

    def new_caches(self, batch: int, capacity: int) -> list[KVCache]:
        config = self.config
        return [KVCache(batch, config.n_head, capacity, config.head_dim) for _ in range(config.n_layer)]
