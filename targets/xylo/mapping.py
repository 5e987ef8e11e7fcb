"""A spiking graph onto one Xylo core: which nodes become the hidden and the readout population, and their integers.

The graph Xylo holds (after ``lower``): spike input -> weights -> a hidden CUBA population, optionally reading its own
spikes of the previous step through weights (NIR's recurrent edge) -> weights reading the hidden spikes -> a spiking
CUBA readout -> one Output.  Xylo's readout hears the hidden spikes a step after they fire, so ``retime`` puts a
one-step delay before the readout's weights in the float graph itself (its outputs lag the NIR graph's by one step,
named in the manifest) -- the float semantics the integer program is evaluated against are then Xylo's timing.

Integers, per population (the lowered CUBA: ``u' = (1 - du) u + x``, ``v' = (1 - dv) v + u' + bias``, spike where
``v' > threshold``):

* decays: ``du`` and ``dv`` to the nearest power-of-two decay, ``2^-dash`` (dash 0..15), nearest in time constant
  (``log2(1 / d)`` rounded); the relative error of each time constant is stated per population.  Xylo's current is
  added before it decays and a dash of 0 empties it, so a neuron without current memory (``du = 1``: NIR's LIF, IF)
  gets the fastest current Xylo has (dash 1: half of an input reaches the voltage a step later, a named
  approximation);
* scale: the voltage in units of ``2^SCALE_BITS / max threshold`` (the largest threshold at 4,096 leaves the 16-bit
  voltage room for eight thresholds); thresholds ``floor(threshold s) + 1`` (Xylo fires at ``v >= threshold``,
  the graph at ``v > threshold``);
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
from neurocompile.ops.cells import CUBA
from neurocompile.ops.io import QOutput, QSpikeInput, SpikeInput
from neurocompile.ops.neurons import SpikeDelay
from neurocompile.ops.synapses import Dense
from neurocompile.quantize import Program, QNode

from .arithmetic import DASH_MAX, SHIFT_MAX, STATE_MAX, WEIGHT_BITS, QXyloHidden, QXyloReadout, XyloHidden, XyloReadout

SCALE_BITS = 12  # the largest threshold of a population at 2^12
WEIGHT_MAX = (1 << (WEIGHT_BITS - 1)) - 1
DELAY_SUFFIX = ".xylo_delay"
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
    hidden: str  # the hidden CUBA population
    readout: str  # the readout CUBA population
    output: str
    to_hidden: tuple[str, ...]  # Dense nodes from the input
    recurrent: tuple[str, ...]  # Dense nodes from the hidden population's previous step
    to_readout: tuple[str, ...]  # Dense nodes from the hidden population's previous step, into the readout
    dt: float  # seconds per step (the readout delay's)

    def nodes(self) -> list[tuple[str, str]]:
        """The program's nodes (name, kind) for this layout."""
        return [(self.input, SpikeInput.kind), (self.hidden, XyloHidden.kind), (self.readout, XyloReadout.kind),
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
    if not isinstance(readout.op, CUBA):
        raise _refuse(f"its output reads {readout.name!r} ({readout.op.kind}); Xylo's readout is a population of "
                      f"spiking neurons (a voltage readout is not done)")
    to_readout = _synapses_into(graph, readout.name)
    delays = {nodes[nodes[d].inputs[0]].name for d in to_readout}
    if len(delays) != 1:
        raise _refuse(f"the readout {readout.name!r} reads {len(delays)} sources; Xylo's readout reads the hidden "
                      f"population alone")
    delay = nodes[delays.pop()]
    if delay.name == source.name:
        raise _refuse(f"the readout {readout.name!r} reads the input directly; on Xylo the input reaches the readout "
                      f"only through the hidden population (the network needs a hidden spiking layer)")
    if not isinstance(delay.op, SpikeDelay) or delay.op.longest != 1:
        raise _refuse(f"the readout {readout.name!r} reads {delay.name!r} ({delay.op.kind}) at once; Xylo's readout "
                      f"hears the hidden spikes a step later (export through the xylo target, which retimes it)")
    hidden = nodes[delay.inputs[0]]
    if not isinstance(hidden.op, CUBA):
        raise _refuse(f"the readout reads {hidden.name!r} ({hidden.op.kind}); Xylo's readout reads spiking "
                      f"neurons")
    to_hidden, recurrent = [], []
    for name in _synapses_into(graph, hidden.name):
        src = nodes[nodes[name].inputs[0]]
        if src.name == source.name:
            to_hidden.append(name)
        elif isinstance(src.op, SpikeDelay) and src.inputs[0] == hidden.name and src.op.longest == 1:
            recurrent.append(name)
        else:
            raise _refuse(f"the hidden population {hidden.name!r} reads {src.name!r} ({src.op.kind}); on Xylo a "
                          f"hidden neuron reads the input and its own population's spikes of the previous step "
                          f"(two hidden layers in a row are not done: Xylo holds one hidden population)")
    if not to_hidden:
        raise _refuse(f"the hidden population {hidden.name!r} reads no input")
    found = Layout(source.name, hidden.name, readout.name, out.name, tuple(to_hidden), tuple(recurrent),
                   tuple(to_readout), float(delay.op.dt))
    used = {found.input, found.hidden, found.readout, found.output, delay.name, *found.to_hidden, *found.recurrent,
            *found.to_readout, *(nodes[r].inputs[0] for r in found.recurrent)}
    extra = [n for n in nodes if n not in used]
    if extra:
        node = nodes[extra[0]]
        raise _refuse(f"node {node.name!r} ({node.op.kind}) has no place on a Xylo core (input weights, one hidden "
                      f"population with recurrent weights, readout weights, one spiking readout)")
    return found


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
    """`graph` with a one-step delay before each weight node that reads a spiking population and feeds the Output's
    population (Xylo's readout timing), and what that changes; a graph without that shape comes back as it is (the
    mapping names what does not fit)."""
    users: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for node in graph.nodes.values():
        for src in node.inputs:
            users[src].append(node.name)
    outputs = graph.outputs
    if len(outputs) != 1:
        return graph, []
    readout = graph.nodes[outputs[0].inputs[0]]
    moved = {}
    for src in readout.inputs:
        syn = graph.nodes[src]
        if syn.op.synapse_form() is None or len(syn.inputs) != 1:
            continue
        hidden = graph.nodes[syn.inputs[0]]
        if hidden.op.binary_output and hidden.op.feedthrough and hidden.op.arity != 0:
            moved[src] = hidden.name
    if not moved:
        return graph, []
    out = Graph(metadata=dict(graph.metadata))
    added = set()
    for node in graph.nodes.values():
        inputs = node.inputs
        if node.name in moved:
            inputs = (moved[node.name] + DELAY_SUFFIX,)
        out.add(node.name, node.op, *inputs)
        if node.name in moved.values() and node.name not in added:
            out.add(node.name + DELAY_SUFFIX, SpikeDelay(node.op.size, dt), node.name)
            added.add(node.name)
    names = ", ".join(sorted(added))
    return out, [f"xylo timing: the readout hears the hidden spikes one step after they fire (Xylo's readout bank); "
                 f"graph.nir has a one-step Delay after {names}, so the outputs lag the NIR file's by one step"]


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


def _bank(weights: list[np.ndarray], rows: int) -> tuple[np.ndarray, int]:
    """Weights of one bank (each [post, pre] in voltage units) -> (int8 [pre, post], the bank's shift)."""
    total = sum(weights) if weights else np.zeros((rows, 0))
    peak = float(np.max(np.abs(total))) if total.size else 0.0
    shift = 0
    while shift < SHIFT_MAX and peak / 2.0**shift > WEIGHT_MAX + 0.5:
        shift += 1
    if peak / 2.0**shift > WEIGHT_MAX + 0.5:
        raise _refuse(f"a weight of {peak:.4g} thresholds/{2**SCALE_BITS} does not fit 8 bits at the largest shift "
                      f"({SHIFT_MAX})")
    q = np.clip(np.rint(total / 2.0**shift), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return np.ascontiguousarray(q.T), shift


@dataclass(frozen=True)
class _Population:
    scale: float  # voltage units per graph unit
    dash_syn: np.ndarray
    dash_mem: np.ndarray
    gain: np.ndarray  # the weight factor 1 / (1 - 2^-dash_syn)
    threshold: np.ndarray
    bias: np.ndarray  # voltage bias, before the synapse biases
    notes: list[str]


def _population(name: str, op: CUBA, synapse_bias: np.ndarray) -> _Population:
    vth = np.asarray(op.v_threshold, np.float64)
    if np.any(vth <= 0):
        raise _refuse(f"{name!r} has a threshold <= 0; Xylo's thresholds are positive")
    scale = 2.0**SCALE_BITS / float(vth.max())
    du, dv = np.asarray(op.du, np.float64), np.asarray(op.dv, np.float64)
    dash_syn, dash_mem = dash(du, floor=1), dash(dv)
    beta = 2.0 ** -dash_syn.astype(np.float64)
    gain = beta / (np.maximum(du, 1e-12) * (1.0 - beta))
    threshold = np.floor(vth * scale).astype(np.int64) + 1
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
                     f"steps after (weights doubled)")
    if np.any(synapse_bias[du < 1] != 0):
        notes.append(f"xylo bias of {name}: a synapse bias enters the voltage at the current it settles to (b / du), "
                     f"from the first step")
    if op.reset != "subtract":
        notes.append(f"xylo reset of {name}: Xylo subtracts the threshold; the graph resets to {op.reset}")
    return _Population(scale, dash_syn, dash_mem, gain, threshold, bias.astype(np.int64), notes)


def _weights(graph: Graph, names: tuple[str, ...]) -> tuple[list[np.ndarray], np.ndarray]:
    """The Dense nodes' matrices ([post, pre], scales folded in) and their summed biases."""
    mats, bias = [], 0.0
    for name in names:
        op = graph.nodes[name].op
        mats.append(np.asarray(op.weight, np.float64) * np.asarray(op.scales, np.float64)[0][None, :])
        if op.bias is not None:
            bias = bias + np.asarray(op.bias, np.float64)
    return mats, bias


def program(graph: Graph, metadata: dict[str, str], spec) -> tuple[Program, list[str]]:
    """The lowered graph's Xylo program (input, ``XyloHidden``, ``XyloReadout``, Output) and the approximations it
    makes, in words."""
    roles = layout(graph)
    nodes = graph.nodes
    hid, ro = nodes[roles.hidden].op, nodes[roles.readout].op
    w_in, b_in = _weights(graph, roles.to_hidden)
    w_rec, b_rec = _weights(graph, roles.recurrent)
    w_out, b_out = _weights(graph, roles.to_readout)
    h = _population(roles.hidden, hid, np.broadcast_to(np.asarray(b_in + b_rec, np.float64), (hid.size,)).copy())
    r = _population(roles.readout, ro, np.broadcast_to(np.asarray(b_out, np.float64), (ro.size,)).copy())
    w_in_q, shift_in = _bank([w * (h.scale * h.gain)[:, None] for w in w_in], hid.size)
    w_rec_q, shift_rec = _bank([w * (h.scale * h.gain)[:, None] for w in w_rec], hid.size)
    w_out_q, shift_out = _bank([w * (r.scale * r.gain)[:, None] for w in w_out], ro.size)
    n = hid.size
    if not roles.recurrent:
        w_rec_q = np.zeros((n, n), np.int8)
    source = nodes[roles.input].op
    q_nodes = {
        roles.input: QNode(roles.input, SpikeInput.kind, (), 0, QSpikeInput(source.n, tuple(source.shape))),
        roles.hidden: QNode(roles.hidden, XyloHidden.kind, (roles.input,), 0, QXyloHidden(
            w_in_q[:, :, None], w_rec_q[:, :, None], shift_in, shift_rec, h.dash_syn[:, None], h.dash_mem, h.threshold,
            h.bias, np.zeros(n + 1, np.int64), np.zeros(0, np.int64))),
        roles.readout: QNode(roles.readout, XyloReadout.kind, (roles.hidden,), 0, QXyloReadout(
            w_out_q, shift_out, r.dash_syn, r.dash_mem, r.threshold, r.bias)),
        roles.output: QNode(roles.output, Output.kind, (roles.readout,), 0, QOutput(0)),
    }
    notes = h.notes + r.notes + [
        "xylo spikes: a hidden neuron sends up to 31 spikes per step where its voltage holds several thresholds (the "
        "graph's, one); the readout one",
        f"xylo weights: 8 bits with one shift per bank (input {shift_in}, recurrent {shift_rec}, readout {shift_out}) "
        f"at {2**SCALE_BITS} units per largest threshold"]
    return Program(q_nodes, spec, {**metadata, DT_KEY: repr(roles.dt)}), notes
