"""Sampling (greedy, temperature, top-k, top-p, seeds) and tokenizers (a BPE trained here with Hugging Face's
`tokenizers`, bytes without one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lamina.llm import ByteTokenizer, GPT2Config, generate, load_tokenizer, random_model, sample
from lamina.tensor import Tensor

tokenizers = pytest.importorskip("tokenizers")

TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "hello world, hello lamina"] * 20


def test_greedy_sampling_takes_the_argmax_and_top_k_of_one_agrees() -> None:
    logits = np.random.default_rng(0).standard_normal((3, 17)).astype(np.float32)
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(sample(logits, 0.0, None, None, rng), logits.argmax(-1))
    np.testing.assert_array_equal(sample(logits, 1.5, 1, None, rng), logits.argmax(-1))
    np.testing.assert_array_equal(sample(logits, 1.0, None, 1e-6, rng), logits.argmax(-1))


def test_sampling_follows_the_softmax_of_logits_over_temperature() -> None:
    logits = np.log(np.array([[0.5, 0.3, 0.2]], dtype=np.float32))
    rng = np.random.default_rng(2)
    draws = np.array([sample(logits, 1.0, None, None, rng)[0] for _ in range(4000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 4000, [0.5, 0.3, 0.2], atol=0.03)
    # top_p = 0.6: the smallest set reaching 0.6 is {0, 1}, renormalised to 5/8, 3/8.
    draws = np.array([sample(logits, 1.0, None, 0.6, rng)[0] for _ in range(4000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 4000, [0.625, 0.375, 0.0], atol=0.03)
    # top_k = 2 keeps the two likeliest.
    draws = np.array([sample(logits, 1.0, 2, None, rng)[0] for _ in range(2000)])
    assert set(draws.tolist()) == {0, 1}


def test_sampling_refuses_nonsense_settings() -> None:
    logits = np.zeros((1, 4), dtype=np.float32)
    rng = np.random.default_rng(3)
    for temperature, top_k, top_p, message in (
        (-1.0, None, None, "temperature"),
        (1.0, 0, None, "top_k"),
        (1.0, None, 1.5, "top_p"),
    ):
        with pytest.raises(ValueError, match=message):
            sample(logits, temperature, top_k, top_p, rng)


def test_a_seed_reproduces_a_sampled_generation() -> None:
    model = random_model(GPT2Config(vocab_size=64, n_positions=64, n_embd=16, n_layer=1, n_head=2), seed=0)
    prompt = Tensor(np.array([[1, 2, 3]], dtype=np.int32))
    first = generate(model, prompt, 8, temperature=1.0, top_k=10, seed=5).ids.numpy()
    again = generate(model, prompt, 8, temperature=1.0, top_k=10, seed=5).ids.numpy()
    np.testing.assert_array_equal(first, again)


def _bpe(directory: Path) -> None:
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(TEXTS, trainer)
    bpe.save(str(directory / "tokenizer.json"))


def test_a_trained_bpe_round_trips_text(tmp_path: Path) -> None:
    _bpe(tmp_path)
    tokenizer = load_tokenizer(tmp_path)
    ids = tokenizer.encode("the cat sat on the log, hello")
    assert len(ids) < len("the cat sat on the log, hello")  # merges were learned
    assert tokenizer.decode(ids) == "the cat sat on the log, hello"
    assert isinstance(load_tokenizer(tmp_path / "elsewhere"), ByteTokenizer)
    assert ByteTokenizer().decode(ByteTokenizer().encode("héllo")) == "héllo"
