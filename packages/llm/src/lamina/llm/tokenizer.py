"""Tokenizers: a model directory's `tokenizer.json` through Hugging Face's `tokenizers`, or plain bytes.

The `tokenizers` library is the implementation Hugging Face models ship their tokenizer for (BPE merges,
normalizers, byte-level pre-tokenizers): lamina loads the file with it rather than re-implementing any
of it. A model without one (the seeded `--random` models) reads text as UTF-8 bytes, one token each.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from tokenizers import Tokenizer


class TextTokenizer(Protocol):
    """Text to token ids and back."""

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...


class HuggingFaceTokenizer:
    """A `tokenizer.json`, as the `tokenizers` library reads it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # the library raises its own exception types for a bad file
            raise ValueError(f"{path}: not a tokenizer.json the tokenizers library can read ({error})") from None

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text).ids)

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids))


class ByteTokenizer:
    """UTF-8 bytes as tokens 0..255; an id past 255 (a model's larger vocabulary) decodes to nothing."""

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(each for each in ids if 0 <= each < 256).decode("utf-8", errors="replace")


def load_tokenizer(directory: str | os.PathLike[str] | None) -> TextTokenizer:
    """The tokenizer of a model directory: its tokenizer.json when it has one, else bytes."""
    if directory is not None and (Path(directory) / "tokenizer.json").is_file():
        return HuggingFaceTokenizer(Path(directory) / "tokenizer.json")
    return ByteTokenizer()
