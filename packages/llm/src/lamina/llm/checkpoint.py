"""Loading a Hugging Face model directory, as `save_pretrained` writes it, into a lamina model.

A directory holds `config.json` and either `model.safetensors` or shards `model-0000N-of-0000M.safetensors`
listed by `model.safetensors.index.json` (its "weight_map" names each tensor's shard). Tensors keep
Hugging Face's names; a checkpoint of the bare model (GPT2Model, LlamaModel) lacks the head's prefix,
which is added. What the model recomputes is skipped (GPT-2's causal-mask buffers `attn.bias`, Llama's
`rotary_emb.inv_freq`), and a tied head's `lm_head.weight` is the embedding itself. Every file is read
through lamina's safetensors reader (memory-mapped and validated: a truncated or lying file is a
ValueError naming it); a tensor missing, left over or of the wrong shape is an error naming it and the
shapes. Weights may be float32, float16 or bfloat16 on disk; the model computes in float32.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

from lamina.llm.config import GPT2Config, ModelConfig, read_config
from lamina.llm.gpt2 import GPT2LMHeadModel
from lamina.llm.llama import LlamaForCausalLM
from lamina.llm.model import CausalLM
from lamina.nn.state import load_safetensors
from lamina.tensor import Tensor, no_grad, realize

SINGLE_FILE: Final = "model.safetensors"
INDEX_FILE: Final = "model.safetensors.index.json"
_RECOMPUTED: Final = (".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq")


def build_model(config: ModelConfig) -> CausalLM:
    """A model of `config`'s architecture with freshly initialised weights."""
    if isinstance(config, GPT2Config):
        return GPT2LMHeadModel(config)
    return LlamaForCausalLM(config)


INITIALIZER_RANGE: Final = 0.02
"""The standard deviation Hugging Face draws both architectures' matrices from (`initializer_range`)."""


def random_model(config: ModelConfig, seed: int = 0) -> CausalLM:
    """A model of `config` initialised as Hugging Face initialises one (matrices normal with std 0.02, biases zero,
    norms one), from a generator seeded with `seed`: the same seed, the same model."""
    Tensor.manual_seed(seed)
    model = build_model(config)
    with no_grad():
        for name, tensor in model.named_parameters():
            if tensor.ndim >= 2:
                tensor.assign(Tensor.normal(*tensor.shape, std=INITIALIZER_RANGE))
            elif name.endswith("bias"):
                tensor.assign(Tensor.zeros(*tensor.shape))
        realize(*model.parameters())
    return model


def read_checkpoint_tensors(directory: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Every tensor of the directory's safetensors file, or of all its shards, by name."""
    root = Path(directory)
    single, index = root / SINGLE_FILE, root / INDEX_FILE
    if single.is_file():
        return load_safetensors(single)
    if not index.is_file():
        raise FileNotFoundError(f"{root}: neither {SINGLE_FILE} nor {INDEX_FILE} (a sharded checkpoint) is there")
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{index}: not a safetensors index with a weight_map ({error!r})") from None
    if not isinstance(weight_map, dict):
        raise ValueError(f"{index}: weight_map must map tensor names to shard files")
    tensors: dict[str, Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        path = root / str(shard)
        if Path(str(shard)).name != str(shard) or not path.is_file():
            raise FileNotFoundError(f"{index}: shard {shard!r} is not a file in {root}")
        loaded = load_safetensors(path)
        listed = {name for name, file in weight_map.items() if file == shard}
        if listed - loaded.keys():
            raise ValueError(f"{index}: {sorted(listed - loaded.keys())} are listed in {shard} but not stored there")
        tensors.update(loaded)
    return tensors


def hugging_face_names(tensors: dict[str, Tensor], config: ModelConfig) -> dict[str, Tensor]:
    """`tensors` under the names lamina's model of `config` gives them (see the module)."""
    prefix = "transformer." if isinstance(config, GPT2Config) else "model."
    renamed: dict[str, Tensor] = {}
    for name, tensor in tensors.items():
        if name.endswith(_RECOMPUTED):
            continue
        if name == "lm_head.weight" and config.tie_word_embeddings:
            continue  # tied: the head is the token embedding
        key = name if name.startswith((prefix, "lm_head.")) else prefix + name
        renamed[key] = tensor
    return renamed


def load_model(directory: str | os.PathLike[str]) -> CausalLM:
    """The model a Hugging Face directory holds (config.json and safetensors weights), ready to run."""
    config = read_config(directory)
    with no_grad():
        model = build_model(config)
        state = hugging_face_names(read_checkpoint_tensors(directory), config)
        try:
            model.load_state_dict(state)
        except ValueError as error:
            raise ValueError(f"{directory}: the checkpoint does not fit a {config.model_type} model: {error}") from None
    return model
