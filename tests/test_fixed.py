"""Our fixed-point Dense and LIF equal Lava's own bit-accurate processes, bit for bit."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from neurocompile import fixed

pytestmark = pytest.mark.lava


def _run_lava(weights, weight_exp, inputs, graded, lif: fixed.LIFParams):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    n_out = weights.shape[0]
    steps = inputs.shape[1]
    source = Source(data=inputs)
    dense = Dense(weights=weights, weight_exp=weight_exp, num_message_bits=24 if graded else 0)
    neuron = LIF(shape=(n_out,), du=lif.du, dv=lif.dv, vth=lif.vth, bias_mant=lif.bias_mant, bias_exp=lif.bias_exp)
    sink = Sink(shape=(n_out,), buffer=steps)
    monitor = Monitor()
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(neuron.a_in)
    neuron.s_out.connect(sink.a_in)
    monitor.probe(neuron.v, steps)
    try:
        neuron.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        spikes = sink.data.get().astype(bool)
        v = monitor.get_data()[neuron.name]["v"].T.astype(np.int64)
    finally:
        neuron.stop()
    return spikes, v


def _run_ours(weights, weight_exp, inputs, graded, lif: fixed.LIFParams):
    w = fixed.effective_weights(weights)
    n_out, steps = weights.shape[0], inputs.shape[1]
    u = np.zeros(n_out, np.int64)
    v = np.zeros(n_out, np.int64)
    pending = np.zeros(n_out, np.int64)  # Lava's Dense delivers one step late
    spikes = np.zeros((n_out, steps), bool)
    vs = np.zeros((n_out, steps), np.int64)
    for t in range(steps):
        a_in, pending = pending, fixed.dense(w, weight_exp, inputs[:, t], graded)
        spikes[:, t], u, v, _ = fixed.lif_step(u, v, a_in, lif)
        vs[:, t] = v
    return spikes, vs


@st.composite
def networks(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in, n_out, steps = draw(st.integers(2, 24)), draw(st.integers(1, 16)), 16
    sign = draw(st.sampled_from(["mixed", "excitatory", "inhibitory"]))
    lo, hi = {"mixed": (-300, 300), "excitatory": (0, 300), "inhibitory": (-300, 0)}[sign]
    weights = rng.integers(lo, hi + 1, size=(n_out, n_in))  # beyond 8 bits on purpose: Lava clips
    graded = draw(st.booleans())
    if graded:
        inputs = rng.integers(-(2**11), 2**11, size=(n_in, steps)) * (rng.random((n_in, steps)) < 0.5)
    else:
        inputs = (rng.random((n_in, steps)) < draw(st.floats(0.05, 0.9))).astype(np.int64)
    weight_exp = draw(st.integers(-4, 3))
    lif = fixed.LIFParams(du=draw(st.sampled_from([0, 1024, 4095])), dv=draw(st.sampled_from([0, 512, 2048, 4095])),
                          vth=draw(st.integers(1, 2000)), bias_mant=draw(st.integers(-200, 200)), bias_exp=draw(st.integers(0, 6)))
    return weights, weight_exp, inputs, graded, lif


# v lands exactly on vth << 6 (must not fire), and on one LSB above it (must fire)
_EDGE = (np.array([[100, 50, 1]]), 0, np.array([[1, 0, 1, 1] * 4, [0, 1, 0, 1] * 4, [0, 0, 1, 0] * 4]), False,
         fixed.LIFParams(du=4095, dv=4095, vth=100))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(networks())
@example(_EDGE)
def test_dense_lif_equal_lava_bit_for_bit(net):
    lava_spikes, lava_v = _run_lava(*net)
    our_spikes, our_v = _run_ours(*net)
    np.testing.assert_array_equal(our_v, lava_v)
    np.testing.assert_array_equal(our_spikes, lava_spikes)


def test_the_quirks_are_the_ones_we_documented():
    # mixed-sign weights lose their LSB; 8 bits clip; inhibitory keeps magnitude bits
    np.testing.assert_array_equal(fixed.effective_weights(np.array([[3, -3, 255, -300]])), [[2, -4, 254, -256]])
    np.testing.assert_array_equal(fixed.effective_weights(np.array([[-3, -300, 0]])), [[-3, -255, 0]])
    # strict threshold: v == vth << 6 does not fire
    p = fixed.LIFParams(du=4095, dv=0, vth=1)
    spikes, *_ = fixed.lif_step(np.zeros(2, np.int64), np.zeros(2, np.int64), np.array([1, 2]), p)
    assert spikes.tolist() == [False, True]


def test_float64_products_are_exact_at_the_extremes():
    rng = np.random.default_rng(3)
    n_in = 4096
    w = rng.choice([-256, 254, 255, -255], size=(8, n_in))
    x = rng.choice([2**23 - 1, -(2**23), 2**23 - 3], size=(3, n_in))
    exact = np.array([[sum(int(a) * int(b) for a, b in zip(row, col)) for row in w] for col in x])
    np.testing.assert_array_equal(fixed.dense(w, 0, x, graded=True), exact)
    # one more than the exact range is refused rather than silently rounded
    with pytest.raises(ValueError, match="fan-in"):
        fixed.dense(np.zeros((1, fixed.MAX_EXACT_FAN_IN + 1)), 0, np.zeros(fixed.MAX_EXACT_FAN_IN + 1), graded=True)
