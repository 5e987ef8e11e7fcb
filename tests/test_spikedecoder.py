"""SpikeDecoder: equal to upstream's own code, streaming attention equal to the matrix form, configs checked.

The golden data in tests/data/spikedecoder was made by running upstream's ``model.py`` (ClaasBeger/SpikeDecoder)
in float64 with tools/spikedecoder_golden.py; nothing here computes its own reference.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from neurocompile import UserError, load_model
from neurocompile.cli import main
from neurocompile.models.spikedecoder import SpikeDecoder, SpikeDecoderConfig
from neurocompile.tokenizers import SpikeDecoderWords

from helpers import DATA

GOLDEN = DATA / "spikedecoder"
NAMES = ("learned-layer", "twohot-batch-head", "binary-sres2-concat", "words-onehot-reunite")


def _golden(name: str):
    return np.load(GOLDEN / f"{name}.golden.npz")


@pytest.mark.parametrize("name", NAMES)
def test_logits_equal_upstream_code_in_float64(name):
    model = load_model(GOLDEN / f"{name}.pt").double()  # the config is found beside the checkpoint
    golden = _golden(name)
    assert 0.10 <= golden["lif_rates"].mean() <= 0.40  # the reference exercises the LIFs
    with torch.no_grad():
        logits = model(torch.from_numpy(golden["tokens"])).numpy()
    assert logits.shape == golden["logits"].shape
    assert np.abs(logits - golden["logits"]).max() <= 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_streaming_equals_the_matrix_form(name):
    model = load_model(GOLDEN / f"{name}.pt").double()
    tokens = torch.from_numpy(_golden(name)["tokens"])
    with torch.no_grad():
        whole = model(tokens)
        streamed, state = model.forward_with_state(tokens, model.initial_state(tokens.shape[0]))
    assert torch.abs(whole - streamed).max() <= 1e-9
    assert state.position == tokens.shape[1]


def test_streaming_state_is_integer_counts_of_constant_size_over_long_sequences():
    """2,048 tokens: the matrix form holds T x H x S x S scores per block; the stream holds T x H x d x d counts."""
    cfg = SpikeDecoderConfig(vocab_size=32, max_len=2048, encodingType="learned", position_encoding_strategy="static",
                             tok_embed_dim=16, pos_embed_dim=16, heads=2, blocks=1, timesteps=2, spiking_head=False)
    torch.manual_seed(0)
    model = SpikeDecoder(cfg).double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(1.8, 2.6)
                m.bias.normal_(0.6, 0.3)
    tokens = torch.randint(0, 32, (1, 2048), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = model(tokens)
        state = model.initial_state(1)
        streamed = []
        for i in range(tokens.shape[1]):
            streamed.append(model.step(tokens[:, i], state)[0])
            assert state.kv[0].shape == (2, 1, 2, 16, 16)
    assert torch.abs(whole - torch.stack(streamed, 1)).max() <= 1e-9
    kv = state.kv[0]
    assert torch.equal(kv, kv.round()) and kv.min() >= 0 and kv.max() <= 2048  # counts: at most one per token
    assert kv.max() > 100  # and the test reached a range where an 8-bit state would have saturated


def test_context_is_max_len():
    model = load_model(GOLDEN / "learned-layer.pt")
    with pytest.raises(UserError, match="max_len = 24"):
        model(torch.zeros(1, 25, dtype=torch.long))


def _with_config(tmp_path, name: str, **changes) -> tuple:
    shutil.copy(GOLDEN / f"{name}.pt", tmp_path / "m.pt")
    config = json.loads((GOLDEN / f"{name}.json").read_text())
    config.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        config.pop(key)
    return tmp_path / "m.pt", config


@pytest.mark.parametrize("changes, message", [
    (dict(vocab_size=30), r"vocab_size = 30 gives Head.gen_FC.weight size 30 on axis 0, but the tensor is \(32, 32\)"),
    (dict(blocks=3), r"blocks = 3, but the checkpoint has 2"),
    (dict(tok_embed_dim=24), r"tok_embed_dim = 24 .* embedder.tok_embed.weight .* \(32, 20\)"),
    (dict(max_len=30), r"max_len = 30 gives blocks.0.SMHA.mask size 30"),
    (dict(dim_hid=4), r"dim_hid = 4 gives blocks.0.MLP.net.2.weight size 128 on axis 0, but the tensor is \(64, 32\)"),
    (dict(normalization="batch"), r"normalization = 'batch', but the checkpoint has no batch-norm"),
    (dict(heads=5), r"heads = 5: the embedding width 32 is not divisible"),
    (dict(heads="2"), r"'heads' must be an integer, got '2'"),
    (dict(encodingType="word2vec"), r"encodingType = 'word2vec': expected one of"),
    (dict(normalization="PowerNorm"), r"'PowerNorm' is not supported"),
    (dict(spiking_residuals=1), r"dim_hid = 2 gives blocks.0.MLP.net.1.weight|missing keys: blocks.0.MLP.net.1"),
    (dict(vocab_size=None), r"no 'vocab_size'"),
    (dict(num_heads=2, heads=2), r"alias both given"),
    (dict(colour="blue"), r"unknown config key 'colour'"),
    (dict(timesteps=10**9), r"timesteps = 1000000000: at most 4096"),
    (dict(attention_scale=0), r"attention_scale = 0.0: expected a positive number"),
])
def test_config_disagreeing_with_the_tensors_is_named(tmp_path, changes, message):
    path, config = _with_config(tmp_path, "learned-layer", **changes)
    with pytest.raises(UserError, match=message):
        load_model(path, config=config)


def test_spiking_head_with_learned_thresholds_is_found_from_the_config(tmp_path):
    path, config = _with_config(tmp_path, "binary-sres2-concat", learning_MSLIF=False)
    with pytest.raises(UserError, match=r"unexpected keys: .*v_threshold"):
        load_model(path, config=config)


def test_config_file_forms(tmp_path):
    path, config = _with_config(tmp_path, "twohot-batch-head")
    with pytest.raises(UserError, match=r"does not hold its hyper-parameters; give them with --config"):
        load_model(path)
    toml = tmp_path / "cfg.toml"
    toml.write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in config.items() if v is not None) + "\n")
    model = load_model(path, config=toml)
    assert model.config.normalization == "batch" and model.config.heads == 4
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="one JSON object"):
        load_model(path, config=tmp_path / "bad.json")
    (tmp_path / "m.json").write_text(json.dumps(config))  # found beside the checkpoint
    assert load_model(path).config.timesteps == 3


def test_options_of_the_other_family_are_refused():
    with pytest.raises(UserError, match="--v-threshold applies to SpikeGPT"):
        load_model(GOLDEN / "learned-layer.pt", v_threshold=0.5)
    from neurocompile.models import zoo

    with pytest.raises(UserError, match="--config is for SpikeDecoder"):
        load_model(zoo.path(), config={"vocab_size": 32})


def test_batch_norm_in_eval_uses_the_running_statistics():
    """Changing a running mean changes the output (the statistics are used, not recomputed from the batch)."""
    model = load_model(GOLDEN / "twohot-batch-head.pt").double()
    tokens = torch.from_numpy(_golden("twohot-batch-head")["tokens"])
    with torch.no_grad():
        before = model(tokens)
        model.blocks[0].SMHA.query_Norm.bn.running_mean += 0.5
        after = model(tokens)
    assert not torch.equal(before, after)


def test_tokenizers_follow_upstream_cleaning():
    model = load_model(GOLDEN / "learned-layer.pt")
    tok = model.tokenizer
    assert tok.decode(tok.encode("Hello,  World!")) == "hello world. "
    words = load_model(GOLDEN / "words-onehot-reunite.pt").tokenizer
    assert isinstance(words, SpikeDecoderWords)
    assert words.decode(words.encode("The cat sat on a mat!")) == "the cat sat on a mat ."
    with pytest.raises(UserError, match="'bird'"):
        words.encode("the bird")


def test_cli_inspect_generate_and_export(capsys, tmp_path):
    code = main(["inspect", str(GOLDEN / "twohot-batch-head.pt"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["family"] == "spikedecoder"
    assert out["config"]["normalization"] == "batch" and out["config"]["dim_hid"] == 3
    fired = {o["name"]: o["firing_rate"] for o in out["ops"] if "firing_rate" in o}
    assert fired["blocks.0.SMHA.input_LIF"] == 0.0  # a binary code into a tau-2 LIF never reaches threshold 1
    assert fired["blocks.1.SMHA.input_LIF"] > 0

    code = main(["generate", str(GOLDEN / "words-onehot-reunite.pt"), "--prompt", "the cat", "--tokens", "6", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["completion"].split()) == 6
    assert main(["generate", str(GOLDEN / "words-onehot-reunite.pt"), "--prompt", "the cat", "--tokens", "8"]) == 2
    assert "context is 8" in capsys.readouterr().err

    assert main(["export", str(GOLDEN / "binary-sres2-concat.pt"), "-o", str(tmp_path / "b")]) == 2
    assert "spike_mode = 'concatenate': not compiled yet" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
