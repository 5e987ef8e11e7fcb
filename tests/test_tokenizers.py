from __future__ import annotations

import json

import pytest
import torch

from neurocompile import UserError
from neurocompile.tokenizers import ByteTokenizer, CharTokenizer, HFTokenizer, find_tokenizer, load_tokenizer


def test_bytes_round_trip_unicode():
    tok = ByteTokenizer()
    text = "Spikes — naïve 🧠"
    assert tok.decode(tok.encode(text)) == text
    assert max(tok.encode(text)) < 256 and len(tok.encode(text)) > len(text)


def test_upstream_char_vocab_in_utf16(tmp_path):
    # upstream's vocab_book.json is UTF-16 with a BOM: {"0": "\n", "1": ..., ...}
    chars = ["\n", " ", "a", "b", "é", "\u0013"]
    path = tmp_path / "vocab_book.json"
    path.write_bytes(json.dumps({str(i): c for i, c in enumerate(chars)}).encode("utf-16"))
    tok = load_tokenizer(path)
    assert isinstance(tok, CharTokenizer) and tok.vocab_size == 6
    assert tok.encode("ab é\n") == [2, 3, 1, 4, 0]
    assert tok.decode([4, 2]) == "éa"


def test_char_vocab_rejects_unknown_characters(tmp_path):
    tok = CharTokenizer(list("abc "))
    with pytest.raises(UserError, match=r"2 character\(s\) outside.*'x', 'z'"):
        tok.encode("a zx")


def test_char_vocab_save_load_round_trip(tmp_path):
    tok = CharTokenizer.from_text("hello world\n")
    tok.save(tmp_path / "v.json")
    again = CharTokenizer.load(tmp_path / "v.json")
    assert again.chars == tok.chars
    assert again.decode(again.encode("hello")) == "hello"


def test_hugging_face_tokenizer_file(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "spiking": 1, "models": 2, "run": 3}
    hf = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "20B_tokenizer.json"
    hf.save(str(path))
    tok = load_tokenizer(path)
    assert isinstance(tok, HFTokenizer) and tok.vocab_size == 4
    assert tok.encode("spiking models run") == [1, 2, 3]
    # found beside a checkpoint by upstream's file name
    ckpt = tmp_path / "model.pt"
    torch.save({}, ckpt)
    assert isinstance(find_tokenizer(ckpt, vocab_size=4), HFTokenizer)
    with pytest.raises(UserError, match="has 4 entries but the checkpoint's embedding has 10 rows.*cannot decode"):
        find_tokenizer(ckpt, vocab_size=10)


def test_find_tokenizer_defaults_and_mismatch(tmp_path):
    ckpt = tmp_path / "m.pt"
    assert isinstance(find_tokenizer(ckpt, vocab_size=256), ByteTokenizer)
    with pytest.raises(UserError, match="no tokenizer found for a vocabulary of 77"):
        find_tokenizer(ckpt, vocab_size=77)
    CharTokenizer(list("abcdef")).save(tmp_path / "m.vocab.json")
    assert find_tokenizer(ckpt, vocab_size=6).vocab_size == 6
    with pytest.raises(UserError, match="has 6 entries but the checkpoint's embedding has 4 rows.*no row for"):
        find_tokenizer(ckpt, vocab_size=4)


def test_not_a_tokenizer(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2")
    with pytest.raises(UserError, match="not a JSON tokenizer"):
        load_tokenizer(bad)
    bad.write_text('{"0": "a", "2": "b"}')
    with pytest.raises(UserError, match="consecutive indices"):
        load_tokenizer(bad)


def test_every_saved_kind_round_trips_through_a_build_directory(tmp_path):
    """What a build stores (``save_into``) reads back (``SAVED_KINDS``) as the same tokenizer, for every kind."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from neurocompile.tokenizers import SAVED_KINDS, SpikeDecoderChars, SpikeDecoderWords

    hf = Tokenizer(models.WordLevel({"[UNK]": 0, "spiking": 1, "models": 2}, unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    hf.save(str(tmp_path / "hf.json"))
    made = [ByteTokenizer(), CharTokenizer(list("ab c")), HFTokenizer(tmp_path / "hf.json"),
            SpikeDecoderChars(list(" .'abcdefghijklmnopqrstuvwxyz")), SpikeDecoderWords(("spiking", "models", "."))]
    assert {tok.kind for tok in made} == set(SAVED_KINDS)
    texts = {"bytes": "ab c", "chars": "ab c", "huggingface": "spiking models", "spikedecoder-chars": "a b.",
             "spikedecoder-words": "spiking models."}
    for tok in made:
        folder = tmp_path / tok.kind
        folder.mkdir()
        entry = tok.save_into(folder)
        again = SAVED_KINDS[entry["kind"]](folder / entry["file"] if "file" in entry else None)
        assert type(again) is type(tok) and again.vocab_size == tok.vocab_size == entry["vocab_size"]
        assert again.encode(texts[tok.kind]) == tok.encode(texts[tok.kind])
