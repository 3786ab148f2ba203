"""`lamina generate`: a Hugging Face-style directory (weights, config, a BPE trained here with `tokenizers`) streams
its decoded continuation; a seeded random model needs no files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lamina.cli.main import main
from lamina.llm import GPT2Config, generate, load_model, load_tokenizer, random_model
from lamina.nn.state import save_safetensors
from lamina.tensor import Tensor

tokenizers = pytest.importorskip("tokenizers")

TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "hello world, hello lamina"] * 20


def _bpe(directory: Path) -> None:
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(TEXTS, trainer)
    bpe.save(str(directory / "tokenizer.json"))


def _model_directory(tmp_path: Path) -> Path:
    config = GPT2Config(vocab_size=300, n_positions=64, n_embd=16, n_layer=2, n_head=2)
    model = random_model(config, seed=9)
    save_safetensors(model.state_dict(), tmp_path / "model.safetensors")
    fields = {"model_type": "gpt2", "vocab_size": 300, "n_positions": 64, "n_embd": 16, "n_layer": 2, "n_head": 2}
    (tmp_path / "config.json").write_text(json.dumps(fields))
    _bpe(tmp_path)
    return tmp_path


def test_lamina_generate_streams_the_decoded_continuation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = _model_directory(tmp_path)
    assert main(["generate", "--model", str(directory), "--prompt", "the cat", "--max-tokens", "6"]) == 0
    printed, report = capsys.readouterr()
    tokenizer = load_tokenizer(directory)
    prompt = tokenizer.encode("the cat")
    ids = generate(load_model(directory), Tensor(np.array([prompt], dtype=np.int32)), 6).ids.numpy()[0]
    assert printed == "the cat" + tokenizer.decode([int(each) for each in ids[len(prompt) :]]) + "\n"
    assert "tokens/s" in report
    assert "kernels compiled" in report


def test_lamina_generate_with_a_random_model_needs_no_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--random", "llama-tiny", "--prompt", "hello", "--max-tokens", "8"]) == 0
    printed, report = capsys.readouterr()
    assert printed.startswith("hello")
    assert "prefill 5 tokens" in report
