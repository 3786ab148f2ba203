"""`lamina generate`: text from a Hugging Face model directory (or a seeded tiny model), streamed as decoded.

`--model DIR` loads config.json, the safetensors weights and tokenizer.json; `--random gpt2-tiny|llama-tiny`
builds a seeded two-layer model with a byte tokenizer, no download. Tokens print as they are chosen
(the text decoded so far, less what was printed), then one line with prefill time, decode tokens/s and
how many kernels were compiled.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import numpy as np

from lamina.llm import TINY_CONFIGS, CausalLM, TextTokenizer, generate, load_model, load_tokenizer, random_model
from lamina.tensor import Tensor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a Hugging Face model directory (config.json, *.safetensors)")
    source.add_argument("--random", choices=sorted(TINY_CONFIGS), help="a seeded tiny model, no download")
    parser.add_argument("--prompt", required=True, help="the text to continue")
    parser.add_argument("--max-tokens", type=int, default=32, help="how many tokens to generate (default 32)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 (the default) picks the likeliest")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens")
    parser.add_argument("--top-p", type=float, default=None, help="sample among the likeliest tokens reaching p")
    parser.add_argument("--seed", type=int, default=None, help="seed of the sampling (and of --random weights)")


class _Stream:
    """Prints the text of the tokens so far as it grows (a token may complete a character only later)."""

    def __init__(self, tokenizer: TextTokenizer, out: TextIO) -> None:
        self.tokenizer, self.out = tokenizer, out
        self.tokens: list[int] = []
        self.printed = ""

    def __call__(self, step: list[int]) -> None:
        self.tokens.append(step[0])
        text = self.tokenizer.decode(self.tokens)
        if text.startswith(self.printed) and not text.endswith("\ufffd"):
            self.out.write(text[len(self.printed) :])
            self.out.flush()
            self.printed = text


def run(arguments: argparse.Namespace, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out
    model: CausalLM
    if arguments.random is not None:
        model = random_model(TINY_CONFIGS[arguments.random], seed=arguments.seed or 0)
    else:
        model = load_model(arguments.model)
    tokenizer = load_tokenizer(arguments.model)
    prompt = tokenizer.encode(arguments.prompt)
    if not prompt:
        raise ValueError("the prompt encodes to no tokens")
    vocabulary = model.config.vocab_size
    if max(prompt) >= vocabulary:
        raise ValueError(f"the prompt has token {max(prompt)}, outside the model's vocabulary of {vocabulary}")
    out.write(arguments.prompt)
    stream = _Stream(tokenizer, out)
    ids = Tensor(np.array([prompt], dtype=np.int32))
    result = generate(
        model,
        ids,
        arguments.max_tokens,
        arguments.temperature,
        arguments.top_k,
        arguments.top_p,
        arguments.seed,
        on_token=stream,
    )
    out.write("\n")
    print(
        f"prefill {len(prompt)} tokens: {result.prefill_seconds * 1e3:.1f} ms; decode: "
        f"{result.decode_tokens_per_second:.1f} tokens/s; kernels compiled: {result.programs_built}",
        file=sys.stderr,
    )
    return 0
