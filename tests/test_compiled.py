"""The compiled cpu engine (targets/cpu/kernels.py) equals the reference engine (each op's numpy ``int_step``) bit for
bit: every output, every counter, every step.

The reference is tested against Lava's own processes elsewhere (test_fixed.py, test_lava_engine.py,
test_spikedecoder_build.py, all of which now run the compiled engine as ``Simulator``); here random single-op
programs with random parameters and inputs drawn up to and beyond every bit width (saturations, 24-bit wraps,
LayerNorm's down-shift, table edges, zero divisors) check each kernel, and whole programs check the glue: the
layout, the order, token shift and delays, and the ops that still run their reference step between kernels.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocompile import load_model
from neurocompile.frontends import trace
from neurocompile.lower import lower
from neurocompile.ops import Op, integer_form
from neurocompile.ops.base import QuantContext
from neurocompile.targets.loihi2.arithmetic import (QAttention, QTimeSum, QCUBA, QLIF, QCUBAVoltage, QDense, QPeriodicLIF, QShift,
                                                   QLayerNorm, QSpikeEmbedding, QThreshold)
from neurocompile.ops.elementwise import Sigmoid
from neurocompile.targets.loihi2.arithmetic import QAdd, QMix, QProduct
from neurocompile.ops.io import QOutput, QSpikeInput
from neurocompile.ops.norm import NeuronLayerNorm
from neurocompile.ops.rwkv import WKV, NeuronWKV
from neurocompile.ops import QTokenCode
from neurocompile.quantize import Program, QNode, calibrate, quantize
from neurocompile.targets.cpu import kernels
from neurocompile.targets.cpu.simulator import NodeFailure, ReferenceSimulator, Simulator
from neurocompile.targets.loihi2 import NUMERIC

from helpers import UPSTREAM, quantized, random_spikedecoder, tiny_program

# numpy warns where the reference divides by zero (LayerNorm of a constant row with eps 0); the kernel gives the same 0
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
PROPERTY = settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


def _ints(draw, shape, bits, zeros=0.3):
    """Integers of up to `bits` bits (both signs, the extremes included), a fraction of them zero."""
    hi = (1 << (bits - 1)) - 1
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.integers(-hi - 1, hi + 1, shape, dtype=np.int64) >> rng.integers(0, bits, shape)  # every magnitude
    corners = rng.random(shape) < 0.05
    x[corners] = rng.choice([hi, -hi - 1, 1, -1], corners.sum())
    x[rng.random(shape) < zeros] = 0
    return x


def _spikes(draw, shape):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (rng.random(shape) < rng.random()).astype(np.int64)


# One op at a time: its Q, the sources it reads, and the inputs per step.  Sources: "x" (the program input) and
# "xs" (x one step ago, through a TokenShift: graded state, the token shift kernel itself).


@st.composite
def dense(draw, n):
    ports = draw(st.integers(1, 3))
    n_out = draw(st.integers(1, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    halves = rng.integers(-128, 128, (ports, n_out, n)).astype(np.int8)  # weights -256..254, even
    halves[rng.random(halves.shape) < draw(st.floats(0, 0.9))] = 0
    if draw(st.booleans()):
        halves = np.abs(halves).clip(0, 127).astype(np.int8)  # one sign: Lava's excitatory matrices
    exps = rng.integers(-9, 5, (ports, n_out))
    if draw(st.booleans()):
        exps[:] = exps[0, 0]
    bits = draw(st.sampled_from([8, 16, 24]))
    bias = _ints(draw, (n_out,), bits)
    binary = np.array([draw(st.booleans()) for _ in range(ports)])
    bias_from = draw(st.sampled_from([0, 0, 1, 3]))  # a NIR loop's weights: the bias enters at step 1
    return QDense(halves, exps, binary, bits, bias, bias_from), [draw(st.sampled_from(["x", "xs"])) for _ in range(ports)]


@st.composite
def lif(draw, n, periodic=False):
    du = draw(st.one_of(st.just(4095), st.integers(0, 4095)))  # 4095: u is this step's input (SpikeGPT's mapping)
    dv, vth = draw(st.integers(0, 4096)), draw(st.integers(1, 2**17 - 1))
    if periodic:
        return QPeriodicLIF(n, du, dv, vth, draw(st.integers(1, 5))), ["x"]
    return QLIF(n, du, dv, vth), ["x"]


@st.composite
def cuba(draw, n, voltage=False):
    """Per-neuron decays, thresholds and biases, reset to zero or by subtraction, inputs summed; some cleared
    periodically (netx's reset_interval) at a phase."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    du, dv = rng.integers(0, 4096, n), rng.integers(0, 4096, n)
    mant, exp = rng.integers(-(1 << 12) + 1, 1 << 12, n), rng.integers(0, 8, n)
    mant[rng.random(n) < 0.5] = 0
    sources = [draw(st.sampled_from(["x", "xs"])) for _ in range(draw(st.integers(1, 3)))]
    if voltage:
        return QCUBAVoltage(du, dv, mant, exp), sources
    period = draw(st.sampled_from([0, 0, 1, 3, 5]))
    phase = draw(st.integers(0, max(period - 1, 0)))
    return QCUBA(du, dv, rng.integers(1, 2**17, n), mant, exp, draw(st.booleans()), period, phase), sources


@st.composite
def layer_norm(draw, n):
    return QLayerNorm(n, budget=draw(st.integers(2, 20)), eps=draw(st.sampled_from([0, 1, 37, 10**6])),
                      gamma=_ints(draw, (n,), 16, 0.1), gamma_frac=draw(st.integers(0, 20)),
                      beta=_ints(draw, (n,), 16), out_frac=draw(st.integers(0, 16)),
                      out_bits=draw(st.sampled_from([8, 16, 24]))), ["x"]


def _ctx(in_frac, out_frac):
    return QuantContext(tuple(in_frac), tuple(False for _ in in_frac), out_frac, NUMERIC)


@st.composite
def wkv(draw, n):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k_frac, v_frac = draw(st.integers(0, 14)), draw(st.integers(0, 14))
    op = WKV(rng.normal(0, 2, n), rng.normal(0, 2, n))
    return quantized(op, _ctx((k_frac, v_frac), v_frac)), [draw(st.sampled_from(["x", "xs"])), "x"]


@st.composite
def sigmoid(draw, n):
    q = quantized(Sigmoid(n), _ctx((draw(st.integers(0, 20)),), 15))
    if draw(st.booleans()):  # any table: every entry, the edges included, must be the one the reference reads
        length = draw(st.integers(1, 64))
        q = dataclasses.replace(q, table=_ints(draw, (length,), 16, 0), offset=draw(st.integers(-8, length + 8)),
                                step_frac=draw(st.integers(0, 12)))
    return q, ["x"]


@st.composite
def product(draw, n):
    q = QProduct(draw(st.integers(-4, 40)), draw(st.sampled_from([8, 16, 24])))
    return q, (["x"] if draw(st.booleans()) else ["x", draw(st.sampled_from(["x", "xs"]))])


@st.composite
def add(draw, n):
    count = draw(st.integers(1, 3))
    return QAdd(tuple(draw(st.integers(-4, 12)) for _ in range(count)), draw(st.sampled_from([8, 16, 24]))), \
        [draw(st.sampled_from(["x", "xs"])) for _ in range(count)]


@st.composite
def embedding(draw, n):
    rows = draw(st.integers(1, 9))
    return QSpikeEmbedding(_spikes(draw, (rows, n))), ["x"]


@st.composite
def attention(draw, n):
    """n = heads x head_dim; q, k, v spikes (the input drawn as spikes); counts near the state's width saturate."""
    heads = draw(st.sampled_from([h for h in (1, 2, 4, 5) if n % h == 0]))
    q = QAttention(heads, n // heads, draw(st.integers(1, 3)), draw(st.sampled_from([2, 3, 24])),
                   draw(st.sampled_from([2, 4, 16])))
    return q, [draw(st.sampled_from(["x", "xs"])) for _ in range(3)]


@st.composite
def time_sum(draw, n):
    return QTimeSum(n, draw(st.integers(1, 4)), draw(st.sampled_from([8, 16, 24]))), ["x"]


@st.composite
def token_code(draw, n):
    rows, places = draw(st.integers(1, 7)), draw(st.integers(1, 4))
    return QTokenCode(_spikes(draw, (rows, draw(st.integers(0, 6)))), _spikes(draw, (places, draw(st.integers(0, 4)))),
                      draw(st.booleans()), draw(st.integers(1, 3))), ["x"]


@st.composite
def threshold(draw, n):
    """Per-neuron thresholds (any sign), inputs summed."""
    q = QThreshold(_ints(draw, (n,), draw(st.sampled_from([4, 16])), 0.2))
    return q, [draw(st.sampled_from(["x", "xs"])) for _ in range(draw(st.integers(1, 3)))]


@st.composite
def mix(draw, n):
    ports = draw(st.integers(1, 3))
    q = QMix(_ints(draw, (ports, n), 16, 0.2), tuple(draw(st.integers(0, 6)) for _ in range(ports)),
             draw(st.integers(-4, 40)), draw(st.sampled_from([8, 16, 24])))
    return q, [draw(st.sampled_from(["x", "xs"])) for _ in range(ports)]


@st.composite
def neuron_wkv(draw, n):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k_frac, v_frac = draw(st.integers(0, 14)), draw(st.integers(0, 14))
    op = NeuronWKV(rng.uniform(-8, 2, n), rng.normal(0, 2, n))
    return quantized(op, _ctx((k_frac, v_frac), v_frac)), [draw(st.sampled_from(["x", "xs"])), "x"]


@st.composite
def neuron_layer_norm(draw, n):
    """As quantized from random gains (spikes or graded in, any scale), then any of its shifts, eps and gains redrawn:
    every saturation and shift corner of the program."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    op = NeuronLayerNorm(rng.normal(1, 0.5, n) * 10.0 ** draw(st.integers(-3, 2)), rng.normal(0, 0.5, n))
    binary = draw(st.booleans())
    q = quantized(op, QuantContext((0 if binary else draw(st.integers(0, 16)),), (binary,), draw(st.integers(0, 16)),
                                 NUMERIC))
    if draw(st.booleans()):
        q = dataclasses.replace(q, up=draw(st.integers(0, 22)), sum_shift=draw(st.integers(0, 12)),
                                mean_mul=draw(st.integers(0, 2**22)), mean_shift=draw(st.integers(-4, 40)),
                                square_shift=draw(st.integers(0, 30)), var_shift=draw(st.integers(0, 12)),
                                eps=draw(st.sampled_from([0, 1, 2**23 - 1])), product_shift=draw(st.integers(0, 30)),
                                gain=_ints(draw, (n,), 16, 0.1), beta=_ints(draw, (n,), 16),
                                out_bits=draw(st.sampled_from([8, 16, 24])))
    return q, ["x"]


OPS = {"Dense": dense, "Mix": mix, "NeuronWKV": neuron_wkv, "NeuronLayerNorm": neuron_layer_norm, "LIF": lif, "PeriodicLIF": lambda n: lif(n, True),
       "CUBA": cuba, "CUBAVoltage": lambda n: cuba(n, True), "LayerNorm": layer_norm, "WKV": wkv, "Sigmoid": sigmoid,
       "SquaredReLU": product, "Mul": product, "Add": add, "SpikeEmbedding": embedding,
       "SpikingAttention": attention, "TimeSum": time_sum, "TokenCode": token_code, "Threshold": threshold}
TOKEN_IDS = {"SpikeEmbedding": lambda q: q.table.shape[0], "TokenCode": lambda q: q.table.shape[0]}
SPIKES_IN = {"SpikingAttention"}


def test_every_compiled_kernel_is_tested_here():
    # TokenShift and Output are in every program below; ConvSynapse, whose maps need a geometry, has its own property
    # test against the reference step (tests/test_conv_kernels.py::test_the_compiled_kernel_is_the_reference_step)
    assert {op.kind for op in kernels.LOWERINGS} == set(OPS) | {"TokenShift", "Output", "ConvSynapse"}


def _single_op_program(kind: str, q, sources: list[str], n: int) -> Program:
    if kind == "SquaredReLU":
        sources = sources[:1]
    if kind == "Mul" and len(sources) == 1:
        sources = sources * 2  # a square of one input, both signs
    width = integer_form(Op.registry[kind], "loihi2").int_width(q) or n
    nodes = [QNode("x", "SpikeInput", (), 0, QSpikeInput(n, (n,))), QNode("xs", "TokenShift", ("x",), 0, QShift(n)),
             QNode("op", kind, tuple(sources), 0, q), QNode("out", "Output", ("op",), 0, QOutput(0))]
    assert width  # Output copies its input's width
    return Program({node.name: node for node in nodes}, NUMERIC)


def _same_run(program: Program, inputs: list[np.ndarray], batch: int, threads: int = 2) -> None:
    """Both engines step by step: outputs, every node's value and every counter equal (or both refuse one step).
    The compiled engine splits the streams into `threads` groups run in parallel (when there are that many), or one
    stream's step into `threads` parts (the native library loaded: each kernel a span of its outputs); a
    program with Dense nodes runs compiled twice, its graded ports on the native dot products and on the
    event-driven path."""
    natives = (True, False) if any(n.kind == "Dense" for n in program.nodes.values()) else (None,)
    engines = [Simulator(program, batch, threads=threads, native=native, split=True) for native in natives]
    reference = ReferenceSimulator(program, batch)
    for step, x in enumerate(inputs):
        try:
            expected = reference.step(x)
        except NodeFailure as exc:
            for ours in engines:
                with pytest.raises(NodeFailure) as ours_failed:
                    ours.step(x)
                assert ours_failed.value.node == exc.node
            return
        for ours, native in zip(engines, natives):
            got = ours.step(x)
            np.testing.assert_array_equal(got, expected, err_msg=f"step {step}, native {native}")
            for name, value in reference.values.items():
                np.testing.assert_array_equal(ours.values[name], value, err_msg=f"{name}, step {step}, native {native}")
            np.testing.assert_array_equal(ours.totals, reference.totals, err_msg=f"counters, step {step}, native {native}")


@pytest.mark.parametrize("kind", sorted(OPS))  # each kind its own examples (one draw over all kinds missed some)
@settings(PROPERTY, max_examples=30)
@given(n=st.integers(1, 40), batch=st.integers(1, 3), data=st.data())
def test_each_kernel_equals_the_reference(kind, n, batch, data):
    q, sources = data.draw(OPS[kind](n))
    program = _single_op_program(kind, q, sources, n)
    steps = data.draw(st.integers(1, 9))
    if kind in TOKEN_IDS:
        rows = TOKEN_IDS[kind](q)
        program.nodes["x"] = QNode("x", "SpikeInput", (), 0, QSpikeInput(1, (1,)))
        program.nodes["xs"] = QNode("xs", "TokenShift", ("x",), 0, QShift(1))
        inputs = [data.draw(st.lists(st.integers(-rows, rows - 1), min_size=batch, max_size=batch))
                  for _ in range(steps)]
        if data.draw(st.booleans()):  # a last step with an id outside the table: both engines refuse it
            inputs.append([data.draw(st.sampled_from([-rows - 1, rows, rows + 5]))] * batch)
        inputs = [np.array(x) for x in inputs]
    elif kind in ("LIF", "PeriodicLIF", "CUBA", "CUBAVoltage"):
        inputs = [_ints(data.draw, (batch, n), data.draw(st.sampled_from([12, 18, 24]))) for _ in range(steps)]
    elif kind in SPIKES_IN or kind == "Dense" and data.draw(st.booleans()):
        inputs = [_spikes(data.draw, (batch, n)) for _ in range(steps)]
    else:
        bits = data.draw(st.sampled_from([8, 16, 24]))
        inputs = [_ints(data.draw, (batch, n), bits) for _ in range(steps)]
    _same_run(program, inputs, batch)


def test_saturation_wrap_and_division_corners_are_reached():
    """The drawn programs above do reach the corners they claim to (else the property would be weaker than said)."""
    hits = {"saturations": 0, "wraps": 0}
    rng = np.random.default_rng(0)
    n = 8
    for kind, q, bits in [("Dense", QDense(np.full((1, 4, n), 127, np.int8), np.full((1, 4), 3), np.array([False]),
                                           16, np.zeros(4, np.int64)), 16),
                          ("LIF", QLIF(n, 0, 0, 2**17 - 1), 24),
                          ("LayerNorm", QLayerNorm(n, 3, 0, np.full(n, 2**15), 0, np.zeros(n, np.int64), 10, 8), 16)]:
        program = _single_op_program(kind, q, ["x"], n)
        inputs = [rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (2, n)) for _ in range(4)]
        inputs.append(np.zeros((2, n), np.int64))  # LayerNorm of a constant row with eps 0: a zero divisor
        _same_run(program, inputs, 2)
        sim = Simulator(program, 2)
        for x in inputs:
            sim.step(x)
        for name in hits:
            hits[name] += int(sim.table()[2][name])
    assert hits["saturations"] > 0 and hits["wraps"] > 0


def _spikegpt_program(path, block_rows: int, seed: int, token_shift: str = "fold") -> Program:
    g = lower(trace(load_model(path)), token_shift)
    tokens = torch.randint(0, 40, (2, 24), generator=torch.Generator().manual_seed(seed))
    spec = NUMERIC if block_rows is None else dataclasses.replace(NUMERIC, block_rows=block_rows)
    return quantize(g, spec, calibrate(g, tokens))


@pytest.mark.parametrize("variant,block_rows,token_shift", [("RWKV", None, "fold"), ("RWKV-ffnPre", 1, "delay")])
def test_spikegpt_programs_run_identically(variant, block_rows, token_shift):
    program = _spikegpt_program(UPSTREAM / f"{variant}.pt", block_rows, 1, token_shift)
    assert ("Mix" in {n.kind for n in program.nodes.values()}) == (token_shift == "delay")
    tokens = np.random.default_rng(2).integers(0, 40, (3, 20))
    _same_run(program, list(tokens.T), 3, threads=3)


def test_spikedecoder_programs_run_identically():
    """Token code, periodic LIFs, the attention state and the time sum, over several tokens of synthetic steps."""
    model, _, config = random_spikedecoder(5, vocab_size=30, max_len=6, heads=2, blocks=2, timesteps=3,
                                           encodingType="learned", position_encoding_strategy="static",
                                           tok_embed_dim=8, pos_embed_dim=4, spike_mode="accumulate")
    g = lower(trace(model))
    program = quantize(g, NUMERIC, calibrate(g, torch.randint(0, 30, (2, 6), generator=torch.Generator().manual_seed(0))))
    assert not [i for i in Simulator(program, 2).plan if not isinstance(i, tuple)]  # every node compiled
    steps = [t for t in np.random.default_rng(1).integers(0, 30, (2, 7)).T for _ in range(3)]  # past the context too
    _same_run(program, steps, 2)


def test_programs_with_uncompiled_ops_run_them_in_between():
    """A recurrent NIR network (snnTorch's RLeaky, the zoo's): its delay has no kernel and runs its reference step,
    its output first and its input at the end of the step, on the same arrays as the compiled nodes around it."""
    import neurocompile
    from neurocompile.models import zoo

    program = neurocompile.export(zoo.path("rleaky-patterns.nir"), target="cpu").program
    n = program.nodes[next(iter(program.nodes))].q.n
    spikes = (np.random.default_rng(0).random((40, 3, n)) < 0.3).astype(np.int64)
    sim = Simulator(program, 3)
    assert {sim.nodes[i].kind for i in sim.delays} == {"SpikeDelay"} and sim.rows
    _same_run(program, list(spikes), 3)


def test_tiny_program_by_hand():
    g = tiny_program()
    program = quantize(g, NUMERIC, calibrate(g, torch.tensor([[0, 1]])))
    for threads in (1, 2):
        _same_run(program, [np.array([0, 1]), np.array([1, 1]), np.array([1, 0])], 2, threads)


def test_a_program_the_kernels_cannot_hold_is_refused_at_load():
    n = 4
    wide = QDense(np.full((1, 2, n), 3, np.int16), np.zeros((1, 2), np.int64), np.array([True]), 16, np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="not int8"):
        Simulator(_single_op_program("Dense", wide, ["x"], n), 1)
    wide = QLayerNorm(n, 2, 0, np.ones(n + 1, np.int64), 0, np.zeros(n, np.int64), 0, 16)
    with pytest.raises(ValueError, match="shape"):
        Simulator(_single_op_program("LayerNorm", wide, ["x"], n), 1)


def test_dense_int32_stretches_stop_just_before_overflow():
    """Products accumulate in int32 over as many inputs as cannot overflow it: all weights +254 (127 halved) and all
    inputs 845,000 allow exactly 20 (20 x 127 x 845,000 = 2,146,300,000 < 2^31), so one more would wrap."""
    n = 300
    q = QDense(np.full((1, 3, n), 127, np.int8), np.full((1, 3), -12), np.array([False]), 24, np.zeros(3, np.int64))
    program = _single_op_program("Dense", q, ["x"], n)
    big = np.full((2, n), 845_000, np.int64)
    big[1] *= -1
    _same_run(program, [big, big // 7, np.zeros_like(big)], 2)


def test_a_kernel_number_outside_the_table_is_refused():
    """The dispatch has no default: a row whose kernel number is none of KERNELS' is the row run reports."""
    V, S, P, C = (np.zeros((1, 4), np.int64), np.zeros((1, 1), np.int64), np.zeros(1, np.int64),
                  np.zeros((1, len(kernels.Tally.FIELDS)), np.int64))
    code = np.zeros(4, np.int64)
    for number in (len(kernels.KERNELS), 99, -1):
        table = np.array([[number, 0, 4, 0]], np.int64)
        assert kernels.run(table, 0, 1, code, V, S, P, np.zeros(1, np.int8), C, 0, 0, 1, 0) == 0
