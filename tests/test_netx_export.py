"""The netx bridge's second direction (issue 23): a loihi2 build written as one whole-network netx file
(``network.net``) that lava-dl's netx loads and runs in Lava -- the golden -- with the cpu engine's spikes, every
layer: from snnTorch-made NIR graphs, and back from netx networks lava-dl's SLAYER made."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import neurocompile
from neurocompile.build import read_build
from neurocompile.targets.cpu.simulator import Simulator
from neurocompile.targets.loihi2.netx import NETWORK_FILE, network_layers, run_network

snn = pytest.importorskip("snntorch")

# (seed, sizes, cell, index of the RLeaky layer or -1, weight gain)
NETWORKS = [(0, (12, 24, 5), "Leaky", -1, 4.0), (1, (10, 32, 16, 4), "Synaptic", -1, 5.0),
            (2, (8, 20, 6), "Leaky", 0, 4.0), (3, (16, 12, 12, 3), "Synaptic", 1, 6.0)]


def _snntorch_net(seed: int, sizes: tuple[int, ...], cell: str, recurrent: int, gain: float) -> torch.nn.Sequential:
    """Linear layers without bias (a netx layer's bias is the neuron's, not the synapse's), one decay per layer (Lava's
    LIF takes one), reset to zero; layer `recurrent` an RLeaky (its recurrent bias held at zero)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = torch.nn.Linear(a, b, bias=False)
        with torch.no_grad():
            linear.weight.mul_(gain)
        common = dict(beta=torch.full((b,), float(rng.uniform(0.7, 0.95))), threshold=torch.ones(b), init_hidden=True,
                      reset_mechanism="zero", output=i == len(sizes) - 2)
        if i == recurrent:
            neuron = snn.RLeaky(linear_features=b, reset_delay=False, **common)
            with torch.no_grad():
                neuron.recurrent.weight.mul_(2.0)
                neuron.recurrent.bias.zero_()
        elif cell == "Synaptic":
            neuron = snn.Synaptic(alpha=torch.full((b,), float(rng.uniform(0.5, 0.8))), **common)
        else:
            neuron = snn.Leaky(**common)
        layers += [linear, neuron]
    return torch.nn.Sequential(*layers)


@pytest.mark.lava
@pytest.mark.parametrize("seed, sizes, cell, recurrent, gain", NETWORKS, ids=[f"snntorch{n[0]}" for n in NETWORKS])
def test_snntorch_graphs_export_one_netx_network_that_netx_runs_as_our_engine(tmp_path, seed, sizes, cell, recurrent,
                                                                               gain):
    from snntorch.export_nir import export_to_nir

    graph = export_to_nir(_snntorch_net(seed, sizes, cell, recurrent, gain), torch.zeros(sizes[0]))
    build = neurocompile.export(graph, target="loihi2", output=tmp_path / "b")
    notes = build.manifest["target_notes"]["netx_network"]
    assert notes["file"] == NETWORK_FILE and (build.path / NETWORK_FILE).is_file(), notes
    assert [layer["type"] for layer in notes["layers"]] == ["dense_rec" if i == recurrent else "dense"
                                                            for i in range(len(sizes) - 1)]
    T = 50
    x = (np.random.default_rng(seed + 7).random((T, sizes[0])) < 0.3).astype(np.int64)
    neurons = [layer["neuron"] for layer in notes["layers"]]
    sim = Simulator(build.program, 1, record=neurons)
    for t in range(T):
        sim.step(x[t][None])
    # netx delivers each layer's input one step late: layer k (from 1) fires k steps after ours -- read that far on
    theirs = run_network(build.path / NETWORK_FILE, x, T + len(neurons))
    for k, (name, out) in enumerate(zip(neurons, theirs), start=1):
        ours = np.stack(sim.recorded[name])[:, 0]
        assert 0 < ours.sum() < ours.size, (name, ours.sum())
        np.testing.assert_array_equal(out[k:k + T], ours, err_msg=name)
        assert not out[:k].any()
    # simulate --engine lava runs the same check, and Lava's own process graph, and says so
    run = build.simulate(input_spikes=x, engine="lava")
    assert run.lava["identical"] and run.lava["netx_identical"] == dict.fromkeys(neurons, True), run.lava


@pytest.mark.lava
def test_a_slayer_conv_network_goes_back_to_netx_as_it_came(tmp_path):
    """SLAYER conv blocks (maps not square, a stride per axis, biases) imported and exported again: netx runs the
    written network.net as the original file, every layer, step for step."""
    from test_netx_import import CONV_NETWORKS, _slayer_conv_network

    original = tmp_path / "slayer.net"
    seed, maps, convs, bias = CONV_NETWORKS[1]
    _slayer_conv_network(original, seed, maps, convs, bias)
    build = neurocompile.export(original, target="loihi2", output=tmp_path / "b")
    layers = build.manifest["target_notes"]["netx_network"]["layers"]
    assert [layer["type"] for layer in layers][:len(convs)] == ["conv"] * len(convs), layers
    x = (np.random.default_rng(3).random((30, int(np.prod(maps)))) < 0.3).astype(np.int64)
    before, after = run_network(original, x, 34), run_network(build.path / NETWORK_FILE, x, 34)
    assert len(before) == len(after)
    for k, (a, b) in enumerate(zip(before, after)):
        assert 0 < a.sum() < a.size, k
        np.testing.assert_array_equal(b, a, err_msg=f"layer {k}")


@pytest.mark.lava
@pytest.mark.parametrize("recurrent, delay", [(1, -1), (-1, 1)], ids=["recurrent", "delays"])
def test_a_netx_network_goes_back_to_netx_as_it_came(tmp_path, recurrent, delay):
    """A SLAYER-made network (biases; a recurrent layer, or axonal delays) imported and exported again: one network.net
    whose layers netx runs as it runs the original file, step for step (no lag: the import keeps netx's one-step
    Dense; the delays go back as netx's delay matrix)."""
    from test_netx_import import _slayer_network

    original = tmp_path / "slayer.net"
    _slayer_network(original, 5, (10, 16, 12, 4), False, True, recurrent, delay)
    build = neurocompile.export(original, target="loihi2", output=tmp_path / "b")
    notes = build.manifest["target_notes"]["netx_network"]
    assert [(layer["type"], layer["lag"]) for layer in notes["layers"]] == [
        ("dense_rec" if k == recurrent else "dense", 0) for k in range(3)]
    assert ("delays" in notes["layers"][1]) == (delay == 1)
    x = (np.random.default_rng(3).random((40, 10)) < 0.3).astype(np.int64)
    before, after = run_network(original, x, 43), run_network(build.path / NETWORK_FILE, x, 43)
    for k, (a, b) in enumerate(zip(before, after)):
        assert 0 < a.sum() < a.size, k
        np.testing.assert_array_equal(b, a, err_msg=f"layer {k}")


@pytest.mark.lava
def test_a_nir_convolution_goes_to_netx_as_its_conv_layer(tmp_path):
    """NIR Conv2d -> LIF -> Flatten -> Linear -> LIF: a netx input (the maps' shape), conv, flatten and dense layer,
    every spike as our engine's."""
    import nir

    rng = np.random.default_rng(0)
    maps = (4, 6, 6)

    def lif(shape):
        return nir.LIF(tau=np.full(shape, 2e-3), r=np.ones(shape), v_leak=np.zeros(shape), v_threshold=np.ones(shape),
                       v_reset=np.zeros(shape))

    nodes = {"input": nir.Input(input_type={"input": np.array([2, 8, 8])}),
             "conv": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0, 1.5, (4, 2, 3, 3)), stride=1, padding=0,
                                dilation=1, groups=1, bias=np.zeros(4)),
             "lif": lif(maps), "flat": nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array(maps)}),
             "fc": nir.Linear(weight=rng.normal(0.3, 1.5, (5, int(np.prod(maps))))), "out": lif(5),
             "output": nir.Output(output_type={"output": np.array([5])})}
    names = list(nodes)
    build = neurocompile.export(nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:]))), target="loihi2",
                                output=tmp_path / "b")
    assert [layer["type"] for layer in build.manifest["target_notes"]["netx_network"]["layers"]] == ["conv", "dense"]
    x = (rng.random((40, 128)) < 0.3).astype(np.int64)
    run = build.simulate(input_spikes=x, engine="lava")
    assert run.lava["identical"] and run.lava["netx_identical"] == {"lif": True, "out": True}
    assert 0 < run.outputs["output"].sum()


@pytest.mark.lava
def test_nir_delays_go_to_netx_as_its_synaptic_delays(tmp_path):
    """A NIR Delay (per neuron, 2..5 steps) in front of a Linear, beside a direct Linear from the same layer: one
    netx layer whose delay matrix holds them (the direct synapses at 0, netx one step later), every spike as ours."""
    import nir

    rng = np.random.default_rng(4)

    def lif(n):
        return nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                       v_reset=np.zeros(n))

    nodes = {"input": nir.Input(input_type={"input": np.array([8])}), "w0": nir.Linear(weight=rng.normal(0, 2, (12, 8))),
             "h": lif(12), "late": nir.Delay(delay=rng.integers(2, 6, 12) * 1e-3),
             "w_late": nir.Linear(weight=rng.normal(0, 1.2, (5, 12)) * (rng.random((5, 12)) < 0.5)),
             "w_now": nir.Linear(weight=rng.normal(0, 1.2, (5, 12))), "out": lif(5),
             "output": nir.Output(output_type={"output": np.array([5])})}
    nodes["w_now"].weight[nodes["w_late"].weight != 0] = 0  # each synapse one delay, as netx holds them
    edges = [("input", "w0"), ("w0", "h"), ("h", "late"), ("late", "w_late"), ("h", "w_now"), ("w_late", "out"),
             ("w_now", "out"), ("out", "output")]
    build = neurocompile.export(nir.NIRGraph(nodes=nodes, edges=edges), target="loihi2", output=tmp_path / "b", dt=1e-3)
    layers = build.manifest["target_notes"]["netx_network"]["layers"]
    assert [(layer["lag"], layer.get("delays")) for layer in layers] == [(1, None), (2, "0..5")], layers
    x = (rng.random((60, 8)) < 0.3).astype(np.int64)
    run = build.simulate(input_spikes=x, engine="lava")
    assert run.lava["identical"] and run.lava["netx_identical"] == {"h": True, "out": True}, run.lava
    assert run.outputs["output"].sum() > 0


def test_what_netx_cannot_hold_is_named_per_node(tmp_path):
    """No file, and the reason per node, where netx's CUBA layers differ from the program."""
    import nir

    from models import zoo

    build = neurocompile.export(zoo.path("rleaky-patterns.nir"), target="loihi2", output=tmp_path / "zoo")
    notes = build.manifest["target_notes"]["netx_network"]
    assert notes["file"] is None and not (build.path / NETWORK_FILE).exists()
    assert "bias" in notes["why_not"]["2"] and notes["summary"].startswith("netx: no network.net (node ")

    def graph(n: int, **cell) -> nir.NIRGraph:
        nodes = {"input": nir.Input(input_type={"input": np.array([4])}), "w": nir.Linear(weight=np.full((n, 4), 0.5)),
                 "lif": nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                                v_reset=np.zeros(n), **cell), "output": nir.Output(output_type={"output": np.array([n])})}
        return nir.NIRGraph(nodes=nodes, edges=[("input", "w"), ("w", "lif"), ("lif", "output")])

    subtract = neurocompile.export(graph(3), target="loihi2", output=tmp_path / "s", reset="subtract")
    assert "resets by subtracting" in subtract.manifest["target_notes"]["netx_network"]["why_not"]["lif"]
    per_neuron = graph(3)
    per_neuron.nodes["lif"].tau[:] = [2e-3, 3e-3, 4e-3]
    build = neurocompile.export(per_neuron, target="loihi2", output=tmp_path / "p")
    assert "differ in dv" in build.manifest["target_notes"]["netx_network"]["why_not"]["lif"]
    plain = neurocompile.export(graph(3), target="loihi2", output=tmp_path / "ok")
    assert plain.manifest["target_notes"]["netx_network"]["file"] == NETWORK_FILE
    # the weights as netx holds them: exponent 0, so the file's integers are Lava's weights as they are
    assert all(not node.q.exps.any() for node in plain.program.nodes.values() if node.kind == "Dense")
    assert network_layers(read_build(tmp_path / "ok").program)[0].lag == 1
