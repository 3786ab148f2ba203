"""Against Hugging Face's own `transformers` (when it and torch are importable): a model it builds and writes
with `save_pretrained` — one file or shards, float32, float16 or bfloat16 — loads through `load_model` and
computes its logits, and its greedy `generate` picks the same tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.llm import load_model
from lamina.tensor import Tensor, no_grad

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 97


def _llama(**overrides: Any) -> Any:
    """A two-layer transformers.LlamaConfig of VOCAB tokens, with `overrides`."""
    shape = {
        "vocab_size": VOCAB,
        "hidden_size": 32,
        "intermediate_size": 48,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 64,
    }
    return transformers.LlamaConfig(**(shape | overrides))


def _configs() -> dict[str, Any]:
    llama3_scaling = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 16,
    }
    return {
        "gpt2": transformers.GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4),
        "llama-gqa-llama3-rope": _llama(num_key_value_heads=2, rope_theta=500000.0, rope_scaling=llama3_scaling),
        "llama-tied-biased-linear-rope": _llama(
            tie_word_embeddings=True, attention_bias=True, rope_scaling={"rope_type": "linear", "factor": 2.0}
        ),
    }


def _saved(tmp_path: Path, kind: str, dtype: str = "float32", shard: str | None = None) -> tuple[Any, Path]:
    """A Hugging Face model of `kind` with weights large enough that every term shows in the logits, saved."""
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(_configs()[kind]).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.3)
    directory = tmp_path / kind
    model.to(getattr(torch, dtype)).save_pretrained(directory, **({"max_shard_size": shard} if shard else {}))
    # transformers' own reading of the directory, in float32 (its rotary frequencies computed anew, as lamina's are).
    reference = transformers.AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32).eval()
    return reference, directory


def _ids(batch: int, length: int) -> np.ndarray:
    return np.random.default_rng(1).integers(0, VOCAB, (batch, length))


def _assert_same_logits(reference: Any, directory: Path, ids: np.ndarray) -> None:
    with torch.no_grad():
        expected = reference(torch.from_numpy(ids)).logits.numpy()
    with no_grad():
        logits = load_model(directory)(Tensor(ids.astype(np.int32))).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["gpt2", "llama-gqa-llama3-rope", "llama-tied-biased-linear-rope"])
def test_logits_equal_transformers(tmp_path: Path, kind: str) -> None:
    _assert_same_logits(*_saved(tmp_path, kind), _ids(2, 13))


@pytest.mark.parametrize("kind", ["gpt2", "llama-gqa-llama3-rope"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_sharded_checkpoints_load(tmp_path: Path, kind: str, dtype: str) -> None:
    reference, directory = _saved(tmp_path, kind, dtype, shard="20KB")
    assert (directory / "model.safetensors.index.json").is_file()
    # The same rounded weights on both sides, computed in float32 by each.
    _assert_same_logits(reference, directory, _ids(1, 9))


@pytest.mark.parametrize("kind", ["gpt2", "llama-gqa-llama3-rope", "llama-tied-biased-linear-rope"])
def test_greedy_generation_equals_transformers(tmp_path: Path, kind: str) -> None:
    reference, directory = _saved(tmp_path, kind)
    prompt = _ids(1, 5)
    with torch.no_grad():
        expected = reference.generate(
            torch.from_numpy(prompt), max_new_tokens=24, do_sample=False, pad_token_id=0
        ).numpy()
    generated = load_model(directory).generate(Tensor(prompt.astype(np.int32)), max_new_tokens=24)
    np.testing.assert_array_equal(generated.numpy(), expected)
