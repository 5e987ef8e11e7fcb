"""Bad checkpoints: one clear message each, exit code 2, no traceback, nothing executed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neurocompile import UserError, load_model
from neurocompile.cli import main

from helpers import UPSTREAM

GOOD = UPSTREAM / "RWKV.pt"


def _state() -> dict[str, torch.Tensor]:
    return torch.load(GOOD, weights_only=True)


def _fails(capsys, path: Path, *expected: str) -> str:
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neurocompile: error: ") and "Traceback" not in err
    for fragment in expected:
        assert fragment in err, err
    return err


class _RunsCode:
    """Unpickling this would create a file: weights_only loading must refuse it instead."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_loads_upstream_checkpoint_and_infers_config():
    model = load_model(GOOD)
    cfg = model.config
    assert (cfg.n_layer, cfg.n_embd, cfg.vocab_size, cfg.ffn_hidden, cfg.ffn_pre) == (3, 32, 40, 128, False)
    assert load_model(UPSTREAM / "RWKV-ffnPre.pt").config.ffn_pre
    assert model(torch.zeros(1, 5, dtype=torch.long)).shape == (1, 5, 40)


def test_missing_file(capsys, tmp_path):
    _fails(capsys, tmp_path / "nope.pt", "nope.pt", "no such file")


def test_directory(capsys, tmp_path):
    _fails(capsys, tmp_path, "not a file")


def test_truncated_file(capsys, tmp_path):
    bad = tmp_path / "cut.pt"
    bad.write_bytes(GOOD.read_bytes()[:5000])
    _fails(capsys, bad, "cut.pt", "a zip archive cut short or damaged")


def test_text_file(capsys, tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("this is not a checkpoint\n")
    _fails(capsys, bad, "notes.pt", "not a")


def test_pickle_that_would_run_code_is_refused_not_executed(capsys, tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"emb.weight": torch.zeros(2, 2), "payload": _RunsCode(str(marker))}, bad)
    _fails(capsys, bad, "evil.pt", "refused", "weights_only=True")
    assert not marker.exists()


def test_unknown_family_lists_keys(capsys, tmp_path):
    bad = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(3, 3), "fc.bias": torch.zeros(3)}, bad)
    _fails(capsys, bad, "not a checkpoint of a family neurocompile knows", "for SpikeGPT", "for SpikeDecoder", "conv1.weight")


def test_spikedecoder_is_recognised_and_asks_for_its_config(capsys, tmp_path):
    bad = tmp_path / "sd.pt"
    torch.save({"embedder.tok_embed.weight": torch.zeros(30, 8), "blocks.0.SMHA.query_L.weight": torch.zeros(8, 8)}, bad)
    _fails(capsys, bad, "a SpikeDecoder checkpoint does not hold its hyper-parameters", "--config FILE", "sd.json beside it")


def test_missing_and_unexpected_keys_are_listed_with_the_guess(capsys, tmp_path):
    state = _state()
    del state["blocks.1.att.key.weight"]
    state["blocks.1.att.extra"] = torch.zeros(3)
    bad = tmp_path / "keys.pt"
    torch.save(state, bad)
    _fails(capsys, bad, "missing keys: blocks.1.att.key.weight", "unexpected keys: blocks.1.att.extra",
           "family guessed: SpikeGPT, L=3 C=32 V=40")


def test_shape_mismatch_names_key_and_shapes(capsys, tmp_path):
    state = _state()
    state["blocks.2.ffn.value.weight"] = torch.zeros(32, 100)
    bad = tmp_path / "shape.pt"
    torch.save(state, bad)
    _fails(capsys, bad, "shape mismatch", "blocks.2.ffn.value.weight is (32, 100), expected (32, 128)")


def test_nan_and_inf_weights(capsys, tmp_path):
    state = _state()
    state["blocks.0.ln1.weight"][3] = float("nan")
    state["head.weight"][0, 0] = float("inf")
    bad = tmp_path / "nan.pt"
    torch.save(state, bad)
    _fails(capsys, bad, "NaN or Inf", "blocks.0.ln1.weight", "head.weight")


def test_entries_that_are_not_tensors(capsys, tmp_path):
    state = _state()
    state["step"] = 1000
    bad = tmp_path / "extra.pt"
    torch.save(state, bad)
    _fails(capsys, bad, "not named tensors: step")


def test_common_wrappers_and_half_precision_load(tmp_path):
    state = _state()
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {f"module.{k}": v.to(torch.bfloat16) for k, v in state.items()}}, wrapped)
    model = load_model(wrapped)
    assert model.emb.weight.dtype == torch.float32
    assert torch.equal(model.head.weight, state["head.weight"].to(torch.bfloat16).float())


def test_api_raises_user_error():
    with pytest.raises(UserError, match="no such file"):
        load_model("does-not-exist.pt")


def test_console_script_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"\x00" * 100)
    proc = subprocess.run([sys.executable, "-m", "neurocompile.cli", "inspect", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "x.pt" in proc.stderr
    assert proc.stdout == ""
