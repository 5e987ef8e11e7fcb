"""NIR graphs exported by snnTorch, deployed: export -> loihi2 build -> float, cpu and Lava engines.

Goldens: the float engine's raster is snnTorch's own (its NIR importer running the graph it exported); the Lava
engine is Lava's own processes (LIF, Dense, Sparse) under Loihi2SimCfg.  The integer engine's distance from the
float semantics is measured and held to the tolerance stated in docs/nir.md.
"""
from __future__ import annotations

import json
import subprocess
import sys

import nir
import numpy as np
import pytest
import torch

import neurocompile
from neurocompile import UserError

from test_nir_import import _braille_like, _delay_graph, _rockpool_file, _threshold_graph, _conv1d_graph, _readout_graph, _norse_run, _recurrent_net, _sinabs_cnn, _snntorch_mlp, _snntorch_own_run, _snntorch_run

snn = pytest.importorskip("snntorch")


def _raster(seed: int, steps: int = 80, streams: int = 3, width: int = 12, rate: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).random((steps, streams, width)) < rate).astype(np.int64)


def _uniform_mlp(seed: int, cell: str) -> torch.nn.Sequential:
    """One decay per layer (snnTorch's scalar beta/alpha): Lava's own LIF process computes these neurons."""
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate([(12, 24), (24, 5)]):
        linear = torch.nn.Linear(a, b)
        with torch.no_grad():
            linear.weight.mul_(4.0)
        decay = {"beta": torch.full((b,), 0.875)}
        if cell == "Synaptic":
            decay["alpha"] = torch.full((b,), 0.75)
        layers += [linear, getattr(snn, cell)(**decay, threshold=torch.ones(b), init_hidden=True, reset_mechanism="zero",
                                              output=i == 1)]
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("cell", ["Leaky", "Synaptic"])
def test_float_engine_is_snntorch_and_integer_engine_stays_close(tmp_path, cell):
    from snntorch.export_nir import export_to_nir

    exported = export_to_nir(_snntorch_mlp(3, sizes=(12, 32, 5), cell=cell), torch.zeros(12))
    build = neurocompile.export(exported, target="cpu", output=tmp_path / "b")
    raster = _raster(1, steps=150, streams=4)
    theirs = _snntorch_run(exported, torch.from_numpy(raster).float())
    float_run = build.simulate(input_spikes=raster, engine="float")
    np.testing.assert_array_equal(float_run.outputs["output"], theirs)  # snnTorch's own raster, spike for spike
    assert theirs.sum() > 50
    result = build.evaluate(input_spikes=raster)
    with pytest.raises(neurocompile.UserError, match="warmup: options of a language build's evaluation"):
        build.evaluate(input_spikes=raster, warmup=3)
    out = result.outputs["output"]
    # the tolerance docs/nir.md states for these networks
    assert out["raster_match"] >= 0.98 and out["count_pearson_r"] >= 0.99, out
    assert abs(out["count_difference_relative"]) <= 0.05, out
    assert set(result.populations) == {"1", "3"} and result.saturations == 0 and result.wraps == 0


@pytest.mark.lava
@pytest.mark.parametrize("make, cell", [(_uniform_mlp, "Leaky"), (_uniform_mlp, "Synaptic"),
                                        (lambda seed, cell: _snntorch_mlp(seed, sizes=(12, 20, 5), cell=cell), "Synaptic")])
def test_lava_engine_equals_cpu_engine_bit_for_bit(tmp_path, make, cell):
    """Uniform decays run on Lava's LIF process; per-neuron decays as a neuron program: both equal the cpu engine."""
    from snntorch.export_nir import export_to_nir

    build = neurocompile.export(export_to_nir(make(5, cell), torch.zeros(12)), target="loihi2", output=tmp_path / "b")
    uniform = make is _uniform_mlp
    assert all(build.program.nodes[n].q.lava_lif == uniform for n in ("1", "3"))
    run = build.simulate(input_spikes=_raster(2, steps=40, streams=2), engine="lava")
    assert run.lava["identical"], run.lava
    assert set(run.lava["spikes_identical"]) == {"1", "3"} and run.outputs["output"].sum() > 5
    cpu = build.simulate(input_spikes=_raster(2, steps=40, streams=2), engine="cpu")
    np.testing.assert_array_equal(cpu.outputs["output"], run.outputs["output"])


@pytest.mark.lava
@pytest.mark.parametrize("seed", range(3))
def test_random_cuba_networks_lava_equals_cpu(tmp_path, seed):
    """Random NIR graphs (LIF and CubaLIF, biases, leak voltages, either reset, per-neuron or shared parameters):
    Lava's processes and the cpu engine agree on every spike."""
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(3, 9)), int(rng.integers(4, 16)), int(rng.integers(2, 8))]
    nodes, edges, prev = {"input": nir.Input(input_type={"input": np.array([sizes[0]])})}, [], "input"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        shared = rng.random() < 0.5
        per = (lambda lo, hi: np.full(b, rng.uniform(lo, hi))) if shared else (lambda lo, hi: rng.uniform(lo, hi, b))
        nodes[f"w{i}"] = nir.Affine(weight=rng.normal(0, 3, (b, a)), bias=rng.normal(0, 0.3, b) * (rng.random() < 0.5))
        common = dict(r=per(0.5, 2), v_leak=per(-0.2, 0.4) * (rng.random() < 0.5), v_threshold=per(0.5, 1.5),
                      v_reset=np.zeros(b))
        nodes[f"n{i}"] = (nir.CubaLIF(tau_syn=per(2e-4, 1e-3), tau_mem=per(3e-4, 2e-3), w_in=per(0.5, 1.5), **common)
                          if rng.random() < 0.5 else nir.LIF(tau=per(2e-4, 2e-3), **common))
        edges += [(prev, f"w{i}"), (f"w{i}", f"n{i}")]
        prev = f"n{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((prev, "output"))
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    reset = ["zero", "subtract"][seed % 2]
    build = neurocompile.export(graph, target="loihi2", output=tmp_path / "b", reset=reset, rate=0.4)
    run = build.simulate(input_spikes=(rng.random((30, sizes[0])) < 0.4).astype(np.int64), engine="lava")
    assert run.lava["identical"], run.lava
    assert run.outputs["output"].shape == (30, sizes[-1])


@pytest.mark.lava
@pytest.mark.parametrize("cell, seed", [("RSynaptic", 0), ("RLeaky", 2)])
def test_recurrent_network_on_all_three_engines(tmp_path, cell, seed):
    """A recurrent snnTorch network (RSynaptic: NIR CubaLIF with a loop through its recurrent weights): float is
    snnTorch's own run, the integer engine stays within the stated tolerance, Lava equals the cpu engine."""
    from snntorch.export_nir import export_to_nir

    net = _recurrent_net(cell, seed)
    with torch.no_grad():  # snnTorch's own run adds the recurrent bias at step 0, NIR's reading of the loop does not
        net[1].recurrent.bias.zero_()
    build = neurocompile.export(export_to_nir(net, torch.zeros(6)), target="loihi2", output=tmp_path / "b")
    raster = (np.random.default_rng(seed).random((60, 6)) < 0.4).astype(np.int64)
    float_run = build.simulate(input_spikes=raster, engine="float")
    np.testing.assert_array_equal(float_run.outputs["output"], _snntorch_own_run(net, cell, torch.from_numpy(raster).float()))
    lava = build.simulate(input_spikes=raster, engine="lava")
    assert lava.lava["identical"] and set(lava.lava["spikes_identical"]) == {"1.lif", "3"}, lava.lava
    result = build.evaluate(input_spikes=raster)
    out = result.outputs["output"]
    assert out["raster_match"] >= 0.85 and out["count_pearson_r"] >= 0.98, out  # loops amplify: docs/nir.md
    assert set(result.populations) == {"1.lif", "3"}


@pytest.mark.lava
def test_braille_shaped_loop_with_biases_on_all_three_engines(tmp_path):
    """The NIR paper's Braille shape with biases and reset to zero: float = Norse's interpreter (the loop's bias enters
    at step 1), Lava = the cpu engine (the receiving side of the loop's weights adds that bias from step 1 too)."""
    graph = _braille_like(0)
    build = neurocompile.export(graph, target="loihi2", output=tmp_path / "b")
    raster = (np.random.default_rng(0).random((60, 12)) < 0.2).astype(np.int64)
    float_run = build.simulate(input_spikes=raster, engine="float")
    np.testing.assert_array_equal(float_run.outputs["output"],
                                  _norse_run(graph, torch.from_numpy(raster)[:, None], dt=1e-4)[:, 0])
    lava = build.simulate(input_spikes=raster, engine="lava")
    assert lava.lava["identical"], lava.lava


@pytest.mark.lava
def test_spiking_cnn_on_all_three_engines(tmp_path):
    """Sinabs's CNN (Conv2d/IF/SumPool2d/Flatten/Affine/IF): float = Norse's run of the graph, the integer engine
    within the stated tolerance, Lava = cpu; rasters given as maps [T, B, C, H, W]."""
    graph = _sinabs_cnn(0)
    build = neurocompile.export(graph, target="loihi2", output=tmp_path / "b")
    assert [n.kind for n in build.program.nodes.values()] == ["SpikeInput", "ConvSynapse", "CUBA", "Dense", "CUBA",
                                                              "Output"]
    raster = (np.random.default_rng(0).random((40, 2, 2, 8, 8)) < 0.3).astype(np.int64)
    float_run = build.simulate(input_spikes=raster, engine="float")
    np.testing.assert_array_equal(float_run.outputs["output"], _norse_run(graph, torch.from_numpy(raster).float()))
    lava = build.simulate(input_spikes=raster, engine="lava")
    assert lava.lava["identical"] and lava.lava["latency"] == 2, lava.lava
    out = build.evaluate(input_spikes=raster).outputs["output"]
    assert out["raster_match"] >= 0.95 and out["count_pearson_r"] >= 0.99, out  # IF never forgets: docs/nir.md


def _nir_paper_cnn() -> "nir.NIRGraph":
    """A Sinabs CNN of the NIR paper's shape (2 x 34 x 34 input; three conv layers, two sum pools), as Sinabs exports
    it."""
    import sinabs
    import sinabs.layers as sl

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 16, 5, stride=2, padding=1), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(2),
        torch.nn.Conv2d(32, 8, 3, padding=1, stride=2), sl.IAFSqueeze(batch_size=1), torch.nn.Flatten(),
        torch.nn.Linear(32, 10), sl.IAFSqueeze(batch_size=1))
    with torch.no_grad():
        for i in (0, 3, 6, 9):
            model[i].weight.mul_(3.0)
        model(torch.zeros(1, 2, 34, 34))
    return sinabs.to_nir(model, torch.zeros(1, 2, 34, 34))


@pytest.mark.lava
def test_nir_paper_cnn_default_loihi2_build_runs_in_lava(tmp_path):
    """The NIR paper's CNN shape: every convolution held as its kernel (each pooling folded into the convolution after
    it), two neurocores, run in Lava through Lava's own Conv processes identical to the cpu engine; the float run is
    Norse's."""
    pytest.importorskip("sinabs")
    graph = _nir_paper_cnn()
    build = neurocompile.export(graph, target="loihi2", output=tmp_path / "b")
    assert [n.kind for n in build.program.nodes.values()].count("ConvSynapse") == 3
    assert build.manifest["partition"]["cores"] <= 4
    raster = (np.random.default_rng(0).random((30, 1, 2, 34, 34)) < 0.2).astype(np.int64)
    float_run = build.simulate(input_spikes=raster, engine="float")
    theirs = _norse_run(graph, torch.from_numpy(raster).float())
    np.testing.assert_array_equal(float_run.outputs["output"], theirs)
    assert theirs.sum() > 30
    lava = build.simulate(input_spikes=raster, engine="lava")
    assert lava.lava["identical"] and lava.lava["processes"] < 30, lava.lava
    out = build.evaluate(input_spikes=raster).outputs["output"]
    assert out["count_pearson_r"] >= 0.98 and out["argmax_agreement"] == 1.0, out


@pytest.mark.lava
@pytest.mark.parametrize("make, width", [(_conv1d_graph, 32), (_threshold_graph, 6), (_delay_graph, 4),
                                         (lambda dt: _delay_graph(dt, steps=(1, 2, 3, 7)), 4)])
def test_conv1d_threshold_and_delay_lava_equals_cpu(tmp_path, make, width):
    """The delay line with steps (1, 2, 3, 7) runs on Lava as Loihi 2's synaptic delays (DelayDense)."""
    graph = make(1e-3) if make.__name__ in ("_delay_graph", "<lambda>") else make(1)
    build = neurocompile.export(graph, target="loihi2", output=tmp_path / "b", dt=1e-3)
    raster = (np.random.default_rng(2).random((30, 2, width)) < 0.4).astype(np.int64)
    run = build.simulate(input_spikes=raster, engine="lava")
    assert run.lava["identical"] and run.outputs["output"].sum() > 0, run.lava
    assert build.evaluate(input_spikes=raster).outputs["output"]["raster_match"] >= 0.95


@pytest.mark.lava
@pytest.mark.parametrize("cell", ["LI", "CubaLI", "I"])
def test_graded_readout_on_lava_and_within_tolerance(tmp_path, cell):
    """An LI / CubaLI / I readout sends its voltage as a graded spike (a neuron program): Lava = cpu bit for bit, and the
    integer voltage tracks the float one (value r >= 0.98, mean difference <= 2 % of the range: docs/nir.md; one
    hidden spike a step off moves the readout by a weight, so the largest difference is not a useful bound)."""
    build = neurocompile.export(_readout_graph(1, cell), target="loihi2", output=tmp_path / "b")
    raster = (np.random.default_rng(1).random((60, 2, 8)) < 0.3).astype(np.int64)
    run = build.simulate(input_spikes=raster, engine="lava")
    assert run.lava["identical"] and run.outputs["output"].dtype == np.float64, run.lava
    out = build.evaluate(input_spikes=raster).outputs["output"]
    assert out["value_pearson_r"] >= 0.98 and out["mean_abs_difference_over_range"] <= 0.02, out


def test_a_delay_longer_than_loihi2_synapses_hold_is_refused_for_loihi2_only(tmp_path):
    graph = _delay_graph(1e-3, steps=(1, 2, 65, 1))
    with pytest.raises(UserError, match=r"layer d: a delay of 65 time steps; Loihi 2's synapses delay by at most 63 "
                                        r"steps beyond the first \(64 in all\)"):
        neurocompile.export(graph, target="loihi2", output=tmp_path / "b", dt=1e-3)
    assert not (tmp_path / "b").exists()
    build = neurocompile.export(graph, target="cpu", output=tmp_path / "c", dt=1e-3)
    assert build.simulate(input_spikes=_raster(0, 80, 2, 4, 0.5)).outputs["output"].shape == (80, 2, 4)


@pytest.mark.lava
def test_a_rockpool_file_deploys_to_lava(tmp_path):
    """The file Rockpool's exporter wrote (CubaLIF, per-neuron time constants, its batch in the Input's type), at
    Rockpool's dt (1 ms) with reset by subtraction (Rockpool's): Lava = cpu bit for bit, and the integer engine within
    the feed-forward tolerance of docs/nir.md."""
    path, _ = _rockpool_file(tmp_path / "rockpool.nir", 0)
    build = neurocompile.export(path, target="loihi2", output=tmp_path / "b", dt=1e-3, reset="subtract")
    raster = _raster(0, 60, 2, 16, 0.25)
    run = build.simulate(input_spikes=raster, engine="lava")
    assert run.lava["identical"] and run.outputs["output"].sum() > 20, run.lava
    out = build.evaluate(input_spikes=raster).outputs["output"]
    assert out["raster_match"] >= 0.98 and out["count_pearson_r"] >= 0.99, out


@pytest.mark.lava
def test_several_outputs_each_get_their_own_raster(tmp_path):
    """A NIR graph with two Output nodes -- the hidden LIF's spikes and the LI readout's voltage: each is written
    under its own name (spike counts as integers, the voltage as floats), on every engine, and Lava = cpu on both."""
    graph = _readout_graph(2, "LI")
    graph = nir.NIRGraph(nodes={**graph.nodes, "hidden": nir.Output(output_type={"output": np.array([16])})},
                         edges=[*graph.edges, ("lif", "hidden")])
    build = neurocompile.export(graph, target="loihi2", output=tmp_path / "b")
    raster = (np.random.default_rng(3).random((40, 2, 8)) < 0.3).astype(np.int64)
    lava = build.simulate(input_spikes=raster, engine="lava")
    assert lava.lava["identical"] and set(lava.outputs) == {"output", "hidden"}, lava.lava
    assert lava.outputs["hidden"].dtype == np.int64 and lava.outputs["hidden"].shape == (40, 2, 16)
    assert lava.outputs["output"].dtype == np.float64 and lava.outputs["output"].shape == (40, 2, 4)
    floats = build.simulate(input_spikes=raster, engine="float").outputs
    # the hidden spikes are the graph's own, written out from NIR's equations (the readout test checks the LI)
    n, v, expected = graph.nodes, np.zeros((2, 16)), []
    for t in range(40):
        v = v + 1e-4 / n["lif"].tau * (-v + raster[t] @ n["fc"].weight.T + n["fc"].bias)
        s = (v > 1).astype(np.int64)
        v = np.where(s > 0, 0.0, v)
        expected.append(s)
    assert np.stack(expected).sum() > 20
    np.testing.assert_array_equal(floats["hidden"], np.stack(expected))
    evaluation = build.evaluate(input_spikes=raster)
    assert set(evaluation.outputs) == {"output", "hidden"} and "raster_match" in evaluation.outputs["hidden"]
    np.savez(tmp_path / "in.npz", input=raster)
    out = _cli("simulate", str(tmp_path / "b"), "--input-spikes", str(tmp_path / "in.npz"), "--output-spikes",
               str(tmp_path / "out.npz"))
    assert out.returncode == 0, out.stderr
    with np.load(tmp_path / "out.npz") as z:
        assert z["hidden"].shape == (40, 2, 16) and z["output"].shape == (40, 2, 4)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neurocompile.cli", *args], capture_output=True, text=True)


def test_command_line_exports_runs_evaluates_and_reports(tmp_path):
    from snntorch.export_nir import export_to_nir

    nir.write(str(tmp_path / "net.nir"), export_to_nir(_uniform_mlp(0, "Leaky"), torch.zeros(12)))
    np.savez(tmp_path / "in.npz", input=_raster(4, steps=50, streams=2).astype(np.uint8))
    out = _cli("inspect", str(tmp_path / "net.nir"), "--json")
    assert out.returncode == 0 and [n["op"] for n in json.loads(out.stdout)["nodes"]] == \
        ["SpikeInput", "Affine", "EulerLIF", "Affine", "EulerLIF", "Output"]
    out = _cli("export", str(tmp_path / "net.nir"), "--target", "cpu", "-o", str(tmp_path / "b"), "--json")
    assert out.returncode == 0, out.stderr
    manifest = json.loads(out.stdout)
    assert manifest["task"] == "spikes" and manifest["model"]["dt"] == 1e-4 and "the default" in manifest["model"]["dt_source"]
    out = _cli("simulate", str(tmp_path / "b"), "--input-spikes", str(tmp_path / "in.npz"), "--output-spikes",
               str(tmp_path / "out.npz"), "--json")
    assert out.returncode == 0, out.stderr
    with np.load(tmp_path / "out.npz") as z:
        assert z["output"].shape == (50, 2, 5) and z["output"].dtype.kind == "i"
    out = _cli("evaluate", str(tmp_path / "b"), "--input-spikes", str(tmp_path / "in.npz"), "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["outputs"]["output"]["raster_match"] > 0.95
    out = _cli("report", str(tmp_path / "b"), "--format", "md")
    assert out.returncode == 0 and "per time step" in out.stdout and "token" not in out.stdout.split("Approximations")[0]
    out = _cli("report", str(tmp_path / "b"), "--format", "json")  # field names carry the task's unit
    data = json.loads(out.stdout)
    assert data["header"]["unit"] == "time step" and data["totals"]["energy_pj_per_step"] > 0
    assert "_per_token" not in out.stdout


@pytest.mark.parametrize("make, message", [
    (lambda p: np.savez(p, input=np.full((5, 12), 2)), "holds 2 at index (0, 0); spike rasters hold 0 and 1 only"),
    (lambda p: np.savez(p, input=np.zeros((5, 11))), "has shape (5, 11); this network takes [T, 12] or [T, B, 12]"),
    (lambda p: np.savez(p, a=np.zeros((5, 12)), b=np.zeros(2)), "needs an array named 'input' (or a single array)"),
    (lambda p: p.write_bytes(b"not a zip"), "not an .npz of arrays numpy reads without pickles"),
])
def test_bad_rasters_are_one_clear_error(tmp_path, make, message):
    from snntorch.export_nir import export_to_nir

    build = neurocompile.export(export_to_nir(_uniform_mlp(0, "Leaky"), torch.zeros(12)), target="cpu",
                                output=tmp_path / "b")
    make(tmp_path / "in.npz")
    out = _cli("simulate", str(tmp_path / "b"), "--input-spikes", str(tmp_path / "in.npz"))
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    assert not (build.path / "run.npz").exists()


def test_options_of_the_other_task_are_refused(tmp_path):
    from snntorch.export_nir import export_to_nir

    from neurocompile.models import zoo

    neurocompile.export(export_to_nir(_uniform_mlp(0, "Leaky"), torch.zeros(12)), target="cpu", output=tmp_path / "b")
    out = _cli("simulate", str(tmp_path / "b"), "--prompt", "The ")
    assert out.returncode == 2 and "--prompt: for language models" in out.stderr
    out = _cli("simulate", str(tmp_path / "b"))
    assert out.returncode == 2 and "give --input-spikes" in out.stderr
    out = _cli("export", "--dt", "1e-3", "-o", str(tmp_path / "z"))
    assert out.returncode == 2 and "--dt: for NIR graphs" in out.stderr
    out = _cli("export", str(zoo.path("rleaky-patterns.nir")), "--token-shift", "fold", "-o", str(tmp_path / "z"))
    assert out.returncode == 2 and "--token-shift: for language-model checkpoints" in out.stderr
    out = _cli("export", str(zoo.path("rleaky-patterns.nir")), "--extension-ops", "neuron", "-o", str(tmp_path / "z"))
    assert out.returncode == 2 and "--extension-ops: for language-model checkpoints" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "z").exists()


def test_raster_makes_the_input_a_build_reads(tmp_path):
    """`neurocompile raster`: Bernoulli spikes at the stated rate, shaped [T, B, n] for the build's input, the same
    for the same seed, read back by simulate."""
    from neurocompile.cli import main
    from neurocompile.models import zoo

    neurocompile.export(zoo.path("rleaky-patterns.nir"), target="cpu", output=tmp_path / "b")
    make = ["raster", str(tmp_path / "b"), "--steps", "400", "--streams", "5", "--rate", "0.3"]
    assert main([*make, "-o", str(tmp_path / "a.npz"), "--seed", "7"]) == 0
    assert main([*make, "-o", str(tmp_path / "again.npz"), "--seed", "7"]) == 0
    assert main([*make, "-o", str(tmp_path / "other.npz"), "--seed", "8"]) == 0
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "again.npz") as again, np.load(tmp_path / "other.npz") as other:
        spikes = a["input"]
        assert spikes.shape == (400, 5, 12) and set(np.unique(spikes)) <= {0, 1}
        assert np.array_equal(spikes, again["input"]) and not np.array_equal(spikes, other["input"])
    # 24,000 Bernoulli(0.3) draws: the mean is within 5 standard deviations (0.0148) of 0.3
    assert abs(spikes.mean() - 0.3) < 5 * np.sqrt(0.3 * 0.7 / spikes.size)
    assert main(["simulate", str(tmp_path / "b"), "--input-spikes", str(tmp_path / "a.npz"), "--json"]) == 0


def test_python_api_takes_an_snntorch_module(tmp_path):
    build = neurocompile.export(_uniform_mlp(1, "Synaptic"), target="cpu", output=tmp_path / "b",
                                sample_input=torch.zeros(12))
    run = build.simulate(input_spikes=_raster(3, steps=20, streams=1)[:, 0])
    assert run.outputs["output"].shape == (20, 5) and run.run_file.is_file()
    assert build.report().header["unit"] == "time step"
    with pytest.raises(UserError, match="needs sample_input="):
        neurocompile.export(_uniform_mlp(1, "Leaky"), target="cpu", output=tmp_path / "c")
    with pytest.raises(UserError, match=r"input_spikes has shape \(4, 3\); this network takes \[T, 12\]"):
        build.simulate(input_spikes=np.zeros((4, 3)))


def test_unrepresentable_parameters_name_the_node(tmp_path):
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([3])}),
        "w": nir.Linear(weight=np.ones((2, 3))),
        "lif": nir.LIF(tau=np.full(2, 1e-4), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),
                       v_reset=np.full(2, 0.5)),
        "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    with pytest.raises(UserError, match="layer lif .*v_reset = 0.5: the lowered neuron resets the voltage to 0"):
        neurocompile.export(graph, target="cpu", output=tmp_path / "b")
    graph.nodes["lif"] = nir.LIF(tau=np.full(2, 1e-4), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),
                                 v_reset=np.zeros(2))
    with pytest.raises(UserError, match=r"layer lif \(CUBA\) cannot be quantized.*needs dt < tau"):  # dt = tau: no memory, not a 12-bit decay
        neurocompile.export(graph, target="cpu", output=tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_zoo_classifier_keeps_its_accuracy(tmp_path):
    """The zoo's snnTorch-trained recurrent classifier: our float engine has snnTorch's accuracy (its card), and the
    integer engine stays within two points of it (docs/nir.md)."""
    import json as _json

    from neurocompile.models import zoo

    card = _json.loads(zoo.path("rleaky-patterns.card.json").read_text())
    build = neurocompile.export(zoo.path("rleaky-patterns.nir"), target="cpu", output=tmp_path / "b")
    result = build.evaluate(input_spikes=zoo.path("rleaky-patterns.test.npz"))
    assert result.accuracy["float"] == pytest.approx(card["test_accuracy_snntorch"], abs=1e-4)
    assert abs(result.accuracy["integer"] - result.accuracy["float"]) <= 0.02, result.accuracy
