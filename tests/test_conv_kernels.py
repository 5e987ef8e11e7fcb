"""Convolutions held as their kernels (``ConvSynapse``): the same integers as the convolution unrolled into a matrix,
the same spikes as Lava's own Conv process (the golden), and pooling folded into the convolution after it exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from neurocompile.ops import QOutput, QSpikeInput, Tally
from neurocompile.targets.loihi2.arithmetic import QCUBA, QConv, QDense
from neurocompile.ops.conv import Conv2d, ConvSynapse, SumPool2d, AvgPool2d
from neurocompile.ops import integer_form
from neurocompile.ops.synapses import Dense
from neurocompile.quantize import Program, QNode
from neurocompile.targets.cpu.simulator import Simulator
from neurocompile.targets.loihi2 import NUMERIC
from test_compiled import _same_run


@st.composite
def geometries(draw):
    """A convolution's geometry and its input maps: non-square maps and kernels, strides, padding and dilation per
    axis, groups; every output map at least 1 x 1."""
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 9))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 9))
    return dict(c_in=c_in, c_out=c_out, kernel=(kh, kw), in_shape=(c_in, h, w), stride=stride, padding=padding,
                dilation=dilation, groups=groups)


def _qconv(g: dict, rng: np.random.Generator, exp: int, zeros: float = 0.3) -> QConv:
    halves = rng.integers(-127, 128, (g["c_out"], g["c_in"] // g["groups"], *g["kernel"]))
    halves[rng.random(halves.shape) < zeros] = 0
    geometry = np.array([*g["in_shape"], *g["stride"], *g["padding"], *g["dilation"], g["groups"]], np.int64)
    return QConv(halves.astype(np.int8), exp, geometry, 24, rng.integers(-500, 500, g["c_out"]))


@settings(max_examples=60, deadline=None)
@given(geometries(), st.integers(0, 2**32 - 1), st.integers(-4, 3))
def test_a_kernel_gives_the_integers_of_its_unrolled_matrix(g, seed, exp):
    """The kernel's sums, shifted and biased, equal a Dense holding the convolution unrolled (PyTorch's conv2d applied
    to each unit input), on random spikes; so do the synaptic operations over non-zero weights."""
    rng = np.random.default_rng(seed)
    q = _qconv(g, rng, exp)
    op = Conv2d(2.0 * q.halves.astype(np.float64), np.zeros(g["c_out"]), g["in_shape"], g["stride"], g["padding"],
                g["dilation"], g["groups"])
    matrix = np.rint(op.synapse_form()[0] / 2).astype(np.int8)
    n_out = matrix.shape[0]
    per_channel = n_out // g["c_out"]
    dense = QDense(matrix[None], np.full((1, n_out), exp), np.array([True]), 24, np.repeat(q.bias, per_channel))
    x = (rng.random((3, matrix.shape[1])) < 0.4).astype(np.int64)
    ours, theirs = Tally(), Tally()
    y, _ = integer_form(ConvSynapse, "loihi2").int_step(q, [x], None, ours)
    expected, _ = integer_form(Dense, "loihi2").int_step(dense, [x], None, theirs)
    np.testing.assert_array_equal(y, expected)
    assert ours.effective_binary_events == theirs.effective_binary_events
    # every tap in reach: the unrolled matrix's structural entries (where an all-ones kernel puts a weight)
    reach = Conv2d(np.ones(q.halves.shape), np.zeros(g["c_out"]), g["in_shape"], g["stride"], g["padding"],
                   g["dilation"], g["groups"]).synapse_form()[0] != 0
    assert ours.binary_events == int((x @ reach.T.astype(np.int64)).sum())


@settings(max_examples=60, deadline=None)
@given(geometries(), st.integers(1, 3), st.integers(1, 3), st.booleans(), st.integers(0, 2**32 - 1))
def test_a_pooling_folds_into_the_convolution_after_it_exactly(g, kh, kw, average, seed):
    """Sum (or average) pooling of tiling windows, then a convolution: one convolution on the pool's input with the
    same float outputs -- or no fold where the pool drops rows that the convolution's padding would replace."""
    rng = np.random.default_rng(seed)
    c, h, w = g["in_shape"]
    pool = (AvgPool2d if average else SumPool2d)((c, h * kh + int(rng.integers(0, kh)), w * kw + int(rng.integers(0, kw))),
                                                 (kh, kw), (kh, kw))
    if tuple(pool.shape) != (c, h, w):
        return
    conv = Conv2d(rng.normal(0, 1, (g["c_out"], c // g["groups"], *g["kernel"])), rng.normal(0, 1, g["c_out"]),
                  (c, h, w), g["stride"], g["padding"], g["dilation"], g["groups"])
    folded = conv.kernel_form().after_pool(pool)
    (_, H, W), (ph, pw) = pool.in_shape, g["padding"]
    assert (folded is None) == bool(ph and H % kh or pw and W % kw)
    if folded is None:
        return
    x = torch.from_numpy((rng.random((2, c * H * W)) < 0.5).astype(np.float64))
    two_steps = conv.float_step([pool.float_step([x], None)[0]], None)[0]
    np.testing.assert_allclose(folded.float_step([x], None)[0].numpy(), two_steps.numpy(), rtol=1e-12, atol=1e-9)


def _into_neurons(g: dict, q: QConv) -> Program:
    """The kernel on the spike input, into CUBA neurons (one decay and threshold for all), their spikes the output."""
    ones = np.ones(int(np.prod(q.shape)), np.int64)
    nodes = [QNode("input", "SpikeInput", (), 0, QSpikeInput(int(np.prod(g["in_shape"])), g["in_shape"])),
             QNode("conv", "ConvSynapse", ("input",), 0, q),
             QNode("lif", "CUBA", ("conv",), 0, QCUBA(ones * 1024, ones * 512, ones * 40, 0 * ones, 0 * ones, False)),
             QNode("output", "Output", ("lif",), 0, QOutput(0))]
    return Program({n.name: n for n in nodes}, NUMERIC)


GEOMETRIES = [dict(c_in=2, c_out=3, kernel=(3, 2), in_shape=(2, 7, 9), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                   groups=1),
              dict(c_in=4, c_out=4, kernel=(2, 3), in_shape=(4, 6, 5), stride=(1, 2), padding=(0, 1), dilation=(2, 1),
                   groups=2),
              dict(c_in=1, c_out=5, kernel=(5, 5), in_shape=(1, 12, 10), stride=(2, 2), padding=(2, 2),
                   dilation=(1, 1), groups=1)]


@pytest.mark.lava
@pytest.mark.parametrize("index, exp", [(0, 0), (1, -2), (2, 1)])
def test_lavas_conv_process_fires_as_the_cpu_engine(index, exp):
    """A kernel (random 8-bit weights, some zero) into CUBA neurons, run in Lava through Lava's own Conv process and
    on the cpu engine: the same spikes at every step."""
    from neurocompile.targets.loihi2.lava_engine import run_lava

    g = GEOMETRIES[index]
    rng = np.random.default_rng(index)
    q = _qconv(g, rng, exp)
    program, n_in = _into_neurons(g, q), int(np.prod(g["in_shape"]))
    x = (rng.random((25, n_in)) < 0.35).astype(np.int64)
    run = run_lava(program, x)
    sim = Simulator(program, 1, record=["lif"])
    for t in range(len(x)):
        sim.step(x[t][None])
    ours = np.stack(sim.recorded["lif"])[:, 0]
    assert 0 < ours.sum() < ours.size
    np.testing.assert_array_equal(run.spikes["lif"], ours)


@settings(max_examples=40, deadline=None)
@given(geometries(), st.integers(0, 2**32 - 1), st.integers(-4, 3), st.integers(1, 3))
def test_the_compiled_kernel_is_the_reference_step(g, seed, exp, batch):
    """The compiled engine's conv kernel (event by event) against the op's reference step (PyTorch's conv2d), into
    CUBA neurons, over random geometries, weights (a third zero), streams and steps: every value and counter."""
    rng = np.random.default_rng(seed)
    q = _qconv(g, rng, exp)
    program, n_in = _into_neurons(g, q), int(np.prod(g["in_shape"]))
    assert all(isinstance(i, tuple) for i in Simulator(program, batch).plan)  # every node compiled
    _same_run(program, [(rng.random((batch, n_in)) < 0.4).astype(np.int64) for _ in range(6)], batch)
