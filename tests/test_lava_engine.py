"""The Lava process graph of a build gives the cpu engine's spikes and logits, bit for bit."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from neurocompile import UserError, load_model
from neurocompile.cli import main
from neurocompile.lower import lower
from neurocompile.quantize import calibrate, quantize
from neurocompile.targets.cpu.simulator import Simulator
from neurocompile.targets.loihi2 import NUMERIC
from neurocompile.targets.loihi2.lava_engine import depths, run_lava
from neurocompile.frontends import trace

from helpers import UPSTREAM, tiny_program

pytestmark = pytest.mark.lava


def _program(path, spec=NUMERIC):
    g = lower(trace(load_model(path)))
    return quantize(g, spec, calibrate(g, torch.randint(0, 40, (2, 32), generator=torch.Generator().manual_seed(0))))


def test_zoo_model_on_lava_equals_cpu_engine(capsys, tmp_path):
    out = tmp_path / "b"
    assert main(["export", "--target", "loihi2", "-o", str(out), "--calibration-tokens", "512", "--json"]) == 0
    capsys.readouterr()
    assert main(["simulate", str(out), "--engine", "lava", "--tokens", "32", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    lava = result["lava"]
    assert lava["tokens"] == 36 and lava["logits_identical"] and len(lava["spikes_identical"]) == 8
    assert all(lava["spikes_identical"].values()) and lava["identical"]
    assert len(lava["netx_identical"]) == 4 and all(lava["netx_identical"].values())  # att.output -> lif1, each block
    assert all(n["firing_rate"] > 0.05 for n in result["nodes"] if n["kind"] == "LIF")  # the check has spikes to check


def test_ffn_pre_variant_and_pipeline_latency():
    program = _program(UPSTREAM / "RWKV-ffnPre.pt")
    tokens = np.random.default_rng(0).integers(0, 40, 24).tolist()
    run = run_lava(program, tokens)
    _same_as_cpu(program, run, tokens)
    assert run.latency == depths(program)[program.output.name] > 3


def _same_as_cpu(program, run, tokens) -> None:
    """The Lava run's logits and every spike equal the cpu engine's on the same tokens, and there are spikes."""
    sim = Simulator(program, 1, record=list(run.spikes))
    logits = np.stack([sim.step(np.array([t]))[0] for t in tokens])
    np.testing.assert_array_equal(run.logits, logits)
    for name, spikes in run.spikes.items():
        np.testing.assert_array_equal(spikes, np.stack(sim.recorded[name])[:, 0], err_msg=name)
    assert sum(s.sum() for s in run.spikes.values()) > 0


def test_depths_count_dense_stages():
    g = tiny_program()
    program = quantize(g, NUMERIC, calibrate(g, torch.tensor([[0, 1]])))
    assert depths(program) == {"tokens": 0, "codes": 0, "fc": 1, "lif": 1, "head": 2, "logits": 2}


def test_too_many_synapse_processes_are_refused_with_the_fix():
    program = _program(UPSTREAM / "RWKV.pt", dataclasses.replace(NUMERIC, block_rows=1))
    with pytest.raises(UserError, match="--block-rows 0"):
        run_lava(program, [1, 2, 3])


def test_synapse_processes_follow_core_slices_and_exponent_blocks():
    from types import SimpleNamespace

    from neurocompile.targets.loihi2.rules import row_groups

    q = SimpleNamespace(exps=np.array([[0, 0, 1, 1, 2, 2]]))
    assert row_groups(q, 0, [(0, 3), (3, 6)]) == [(0, 2, 0), (2, 3, 1), (3, 4, 1), (4, 6, 2)]
    assert row_groups(q, 0, [(0, 6)]) == [(0, 2, 0), (2, 4, 1), (4, 6, 2)]


def test_split_synapses_still_match_the_cpu_engine():
    program = _program(UPSTREAM / "RWKV.pt", dataclasses.replace(NUMERIC, block_rows=16))
    tokens = np.random.default_rng(2).integers(0, 40, 12).tolist()
    dense = [n for n, node in program.nodes.items() if node.kind == "Dense"]
    run = run_lava(program, tokens, slices={name: [(0, 10), (10, program.width(name))] for name in dense})
    sim = Simulator(program, 1)
    logits = np.stack([sim.step(np.array([t]))[0] for t in tokens])
    np.testing.assert_array_equal(run.logits, logits)


FAILING_NODE = """
import sys
import numpy as np
import torch
sys.path.insert(0, {tests!r})
from helpers import tiny_program
from neurocompile.errors import EngineMismatch
from neurocompile.ops import Dense, integer_form
from neurocompile.quantize import calibrate, quantize
from neurocompile.targets.loihi2 import NUMERIC
from neurocompile.targets.loihi2.lava_engine import run_lava

g = tiny_program()
program = quantize(g, NUMERIC, calibrate(g, torch.tensor([[0, 1, 1, 0]])))
form = integer_form(Dense, "loihi2")
original = form.accumulate

def failing(q, acc, tally, step=None):  # the receiving side of 'head' fails once token 1 reaches it
    if acc.any() and q.weights.shape[1] == 3:
        raise ArithmeticError("boom")
    return original(q, acc, tally, step)

form.accumulate = staticmethod(failing)  # Lava forks its processes: they inherit this
try:
    run_lava(program, np.array([0, 1, 1]))
except EngineMismatch as exc:
    print("REPORTED:", exc)
"""


def test_a_node_that_raises_inside_lava_is_reported_not_a_hang(tmp_path):
    """Lava cannot carry an exception out of a running process (the run waits forever): the NodeProcess records the
    step, the engine names the node after the run.  Run in a subprocess with a timeout, so a regression fails
    instead of hanging the suite."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "fail.py"
    script.write_text(FAILING_NODE.format(tests=str(Path(__file__).parent)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    assert "REPORTED: in Lava, node head (Dense) raised at Lava step" in done.stdout, done.stdout + done.stderr


def test_neuron_programs_split_across_cores_run_as_one_process_per_slice():
    """Every node of block 0 whose channels are independent (Op.slice_q: the token-shift mixes, sigmoid, products,
    squared ReLU, residual adds, the WKV neuron program) split into three core slices: one Lava process per slice,
    each computing its channels; the spikes and logits stay the cpu engine's."""
    g = lower(trace(load_model(UPSTREAM / "RWKV.pt")), "delay", frozenset({"WKV", "LayerNorm"}))  # the loihi2 forms
    program = quantize(g, NUMERIC, calibrate(g, torch.randint(0, 40, (2, 32), generator=torch.Generator().manual_seed(0))))
    split = {name: [(0, 5), (5, 17), (17, program.width(name))] for name, node in program.nodes.items()
             if name.startswith("blocks.0.") and node.kind != "Dense" and program.form(node).slice_q(node.q, 0, 5) is not None}
    assert {program.nodes[n].kind for n in split} >= {"Mix", "Sigmoid", "Mul", "SquaredReLU", "Add", "NeuronWKV"}
    tokens = np.random.default_rng(3).integers(0, 40, 12).tolist()
    whole, sliced = run_lava(program, tokens), run_lava(program, tokens, slices=split)
    assert sliced.processes == whole.processes + 2 * len(split)
    _same_as_cpu(program, sliced, tokens)
