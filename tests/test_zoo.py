"""The shipped zoo model is real: trained, small, and its recorded bits per character reproduce."""
from __future__ import annotations

import hashlib
import json
import math

import pytest
import torch

from neurocompile import load_model
from neurocompile.tasks.language.semantics import bits_per_token
from neurocompile.models import zoo
from neurocompile.tokenizers import find_tokenizer


def test_zoo_files_are_small_and_belong_together():
    ckpt = zoo.path()
    card = json.loads(ckpt.with_suffix(".card.json").read_text())
    assert ckpt.stat().st_size < 8 * 2**20
    model = load_model(ckpt)
    tok = find_tokenizer(ckpt, model.config.vocab_size)
    assert tok.vocab_size == model.config.vocab_size == card["config"]["vocab_size"]
    assert sum(p.numel() for p in model.parameters()) == card["parameters"]


def test_held_out_bits_per_char_reproduce_and_show_training():
    card = json.loads(zoo.path().with_suffix(".card.json").read_text())
    text = zoo.corpus()
    if hashlib.sha256(text.encode()).hexdigest() != card["corpus_sha256"]:
        pytest.skip(f"this Python's pydoc_data.topics differs from the training corpus ({card['corpus']})")
    model = load_model(zoo.path())
    tok = find_tokenizer(zoo.path(), model.config.vocab_size)
    ids = torch.tensor(tok.encode(text))
    held_out = ids[zoo.split_point(len(ids)):]
    bpc = bits_per_token(model, held_out)
    assert bpc == pytest.approx(card["held_out_bpc"], abs=2e-3)
    assert bpc < 0.5 * math.log2(model.config.vocab_size)  # far better than chance


def test_zoo_spikedecoder_is_trained_and_its_card_reproduces():
    """The zoo SpikeDecoder: upstream format with its config beside it; the card's held-out bpc (windows of max_len,
    each from position 0) reproduces, and is far better than chance."""
    ckpt = zoo.path("spikedecoder-pydoc.pt")
    card = json.loads(ckpt.with_suffix(".card.json").read_text())
    model = load_model(ckpt)
    assert model.family == "spikedecoder" and card["config"] == json.loads(ckpt.with_suffix(".json").read_text())
    assert sum(p.numel() for p in model.parameters()) == card["parameters"]
    text = zoo.corpus()
    if hashlib.sha256(text.encode()).hexdigest() != card["corpus_sha256"]:
        pytest.skip(f"this Python's pydoc_data.topics differs from the training corpus ({card['corpus']})")
    ids = torch.tensor(model.tokenizer.encode(text))
    bpc = bits_per_token(model, ids[zoo.split_point(len(ids)):])
    assert bpc == pytest.approx(card["held_out_bpc"], abs=2e-3)
    assert bpc < 0.7 * math.log2(model.config.vocab_size)
