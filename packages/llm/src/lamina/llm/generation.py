"""Generation: a prefill over the prompt, then one decode step per token against a preallocated KV cache.

The prefill runs the prompt in one pass (its kernels are compiled for its length). Each decode step is
the same function at a new position: it takes the position as a `Bound` variable and runs through the
JIT, so after the first steps it compiles nothing and runs no Python graph building, only the
captured kernels. The next token is chosen on the host from the last position's logits, as Hugging
Face's `generate` chooses it: the argmax at temperature 0, else a draw from the softmax of
logits / temperature, restricted to the `top_k` most likely tokens and to the smallest set whose
probability reaches `top_p`, from a generator seeded with `seed`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from lamina.llm.layers import KVCache
from lamina.tensor import Bound, Tensor, Variable, jit, no_grad, stats

if TYPE_CHECKING:
    from lamina.llm.model import CausalLM

CACHE_ROUNDING: Final = 64
"""A cache's capacity is the positions a generation needs rounded up to this: generations of nearby lengths share
a capacity, and so the decode step's compiled kernels (which depend on it)."""


KEPT_DECODERS: Final = 2
"""Decoders (caches and captured steps) a model keeps for its most recent generation shapes."""


@dataclass(frozen=True, slots=True)
class Generation:
    """What `generate` made: the ids (prompt then new tokens) and how long each phase took."""

    ids: Tensor
    new_tokens: int
    prefill_seconds: float
    decode_seconds: float  # over every token after the first (the first comes from the prefill)
    programs_built: int  # kernels compiled during the generation

    @property
    def decode_tokens_per_second(self) -> float:
        steps = self.new_tokens - 1
        return steps / self.decode_seconds if steps > 0 and self.decode_seconds > 0 else 0.0


def sample(
    logits: npt.NDArray[np.float32],
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """The next token of each row of `logits` (batch, vocab): argmax at temperature 0, else a draw (see module)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if temperature == 0:
        greedy: npt.NDArray[np.int64] = np.argmax(logits, axis=-1).astype(np.int64)
        return greedy
    scores = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < scores.shape[-1]:
        kth = np.sort(scores, axis=-1)[:, -top_k][:, None]
        scores = np.where(scores < kth, -np.inf, scores)
    probabilities = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probabilities, axis=-1, kind="stable")
        ranked = np.take_along_axis(probabilities, order, axis=-1)
        # Keep each token while the ones ranked above it hold less than top_p (the first always stays).
        keep_ranked = np.cumsum(ranked, axis=-1) - ranked < top_p
        keep = np.zeros_like(keep_ranked)
        np.put_along_axis(keep, order, keep_ranked, axis=-1)
        probabilities = np.where(keep, probabilities, 0.0)
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return np.array([rng.choice(row.shape[0], p=row) for row in probabilities], dtype=np.int64)


class Decoder:
    """A model's caches for one generation and its decode step, jitted over the position variable."""

    def __init__(self, model: CausalLM, batch: int, capacity: int) -> None:
        self.model = model
        self.caches: list[KVCache] = model.new_caches(batch, capacity)
        self.position = Variable("position", 0, capacity - 1)
        self.step = jit(self._step)

    def _step(self, ids: Tensor, position: Bound) -> Tensor:
        return self.model.forward_cached(ids, self.caches, position, last=True)[:, -1]

    def prefill(self, ids: Tensor) -> Tensor:
        """The last position's logits (batch, vocab) after writing the prompt into the caches."""
        return self.model.forward_cached(ids, self.caches, 0, last=True)[:, -1]

    def decode(self, tokens: npt.NDArray[np.int64], at: int) -> Tensor:
        """The logits (batch, vocab) after `tokens` (one per sequence) at position `at`."""
        ids = Tensor(tokens.reshape(-1, 1).astype(np.int32))
        return self.step(ids, self.position.bind(at))


def decoder_for(model: CausalLM, batch: int, capacity: int) -> Decoder:
    """The model's decoder for `batch` sequences of `capacity` positions, made once: a later generation of the same
    shape reuses its caches and its captured decode step. Stale cache entries need no clearing: a prefill writes
    every slot before the positions it serves, and a step sees only the slots up to its own."""
    # Kept on the model (not in a table keyed by it: a decoder refers to its model, which would then never go).
    decoders: dict[tuple[int, int], Decoder] = vars(model).setdefault("_decoders", {})
    key = (batch, capacity)
    if key in decoders:
        decoders[key] = decoders.pop(key)  # the most recently used goes last
    else:
        # Each holds caches for its whole capacity: only the most recently used shapes are kept.
        while len(decoders) >= KEPT_DECODERS:
            del decoders[next(iter(decoders))]
        decoders[key] = Decoder(model, batch, capacity)
    return decoders[key]


def capacity_for(length: int, max_positions: int) -> int:
    """The cache capacity for `length` positions: rounded up to CACHE_ROUNDING, at most `max_positions`."""
    if length > max_positions:
        raise ValueError(f"{length} positions exceed the model's {max_positions}")
    return min(-(-length // CACHE_ROUNDING) * CACHE_ROUNDING, max_positions)


def generate(
    model: CausalLM,
    ids: Tensor,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    on_token: Callable[[list[int]], None] | None = None,
) -> Generation:
    """`ids` (batch, T) followed by `max_new_tokens` tokens chosen one at a time (see the module); `on_token` gets
    each step's new token of every sequence as it is chosen."""
    if ids.ndim != 2 or ids.shape[1] == 0:
        raise ValueError(f"generate needs prompt ids of shape (batch, T) with T >= 1, got {ids.shape}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    batch, length = ids.shape
    prompt = ids.numpy().astype(np.int64)
    if max_new_tokens == 0:
        return Generation(Tensor(prompt), 0, 0.0, 0.0, 0)
    rng = np.random.default_rng(seed)
    built = stats.programs_built
    chosen: list[npt.NDArray[np.int64]] = []
    with no_grad():
        decoder = decoder_for(model, batch, capacity_for(length + max_new_tokens, model.config.max_positions))
        started = time.perf_counter()
        logits = decoder.prefill(Tensor(prompt.astype(np.int32))).numpy()
        prefilled = time.perf_counter()
        for step in range(max_new_tokens):
            token = sample(logits, temperature, top_k, top_p, rng)
            chosen.append(token)
            if on_token is not None:
                on_token([int(each) for each in token])
            if step + 1 < max_new_tokens:
                logits = decoder.decode(token, length + step).numpy()
        finished = time.perf_counter()
    new = np.stack(chosen, axis=1)
    result = Tensor(np.concatenate([prompt, new], axis=1))
    return Generation(result, max_new_tokens, prefilled - started, finished - prefilled, stats.programs_built - built)
