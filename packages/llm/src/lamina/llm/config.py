"""Model configurations, read from a Hugging Face `config.json` exactly as `save_pretrained` writes it.

GPT-2 (`model_type` "gpt2") and Llama (`model_type` "llama") are the architectures lamina builds. Each
config is a frozen dataclass with Hugging Face's own key names, so a field means what the file means;
keys the code would need to honour but does not (a GPT-2 that scales attention by layer index, a RoPE
scaling lamina does not know) raise instead of being ignored. `TINY_CONFIGS` holds the small seeded
models `lamina generate --random` builds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

GPT2_ACTIVATIONS: Final = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "none", "gelu_fast": "tanh"}
"""GPT-2's `activation_function` values and the `approximate` of torch's gelu each one is."""


@dataclass(frozen=True)
class GPT2Config:
    """GPT-2: learned positions, LayerNorm before each block, GELU (tanh), a fused QKV projection."""

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None  # the MLP's width; None is 4 * n_embd
    layer_norm_epsilon: float = 1e-5
    activation_function: str = "gelu_new"
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    tie_word_embeddings: bool = True
    model_type: str = field(default="gpt2", init=False)

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"gpt2 config: n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")
        if self.activation_function not in GPT2_ACTIVATIONS:
            raise ValueError(f"gpt2 config: activation_function {self.activation_function!r} is not supported")
        if self.scale_attn_by_inverse_layer_idx:
            raise ValueError("gpt2 config: scale_attn_by_inverse_layer_idx is not supported")

    @property
    def max_positions(self) -> int:
        return self.n_positions

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


@dataclass(frozen=True)
class LlamaConfig:
    """Llama: RMSNorm, rotary positions (Hugging Face's rotate-half), SwiGLU, grouped-query attention."""

    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None  # None: as many as the attention heads
    head_dim: int | None = None  # None: hidden_size / num_attention_heads
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None
    hidden_act: str = "silu"
    attention_bias: bool = False
    mlp_bias: bool = False
    tie_word_embeddings: bool = False
    model_type: str = field(default="llama", init=False)

    def __post_init__(self) -> None:
        heads, groups = self.num_attention_heads, self.kv_heads
        if heads % groups:
            raise ValueError(f"llama config: {heads} attention heads cannot share {groups} key/value heads evenly")
        if self.head_dim is None and self.hidden_size % heads:
            raise ValueError(f"llama config: hidden_size {self.hidden_size} is not a multiple of {heads} heads")
        if self.hidden_act != "silu":
            raise ValueError(f"llama config: hidden_act {self.hidden_act!r} is not supported (silu is)")
        kind = (self.rope_scaling or {}).get("rope_type", (self.rope_scaling or {}).get("type", "default"))
        if kind not in ("default", "linear", "llama3"):
            raise ValueError(f"llama config: rope_scaling type {kind!r} is not supported (default, linear, llama3)")

    @property
    def max_positions(self) -> int:
        return self.max_position_embeddings

    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def attention_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads


ModelConfig = GPT2Config | LlamaConfig
_CLASSES: Final[dict[str, type[GPT2Config] | type[LlamaConfig]]] = {"gpt2": GPT2Config, "llama": LlamaConfig}

TINY_CONFIGS: Final[dict[str, ModelConfig]] = {
    "gpt2-tiny": GPT2Config(vocab_size=256, n_positions=256, n_embd=64, n_layer=2, n_head=4),
    "llama-tiny": LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=160,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    ),
}
"""The seeded models of `lamina generate --random`: byte-level vocabularies, two layers, no download."""


def config_from_dict(values: dict[str, Any], source: str = "config") -> ModelConfig:
    """The config a `config.json`'s contents describe; unknown keys (Hugging Face writes many) are ignored."""
    model_type = values.get("model_type")
    if model_type not in _CLASSES:
        raise ValueError(f"{source}: model_type {model_type!r} is not supported (gpt2 or llama)")
    kind = _CLASSES[model_type]
    known = {each.name for each in fields(kind) if each.init}
    try:
        return kind(**{key: value for key, value in values.items() if key in known})
    except TypeError as error:
        raise ValueError(f"{source}: {error}") from None


def read_config(directory: str | os.PathLike[str]) -> ModelConfig:
    """The config of the Hugging Face model directory `directory` (its config.json)."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no config.json (a Hugging Face model directory has one)")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return config_from_dict(values, str(path))
