"""A spiking graph onto one Xylo core: which nodes become the hidden and the readout population, and their integers.

The graph Xylo holds (after ``lower``): spike input -> weights -> hidden CUBA populations (one, or several layers in
a row, each optionally reading its own spikes of the previous step: NIR's recurrent edge) -> weights reading hidden
spikes -> a readout (spiking CUBA, or a leaky integrator read by its voltage: Xylo's Vmem output) -> one Output.
Every hidden population is a slice of Xylo's one hidden population (in graph order); weights between them are
blocks of the recurrent bank.  On Xylo hidden spikes reach the recurrent
and the readout weights a step after they fire, so ``retime`` puts a one-step delay after every spiking population
that weights read in the same step, in the float graph itself (each layer then hears the one before a step late; named
in the manifest) -- the float semantics the integer program is evaluated against are then Xylo's timing.

Integers, per population (the lowered CUBA: ``u' = (1 - du) u + x``, ``v' = (1 - dv) v + u' + bias``, spike where
``v' > threshold``):

* decays: ``du`` and ``dv`` to the nearest power-of-two decay, ``2^-dash`` (dash 0..15), nearest in time constant
  (``log2(1 / d)`` rounded); the relative error of each time constant is stated per population.  Xylo's current is
  added before it decays and a dash of 0 empties it, so a neuron without current memory (``du = 1``: NIR's LIF, IF)
  gets the fastest current Xylo has (dash 1: half of an input reaches the voltage a step later, a named
  approximation);
* scales: the voltage in units of ``2^b / max threshold``, b in 5..12, one b for the hidden population and one for
  the readout, chosen together on the calibration raster: the pair whose program's readout spikes agree best with the
  float graph's there (the hidden raster breaks ties; a voltage readout: its scale from its calibrated peak, the
  hidden b by the hidden raster).  A small b leaves room for many thresholds in 16 bits, so that large currents do
  not saturate; a large b saturates sooner, which also caps the several spikes per step a Xylo neuron may send where
  the graph's sends one -- which wins depends on the network, and the hidden scale that best keeps the hidden raster
  is often not the one that best keeps the output (measured: tools/xylo_fidelity.py, docs/xylo.md);
  thresholds ``floor(threshold s) + 1`` (Xylo fires at ``v >= threshold``, the graph at ``v > threshold``);
* weights: Xylo's current reaches the voltage after one decay, so a weight is ``W s / (1 - 2^-dash_syn)``; each bank
  (input, recurrent, readout) gets the smallest left shift that brings its largest weight within 8 bits, and each
  weight is rounded to the nearest integer at that shift;
* biases: the neuron's voltage bias ``bias s``; a synapse bias (NIR Affine) enters the current, Xylo has none there,
  so it enters the voltage as the current it settles to, ``b / du`` (exact for ``du = 1``; the transient is a named
  approximation);
* reset: Xylo subtracts the threshold and may send up to 31 spikes per step (readout: 1); a graph that resets to
  zero, or whose neurons would need several spikes, differs there (named).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurocompile.errors import UserError
from neurocompile.graph import Graph
from neurocompile.ops import Output
from neurocompile.ops.cells import CUBA, CUBAVoltage
from neurocompile.ops.io import QOutput, QSpikeInput, SpikeInput
from neurocompile.ops.neurons import SpikeDelay
from neurocompile.ops.synapses import Dense
from neurocompile.quantize import Program, QNode

from .arithmetic import (DASH_MAX, SHIFT_MAX, STATE_MAX, WEIGHT_BITS, QXyloHidden, QXyloReadout, XyloHidden, XyloReadout,
                         XyloVoltageReadout)

SCALE_BITS = (5, 6, 7, 8, 9, 10, 11, 12)  # the largest threshold of a population at 2^b, b chosen by calibration
DEFAULT_SCALE_BITS = 12  # without a calibration raster
SCALE_TIE = 0.02  # raster agreements this close to the best are a tie: the finest scales win (measured: docs/xylo.md)
WEIGHT_MAX = (1 << (WEIGHT_BITS - 1)) - 1
DELAY_SUFFIX = ".xylo_delay"
HIDDEN = "xylo_hidden"  # the program's hidden node when it holds several of the graph's populations
DT_KEY = "xylo.dt"  # program metadata: seconds per step (the timing model's real-time check)
CORE_WEIGHTS = 2_048 + 31_744 + 4_096  # Xylo Audio 3's input, recurrent and readout weights (rules.RESOURCES: unverified)


def _refuse(rule: str) -> UserError:
    return UserError(f"this graph does not fit Xylo: {rule}")


# --------------------------------------------------------------------------------------------------
# Which nodes are which
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The lowered graph's nodes in Xylo's roles."""

    input: str
    hidden: tuple[str, ...]  # the hidden CUBA populations, in graph order: their neurons, in that order, are Xylo's
    readout: str  # the readout CUBA population
    output: str
    synapses: tuple[tuple[str, str, str], ...]  # (Dense node, its source: the input or a hidden population, target)
    dt: float  # seconds per step (the delays')
    voltage: bool = False  # the readout is read by its voltage (a leaky integrator: Xylo's Vmem output mode)

    @property
    def hidden_node(self) -> str:
        """The program's hidden node: the population's own name, or ``HIDDEN`` when it holds several."""
        return self.hidden[0] if len(self.hidden) == 1 else HIDDEN

    def nodes(self) -> list[tuple[str, str]]:
        """The program's nodes (name, kind) for this layout."""
        readout = XyloVoltageReadout if self.voltage else XyloReadout
        return [(self.input, SpikeInput.kind), (self.hidden_node, XyloHidden.kind), (self.readout, readout.kind),
                (self.output, Output.kind)]


def layout(graph: Graph) -> Layout:
    """The roles of a lowered graph's nodes, or one UserError naming the first Xylo rule the graph breaks."""
    nodes = graph.nodes
    source = graph.input
    if not isinstance(source.op, SpikeInput):
        weights = sum(n.op.weight.size for n in nodes.values() if isinstance(n.op, Dense))
        raise _refuse(f"its input {source.name!r} is {source.op.kind}, not spikes (Xylo takes spike counts on at most "
                      f"16 input channels); its {weights:,} weights are also {weights / CORE_WEIGHTS:,.0f}x the "
                      f"{CORE_WEIGHTS:,} one Xylo Audio 3 core stores")
    outputs = graph.outputs
    if len(outputs) != 1:
        raise _refuse(f"{len(outputs)} outputs ({', '.join(o.name for o in outputs)}); a Xylo core has one readout")
    out = outputs[0]
    readout = nodes[out.inputs[0]]
    if not isinstance(readout.op, (CUBA, CUBAVoltage)):
        raise _refuse(f"its output reads {readout.name!r} ({readout.op.kind}); Xylo's readout is a population of "
                      f"integrate-and-fire neurons, read by their spikes or their voltage")
    hidden = tuple(name for name, node in nodes.items() if isinstance(node.op, CUBA) and name != readout.name)
    if HIDDEN in nodes:
        raise _refuse(f"a node is named {HIDDEN!r}, the name of Xylo's hidden population in the program; rename it")
    delays: dict[str, float] = {}

    def source_of(dense: str, target: str) -> str:
        src = nodes[nodes[dense].inputs[0]]
        if src.name == source.name:
            if target == readout.name:
                raise _refuse(f"the readout {readout.name!r} reads the input directly; on Xylo the input reaches the "
                              f"readout only through the hidden population (the network needs a hidden spiking layer)")
            return src.name
        if isinstance(src.op, SpikeDelay) and src.op.longest == 1 and src.inputs[0] in hidden:
            delays[src.name] = float(src.op.dt)
            return src.inputs[0]
        if src.name in hidden or src.name == readout.name:
            raise _refuse(f"{target!r} reads {src.name!r} in the step it fires; on Xylo spikes reach weights a step "
                          f"later (export through the xylo target, which retimes the graph so)")
        if isinstance(src.op, SpikeDelay) and src.inputs[0] == readout.name:
            raise _refuse(f"{target!r} reads the readout {readout.name!r}; Xylo's readout feeds nothing back")
        raise _refuse(f"{target!r} reads {src.name!r} ({src.op.kind}); on Xylo a neuron reads the input or hidden "
                      f"spikes of the previous step, through weights")

    synapses = tuple((dense, source_of(dense, target), target) for target in (*hidden, readout.name)
                     for dense in _synapses_into(graph, target))
    if not any(src == source.name for _, src, _ in synapses):
        raise _refuse("no hidden population reads the input")
    used = {source.name, *hidden, readout.name, out.name, *delays, *(dense for dense, _, _ in synapses)}
    extra = [n for n in nodes if n not in used]
    if extra:
        node = nodes[extra[0]]
        raise _refuse(f"node {node.name!r} ({node.op.kind}) has no place on a Xylo core (input weights, hidden "
                      f"populations with recurrent weights among them, readout weights, one spiking readout)")
    return Layout(source.name, hidden, readout.name, out.name, synapses, next(iter(delays.values())),
                  isinstance(readout.op, CUBAVoltage))


def _synapses_into(graph: Graph, name: str) -> list[str]:
    node = graph.nodes[name]
    for src in node.inputs:
        syn = graph.nodes[src]
        if not isinstance(syn.op, Dense) or len(syn.inputs) != 1:
            raise _refuse(f"{name!r} reads {src!r} ({syn.op.kind}); a Xylo neuron reads weights from one source each")
    return list(node.inputs)


# --------------------------------------------------------------------------------------------------
# The float graph in Xylo's timing
# --------------------------------------------------------------------------------------------------


def retime(graph: Graph, dt: float) -> tuple[Graph, list[str]]:
    """`graph` with a one-step delay before each weight node that reads a spiking population in the step it fires
    (on Xylo hidden spikes reach the recurrent and the readout weights a step later), and what that changes; a graph
    of another shape comes back delayed the same way (the mapping then names what does not fit)."""
    moved = {}
    for node in graph.nodes.values():
        if node.op.synapse_form() is None or len(node.inputs) != 1:
            continue
        src = graph.nodes[node.inputs[0]].op
        if src.binary_output and src.feedthrough and src.arity != 0:
            moved[node.name] = node.inputs[0]
    if not moved:
        return graph, []
    out = Graph(metadata=dict(graph.metadata))
    for node in graph.nodes.values():
        out.add(node.name, node.op, *((moved[node.name] + DELAY_SUFFIX,) if node.name in moved else node.inputs))
        if node.name in moved.values():
            out.add(node.name + DELAY_SUFFIX, SpikeDelay(node.op.size, dt), node.name)
    names = ", ".join(sorted(set(moved.values())))
    return out, [f"xylo timing: on Xylo spikes reach weights a step after they fire (the recurrent and readout "
                 f"banks): graph.nir has a one-step Delay after {names}, so each spiking layer hears the one before "
                 f"a step late and the outputs lag the NIR file's by a step per spiking layer they pass"]


# --------------------------------------------------------------------------------------------------
# Integers
# --------------------------------------------------------------------------------------------------


def dash(decay: np.ndarray, floor: int = 0) -> np.ndarray:
    """The power-of-two decay nearest a decay per step in time constant: ``round(log2(1 / d))`` in floor..15
    (d = 0, no leak, takes the slowest)."""
    d = np.asarray(decay, np.float64)
    with np.errstate(divide="ignore"):
        shifts = np.where(d > 0, np.rint(np.log2(1.0 / np.where(d > 0, d, 1.0))), DASH_MAX)
    return np.clip(shifts, floor, DASH_MAX).astype(np.int64)


def _tau_error(decay: np.ndarray, shifts: np.ndarray) -> float:
    """Largest relative error of a time constant (1 / d steps) as ``2^dash`` steps (d = 0: none is exact)."""
    d = np.asarray(decay, np.float64)
    fine = d > 0
    if not fine.any():
        return 0.0
    return float(np.max(np.abs(2.0 ** shifts[fine] * d[fine] - 1.0)))


def _bank(total: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """One bank's weights ([post, pre], in voltage units) -> (int8 [pre, post], the bank's shift)."""
    peak = float(np.max(np.abs(total))) if total.size else 0.0
    shift = 0
    while shift < SHIFT_MAX and peak / 2.0**shift > WEIGHT_MAX + 0.5:
        shift += 1
    if peak / 2.0**shift > WEIGHT_MAX + 0.5:
        raise _refuse(f"a weight of {peak:.4g} thresholds/{2**bits} does not fit 8 bits at the largest shift "
                      f"({SHIFT_MAX})")
    q = np.clip(np.rint(total / 2.0**shift), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return np.ascontiguousarray(q.T), shift


@dataclass(frozen=True)
class _Population:
    scale: float  # voltage units per graph unit
    dash_syn: np.ndarray
    dash_mem: np.ndarray
    gain: np.ndarray  # the weight factor: the charge an input delivers through Xylo's current is the graph's
    threshold: np.ndarray
    bias: np.ndarray  # voltage bias, before the synapse biases
    notes: list[str]


def _population(name: str, op, synapse_bias: np.ndarray, bits: int, voltage: bool = False) -> _Population:
    """A population's integers at 2^bits per largest threshold; a voltage readout's (`voltage`): 2^bits per unit of the
    graph's voltage, its threshold at the top of the range (it never fires below saturation)."""
    if voltage:
        vth, scale = None, 2.0**bits
    else:
        vth = np.asarray(op.v_threshold, np.float64)
        if np.any(vth <= 0):
            raise _refuse(f"{name!r} has a threshold <= 0; Xylo's thresholds are positive")
        scale = 2.0**bits / float(vth.max())
    du, dv = np.asarray(op.du, np.float64), np.asarray(op.dv, np.float64)
    dash_syn, dash_mem = dash(du, floor=1), dash(dv)
    beta = 2.0 ** -dash_syn.astype(np.float64)
    gain = beta / (np.maximum(du, 1e-12) * (1.0 - beta))
    threshold = np.full(op.size, STATE_MAX, np.int64) if voltage else np.floor(vth * scale).astype(np.int64) + 1
    settled = np.divide(synapse_bias, du, out=np.zeros_like(synapse_bias), where=du > 0)
    bias = np.rint((np.asarray(op.bias, np.float64) + settled) * scale)
    if np.any(np.abs(bias) > STATE_MAX):
        raise _refuse(f"{name!r}: a bias of {float(np.max(np.abs(bias))):.0f} at the threshold's scale does not fit "
                      f"16 bits")
    notes = [f"xylo decays of {name}: time constants to powers of two, largest error {_tau_error(dv, dash_mem):.1%} "
             f"(voltage), {_tau_error(du[du < 1], dash_syn[du < 1]):.1%} (current)"]
    if np.any(du >= 1):
        notes.append(f"xylo current of {name}: the graph's neurons have no current memory; Xylo's fastest current "
                     f"(dash 1) passes half of each input to the voltage in the step it arrives and the rest in the "
                     f"steps after (the same charge in all)")
    if np.any(synapse_bias[du < 1] != 0):
        notes.append(f"xylo bias of {name}: a synapse bias enters the voltage at the current it settles to (b / du), "
                     f"from the first step")
    if voltage:
        notes.append(f"xylo voltage readout {name}: Xylo's Vmem output, 2^{bits} per unit of the graph's voltage, "
                     f"16-bit saturating; its threshold at {STATE_MAX} (a voltage that reaches it spikes and drops)")
    elif op.reset != "subtract":
        notes.append(f"xylo reset of {name}: Xylo subtracts the threshold; the graph resets to {op.reset}")
    return _Population(scale, dash_syn, dash_mem, gain, threshold, bias.astype(np.int64), notes)


def _dense(graph: Graph, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A Dense node's matrix ([post, pre], scales folded in) and bias (zeros when it has none)."""
    op = graph.nodes[name].op
    weight = np.asarray(op.weight, np.float64) * np.asarray(op.scales, np.float64)[0][None, :]
    return weight, np.zeros(weight.shape[0]) if op.bias is None else np.asarray(op.bias, np.float64)


def program(graph: Graph, metadata: dict[str, str], spec, calibration=None) -> tuple[Program, list[str]]:
    """The lowered graph's Xylo program (input, ``XyloHidden`` holding every hidden population, a readout, Output) and
    the approximations it makes, in words; its scale chosen on `calibration` (spikes [B, T, inputs])."""
    roles = layout(graph)
    if calibration is None:
        made, notes = _program(graph, roles, metadata, spec, DEFAULT_SCALE_BITS, DEFAULT_SCALE_BITS)
        return made, notes + [f"xylo scale: 2^{DEFAULT_SCALE_BITS} per largest threshold (no calibration raster)"]
    hidden_spikes, readout_values = _float_run(graph, roles, calibration)
    # a spiking readout: every pair of scales (the hidden population's, the readout's), judged by the readout's raster
    # (what the network answers); a voltage readout: its scale from its calibrated peak, the hidden scale judged by
    # the hidden raster.  Scores within SCALE_TIE of the best are a tie, won by the finest pair (more resolution for
    # the voltages and their decays)
    pairs = [(b, _voltage_bits(readout_values)) for b in SCALE_BITS] if roles.voltage else \
        [(b, r) for b in SCALE_BITS for r in SCALE_BITS]
    scored = {}
    for pair in pairs:
        try:  # a weight that does not fit at this scale is refused: the coarser scales are tried
            made, notes = _program(graph, roles, metadata, spec, *pair)
        except UserError:
            continue
        hidden, readout = _scores(made, roles, calibration, hidden_spikes, readout_values)
        scored[pair] = (hidden if readout is None else readout, made, notes)
    if not scored:  # none fits: the coarsest's refusal
        _program(graph, roles, metadata, spec, SCALE_BITS[0], SCALE_BITS[0])
    top = max(score for score, _, _ in scored.values())
    best = max(pair for pair, (score, _, _) in scored.items() if score >= top - SCALE_TIE)
    _, made, notes = scored[best]
    judged = "hidden raster" if roles.voltage else "readout raster at the hidden scale's best readout scale"
    table = ", ".join(f"2^{h}: {max(s for (hh, _), (s, _, _) in scored.items() if hh == h):.3f}"
                      for h in sorted({h for h, _ in scored}))
    return made, notes + [f"xylo scales: 2^{best[0]} per largest threshold of the hidden population, 2^{best[1]} of the "
                          f"readout's, chosen on the calibration raster for spike agreement with the float graph "
                          f"({judged}: {table}; within {SCALE_TIE} of the best, the finest scales)"]


def _voltage_bits(values: np.ndarray) -> int:
    """The finest power-of-two scale at which a voltage readout's calibrated peak, doubled, fits 16 bits."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    if peak <= 0:
        return DEFAULT_SCALE_BITS
    return int(np.clip(np.floor(np.log2(STATE_MAX / (2 * peak))), 0, 14))


def _float_run(graph: Graph, roles: Layout, calibration) -> tuple[np.ndarray, np.ndarray]:
    """The float graph on the calibration raster: hidden populations' spikes [T, B, N] (bool) and the readout's
    values [T, B, M] (spikes, or a voltage readout's voltage)."""
    import torch

    from neurocompile.graph import FloatRun

    run = FloatRun(graph, calibration.shape[0])
    hidden, readout = [], []
    with torch.no_grad():
        for t in range(calibration.shape[1]):
            run.step(torch.as_tensor(calibration[:, t], dtype=torch.float64))
            hidden.append(np.concatenate([run.values[n].numpy() for n in roles.hidden], axis=1))
            readout.append(run.values[roles.readout].numpy())
    return np.stack(hidden) > 0, np.stack(readout)


def _scores(made: Program, roles: Layout, calibration, hidden: np.ndarray,
            readout: np.ndarray) -> tuple[float, float | None]:
    """The raster match (spiked or not, per neuron and step) with the float graph: the hidden population's, and the
    readout's when it spikes (None for a voltage readout)."""
    from ..cpu.simulator import ReferenceSimulator

    sim = ReferenceSimulator(made, calibration.shape[0])
    ints, outs = [], []
    for t in range(calibration.shape[1]):
        sim.step(np.asarray(calibration[:, t], np.int64))
        ints.append(sim.values[roles.hidden_node] > 0)
        outs.append(sim.values[roles.readout] > 0)
    score = float((np.stack(ints) == hidden).mean())
    return score, None if roles.voltage else float((np.stack(outs) == (readout > 0)).mean())


def _program(graph: Graph, roles: Layout, metadata: dict[str, str], spec, bits: int,
             readout_bits: int) -> tuple[Program, list[str]]:
    """The program at one scale (2^bits per largest threshold of each hidden population; the readout's 2^readout_bits
    per threshold, or per unit of voltage for a voltage readout)."""
    nodes = graph.nodes
    sizes = [nodes[h].op.size for h in roles.hidden]
    first = dict(zip(roles.hidden, np.cumsum([0, *sizes[:-1]]).tolist()))
    n, m, n_in = sum(sizes), nodes[roles.readout].op.size, nodes[roles.input].op.n
    rows = {**{h: slice(first[h], first[h] + size) for h, size in zip(roles.hidden, sizes)}, roles.readout: slice(0, m)}
    w_in, w_rec, w_out = np.zeros((n, n_in)), np.zeros((n, n)), np.zeros((m, n))
    biases = {target: np.zeros(nodes[target].op.size) for target in (*roles.hidden, roles.readout)}
    for dense, src, target in roles.synapses:
        weight, bias = _dense(graph, dense)
        biases[target] += bias
        bank = w_in if src == roles.input else w_out if target == roles.readout else w_rec
        bank[rows[target], slice(0, n_in) if src == roles.input else rows[src]] += weight
    pops = [_population(h, nodes[h].op, biases[h], bits) for h in roles.hidden]
    r = _population(roles.readout, nodes[roles.readout].op, biases[roles.readout], readout_bits, roles.voltage)
    h_gain = np.concatenate([p.scale * p.gain for p in pops])
    w_in_q, shift_in = _bank(w_in * h_gain[:, None], bits)
    w_rec_q, shift_rec = _bank(w_rec * h_gain[:, None], bits)
    w_out_q, shift_out = _bank(w_out * (r.scale * r.gain)[:, None], readout_bits)
    hidden = roles.hidden_node
    source = nodes[roles.input].op
    q_nodes = {
        roles.input: QNode(roles.input, SpikeInput.kind, (), 0, QSpikeInput(source.n, tuple(source.shape))),
        hidden: QNode(hidden, XyloHidden.kind, (roles.input,), 0, QXyloHidden(
            w_in_q[:, :, None], w_rec_q[:, :, None], shift_in, shift_rec,
            np.concatenate([p.dash_syn for p in pops])[:, None], np.concatenate([p.dash_mem for p in pops]),
            np.concatenate([p.threshold for p in pops]), np.concatenate([p.bias for p in pops]),
            np.zeros(n + 1, np.int64), np.zeros(0, np.int64))),
        roles.readout: QNode(roles.readout, (XyloVoltageReadout if roles.voltage else XyloReadout).kind, (hidden,),
                             readout_bits if roles.voltage else 0, QXyloReadout(
                                 w_out_q, shift_out, r.dash_syn, r.dash_mem, r.threshold, r.bias)),
        roles.output: QNode(roles.output, Output.kind, (roles.readout,), readout_bits if roles.voltage else 0,
                            QOutput(readout_bits if roles.voltage else 0)),
    }
    notes = [note for p in (*pops, r) for note in p.notes] + [
        "xylo spikes: a hidden neuron sends up to 31 spikes per step where its voltage holds several thresholds (the "
        "graph's, one); the readout one",
        f"xylo weights: 8 bits with one shift per bank (input {shift_in}, recurrent {shift_rec}, readout {shift_out}) "
        f"at 2^{bits} units per largest threshold of the hidden population"
        + ("" if roles.voltage else f", 2^{readout_bits} of the readout's")]
    if len(roles.hidden) > 1:
        notes.append(f"xylo hidden population ({HIDDEN} in the program): {', '.join(roles.hidden)}, in that order; "
                     f"the layers' weights between them are blocks of the recurrent bank")
    return Program(q_nodes, spec, {**metadata, DT_KEY: repr(roles.dt)}), notes
