"""netx files: lava-dl's netx loads them and its run gives our spikes, on a Dense + LIF program."""
from __future__ import annotations

import numpy as np
import pytest

from neurocompile import fixed, lava_compat
from neurocompile.ops import QDense, QLIF, QOutput, QSpikeEmbedding
from neurocompile.quantize import Program, QNode
from neurocompile.targets.cpu.simulator import Simulator
from neurocompile.targets.loihi2 import NUMERIC
from neurocompile.targets.loihi2.netx import dense_lif_pairs, netx_files, write_dense_lif

pytestmark = pytest.mark.lava


def _program(exp: int) -> Program:
    rng = np.random.default_rng(exp + 5)
    n_in, n_out, vocab = 24, 10, 7
    codes = (rng.random((vocab, n_in)) < 0.5).astype(np.int64)
    halves = rng.integers(-127, 128, (1, n_out, n_in)).astype(np.int8)  # Lava's weights: twice these
    nodes = [QNode("tokens", "TokenInput", (), None, None),
             QNode("codes", "SpikeEmbedding", ("tokens",), 0, QSpikeEmbedding(codes)),
             QNode("fc", "Dense", ("codes",), 0, QDense(halves, np.full((1, n_out), exp), np.array([True]), 24, np.zeros(n_out, np.int64))),
             QNode("lif", "LIF", ("fc",), 0, QLIF(n_out, du=4095, dv=2048, vth=300 << max(exp, 0))),
             QNode("out", "Output", ("lif",), 0, QOutput(0))]
    return Program({n.name: n for n in nodes}, NUMERIC)


def test_only_representable_pairs_get_files():
    assert dense_lif_pairs(_program(0)) == [("fc", "lif")]
    assert dense_lif_pairs(_program(-1)) == []  # a floored accumulator: netx stores no exponent
    assert dense_lif_pairs(_program(2)) == []  # netx clips integer weights beyond 8 bits
    assert list(netx_files(_program(0))) == ["netx-lif.h5"]


def test_netx_run_equals_ours(tmp_path):
    program = _program(0)
    tokens = np.random.default_rng(1).integers(0, 7, 30)
    sim = Simulator(program, 1, record=["codes", "lif"])
    for t in tokens:
        sim.step(np.array([t]))
    x = np.stack(sim.recorded["codes"])[:, 0].T
    ours = np.stack(sim.recorded["lif"])[:, 0].T
    path = tmp_path / "net.h5"
    write_dense_lif(path, program, "fc", "lif")

    lava_compat.ensure_importable(netx=True)
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    net = netx.hdf5.Network(net_config=str(path))
    steps = len(tokens) + 1  # netx's Dense delivers one step late
    source = Source(data=np.concatenate([x, np.zeros((x.shape[0], 1), np.int64)], 1))
    sink = Sink(shape=net.out.shape, buffer=steps)
    source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        theirs = sink.data.get().astype(np.int64)[:, 1:]
    finally:
        net.stop()
    assert 0 < ours.sum() < ours.size
    np.testing.assert_array_equal(theirs, ours)
    assert fixed.effective_weights(program.nodes["fc"].q.weights[0]).tolist() == program.nodes["fc"].q.weights[0].tolist()
