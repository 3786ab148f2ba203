"""lamina.llm: transformer inference — GPT-2 and Llama from Hugging Face checkpoints, a KV cache, sampling.

`load_model(directory)` reads a Hugging Face model directory; `random_model(TINY_CONFIGS["llama-tiny"])`
builds a seeded one. A model maps token ids (batch, T) to logits (batch, T, vocab) and `generate`s: a
prefill, then one jitted decode step per token at a variable position (see generation.py).
"""

from lamina.llm.checkpoint import build_model, load_model, random_model, read_checkpoint_tensors
from lamina.llm.config import TINY_CONFIGS, GPT2Config, LlamaConfig, ModelConfig, config_from_dict, read_config
from lamina.llm.generation import Generation, generate, sample
from lamina.llm.gpt2 import GPT2LMHeadModel
from lamina.llm.layers import KVCache
from lamina.llm.llama import LlamaForCausalLM
from lamina.llm.model import CausalLM
from lamina.llm.tokenizer import ByteTokenizer, HuggingFaceTokenizer, TextTokenizer, load_tokenizer

__all__ = [
    "TINY_CONFIGS",
    "ByteTokenizer",
    "CausalLM",
    "GPT2Config",
    "GPT2LMHeadModel",
    "Generation",
    "HuggingFaceTokenizer",
    "KVCache",
    "LlamaConfig",
    "LlamaForCausalLM",
    "ModelConfig",
    "TextTokenizer",
    "build_model",
    "config_from_dict",
    "generate",
    "load_model",
    "load_tokenizer",
    "random_model",
    "read_checkpoint_tensors",
    "read_config",
    "sample",
]
