"""The transformer-inference cases of `lamina bench`: GPT-2-style prefill and decode, against torch eager.

Two shapes with random weights (seeded, Hugging Face's initialisation): a 2-layer d=256 model and GPT-2
124M (12 layers, d=768), both with GPT-2's vocabulary of 50257. Prefill: one pass over a 128-token prompt
(batch 1). Decode: one token through the KV cache at the next position (lamina: the jitted step of
`generate`; torch: eager, attending over the cache's filled prefix), positions cycling through the cache.
torch runs the same weights; the reported error is between the two prefills' logits.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from lamina.cli.bench_cases import Case, Runner
from lamina.llm import GPT2Config, GPT2LMHeadModel, random_model
from lamina.llm.generation import Decoder
from lamina.tensor import Tensor, no_grad

PROMPT = 128
CAPACITY = 256
SHAPES: dict[str, GPT2Config] = {
    "small": GPT2Config(vocab_size=50257, n_positions=1024, n_embd=256, n_layer=2, n_head=4),
    "gpt2": GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12),
}
_models: dict[str, GPT2LMHeadModel] = {}


def _model(shape: str) -> GPT2LMHeadModel:
    if shape not in _models:
        model = random_model(SHAPES[shape], seed=0)
        assert isinstance(model, GPT2LMHeadModel)
        _models[shape] = model
    return _models[shape]


def _torch_twin(torch: Any, model: GPT2LMHeadModel) -> Callable[[Any, list[tuple[Any, Any]], int], Any]:
    """GPT-2 in torch eager on `model`'s weights: forward(ids, caches, position) -> the last position's logits."""
    config = model.config
    weights = {name: torch.from_numpy(tensor.numpy()) for name, tensor in model.state_dict().items()}
    heads, width = config.n_head, config.n_embd
    functional = torch.nn.functional

    def norm(x: Any, name: str) -> Any:
        return functional.layer_norm(x, (width,), weights[name + ".weight"], weights[name + ".bias"], 1e-5)

    def conv1d(x: Any, name: str) -> Any:
        return torch.addmm(weights[name + ".bias"], x.reshape(-1, x.shape[-1]), weights[name + ".weight"]).reshape(
            *x.shape[:-1], -1
        )

    def forward(ids: Any, caches: list[tuple[Any, Any]], position: int) -> Any:
        batch, length = ids.shape
        at = torch.arange(position, position + length)
        x = weights["transformer.wte.weight"][ids] + weights["transformer.wpe.weight"][at]
        for layer, (keys, values) in enumerate(caches):
            prefix = f"transformer.h.{layer}."
            q, k, v = conv1d(norm(x, prefix + "ln_1"), prefix + "attn.c_attn").split(width, dim=-1)
            q, k, v = (part.view(batch, length, heads, -1).transpose(1, 2) for part in (q, k, v))
            keys[:, :, position : position + length] = k
            values[:, :, position : position + length] = v
            end = position + length
            attended = functional.scaled_dot_product_attention(
                q, keys[:, :, :end], values[:, :, :end], is_causal=length > 1
            )
            x = x + conv1d(attended.transpose(1, 2).reshape(batch, length, width), prefix + "attn.c_proj")
            inner = functional.gelu(conv1d(norm(x, prefix + "ln_2"), prefix + "mlp.c_fc"), approximate="tanh")
            x = x + conv1d(inner, prefix + "mlp.c_proj")
        return norm(x[:, -1:], "transformer.ln_f") @ weights["transformer.wte.weight"].T

    return forward


def llm_case(shape: str, phase: str, torch: Any) -> Case:
    """Prefill (128 tokens, batch 1) or one decode step of the `shape` model; throughput in tokens/s."""
    model = _model(shape)
    config = model.config
    prompt = np.random.default_rng(0).integers(0, config.vocab_size, (1, PROMPT)).astype(np.int32)
    decoder = Decoder(model, 1, CAPACITY)
    positions = itertools.cycle(range(PROMPT, CAPACITY))
    last: list[npt.NDArray[np.float32]] = []

    def lamina_prefill() -> Any:
        with no_grad():
            last[:] = [decoder.prefill(Tensor(prompt)).numpy()]

    def lamina_decode() -> Any:
        with no_grad():
            return decoder.decode(np.array([7]), next(positions)).numpy()

    torch_run: Runner | None = None
    reference: Callable[[], npt.NDArray[np.float32]] | None = None
    if torch is not None:
        forward = _torch_twin(torch, model)
        shape_of = (1, config.n_head, CAPACITY, config.head_dim)
        caches = [(torch.zeros(shape_of), torch.zeros(shape_of)) for _ in range(config.n_layer)]
        torch_prompt = torch.from_numpy(prompt.astype(np.int64))
        torch_positions = itertools.cycle(range(PROMPT, CAPACITY))

        def torch_prefill() -> Any:
            with torch.no_grad():
                return forward(torch_prompt, caches, 0)[:, -1].numpy()

        def torch_decode() -> Any:
            with torch.no_grad():
                return forward(torch.tensor([[7]]), caches, next(torch_positions))

        torch_run = torch_prefill if phase == "prefill" else torch_decode
        reference = torch_prefill
    lamina_prefill()  # fills the cache the decode steps read, and the logits compared with torch's

    layers = f"{config.n_layer}-layer d={config.n_embd}"
    title = f"{'prefill 128 tokens' if phase == 'prefill' else 'decode 1 token'}, {layers}"
    return Case(
        title,
        lamina_prefill if phase == "prefill" else lamina_decode,
        None,
        torch_run,
        float(PROMPT if phase == "prefill" else 1),
        "tokens/s",
        lambda: last[0],
        reference,
    )
