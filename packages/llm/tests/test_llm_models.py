"""GPT-2 and Llama against numpy implementations of their formulas; decoding through the cache against
recomputing the whole sequence; a decode loop that stops compiling after its first steps."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from lamina.llm import GPT2Config, LlamaConfig, generate, random_model
from lamina.llm.generation import Decoder, capacity_for
from lamina.tensor import Tensor, no_grad, stats

GPT2_SMALL = GPT2Config(vocab_size=50, n_positions=64, n_embd=32, n_layer=2, n_head=4)
LLAMA_SMALL = LlamaConfig(
    vocab_size=50,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rope_theta=500.0,
)


def _weights(model: Any) -> dict[str, np.ndarray]:
    return {name: tensor.numpy() for name, tensor in model.state_dict().items()}


def _ids(rng: np.random.Generator, batch: int, length: int, vocab: int = 50) -> np.ndarray:
    return rng.integers(0, vocab, (batch, length)).astype(np.int32)


def test_gpt2_logits_equal_the_formulas(gpt2_reference: Any) -> None:
    model = random_model(GPT2_SMALL, seed=1)
    ids = _ids(np.random.default_rng(0), 2, 7)
    with no_grad():
        logits = model(Tensor(ids)).numpy()
    expected = gpt2_reference(_weights(model), ids, heads=4, layers=2)
    assert logits.shape == (2, 7, 50)
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("tied", [False, True])
def test_llama_logits_equal_the_formulas(llama_reference: Any, tied: bool) -> None:
    config = replace(LLAMA_SMALL, tie_word_embeddings=tied)
    model = random_model(config, seed=2)
    ids = _ids(np.random.default_rng(1), 2, 9)
    with no_grad():
        logits = model(Tensor(ids)).numpy()
    expected = llama_reference(
        _weights(model), ids, heads=4, kv_heads=2, layers=2, eps=config.rms_norm_eps, theta=500.0, tied=tied
    )
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("config", [GPT2_SMALL, LLAMA_SMALL], ids=["gpt2", "llama"])
def test_decoding_through_the_cache_equals_recomputing_the_sequence(config: Any) -> None:
    model = random_model(config, seed=3)
    ids = _ids(np.random.default_rng(2), 2, 12)
    with no_grad():
        full = model(Tensor(ids)).numpy()
        decoder = Decoder(model, 2, capacity_for(12, config.max_positions))
        steps = [decoder.prefill(Tensor(ids[:, :5])).numpy()]
        steps += [decoder.decode(ids[:, at].astype(np.int64), at).numpy() for at in range(5, 12)]
    np.testing.assert_allclose(np.stack(steps, axis=1), full[:, 4:], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("config", [GPT2_SMALL, LLAMA_SMALL], ids=["gpt2", "llama"])
def test_greedy_generation_continues_with_the_likeliest_tokens(config: Any) -> None:
    model = random_model(config, seed=4)
    prompt = _ids(np.random.default_rng(3), 1, 4)
    generated = model.generate(Tensor(prompt), max_new_tokens=6).numpy()
    assert generated.shape == (1, 10)
    np.testing.assert_array_equal(generated[:, :4], prompt)
    with no_grad():
        logits = model(Tensor(generated[:, :-1].astype(np.int32))).numpy()
    np.testing.assert_array_equal(generated[0, 4:], logits[0, 3:].argmax(-1))


def test_a_decode_loop_compiles_nothing_after_its_first_steps() -> None:
    model = random_model(LLAMA_SMALL, seed=5)
    built: list[int] = []
    generate(
        model, Tensor(_ids(np.random.default_rng(4), 1, 3)), 40, on_token=lambda _: built.append(stats.programs_built)
    )
    assert len(built) == 40
    assert built[-1] == built[4], f"kernels compiled during decoding: {np.diff(built).tolist()}"


def test_a_decode_step_writes_the_cache_in_place() -> None:
    model = random_model(GPT2_SMALL, seed=6)
    with no_grad():
        decoder = Decoder(model, 1, 64)
        decoder.prefill(Tensor(np.array([[1, 2, 3]], dtype=np.int32))).numpy()
        address = decoder.caches[0].keys.data_ptr()
        for at in range(3, 8):
            decoder.decode(np.array([at]), at).numpy()
            assert decoder.caches[0].keys.data_ptr() == address


def test_a_prompt_longer_than_the_model_allows_is_refused() -> None:
    model = random_model(GPT2_SMALL, seed=7)
    with pytest.raises(ValueError, match="exceed the model's 64"):
        model.generate(Tensor(np.zeros((1, 60), dtype=np.int32)), max_new_tokens=10)
    with pytest.raises(TypeError, match="integers"):
        model(Tensor(np.zeros((1, 3), dtype=np.float32)))


def test_new_weights_loaded_into_a_model_reach_its_next_generation() -> None:
    first, second = random_model(LLAMA_SMALL, seed=8), random_model(LLAMA_SMALL, seed=9)
    prompt = Tensor(_ids(np.random.default_rng(5), 1, 3))
    first.generate(prompt, 6)
    expected = second.generate(prompt, 6).numpy()
    with no_grad():
        first.load_state_dict(second.state_dict())
    np.testing.assert_array_equal(first.generate(prompt, 6).numpy(), expected)


def test_a_model_keeps_the_decoders_of_its_latest_shapes_only() -> None:
    model = random_model(replace(GPT2_SMALL, n_positions=256), seed=10)
    for length in (3, 70, 3, 130):  # capacities 64, 128, 64 again (the most recent now), then 192
        model.generate(Tensor(np.zeros((1, length), dtype=np.int32)), 2)
    assert list(vars(model)["_decoders"]) == [(1, 64), (1, 192)]
