"""Tokenizers for the vocabularies SpikeGPT checkpoints come with.

* ``ByteTokenizer``: UTF-8 bytes, vocabulary 256.
* ``CharTokenizer``: upstream's character vocabulary JSON (RWKV / SpikeGPT ``vocab_book.json`` style:
  ``{"0": "\\n", "1": " ", ...}``, index -> character).
* ``HFTokenizer``: a Hugging Face ``tokenizer.json`` (e.g. SpikeGPT's ``20B_tokenizer.json``), via ``tokenizers``.
* ``SpikeDecoderChars`` / ``SpikeDecoderWords``: SpikeDecoder's own, fixed by its config (upstream's alphabet of
  30 or 32 symbols, or its word ``dictionary``), with upstream's text cleaning.

``find_tokenizer`` picks one for a checkpoint: an explicit path, else a file beside the checkpoint
(``<stem>.vocab.json``, ``<stem>.tokenizer.json``, ``vocab.json``, ``20B_tokenizer.json``), else bytes when
the vocabulary has 256 entries.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Protocol

from .errors import UserError
from .files import read_user_file


TOKENIZER_FILE = "tokenizer.json"  # a build's tokenizer file


class Tokenizer(Protocol):
    vocab_size: int
    kind: str  # how a build's manifest names it (SAVED_KINDS reads it back)
    unit: str  # what one id stands for: bits per <unit>

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def save_into(self, directory: Path) -> dict: ...


class ByteTokenizer:
    vocab_size = 256
    name = "bytes"
    kind = "bytes"
    unit = "byte"

    def save_into(self, directory: Path) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size}

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")


class _OneFile:
    """A tokenizer a build stores as one file (its own ``save``) read back by its ``kind`` (``SAVED_KINDS``)."""

    kind: str
    vocab_size: int

    def save(self, path: Path) -> None:
        raise NotImplementedError

    def save_into(self, directory: Path) -> dict:
        """Write the tokenizer's file into a build directory; the manifest entry that reads it back."""
        self.save(directory / TOKENIZER_FILE)
        return {"kind": self.kind, "file": TOKENIZER_FILE, "vocab_size": self.vocab_size}

class CharTokenizer(_OneFile):
    kind = "chars"
    unit = "character"

    def __init__(self, chars: list[str], name: str = "chars"):
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}
        self.vocab_size = len(chars)
        self.name = name

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        return cls(sorted(set(text)))

    @classmethod
    def load(cls, path: Path) -> "CharTokenizer":
        try:
            table = json.loads(path.read_bytes())  # bytes: json detects UTF-8/16/32 (upstream's vocab_book.json is UTF-16)
            chars = [table[str(i)] for i in range(len(table))]
            if not chars or not all(isinstance(c, str) and c for c in chars):
                raise TypeError("every entry must be a non-empty string")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise UserError(
                f"{path}: not a character vocabulary (expected JSON {{\"0\": char, \"1\": char, ...}} with "
                f"consecutive indices): {exc}"
            ) from None
        return cls(chars, name=path.name)

    def save(self, path: Path) -> None:
        table = {str(i): c for i, c in enumerate(self.chars)}
        path.write_text(json.dumps(table, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")

    def encode(self, text: str) -> list[int]:
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:10])
            raise UserError(
                f"the text has {len(unknown)} character(s) outside the model's vocabulary ({self.name}, "
                f"{self.vocab_size} characters): {shown}. Remove or replace them."
            )
        return [self.index[c] for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)


class HFTokenizer(_OneFile):
    kind = "huggingface"
    unit = "token"

    def __init__(self, path: Path):
        from tokenizers import Tokenizer as _HF

        try:
            self._tok = _HF.from_file(str(path))
        except Exception as exc:  # the Rust side raises plain Exceptions
            raise UserError(f"{path}: not a Hugging Face tokenizer file: {exc}") from None
        self.vocab_size = self._tok.get_vocab_size()
        self.name = path.name

    def save(self, path: Path) -> None:
        self._tok.save(str(path))

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text).ids

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids)


def _space_after_punctuation(text: str) -> str:
    """Upstream's ``fix_punctuation``: one space after punctuation (decimals and initials kept), '. . .' as '...'."""
    text = re.sub(r"(\d+\.\d+|\b[A-Z](?:\.[A-Z])*\b\.?)|([.,;:!?)])\s*", lambda m: m.group(1) or f"{m.group(2)} ", text)
    return text.replace(". . .", "...")


def _upstream_clean(text: str) -> str:
    """SpikeDecoder's text cleaning (upstream ``utils.Reader.clean`` / ``fix_punctuation``): whitespace collapsed,
    ``!``/``?`` to ``.``, ``;`` and ``--`` to spaces, characters outside letters, ``.``, ``'`` and space dropped,
    a space after punctuation, lowercase."""
    text = " ".join(text.split()).replace("!", ".").replace("?", ".").replace(";", " ").replace("--", " ")
    text = re.sub(r"[^a-zA-Z. ']+", "", text)
    return _space_after_punctuation(text).lower()


class SpikeDecoderChars(CharTokenizer):
    """Upstream SpikeDecoder's character alphabet; text is cleaned as upstream cleans its training text."""

    kind = "spikedecoder-chars"

    def encode(self, text: str) -> list[int]:
        return super().encode(_upstream_clean(text))


class SpikeDecoderWords(_OneFile):
    """Upstream SpikeDecoder's word models: the config's ``dictionary``, text split as upstream's ``generate``."""

    kind = "spikedecoder-words"
    unit = "word"

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.words, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "SpikeDecoderWords":
        try:
            words = json.loads(path.read_bytes())
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
                raise TypeError("expected a JSON list of words")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
            raise UserError(f"{path}: not a SpikeDecoder word dictionary: {exc}") from None
        return cls(tuple(words))

    def __init__(self, words: tuple[str, ...]):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.vocab_size = len(self.words)
        self.name = f"the config's dictionary ({self.vocab_size} words)"

    @staticmethod
    def split(text: str) -> list[str]:
        text = text.lower().replace("!", ".").replace("?", ".").replace(";", "")
        text = re.sub(r"[^a-zA-Z. ']+", " ", text)
        text = _space_after_punctuation(text).replace(".", " .").replace("''", "'")
        return re.sub(" +", " ", text).split()

    def encode(self, text: str) -> list[int]:
        words = self.split(text)
        unknown = sorted(set(words) - self.index.keys())
        if unknown:
            raise UserError(f"the text has {len(unknown)} word(s) outside the model's dictionary ({self.vocab_size} "
                            f"words): {', '.join(repr(w) for w in unknown[:10])}. Remove or replace them.")
        return [self.index[w] for w in words]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids)


# manifest "kind" -> how a build reads its tokenizer back
SAVED_KINDS = {"bytes": lambda path: ByteTokenizer(), "chars": CharTokenizer.load, "huggingface": HFTokenizer,
               "spikedecoder-chars": SpikeDecoderChars.load, "spikedecoder-words": SpikeDecoderWords.load}


def load_tokenizer(path: Path) -> Tokenizer:
    """A character vocabulary or a Hugging Face tokenizer file, told apart by content."""
    data = read_user_file(path, "the tokenizer")
    try:
        head = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a JSON tokenizer or vocabulary file: {exc}") from None
    if isinstance(head, dict) and "model" in head:
        return HFTokenizer(path)
    return CharTokenizer.load(path)


def find_tokenizer(checkpoint: Path, vocab_size: int, explicit: Path | None = None,
                   builtin: Tokenizer | None = None) -> Tokenizer:
    """``explicit`` (--tokenizer), else the model's own (``builtin``: a SpikeDecoder's config fixes it), else a file
    beside the checkpoint, else bytes for a vocabulary of 256."""
    if explicit is not None:
        tok = load_tokenizer(explicit)
    elif builtin is not None:
        tok = builtin
    else:
        stem = checkpoint.with_suffix("")
        beside = [Path(f"{stem}.vocab.json"), Path(f"{stem}.tokenizer.json"),
                  checkpoint.parent / "vocab.json", checkpoint.parent / "20B_tokenizer.json"]
        found = next((p for p in beside if p.is_file()), None)
        if found is not None:
            tok = load_tokenizer(found)
        elif vocab_size == 256:
            return ByteTokenizer()
        else:
            raise UserError(
                f"{checkpoint}: no tokenizer found for a vocabulary of {vocab_size}. Pass --tokenizer FILE "
                f"(a character vocabulary JSON or a Hugging Face tokenizer.json), or place "
                f"{stem.name}.vocab.json beside the checkpoint."
            )
    if tok.vocab_size != vocab_size:
        raise UserError(
            f"tokenizer {tok.name} has {tok.vocab_size} entries but the checkpoint's embedding has {vocab_size} rows: "
            f"they do not belong together (the model would {'read ids it has no row for' if tok.vocab_size > vocab_size else 'produce ids the tokenizer cannot decode'}); "
            f"give --tokenizer the vocabulary the model was trained with"
        )
    return tok
