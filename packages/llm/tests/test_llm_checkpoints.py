"""Hugging Face model directories: written here as `save_pretrained` lays them out (the official safetensors
writer, one file or shards with an index, float32/float16/bfloat16), loaded by `load_model`; damaged or
mismatched ones refused with errors naming the file, tensor and shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.dtype import dtypes
from lamina.llm import config_from_dict, load_model, random_model
from lamina.nn.state import save_safetensors
from lamina.tensor import Tensor, no_grad

numpy_writer = pytest.importorskip("safetensors.numpy")

GPT2_CONFIG: dict[str, Any] = {
    "model_type": "gpt2",
    "architectures": ["GPT2LMHeadModel"],
    "vocab_size": 40,
    "n_positions": 32,
    "n_embd": 16,
    "n_layer": 2,
    "n_head": 2,
    "layer_norm_epsilon": 1e-5,
    "activation_function": "gelu_new",
    "torch_dtype": "float32",
}
LLAMA_CONFIG: dict[str, Any] = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": 40,
    "hidden_size": 16,
    "intermediate_size": 24,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
}


def _hf_weights(kind: str, seed: int) -> dict[str, np.ndarray]:
    """Weights by Hugging Face's names, as its save_pretrained writes them (GPT-2: no lm_head, causal-mask buffers
    of old checkpoints included; Llama: an old checkpoint's rotary inv_freq included)."""
    model = random_model(config_from_dict(GPT2_CONFIG if kind == "gpt2" else LLAMA_CONFIG), seed)
    weights = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    if kind == "gpt2":
        weights["transformer.h.0.attn.bias"] = np.tril(np.ones((1, 1, 32, 32), dtype=np.float32))
    else:
        weights["model.layers.0.self_attn.rotary_emb.inv_freq"] = np.ones(2, dtype=np.float32)
    return weights


def _directory(tmp_path: Path, kind: str, weights: dict[str, np.ndarray], shards: int = 1) -> Path:
    directory = tmp_path / kind
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(GPT2_CONFIG if kind == "gpt2" else LLAMA_CONFIG))
    if shards == 1:
        numpy_writer.save_file(weights, directory / "model.safetensors", metadata={"format": "pt"})
        return directory
    names = sorted(weights)
    weight_map = {}
    for shard in range(shards):
        file = f"model-{shard + 1:05d}-of-{shards:05d}.safetensors"
        part = {name: weights[name] for name in names[shard::shards]}
        numpy_writer.save_file(part, directory / file, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, file))
    index = {"metadata": {"total_size": sum(v.nbytes for v in weights.values())}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    return directory


def _logits(model: Any, ids: np.ndarray) -> np.ndarray:
    with no_grad():
        return np.asarray(model(Tensor(ids)).numpy())


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
@pytest.mark.parametrize("shards", [1, 3])
def test_a_saved_checkpoint_loads_and_computes_what_its_weights_do(tmp_path: Path, kind: str, shards: int) -> None:
    weights = _hf_weights(kind, seed=11)
    loaded = load_model(_directory(tmp_path, kind, weights, shards))
    reference = random_model(loaded.config, seed=11)
    ids = np.array([[3, 1, 4, 1, 5, 9]], dtype=np.int32)
    np.testing.assert_allclose(_logits(loaded, ids), _logits(reference, ids), atol=1e-5)


def test_a_bare_model_checkpoint_without_the_head_prefix_loads(tmp_path: Path) -> None:
    weights = {name.removeprefix("transformer."): value for name, value in _hf_weights("gpt2", 12).items()}
    loaded = load_model(_directory(tmp_path, "gpt2", weights))
    ids = np.array([[1, 2, 3]], dtype=np.int32)
    np.testing.assert_allclose(_logits(loaded, ids), _logits(random_model(loaded.config, 12), ids), atol=1e-5)


@pytest.mark.parametrize("dtype", [dtypes.float16, dtypes.bfloat16])
def test_half_precision_weights_load_into_a_float32_model(tmp_path: Path, dtype: Any) -> None:
    weights = _hf_weights("llama", seed=13)
    directory = _directory(tmp_path, "llama", {"unused": np.zeros(1, np.float32)})
    (directory / "model.safetensors").unlink()
    save_safetensors(
        {name: Tensor(value).cast(dtype) for name, value in weights.items()}, directory / "model.safetensors"
    )
    loaded = load_model(directory)
    rounded = {name: Tensor(value).cast(dtype).float().numpy() for name, value in weights.items()}
    state = loaded.state_dict()
    for name, tensor in state.items():
        assert tensor.dtype == dtypes.float32
        np.testing.assert_array_equal(tensor.numpy(), rounded[name])


def test_a_missing_tensor_is_named(tmp_path: Path) -> None:
    weights = _hf_weights("llama", seed=14)
    del weights["model.layers.1.mlp.up_proj.weight"]
    with pytest.raises(ValueError, match=r"missing keys: model\.layers\.1\.mlp\.up_proj\.weight"):
        load_model(_directory(tmp_path, "llama", weights))


def test_a_tensor_of_the_wrong_shape_is_named_with_both_shapes(tmp_path: Path) -> None:
    weights = _hf_weights("gpt2", seed=15)
    weights["transformer.wpe.weight"] = weights["transformer.wpe.weight"][:16]
    with pytest.raises(ValueError, match=r"transformer\.wpe\.weight: checkpoint \(16, 16\) vs model \(32, 16\)"):
        load_model(_directory(tmp_path, "gpt2", weights))


def test_a_truncated_file_is_refused_naming_it(tmp_path: Path) -> None:
    directory = _directory(tmp_path, "gpt2", _hf_weights("gpt2", seed=16))
    path = directory / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"model\.safetensors"):
        load_model(directory)


def test_an_index_naming_a_missing_shard_is_refused(tmp_path: Path) -> None:
    directory = _directory(tmp_path, "llama", _hf_weights("llama", seed=17), shards=2)
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    index["weight_map"]["model.norm.weight"] = "model-00009-of-00009.safetensors"
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(FileNotFoundError, match="model-00009-of-00009"):
        load_model(directory)


def test_an_index_lying_about_a_shard_is_refused(tmp_path: Path) -> None:
    directory = _directory(tmp_path, "llama", _hf_weights("llama", seed=18), shards=2)
    index_path = directory / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["model.imaginary.weight"] = "model-00001-of-00002.safetensors"
    index_path.write_text(json.dumps(index))
    with pytest.raises(ValueError, match=r"model\.imaginary\.weight.*not stored"):
        load_model(directory)


def test_an_unknown_architecture_or_missing_weights_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="model_type 'bert' is not supported"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(GPT2_CONFIG))
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors"):
        load_model(tmp_path)
