"""Lowering keeps float semantics; each op's integer form tracks its float form; counters count what happened."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neurocompile import load_model
from neurocompile.graph import run_float
from neurocompile.lower import lower
from neurocompile.models.wkv import WKVState
from neurocompile.ops import (LIF, WKV, Dense, LayerNorm, Mix, Mul, NeuronLayerNorm, NeuronWKV, QuantContext, Sigmoid,
                              SquaredReLU, Tally, integer_form)
from neurocompile.quantize import calibrate, load_program, quantize, save_program
from neurocompile.targets.cpu.simulator import Simulator
from neurocompile.targets.loihi2 import NUMERIC
from neurocompile.frontends import trace

from helpers import UPSTREAM, VARIANTS, quantized, tiny_program


@pytest.mark.parametrize("token_shift,neuron_ops", [("fold", frozenset()), ("delay", frozenset({"WKV"}))])
@pytest.mark.parametrize("variant", VARIANTS)
def test_lowering_keeps_float_semantics(variant, token_shift, neuron_ops):
    model = load_model(UPSTREAM / f"{variant}.pt").double()
    lowered = lower(trace(model), token_shift, neuron_ops)
    wkv = {n.op.kind for n in lowered.nodes.values()} & {"WKV", "NeuronWKV"}
    assert wkv == ({"NeuronWKV"} if neuron_ops else {"WKV"})
    kinds = {n.op.kind for n in lowered.nodes.values()}
    assert {"Dense", "SpikeEmbedding"} <= kinds and not kinds & {"Scale", "Linear", "Heaviside", "Embedding"}
    # fold: two weight matrices (current and previous token) per mixed Linear; delay: one per Linear of the model
    linears = {name: m.weight.numel() for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    mixed = [name for name in linears if name.endswith((".key", ".receptance", ".att.value"))]
    matrices = sum(n.op.scales.shape[0] * n.op.weight.size for n in lowered.nodes.values() if n.op.kind == "Dense")
    assert mixed and matrices == sum(linears.values()) + (sum(linears[m] for m in mixed) if token_shift == "fold" else 0)
    assert sum(n.op.kind == "Mix" for n in lowered.nodes.values()) == (len(mixed) if token_shift == "delay" else 0)
    tokens = torch.randint(0, 40, (2, 30))
    with torch.no_grad():
        assert (run_float(lowered, tokens) - model(tokens)).abs().max() < 1e-10


def _ctx(in_frac, out_frac, binary=None):
    return QuantContext(tuple(in_frac), tuple(binary or [False] * len(in_frac)), out_frac, NUMERIC)


def test_layernorm_integer_tracks_float():
    rng = np.random.default_rng(0)
    op = LayerNorm(rng.normal(1, 0.3, 64), rng.normal(0, 0.2, 64))
    x = rng.normal(0.5, 2.0, (5, 64))
    q = quantized(op, _ctx([10], 12))
    y, _ = integer_form(LayerNorm, "loihi2").int_step(q, [np.round(x * 2**10).astype(np.int64)], None, Tally())
    expected = op.float_step([torch.tensor(x)], None)[0].numpy()
    assert np.abs(y / 2**12 - expected).max() < 2e-3
    # binary inputs (the embedding spikes): exact deviations, no rounded mean
    s = (rng.random((3, 64)) < 0.5).astype(np.int64)
    y, _ = integer_form(LayerNorm, "loihi2").int_step(quantized(op, _ctx([0], 12)), [s], None, Tally())
    assert np.abs(y / 2**12 - op.float_step([torch.tensor(s, dtype=torch.float64)], None)[0].numpy()).max() < 2e-3


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 800), st.booleans(), st.integers(-3, 2), st.floats(1 / 64, 1 / 2))
def test_neuron_layernorm_tracks_torch(seed, n, binary, gain_exp, spread):
    """The neuron-program LayerNorm against torch's, on inputs that reach the 16-bit payload's top bit (spikes: 0/1),
    one row at both ends of it, the others spread over 1/64 to 1/2 of the range, gains from 10^-3 to 10^2: within 4
    output steps plus 0.2 % of the value, never saturating.  (Each row's deviations are scaled to the drawn spread: a
    few normal draws can sit far closer together -- n=2, seed 642 drew a row spread over 1/150 of the range, where
    the squares' constant shift leaves ~7 bits of its variance and the output is 0.5 % off: the limit the form's
    docstring names, outside this test's domain.)"""
    rng = np.random.default_rng(seed)
    op = NeuronLayerNorm(rng.normal(1, 0.5, n) * 10.0**gain_exp, rng.normal(0, 0.5, n) * 10.0**gain_exp)
    if binary:
        x, in_frac = (rng.random((6, n)) < rng.uniform(0.05, 0.95)).astype(np.float64), 0
    else:
        z = rng.normal(0, 1, (6, n))
        if n > 1:  # each row's standard deviation exactly the spread (n=1: no deviation, the draw sets the range)
            z = (z - z.mean(-1, keepdims=True)) / np.maximum(z.std(-1, keepdims=True), 1e-300)
        x = z * spread + rng.uniform(-0.25, 0.25, (6, 1)) * (1 - 2 * spread)
        x = x * 2.0 ** rng.integers(-14, 8)  # from values whose variance eps swamps up
        x[0, :], x[0, 0] = -np.abs(x).max(), np.abs(x).max()  # the widest deviation there is: one against all
        in_frac = int(np.floor(np.log2((2**15 - 1) / np.abs(x).max())))  # the peak in the payload's top bit
        x = np.round(x * 2.0**in_frac) / 2.0**in_frac
    expected = op.float_step([torch.tensor(x)], None)[0].numpy()
    out_frac = int(np.floor(np.log2(2**14 / max(np.abs(expected).max(), 1e-9))))
    q = quantized(op, _ctx([in_frac], out_frac, [binary]))
    tally = Tally()
    y, _ = integer_form(NeuronLayerNorm, "loihi2").int_step(q, [np.round(x * 2.0**in_frac).astype(np.int64)], None, tally)
    assert tally.saturations == 0
    assert (np.abs(y / 2.0**out_frac - expected) <= 4 * 2.0**-out_frac + 2e-3 * np.abs(expected)).all()


def test_sigmoid_table_error_is_bounded():
    x = np.linspace(-12, 12, 5001)
    q = quantized(Sigmoid(1), _ctx([12], 15))
    y, _ = integer_form(Sigmoid, "loihi2").int_step(q, [np.round(x * 2**12).astype(np.int64)], None, Tally())
    assert np.abs(y / 2**15 - 1 / (1 + np.exp(-x))).max() < 1 / 2**9  # half a table step times the slope, + LSB


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 14), min_size=1, max_size=3), st.integers(-4, 16),
       st.sampled_from([0.5, 1.0, 3.0, 1e-3]))
def test_mix_is_the_exact_sum_rounded_once(seed, in_frac, out_frac, spread):
    """Mix's integer output = round-half-up of the exact sum of (quantized ratio x input), computed here in exact
    rationals from the op's float ratios and its stated ratio scale; saturated to the payload."""
    from fractions import Fraction
    from neurocompile.targets.loihi2.arithmetic import MIX_BITS

    rng = np.random.default_rng(seed)
    ports, n = len(in_frac), 6
    op = Mix(rng.uniform(-spread, spread, (ports, n)))
    q = quantized(op, _ctx(in_frac, out_frac))
    frac = q.shift - max(in_frac) + out_frac  # the ratios' scale
    assert np.abs(q.ratios).max() < 2 ** (MIX_BITS - 1) and np.array_equal(q.ratios, np.round(op.ratios * 2.0**frac))
    xs = [rng.integers(-2**15, 2**15, (2, n)) for _ in range(ports)]
    tally = Tally()
    y, _ = integer_form(Mix, "loihi2").int_step(q, xs, None, tally)
    top = 2 ** (NUMERIC.payload_bits - 1)
    for b in range(2):
        for i in range(n):
            exact = sum(Fraction(int(x[b, i]), 2**f) * Fraction(int(r), 2**frac) for x, f, r in zip(xs, in_frac, q.ratios[:, i]))
            scaled = exact * 2**out_frac
            rounded = (scaled + Fraction(1, 2)).__floor__()
            assert y[b, i] == min(max(rounded, -top), top - 1)
    assert tally.op_evals == 2 * n


def test_products_round_half_up_by_hand():
    # 3 (frac 1 -> 1.5) * 5 (frac 2 -> 1.25) = 1.875 -> frac 2: 7.5 -> 8
    y, _ = integer_form(Mul, "loihi2").int_step(quantized(Mul(1), _ctx([1, 2], 2)), [np.array([3]), np.array([5])], None, Tally())
    assert y.tolist() == [8]
    # relu(-3)^2 = 0; relu(3 at frac 1 = 1.5)^2 = 2.25 -> frac 1: 4.5 -> 5
    y, _ = integer_form(SquaredReLU, "loihi2").int_step(quantized(SquaredReLU(2), _ctx([1], 1)), [np.array([-3, 3])], None, Tally())
    assert y.tolist() == [0, 5]


@pytest.mark.parametrize("cls,k_frac", [(WKV, 18), (NeuronWKV, 12)])  # the neuron program's k is a 16-bit message
def test_wkv_integer_tracks_the_recurrence(cls, k_frac):
    rng = np.random.default_rng(1)
    n, steps = 16, 300
    op = cls(rng.normal(-1, 2, n), rng.normal(0, 1, n))
    q = quantized(op, _ctx([k_frac, 12], 12))
    k, v = rng.normal(0, 3, (steps, 1, n)), rng.normal(0, 2, (steps, 1, n))
    state, fstate = integer_form(cls, "loihi2").int_initial_state(q, 1), WKVState.zeros(1, n, torch.float64)
    worst = 0.0
    tally = Tally()
    for t in range(steps):
        y, state = integer_form(cls, "loihi2").int_step(q, [np.round(k[t] * 2**k_frac).astype(np.int64), np.round(v[t] * 2**12).astype(np.int64)], state, tally)
        f, fstate = op.float_step([torch.tensor(k[t]), torch.tensor(v[t])], fstate)
        worst = max(worst, np.abs(y / 2**12 - f.numpy()).max())
    assert worst < 0.02 and tally.saturations == 0  # relative to |v| ~ 2: table and rounding errors, no drift
    if cls is NeuronWKV:  # the neuron program's state fits its 24-bit registers
        assert all(np.abs(s).max() <= 2**23 for s in state)


def test_lif_quantization_is_the_documented_lava_mapping():
    form = integer_form(LIF, "loihi2")
    q = form.quantize(LIF(4, tau=2.0, v_threshold=1.0), _ctx([10], 0))
    assert (q.du, q.dv, q.vth) == (4095, 2048, 2 * 2**10)
    # input 2.0 at frac 10 in one step: float v = 1.0 >= 1 fires; Lava's strict v > vth does not (named approximation)
    spikes, _ = form.int_step(q, [np.array([[2 * 2**10, 2 * 2**10 + 1, 0, -5]])], form.int_initial_state(q, 1), Tally())
    assert spikes.tolist() == [[0, 1, 0, 0]]


def test_counters_match_a_hand_counted_graph():
    g = tiny_program()
    program = quantize(g, NUMERIC, calibrate(g, torch.tensor([[0, 1, 1, 0]])))
    sim = Simulator(program, batch=1)
    for token in (1, 1, 0):
        sim.step(np.array([token]))
    counts = {name: dict(zip(Tally.FIELDS, row)) for name, row in zip(program.nodes, sim.totals)}
    # codes: 3 + 3 + 1 bits, the input's encoding (not counted as a population's spikes); fc: binary events =
    # active inputs x 2 outputs
    assert counts["codes"]["spikes"] == 0 and counts["codes"]["op_evals"] == 3
    assert counts["fc"]["binary_events"] == 7 * 2 and counts["fc"]["graded_events"] == 0
    # fc outputs 3.0 for neuron 0 on token 1: v = 1.5 >= 1 -> spikes at steps 1 and 2; neuron 1 (-0.25) never
    assert counts["lif"]["spikes"] == 2 and counts["lif"]["neuron_updates"] == 3 * 2
    assert counts["head"]["binary_events"] == 2 * 3


def test_program_file_round_trip_runs_identically(tmp_path):
    model = load_model(UPSTREAM / "RWKV.pt")
    g = lower(trace(model))
    program = quantize(g, NUMERIC, calibrate(g, torch.randint(0, 40, (2, 32))))
    save_program(program, tmp_path / "p.h5")
    again = load_program(tmp_path / "p.h5")
    assert list(again.nodes) == list(program.nodes) and again.spec == program.spec
    tokens = np.random.default_rng(0).integers(0, 40, (2, 20))
    a, b = Simulator(program, 2), Simulator(again, 2)
    np.testing.assert_array_equal(a.run(tokens), b.run(tokens))


def test_dense_accumulator_saturates_at_its_width_and_counts_it():
    from neurocompile.targets.loihi2.arithmetic import QDense

    # weights 254, 254, -254, 2 (stored as halves)
    q = QDense(np.array([[[127, 127], [-127, 1]]], np.int8), np.zeros((1, 2), np.int64), np.array([False]), out_bits=10,
               bias=np.zeros(2, np.int64))
    tally = Tally()
    y, _ = integer_form(Dense, "loihi2").int_step(q, [np.array([[3, 1]])], None, tally)
    assert y.tolist() == [[511, -512]] and tally.saturations == 2  # 1016 and -760 clip to the signed 10-bit range
    assert tally.graded_events == 4 and tally.graded_messages == 2


@pytest.mark.parametrize("variant", VARIANTS)
def test_calibration_node_by_node_equals_step_by_step(variant):
    """Calibration runs node by node over the whole sequence (each weight read once: an export keeps few resident);
    the peaks equal those of the float executor run token by token, exactly."""
    from neurocompile.quantize import _calibrate_by_step

    g = lower(trace(load_model(UPSTREAM / f"{variant}.pt")))
    tokens = torch.randint(0, 40, (3, 24), generator=torch.Generator().manual_seed(4))
    peaks = calibrate(g, tokens)
    assert peaks == _calibrate_by_step(g, tokens) and max(peaks.values()) > 0
