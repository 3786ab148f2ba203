"""The interface every causal language model of lamina.llm has, and the generation it gets from it.

A model computes logits two ways: `model(ids)` runs a whole sequence with no cache (each position
attending to those up to it), `forward_cached(ids, caches, start)` runs tokens at positions start..
through a KV cache (a prefill with an int start, a decode step with a variable one). `generate` is
the loop over the second (see generation.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lamina.llm.config import ModelConfig
from lamina.llm.generation import generate
from lamina.llm.layers import KVCache, Start
from lamina.nn import Module
from lamina.tensor import Tensor


class CausalLM(Module):
    """A decoder-only language model: token ids (batch, T) in, next-token logits (batch, T, vocab) out."""

    config: ModelConfig

    def forward(self, ids: Tensor) -> Tensor:
        """Logits of every position of `ids` (batch, T), computed without a cache."""
        return self.forward_cached(ids, None, 0)

    def forward_cached(self, ids: Tensor, caches: Sequence[KVCache] | None, start: Start, last: bool = False) -> Tensor:
        """Logits of `ids` at positions start.., reading and extending `caches` (one per layer) when given; with
        `last`, of the last position only (batch, 1, vocab): all a decode needs, a fraction of the work."""
        raise NotImplementedError

    def new_caches(self, batch: int, capacity: int) -> list[KVCache]:
        """Empty caches for `batch` sequences of up to `capacity` positions, one per layer."""
        raise NotImplementedError

    def generate(
        self,
        ids: Tensor,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        on_token: Callable[[list[int]], None] | None = None,
    ) -> Tensor:
        """`ids` (batch, T) followed by `max_new_tokens` new tokens each (see generation.generate)."""
        return generate(self, ids, max_new_tokens, temperature, top_k, top_p, seed, on_token).ids


def check_ids(ids: Tensor, vocab_size: int) -> None:
    """Raise unless `ids` is an integer (batch, T) tensor with at least one token."""
    if ids.ndim != 2 or ids.shape[1] == 0:
        raise ValueError(f"token ids must have shape (batch, T) with T >= 1, got {ids.shape}")
    if ids.dtype.is_float or ids.dtype.is_bool:
        raise TypeError(f"token ids must be integers, got {ids.dtype} (vocabulary of {vocab_size})")
