"""lava-dl netx networks imported (issue 23, the bridge's first direction): networks made and exported by lava-dl's own
SLAYER, run by our engine, spike for spike and step for step as lava-dl's netx runs the same file in Lava (the golden:
netx and Lava, not our code)."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from neurocompile.cli import main
from neurocompile.errors import UserError
from neurocompile.frontends.netx import import_netx, read_netx
from neurocompile.targets.cpu.simulator import Simulator


def _slayer_network(path, seed: int, sizes: tuple[int, ...], with_input: bool, bias: bool, recurrent: int = -1,
                    delay: int = -1) -> None:
    """A SLAYER CUBA network (optionally led by an input block), weights drawn at random and scaled so that it fires,
    exported by SLAYER's own ``export_hdf5``; `bias`: integer biases written into its dense layers' groups (netx
    reads a layer's ``bias`` as its neurons' bias mantissa); `recurrent`: the index of a layer made a SLAYER
    ``Recurrent`` block (netx's dense_rec: its own spikes through a second matrix); `delay`: the index of a layer
    given SLAYER's axonal delays (``delay=True``), drawn 0..6 per neuron after the first forward sizes them."""
    import torch

    from neurocompile import lava_compat

    lava_compat.ensure_importable(netx=True)
    import lava.lib.dl.slayer as slayer

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    blocks = []
    if with_input:
        # netx feeds the input to this neuron unscaled (its Input block ignores the weight SLAYER exports): a spike
        # of 1 is 64 in v, against a threshold of vThMant << 6 = 64: it fires on the second spike in a row
        blocks.append(slayer.block.cuba.Input({"threshold": 0.02, "current_decay": 1.0, "voltage_decay": 0.1}))
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        params = {"threshold": float(rng.uniform(0.8, 1.6)), "current_decay": float(rng.uniform(0.05, 0.5)),
                  "voltage_decay": float(rng.uniform(0.02, 0.3)), "requires_grad": False}
        if k == recurrent:
            block = slayer.block.cuba.Recurrent(params, a, b, weight_norm=False)
            with torch.no_grad():
                block.input_synapse.weight.mul_(float(rng.uniform(4, 10)))
                block.recurrent_synapse.weight.mul_(float(rng.uniform(2, 5)))
        else:
            block = slayer.block.cuba.Dense(params, a, b, weight_norm=False, delay=k == delay)
            with torch.no_grad():
                block.synapse.weight.mul_(float(rng.uniform(4, 10)))
        blocks.append(block)
    x = (torch.rand(1, sizes[0], 8) < 0.3).float()
    with torch.no_grad():
        for block in blocks:
            x = block(x)  # SLAYER sizes its neurons (and delays) on a first forward
        for block in blocks:
            if getattr(block, "delay", None) is not None:
                d = block.delay.delay
                d.copy_(torch.from_numpy(rng.integers(0, 7, d.numel()).astype(np.float32)).reshape(d.shape))
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        for i, block in enumerate(blocks):
            block.export_hdf5(layers.create_group(str(i)))
            if bias and "weight" in layers[str(i)] and layers[str(i)]["type"][0] in (b"dense", b"dense_rec"):
                n = int(np.prod(layers[str(i)]["shape"][()]))
                layers[str(i)]["bias"] = rng.integers(-150, 150, n)


def _netx_layers(path, x: np.ndarray, layers: int, with_input: bool) -> np.ndarray:
    """netx's own run of the file's first `layers` layers in Lava (Loihi2SimCfg, fixed_pt) on spikes x [n, T].  netx's
    Input block does not compile in this Lava (lava-nc 0.10: "No subcompiler exists for ... PyInputModel"), so a
    network led by one runs as netx documents that block: Lava's own LIF with the file's input-neuron integers, fed
    the spikes, then netx's network with that layer skipped (``skip_layers=1``)."""
    from neurocompile import lava_compat

    lava_compat.ensure_importable(netx=True)
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    net = netx.hdf5.Network(net_config=str(path), num_layers=layers, skip_layers=1 if with_input else 0)
    steps = x.shape[1] + len(net.layers)
    source = Source(data=np.concatenate([x, np.zeros((x.shape[0], len(net.layers)), np.int64)], 1))
    sink = Sink(shape=net.out.shape, buffer=steps)
    if with_input:
        with h5py.File(path, "r") as f:
            n = f["layer/0/neuron"]
            lif = LIF(shape=(x.shape[0],), du=int(n["iDecay"][()]) - 1, dv=int(n["vDecay"][()]),
                      vth=int(n["vThMant"][()]), bias_exp=6)
        source.s_out.connect(lif.a_in)
        lif.s_out.connect(net.inp)
    else:
        source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return sink.data.get().astype(np.int64)
    finally:
        net.stop()


NETWORKS = [(0, (20, 16, 5), False, False, -1), (1, (12, 24, 18, 6), False, True, -1), (2, (10, 10, 4), True, False, -1),
            (3, (30, 8, 8, 8, 3), True, True, -1), (4, (14, 20, 6), False, False, 0), (5, (10, 16, 12, 4), True, True, 1)]


@pytest.mark.lava
@pytest.mark.parametrize("seed, sizes, with_input, bias, recurrent", NETWORKS, ids=[f"net{n[0]}" for n in NETWORKS])
def test_slayer_networks_fire_as_netx_runs_them_in_lava(tmp_path, seed, sizes, with_input, bias, recurrent):
    path = tmp_path / "network.net"
    _slayer_network(path, seed, sizes, with_input, bias, recurrent)
    _, program, info = import_netx(path)
    assert (recurrent >= 0) == any(name.endswith(".recurrent") for name in program.nodes)
    _fires_as_netx(path, program, seed, sizes, with_input)


DELAYED = [(6, (10, 16, 6), False, 0), (7, (12, 20, 14, 5), True, 2), (8, (8, 24, 10, 4), False, 1)]


@pytest.mark.lava
@pytest.mark.parametrize("seed, sizes, with_input, delay", DELAYED, ids=[f"delay{n[0]}" for n in DELAYED])
def test_slayer_axonal_delays_fire_as_netx_runs_them_in_lava(tmp_path, seed, sizes, with_input, delay):
    """netx reads a layer's per-neuron delays as its synapses' (a DelayDense): each delay's synapses d steps later."""
    path = tmp_path / "network.net"
    _slayer_network(path, seed, sizes, with_input, True, delay=delay)
    _, program, _ = import_netx(path)
    delays = {n.q.steps[0] for n in program.nodes.values() if n.kind == "SpikeDelay"}
    assert len(delays) >= 4, delays  # several delay parts, each its own synapse
    _fires_as_netx(path, program, seed, sizes, with_input)


def _fires_as_netx(path, program, seed: int, sizes, with_input: bool) -> None:
    neurons = [name for name, node in program.nodes.items() if node.kind == "CUBA"]
    T = 40
    x = (np.random.default_rng(seed + 10).random((program.nodes["input"].q.n, T)) < 0.3).astype(np.int64)
    sim = Simulator(program, 1, record=neurons)
    for t in range(T):
        sim.step(x[None, :, t])
    for k, name in enumerate(neurons):
        if k == 0 and with_input:
            continue  # netx builds no network of its input block alone (Lava finds no compiler for it); the input
            # layer's spikes reach every later layer, checked below
        ours = np.stack(sim.recorded[name])[:, 0].T
        theirs = _netx_layers(path, x, k + 1, with_input)[:, :T]
        assert 0 < ours.sum() < ours.size, name
        np.testing.assert_array_equal(theirs, ours, err_msg=f"{name} of {sizes}")


def _slayer_conv_network(path, seed: int, maps: tuple[int, int, int], convs: list[tuple], bias: bool) -> None:
    """SLAYER conv blocks (out channels, kernel, stride, padding) on C x H x W maps, then flatten and a dense block,
    exported by SLAYER; a shape-only input layer first (netx then knows the maps); `bias`: integer per-channel
    biases written into the conv layers."""
    import torch

    from neurocompile import lava_compat

    lava_compat.ensure_importable(netx=True)
    import lava.lib.dl.slayer as slayer

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    params = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03, "requires_grad": False}
    x = (torch.rand(1, *maps, 8) < 0.3).float()
    blocks, channels = [], maps[0]
    with torch.no_grad():
        for out, kernel, stride, padding in convs:
            block = slayer.block.cuba.Conv(params, channels, out, kernel, stride=stride, padding=padding,
                                           weight_norm=False)
            block.synapse.weight.mul_(float(rng.uniform(4, 8)))
            x = block(x)
            blocks.append(block)
            channels = out
        dense = slayer.block.cuba.Dense(params, int(np.prod(x.shape[1:4])), 3, weight_norm=False)
        dense.synapse.weight.mul_(6.0)
        dense(x.reshape(1, -1, x.shape[-1]))
    with h5py.File(path, "w") as f:
        g = f.create_group("layer/0")
        g.create_dataset("type", (1,), "S10", [b"input"])
        g["shape"] = np.array(maps)
        for i, block in enumerate(blocks):
            group = f.create_group(f"layer/{i + 1}")
            block.export_hdf5(group)
            if bias:
                group["bias"] = rng.integers(-100, 100, int(group["shape"][0]))
        f.create_group(f"layer/{len(blocks) + 1}").create_dataset("type", (1,), "S10", [b"flatten"])
        dense.export_hdf5(f.create_group(f"layer/{len(blocks) + 2}"))


CONV_NETWORKS = [(0, (2, 6, 5), [(4, 3, 1, 1)], False), (1, (2, 6, 5), [(4, 3, (1, 2), 1)], True),
                 (2, (1, 9, 8), [(3, 3, 1, 0), (4, 3, 2, 1)], True)]


@pytest.mark.lava
@pytest.mark.parametrize("seed, maps, convs, bias", CONV_NETWORKS, ids=[f"conv{n[0]}" for n in CONV_NETWORKS])
def test_slayer_conv_networks_fire_as_netx_runs_them_in_lava(tmp_path, seed, maps, convs, bias):
    """Conv layers (Lava's Conv process in netx) on maps that are not square, strides that differ per axis, a
    second conv on the first's maps, per-channel biases: every layer spike for spike with netx.  netx feeds and
    records maps as (x, y, c); ours are C x H x W, flat."""
    from neurocompile import lava_compat

    path = tmp_path / "conv.net"
    _slayer_conv_network(path, seed, maps, convs, bias)
    _, program, _ = import_netx(path)
    neurons = [name for name, node in program.nodes.items() if node.kind == "CUBA"]
    T = 30
    x = (np.random.default_rng(seed + 20).random((int(np.prod(maps)), T)) < 0.3).astype(np.int64)
    sim = Simulator(program, 1, record=neurons)
    for t in range(T):
        sim.step(x[None, :, t])
    lava_compat.ensure_importable(netx=True)
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    for k, name in enumerate(neurons):
        ours = np.stack(sim.recorded[name])[:, 0].T
        net = netx.hdf5.Network(net_config=str(path), num_layers=k + 2 + (k == len(neurons) - 1))  # + the flatten
        xyc = x.reshape(*maps, T).transpose(2, 1, 0, 3)
        source = Source(data=np.concatenate([xyc, np.zeros((*xyc.shape[:3], len(neurons) + 1), np.int64)], 3))
        sink = Sink(shape=net.out.shape, buffer=T + len(neurons) + 1)
        source.s_out.connect(net.inp)
        net.out.connect(sink.a_in)
        try:
            net.run(condition=RunSteps(num_steps=T + len(neurons) + 1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            theirs = sink.data.get().astype(np.int64)
        finally:
            net.stop()
        if theirs.ndim == 4:  # (x, y, c, T) -> C x H x W, flat
            theirs = theirs.transpose(2, 1, 0, 3).reshape(-1, theirs.shape[-1])
        assert 0 < ours.sum() < ours.size, name
        np.testing.assert_array_equal(theirs[:, :T], ours, err_msg=f"{name} of {convs}")


@pytest.mark.lava
def test_a_netx_file_exports_runs_in_lava_and_reports(tmp_path, capsys):
    path = tmp_path / "network.net"
    _slayer_network(path, 5, (16, 12, 4), True, True)
    assert main(["inspect", str(path)]) == 0
    assert "lava-dl netx network, 3 layers" in capsys.readouterr().out
    assert main(["export", str(path), "--target", "loihi2", "-o", str(tmp_path / "b"), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["model"]["family"] == "netx" and manifest["source"]["netx"] == "network.net"
    assert manifest["partition"]["cores"] >= 1
    assert main(["raster", str(tmp_path / "b"), "-o", str(tmp_path / "in.npz"), "--steps", "30", "--rate", "0.3"]) == 0
    capsys.readouterr()
    assert main(["simulate", str(tmp_path / "b"), "--input-spikes", str(tmp_path / "in.npz"), "--engine", "lava",
                 "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["lava"]["identical"]
    assert main(["evaluate", str(tmp_path / "b"), "--input-spikes", str(tmp_path / "in.npz"), "--json"]) == 0
    agreement = json.loads(capsys.readouterr().out)
    assert main(["report", str(tmp_path / "b"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["header"]["model"] == "network.net" and report["totals"]["energy_pj_per_step"] > 0
    # the float reading of the same network (no floors, no truncation) stays with the integers on this short run
    assert agreement["outputs"]["output"]["raster_match"] >= 0.95 and set(agreement["populations"]) >= {"layer1"}
    bad = ["export", str(path), "-o", str(tmp_path / "c"), "--dt", "1e-3"]
    assert main(bad) == 2 and "already in Loihi's fixed point" in capsys.readouterr().err


def _hand_written(path, edit=lambda f: None) -> None:
    """A two-layer netx file written as netx's format has it (the layout SLAYER's export writes)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for i, (n_in, n_out) in enumerate(((6, 5), (5, 3))):
            g = f.create_group(f"layer/{i}")
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g["shape"] = np.array([n_out])
            g["weight"] = (2 * rng.integers(-40, 40, (n_out, n_in))).astype(np.float32)
            for key, value in (("type", b"CUBA"), ("iDecay", 1024), ("vDecay", 128), ("vThMant", 80), ("refDelay", 1),
                               ("gradedSpike", False)):
                g[f"neuron/{key}"] = value
        edit(f)


def _refused(path) -> str:
    with pytest.raises(UserError) as info:
        read_netx(path)
    return str(info.value)


def _replace(f, key, value):
    del f[key]
    f[key] = value


def test_what_this_version_does_not_read_is_refused_by_name(tmp_path):
    cases = {
        "conv without maps": (lambda f: _replace(f, "layer/1/type", np.array([b"conv"])),
                              "layer 1 (conv): a convolution needs the C x H x W maps before it"),
        "recurrent without its matrix": (lambda f: _replace(f, "layer/1/type", np.array([b"dense_rec"])),
                                         "layer 1 (dense_rec): weight_rec of shape None"),
        "unknown": (lambda f: _replace(f, "layer/1/type", np.array([b"spiral"])), "layer 1 (spiral): not a netx layer"),
        "sdnn": (lambda f: _replace(f, "layer/0/neuron/type", b"SDNN"), "neuron type 'SDNN' (sigma-delta neurons)"),
        "delays beyond": (lambda f: f.create_dataset("layer/0/delay", data=np.full(5, 63)), "netx clamps them to 0..62"),
        "negative delay": (lambda f: f.create_dataset("layer/0/delay", data=np.full(6, -1)), "delays -1..-1"),
        "delay shape": (lambda f: f.create_dataset("layer/0/delay", data=np.ones(4)), "delay of shape [4] for weights"),
        "delay nan": (lambda f: f.create_dataset("layer/0/delay", data=np.full(5, np.nan)), "delay holds nan"),
        "recurrent delays": (lambda f: (_replace(f, "layer/1/type", np.array([b"dense_rec"])),
                                        f.create_dataset("layer/1/delay", data=np.ones(3))),
                             "synaptic delays on a dense_rec layer"),
        "graded": (lambda f: _replace(f, "layer/0/neuron/gradedSpike", True), "graded spikes"),
        "nan": (lambda f: _replace(f, "layer/0/weight", np.full((5, 6), np.nan)), "layer 0 (dense) weight holds nan"),
        "fraction": (lambda f: _replace(f, "layer/0/neuron/vThMant", 80.5), "vThMant holds 80.5"),
        "chain": (lambda f: _replace(f, "layer/1/weight", np.zeros((3, 7))), "reads 7 inputs, but the layer before "
                                                                              "sends 5"),
        "no decay": (lambda f: _replace(f, "layer/0/neuron/iDecay", 0), "iDecay is 0; Lava takes 1..4096 (a current"),
        "threshold": (lambda f: _replace(f, "layer/0/neuron/vThMant", 1 << 17), "vThMant is 131072"),
        "clipped": (lambda f: _replace(f, "layer/0/weight", np.full((5, 6), 300.0)), "netx clips them"),
        "nine bits": (lambda f: _replace(f, "layer/0/weight", np.array([[201.0] + [-3.0] * 5] * 5)), "need 9 bits"),
        "huge": (lambda f: (f.__delitem__("layer/0/weight"), f.create_dataset("layer/0/weight", shape=(1 << 14, 1 << 14),
                                                                               dtype="f4", chunks=(64, 64),
                                                                               compression="gzip")),
                 "declares 268,435,456 values"),
        "numbering": (lambda f: f.move("layer/1", "layer/7"), "layers named 0, 7"),
    }
    for name, (edit, message) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.net"
        _hand_written(path, edit)
        assert message in _refused(path), name
    damaged = tmp_path / "damaged.net"
    _hand_written(damaged)
    damaged.write_bytes(damaged.read_bytes()[:3000])
    assert "not a readable netx network" in _refused(damaged) or "not a netx" in _refused(damaged)


def test_the_weights_are_what_netx_and_lava_make_of_them(tmp_path):
    """netx's optimize_weight_bits and Lava's truncation, recomputed here from their definitions for a matrix whose
    range leaves room to shift (mixed signs, |w| <= 63: shifted left 2 bits, exponent -2) and one that does not
    (|w| up to 256: exponent 0, -256 held as -128 x 2); the product sums equal W x."""
    path = tmp_path / "w.net"
    small = np.array([[62, -64, 2, 0, 30, -2]] * 5, np.float32)
    _hand_written(path, lambda f: _replace(f, "layer/0/weight", small))
    layer = read_netx(path)[0]
    # netx: shifted left 2 (scale min(127/62, 128/64) = 2), 6 weight bits; ours: the same sum as halves W/2 at 2^0
    assert np.array_equal(2 * layer.halves.astype(np.int64) << (layer.exponent + 2), small.astype(np.int64) << 2)
    big = np.array([[254, -256, 2, 0, 30, -2]] * 5, np.float32)
    _hand_written(path, lambda f: _replace(f, "layer/0/weight", big))
    layer = read_netx(path)[0]
    assert layer.exponent == 0 and np.array_equal(2 * layer.halves.astype(np.int64), big.astype(np.int64))
    odd = np.array([[201, -3, 1, 0, 0, 0]] * 5, np.float32)  # mixed, 201 > 127 and odd: 9 bits
    _hand_written(path, lambda f: _replace(f, "layer/0/weight", odd))
    assert "need 9 bits" in _refused(path)


RESETS = [(0, (20, 16, 5), 6, 0, -1), (1, (12, 24, 18, 6), 5, 3, -1), (5, (10, 16, 12, 4), 7, 2, 1)]


@pytest.mark.lava
@pytest.mark.parametrize("seed, sizes, interval, offset, recurrent", RESETS, ids=[f"reset{n[0]}" for n in RESETS])
def test_a_reset_interval_clears_every_layer_as_netx_does(tmp_path, seed, sizes, interval, offset, recurrent):
    """netx's reset_interval / reset_offset (Lava's LIFReset, each layer a step later): our engine clears every layer
    at the steps netx does -- spike for spike with netx in Lava, every layer -- and without them it would not."""
    from neurocompile.targets.loihi2.netx import run_network

    path = tmp_path / "network.net"
    _slayer_network(path, seed, sizes, False, True, recurrent)
    T = 40
    x = (np.random.default_rng(seed + 3).random((T, sizes[0])) < 0.3).astype(np.int64)
    theirs = run_network(path, x, T, reset={"reset_interval": interval, "reset_offset": offset})

    def ours(*reset):
        _, program, _ = import_netx(path, *reset)
        neurons = [name for name, node in program.nodes.items() if node.kind == "CUBA"]
        sim = Simulator(program, 1, record=neurons)
        for t in range(T):
            sim.step(x[t][None])
        return [np.stack(sim.recorded[name])[:, 0] for name in neurons]

    cleared, never = ours(interval, offset), ours()
    for k, (a, b) in enumerate(zip(cleared, theirs)):
        assert 0 < b.sum() < b.size, k
        np.testing.assert_array_equal(a, b, err_msg=f"layer {k}")
    assert any(not np.array_equal(a, b) for a, b in zip(never, theirs))


@pytest.mark.lava
def test_a_reset_interval_build_runs_in_lava_and_goes_back_to_netx(tmp_path, capsys):
    """`export --reset-interval 6 --reset-offset 1`: Lava's LIFReset in our process graph equals the cpu engine, and
    the written network.net, loaded by netx with the same arguments, fires as ours."""
    path = tmp_path / "network.net"
    _slayer_network(path, 2, (14, 20, 6), False, True)
    out = tmp_path / "b"
    assert main(["export", str(path), "--target", "loihi2", "-o", str(out), "--reset-interval", "6",
                 "--reset-offset", "1"]) == 0
    assert "load it with reset_interval=6, reset_offset=1" in capsys.readouterr().out
    assert main(["raster", str(out), "-o", str(tmp_path / "in.npz"), "--steps", "30", "--rate", "0.3"]) == 0
    capsys.readouterr()
    assert main(["simulate", str(out), "--input-spikes", str(tmp_path / "in.npz"), "--engine", "lava", "--json"]) == 0
    lava = json.loads(capsys.readouterr().out)["lava"]
    assert lava["identical"] and len(lava["netx_identical"]) == 2 and all(lava["netx_identical"].values()), lava
    assert main(["report", str(out), "--format", "json"]) == 0  # a sample: the reset interval's 6 steps, priced apart
    totals = json.loads(capsys.readouterr().out)["totals"]
    sample, step = totals["sample"], totals["prefill"]
    assert sample["steps_per_sample"] == 6
    assert sample["dynamic_pj_per_sample"] == pytest.approx(6 * step["dynamic_pj_per_step"])
    assert sample["seconds_per_sample"] == pytest.approx(6 * step["seconds_per_step"])
    assert main(["export", str(path), "-o", str(tmp_path / "c"), "--reset-offset", "1"]) == 2
    assert "give the interval too" in capsys.readouterr().err
    assert main(["export", "-o", str(tmp_path / "d"), "--reset-interval", "4"]) == 2
    assert "--reset-interval: for lava-dl netx networks" in capsys.readouterr().err
