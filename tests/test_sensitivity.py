"""Quantization sensitivity: each variant is the program it claims to be, scored as bits per token independently
(numpy reference engine, torch's cross entropy), and the command line around it."""
from __future__ import annotations

import dataclasses

import json
import math

import numpy as np
import pytest
import torch

from neurocompile.build import read_build
from neurocompile.cli import main
from neurocompile.quantize import Program, coarser_field, requantize
from neurocompile.tasks.language.semantics import evaluation_ids
from neurocompile.tasks.language.sensitivity import sensitivity
from neurocompile.targets.cpu.simulator import ReferenceSimulator, Simulator


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("sens") / "b"
    assert main(["export", "--target", "cpu", "-o", str(out), "--calibration-tokens", "256", "--json"]) == 0
    return read_build(out)


def _reference_bpc(program, ids: list[int]) -> float:
    """129 ids: 16 streams of 8 tokens, scored with the numpy engine and torch's cross entropy."""
    x = np.asarray(ids[:128]).reshape(16, 8)
    y = np.asarray(ids[1:129]).reshape(16, 8)
    sim = ReferenceSimulator(program, 16)
    bits = 0.0
    for t in range(8):
        logits = torch.from_numpy(sim.step(x[:, t]) * sim.logit_scale)
        bits += float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[:, t]), reduction="sum"))
    return bits / math.log(2) / 128


def test_each_variant_is_scored_as_the_program_it_names(build):
    ids, _ = evaluation_ids(build.tokenizer, None, 128)
    result = sensitivity(build, ids, drops=(4,), quiet=True)
    assert result.tokens == 128
    assert result.baseline_bpc == pytest.approx(_reference_bpc(build.program, ids), abs=1e-9)
    head = next(r for r in result.rows if r["node"] == "head" and r["quantity"] == "weights")
    q = build.program.nodes["head"].q
    coarse = np.clip(np.round(q.halves / 16) * 16, -128, 112).astype(np.int8)  # 4 of 8 bits, by hand
    program = build.program
    program.nodes["head"] = type(program.nodes["head"])("head", "Dense", program.nodes["head"].inputs,
                                                       program.nodes["head"].frac, type(q)(coarse, q.exps, q.binary,
                                                                                           q.out_bits, q.bias))
    try:
        assert head["bpc"] == pytest.approx(_reference_bpc(program, ids), abs=1e-9)
    finally:
        program.nodes["head"] = type(program.nodes["head"])("head", "Dense", program.nodes["head"].inputs,
                                                           program.nodes["head"].frac, q)
    lif = next(r for r in result.rows if r["node"] == "blocks.1.lif1" and r["quantity"] == "threshold")
    node = program.nodes["blocks.1.lif1"]
    by_hand = dataclasses.replace(node.q, vth=int(round(node.q.vth / 16) * 16))  # a multiple of 2^4, by hand
    program.nodes["blocks.1.lif1"] = dataclasses.replace(node, q=by_hand)
    try:
        assert lif["bits"] == 17 and lif["bpc"] == pytest.approx(_reference_bpc(program, ids), abs=1e-9)
    finally:
        program.nodes["blocks.1.lif1"] = node
    # the zoo's thresholds are powers of two (tau * v_threshold * 2^frac), so that row costs nothing; the rounding
    # itself, on a threshold that is not: 16,421 to the nearest multiple of 16 is 16,416, the decay untouched
    odd = Program({**program.nodes, "blocks.1.lif1": dataclasses.replace(node, q=dataclasses.replace(node.q, vth=16421))},
                  program.spec, program.metadata)
    coarse = coarser_field(odd, "blocks.1.lif1", "vth", 4).nodes["blocks.1.lif1"].q
    assert coarse.vth == 16416 and coarse.dv == node.q.dv
    decays = [r for r in result.rows if r["quantity"] == "decay"]
    assert len(decays) == 8 and all(r["delta"] == 0 for r in decays)  # tau = 2: dv = 2048 is a multiple of 2^4
    values = [r for r in result.rows if r["quantity"] == "value"]
    assert values and all("delta" in r or "refused" in r for r in values)
    # WKV keeps v's scale: not calibrated; LayerNorm runs as neuron programs in the loihi2 default
    assert {r["kind"] for r in values} >= {"NeuronLayerNorm", "Add", "Mul", "Dense"}
    assert all(r["se"] >= 0 for r in result.rows if "se" in r)


def test_requantized_scale_changes_its_readers_and_goes_back(build):
    graph = build.lowered
    program = build.program
    name = "blocks.0.ln1"
    frac = program.nodes[name].frac
    fewer = requantize(graph, program, {name: frac - 3})
    readers = [n for n, node in program.nodes.items() if name in node.inputs]
    assert fewer.nodes[name].frac == frac - 3 and readers
    changed = {n for n in program.nodes if fewer.nodes[n] is not program.nodes[n]}
    assert changed >= {name, *readers}
    again = requantize(graph, fewer, {name: frac})
    a, b = Simulator(program, 2), Simulator(again, 2)
    tokens = np.random.default_rng(0).integers(0, 103, (12, 2))
    for x in tokens:
        np.testing.assert_array_equal(a.step(x), b.step(x))
    np.testing.assert_array_equal(a.totals, b.totals)


def test_sensitivity_command(build, tmp_path, capsys):
    capsys.readouterr()
    argv = ["sensitivity", str(build.path), "--max-tokens", "64", "--drop", "3", "--plots", str(tmp_path / "p")]
    assert main(argv + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["drops"] == [3] and out["tokens"] > 0 and out["rows"]
    assert (tmp_path / "p" / "sensitivity.pdf").stat().st_size > 0 and (tmp_path / "p" / "sensitivity.png").exists()
    assert main(argv) == 0 and "| head | Dense | weights | 8 |" in capsys.readouterr().out
    for bad in (["--drop", "0"], ["--drop", "x"], ["--max-tokens", "3"]):
        assert main(["sensitivity", str(build.path), *bad]) == 2
        assert "Traceback" not in capsys.readouterr().err
