"""The Loihi 2 calibration's arithmetic (targets/loihi2/calibration.py), checked by hand on small cases.

The fit itself runs on lava-dl's PilotNet files, which neurocompile does not ship (tools/calibrate_loihi2.py, its
figures in docs/energy-comparison.md); here: event counting against brute force, and the two fits against their
definitions."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from neurocompile.energy import load_energy_model
from neurocompile.targets.loihi2.calibration import (LayerActivity, busiest_core, conv_events, fit_energy_scale,
                                                     fit_step_overhead, placed_cores)


@pytest.mark.parametrize("stride, padding", [((1, 1), (0, 0)), ((2, 2), (0, 0)), ((2, 1), (1, 0)), ((1, 2), (1, 1))])
def test_conv_events_count_every_spike_synapse_pair(stride, padding):
    """Brute force: for each output (channel, y, x) and each kernel tap, an input spike under it is one event."""
    rng = np.random.default_rng(sum(stride) + sum(padding))
    x = (rng.random((3, 2, 7, 9)) < 0.3).astype(np.float32)  # T, C, H, W
    w = rng.integers(-2, 3, (4, 2, 3, 3)).astype(np.float32)  # out, in, kH, kW (some zero)
    synops, effective, shape = conv_events(x, w, stride, padding)
    padded = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh = (padded.shape[2] - 3) // stride[0] + 1
    ow = (padded.shape[3] - 3) // stride[1] + 1
    assert shape == (oh, ow)
    for t in range(3):
        every = nonzero = 0
        for o, y, xx, c, i, j in itertools.product(range(4), range(oh), range(ow), range(2), range(3), range(3)):
            s = padded[t, c, y * stride[0] + i, xx * stride[1] + j]
            every += s
            nonzero += s * (w[o, c, i, j] != 0)
        assert (synops[t], effective[t]) == (every, nonzero)


def _layer(name, neurons, synops, kind="conv", synapses=100):
    synops = np.asarray(synops, np.float64)
    return LayerActivity(name, kind, neurons, synapses, np.zeros_like(synops), synops, synops)


def test_the_fixed_cost_per_step_is_the_measured_step_less_the_busiest_core():
    layers = [_layer("a", 1000, [4e6, 2e6]), _layer("b", 9000, [1e6, 1e6])]
    cores, rate, neuron_rate = (4, 3), 2e9, 1e9
    # per step, per core: a: (4e6 / 2e9 + 1000 / 1e9) / 4, b: (1e6 / 2e9 + 9000 / 1e9) / 3
    a = [(4e6 / 2e9 + 1e-6) / 4, (2e6 / 2e9 + 1e-6) / 4]
    b = [(1e6 / 2e9 + 9e-6) / 3] * 2
    busiest = [max(a[0], b[0]), max(a[1], b[1])]
    assert list(busiest_core(layers, cores, rate, neuron_rate)) == pytest.approx(busiest)
    fit = fit_step_overhead(layers, rate, neuron_rate, measured_step=2e-3, cores=cores)
    assert fit.value == pytest.approx(2e-3 - np.mean(busiest))
    assert (fit.low, fit.high) == (pytest.approx(2e-3 - max(busiest)), pytest.approx(2e-3 - min(busiest)))


def test_the_energy_factor_prices_the_counted_events_at_the_measurement():
    hw = load_energy_model("hw-45nm")
    layers = [_layer("a", 500, [1e6, 3e6]), _layer("b", 1500, [0, 1e6])]
    per_step = [(1e6 + 0) * hw.cost("binary_synaptic_op") + 2000 * hw.cost("neuron_update"),
                (3e6 + 1e6) * hw.cost("binary_synaptic_op") + 2000 * hw.cost("neuron_update")]
    fit = fit_energy_scale(layers, hw, measured_j_per_step=50e-6)
    assert fit.value == pytest.approx(50e-6 / (np.mean(per_step) * 1e-12))
    assert (fit.low, fit.high) == (pytest.approx(50e-6 / (max(per_step) * 1e-12)), pytest.approx(50e-6 / (min(per_step) * 1e-12)))


def test_placed_cores_count_each_layers_cores_in_the_placement(tmp_path):
    """A netx network placed for Loihi 2: each layer's cores are those holding any of its nodes (synapse, delay,
    neurons); every core of the placement belongs to some layer."""
    from neurocompile.frontends.netx import import_netx, read_netx
    from neurocompile.targets.loihi2 import TARGET
    from test_netx_import import _slayer_conv_network

    path = tmp_path / "network.net"
    _slayer_conv_network(path, 2, (1, 9, 8), [(3, 3, 1, 0), (4, 3, 2, 1)], True)
    _, program, _ = import_netx(path)
    placement = TARGET.place(program, None)
    names = [f"layer{layer.index}" for layer in read_netx(path)]
    counts = placed_cores(placement, names)
    assert len(counts) == 4 and counts[0] == 0 and all(c >= 1 for c in counts[1:])  # a shape-only input: no neurons
    held = {core.index for core in placement.cores for s in core.slices if s.node.startswith("layer")}
    assert max(counts) <= len(placement.cores) and held == {core.index for core in placement.cores if core.slices}


def test_busiest_placed_core_adds_the_work_of_every_layer_a_core_holds():
    """Two layers over two cores, by hand: core 0 holds all of layer a's synapse rows and half of b's neurons, core 1
    the other half of b's neurons and b's synapse rows; each core's step is its share of the synaptic events at the
    synaptic rate plus its neurons at the neuron rate."""
    from types import SimpleNamespace

    from neurocompile.targets.loihi2.calibration import busiest_placed_core
    from neurocompile.targets.loihi2.partition import Slice

    a = LayerActivity("a", "conv", 10, 100, np.array([1.0, 2.0]), np.array([100.0, 300.0]), np.array([50.0, 60.0]))
    b = LayerActivity("b", "dense", 4, 40, np.array([1.0, 1.0]), np.array([40.0, 80.0]), np.array([10.0, 20.0]))
    cores = [SimpleNamespace(slices=[Slice("a.synapse", (0, 10), 100), Slice("b", (0, 2), 0)]),
             SimpleNamespace(slices=[Slice("b.synapse", (0, 4), 40), Slice("b", (2, 4), 0), Slice("a", (0, 10), 0)])]
    busy = busiest_placed_core([a, b], SimpleNamespace(cores=cores), ["a", "b"], synops_per_s=100.0, neuron_ops_per_s=10.0)
    core0 = np.array([100.0, 300.0]) / 100 + 2 / 10
    core1 = np.array([40.0, 80.0]) / 100 + 2 / 10 + 10 / 10
    np.testing.assert_allclose(busy, np.maximum(core0, core1))
