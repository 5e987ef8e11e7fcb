"""SpikeDecoder through the compiler: traced graph = model, integer program on the cpu engine = Lava bit for bit,
the attention state's integer semantics, and the command line from export to report.

The model itself is checked against upstream's code in test_spikedecoder.py; here the reference for the traced
graph is that model, and the reference for the integer engine is Lava's own processes (LIFReset, Dense)."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocompile import UserError, export
from neurocompile.cli import main
from neurocompile.fixed import saturate
from neurocompile.frontends import trace
from neurocompile.graph import run_float
from neurocompile.ops import SpikingAttention, Tally, integer_form
from neurocompile.ops.base import QuantContext
from neurocompile.target import get_target

from helpers import DATA, random_spikedecoder

GOLDEN = DATA / "spikedecoder"

CONFIGS = {
    "learned-static-layer-average": dict(vocab_size=32, max_len=12, encodingType="learned",
                                         position_encoding_strategy="static", tok_embed_dim=12, pos_embed_dim=8,
                                         heads=2, blocks=2, timesteps=3, spiking_head=False, spike_mode="average"),
    "twohot-learned-batch-accumulate": dict(vocab_size=30, max_len=10, encodingType="two-hot",
                                            position_encoding_strategy="learned", pos_embed_dim=6, heads=4, blocks=1,
                                            timesteps=2, normalization="batch", spiking_head=True, spiking_residuals=1,
                                            spike_mode="accumulate", dim_hid=2),
    "binary-sres2-final-thresholds": dict(vocab_size=32, max_len=8, encodingType="binary", position_encoding_strategy="binary",
                                          heads=2, blocks=2, timesteps=2, spiking_residuals=2, firstBlock_spiking_res=True,
                                          spike_mode="final", learning_MSLIF=True),
    "onehot-linear-batch-average": dict(vocab_size=30, max_len=6, encodingType="one-hot", position_encoding_strategy="linear",
                                        heads=2, blocks=1, timesteps=4, normalization="batch", spike_mode="average", dim_hid=1),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_traced_graph_computes_the_model(name):
    model, _, config = random_spikedecoder(3, **CONFIGS[name])
    graph = trace(model.double())
    tokens = torch.randint(0, config["vocab_size"], (3, config["max_len"]), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.abs(run_float(graph, tokens) - model(tokens)).max() <= 1e-9
    kinds = {node.op.kind for node in graph.nodes.values()}
    assert graph.metadata["neurocompile.steps_per_token"] == str(config["timesteps"])
    if config.get("normalization") == "batch":  # folded into the Linear before it: no norm node is left
        assert "LayerNorm" not in kinds
    assert {"TokenCode", "PeriodicLIF", "SpikingAttention"} <= kinds


def test_refused_recombinations_are_named():
    model, _, _ = random_spikedecoder(0, **{**CONFIGS["binary-sres2-final-thresholds"], "spike_mode": "concatenate"})
    with pytest.raises(UserError, match="'concatenate': not compiled yet"):
        trace(model)


@settings(max_examples=4, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(CONFIGS)), seed=st.integers(0, 2**16), data=st.data())
def test_integer_program_equals_lava_bit_for_bit(name, seed, data):
    """Random models of every compiled configuration and random tokens: every LIF population's spikes and the
    logits, cpu engine against Lava's processes (LIFReset for the per-token LIFs), step by step."""
    _, state, config = random_spikedecoder(seed, **CONFIGS[name])
    n = data.draw(st.integers(2, config["max_len"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        torch.save(state, path)
        build = export(path, "loihi2", Path(tmp) / "b", config=config, calibration_tokens=64)
        prompt = "".join(np.random.default_rng(seed).choice(list("abcdefghij "), size=n - 1))
        if config.get("dictionary") is None:
            run = build.simulate(prompt, tokens=1, engine="lava")
    assert run.lava["identical"], run.lava
    assert len(run.lava["spikes_identical"]) >= 3 * config["blocks"]


def test_attention_integer_step_equals_float_step_and_counts_saturation():
    rng = np.random.default_rng(0)
    op = SpikingAttention(heads=2, head_dim=3, period=2, scale=0.125)
    spec = get_target("loihi2").numeric
    form = integer_form(SpikingAttention, "loihi2")
    frac = form.output_frac(op, (0, 0, 0))
    q = form.quantize(op, QuantContext((0, 0, 0), (True, True, True), frac, spec))
    state_f, state_i = op.initial_state(4, torch.float64), form.int_initial_state(q, 4)
    for _ in range(40):
        spikes = [rng.integers(0, 2, (4, 6)) for _ in range(3)]
        y_f, state_f = op.float_step([torch.from_numpy(s).double() for s in spikes], state_f)
        y_i, state_i = form.int_step(q, spikes, state_i, Tally())
        assert np.array_equal(y_i * 2.0 ** -frac, y_f.numpy())  # exact: counts and a shift
    narrow = type(q)(q.heads, q.head_dim, q.period, 4, q.out_bits)  # a 4-bit state: 7 tokens of counts
    state, tally = form.int_initial_state(narrow, 1), Tally()
    ones = np.ones((1, 6), np.int64)
    for _ in range(2 * 9):  # 9 tokens of 2 synthetic steps: every count reaches 9 > 7
        form.int_step(narrow, [ones, ones, ones], state, tally)
        state = (state[0], state[1] + 1)
    assert state[0].max() == saturate(np.array([9]), 4)[0][0] == 7 and tally.saturations > 0


def test_command_line_export_simulate_evaluate_report(tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["export", str(GOLDEN / "learned-layer.pt"), "--target", "loihi2", "-o", str(out), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["model"]["family"] == "spikedecoder" and manifest["model"]["timesteps"] == 4
    assert any("attention: exact" in a for a in manifest["approximations"])
    assert main(["simulate", str(out), "--prompt", "the cat", "--tokens", "4", "--engine", "lava", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["lava"]["identical"] and run["steps"] == 11
    assert main(["simulate", str(out), "--prompt", "the cat", "--tokens", "30"]) == 2
    assert "context is 24" in capsys.readouterr().err
    assert main(["evaluate", str(out), "--max-tokens", "200", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["window"] == 12 and ev["unit"] == "character" and ev["saturations"] == 0  # 199 tokens: 16 windows
    assert main(["report", str(out), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["node"]: r for r in report["nodes"]}
    attention = rows["blocks.0.SMHA.attention"]
    assert attention["placement"] == "neuron"
    totals = report["totals"]  # routing: mesh hops at the run's activity (one core here: none), 3.5 pJ per hop
    assert totals["mesh_hops_per_token"] >= 0 and totals["routing_pj_per_token"] == pytest.approx(3.5 * totals["mesh_hops_per_token"])
    assert totals["energy_with_routing_pj_per_token"] == pytest.approx(totals["energy_pj_per_token"] + totals["routing_pj_per_token"])
    # per token: T steps, each updating all T x heads x d^2 resident state neurons
    assert attention["per_token"]["neuron_updates"] == 4 * (4 * 2 * 16 * 16)
    assert attention["energy_pj"] > 0
