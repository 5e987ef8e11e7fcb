"""How each op maps onto Loihi 2, registered per op kind -- the way JAX registers one lowering per primitive
per platform.  A rule says where the op runs on the chip (``placement``) and how it becomes Lava processes
(``lava``).  Ops without a rule of their own take ``DEFAULT``: a neuron program, run in Lava as a
``NodeProcess`` executing the op's own ``int_step``.

Placements: ``synapse`` (a neurocore's synaptic memory), ``neuron`` (a neurocore's programmable neurons),
``embedded_cpu`` (the chip's x86 cores), ``host`` (off chip), ``wire`` (nothing of its own: a connection).  Adding an op that needs a different mapping is
one ``@lowering`` here; adding a target is a folder like this one.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurocompile.errors import UserError
from neurocompile import ops
from neurocompile.ops import Op
from neurocompile.quantize import Program, QNode

from .arithmetic.norm import NeuronLayerNormForm
from .arithmetic.rwkv import NeuronWKVForm

MAX_SYNAPSE_PROCESSES_PER_NODE = 64


@dataclass
class LavaGraph:
    """The Lava processes made so far, and what a rule needs to add its own."""

    program: Program
    inputs: np.ndarray  # [T, ...]: the input node's value per step (token ids, spike rows)
    depth: dict[str, int]  # Dense stages between the input and each node
    steps: int  # steps the run takes (inputs + pipeline latency)
    slices: dict[str, list[tuple[int, int]]] | None  # node -> row ranges per core (the partition)
    lava: Any  # the Lava classes (imported once Lava is importable)
    outputs: dict[str, Any] = field(default_factory=dict)  # node -> the OutPort carrying its value
    heads: dict[str, Any] = field(default_factory=dict)  # node -> its process
    sinks: dict[str, Any] = field(default_factory=dict)  # node on a Lava LIF -> the sink recording its spikes
    processes: int = 0
    node_processes: dict[str, list] = field(default_factory=dict)  # node -> its NodeProcesses (checked for failures)
    later: list["_Later"] = field(default_factory=list)  # connections to ports of nodes not built yet (loops)
    synaptic_delays: dict[str, np.ndarray] = field(default_factory=dict)  # wire -> steps its readers' synapses add, per source neuron

    def connect_later(self) -> None:
        for wire in self.later:
            for port in wire.ports:
                self.outputs[wire.source].connect(port)

    def node_process(self, name: str, node: QNode, in_shapes, rows: tuple[int, int] | None = None, **kw):
        proc = self.lava.NodeProcess(kind=node.kind, arithmetic=self.program.spec.name, q=node.q, in_shapes=in_shapes,
                                     out_shape=(self.program.width(name),),
                                     depth=self.depth[name], steps=self.steps, rows=rows,
                                     name=name if rows is None else f"{name}.rows{rows[0]}-{rows[1]}", **kw)
        self.processes += 1
        self.node_processes.setdefault(name, []).append(proc)
        return proc

    def history(self, name: str) -> np.ndarray:
        """What node `name` sent at every step (its processes' records summed: one per core slice, zeros outside)."""
        return sum(proc.history.get().astype(np.int64) for proc in self.node_processes[name])


def _no_check(node: QNode, spec) -> None:
    return None


@dataclass(frozen=True)
class Rule:
    placement: str
    lava: Callable[[LavaGraph, str, QNode], None]
    delay: int = 0  # steps the Lava mapping adds between the node's inputs and its output
    check: Callable[[QNode, Any], None] = _no_check  # the op's design rule against the ResourceSpec (raises UserError)
    neurons: Callable[[Any], int] | None = None  # neurons the op occupies, from its Q (None: one per output value)
    eval_cost: float = 1.0  # neuron ops one evaluation costs a neurocore (the timing model; a LIF update is one)
    # a synapse population's synaptic memory per neuron, in bytes, from its Q and the weight bits (placement 'synapse')
    row_bytes: Callable[[Any, int], int] | None = None


RULES: dict[type[Op], Rule] = {}  # keyed by the op's class: a misspelt op fails at import


def lowering(op: type[Op], placement: str, delay: int = 0, check: Callable[[QNode, Any], None] = _no_check,
             neurons: Callable[[Any], int] | None = None, eval_cost: float = 1.0,
             row_bytes: Callable[[Any, int], int] | None = None):
    def register(fn: Callable[[LavaGraph, str, QNode], None]):
        RULES[op] = Rule(placement, fn, delay, check, neurons, eval_cost, row_bytes)
        return fn

    return register


def neurons(program: Program, name: str) -> int:
    """Neurons a neurocore population occupies: one per output value, unless its rule says otherwise."""
    node = program.nodes[name]
    count = rule(node.op_class).neurons
    return count(node.q) if count is not None else program.width(name)


def rule(op: type[Op]) -> Rule:
    return RULES.get(op, INPUT if op.arity == 0 else DEFAULT)


def placement(op: type[Op]) -> str:
    return rule(op).placement


# --------------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------------


def _neuron_program(g: LavaGraph, name: str, node: QNode) -> None:
    """Lava has no process for the op: a NodeProcess runs its int_step, inputs held back to its depth -- one per core
    slice of the partition where the op's channels are independent (``Op.slice_q``), as on the chip, else one."""
    slices = sorted(g.slices.get(name, [])) if g.slices else []
    parts = slices if len(slices) > 1 and g.program.form(node).slice_q(node.q, *slices[0]) is not None else [None]
    procs = [g.node_process(name, node, [(g.program.width(i),) for i in node.inputs], rows=rows,
                            input_delays=[g.depth[name] - g.depth[i] for i in node.inputs]) for rows in parts]
    for proc in procs:
        for port, src in enumerate(node.inputs):
            g.outputs[src].connect(getattr(proc, f"in{port}"))
    g.outputs[name] = procs[0].out if len(procs) == 1 else _Joined([proc.out for proc in procs])
    g.heads[name] = procs[0]


@dataclass(frozen=True)
class _Joined:
    """The output of a node computed by one process per core slice: a reader's port gets every slice (Lava sums what
    arrives at a port; each slice is zero outside its channels)."""

    ports: list

    def connect(self, port) -> None:
        for out in self.ports:
            out.connect(port)


DEFAULT = Rule("neuron", _neuron_program)


def _input(g: LavaGraph, name: str, node: QNode) -> None:
    """The graph's input (any op of arity 0): a RingBuffer source playing the run's inputs, one row per step."""
    data = np.asarray(g.inputs, dtype=np.int64).reshape(len(g.inputs), -1)
    source = g.lava.Source(data=data.T)
    g.outputs[name], g.heads[name] = source.s_out, source
    g.processes += 1


INPUT = Rule("host", _input)


@dataclass
class _Later:
    """The OutPort of a node built later (a loop's source): connections wait until every process exists."""

    source: str
    ports: list = field(default_factory=list)

    def connect(self, port) -> None:
        self.ports.append(port)


def _check_delay(node: QNode, spec) -> None:
    longest = int(node.q.steps.max())
    if longest - 1 > spec.max_synaptic_delay:
        raise UserError(f"layer {node.name}: a delay of {longest} time steps; Loihi 2's synapses delay by at most "
                        f"{spec.max_synaptic_delay} steps beyond the first ({spec.max_synaptic_delay + 1} in all); "
                        f"export with --target cpu, or shorten the delay")


@lowering(ops.SpikeDelay, "wire", delay=-1, check=_check_delay)
def _delay(g: LavaGraph, name: str, node: QNode) -> None:
    """No process: the source's spikes, wired straight into the synapses that read them.  Lava's Dense delivers
    them one step late, which is the first step of the delay (depth: the source's, minus one); the synapses add
    the rest, per source neuron (``steps - 1``: Loihi 2's synaptic delays, Lava's ``DelayDense``)."""
    (source,) = node.inputs
    readers = [n for n in g.program.nodes.values() if name in n.inputs]
    if any(rule(r.op_class).placement != "synapse" for r in readers):
        raise UserError(f"layer {name}: a delay read by {', '.join(r.name for r in readers)}; on Loihi 2 the "
                        f"delay is the synapse's, so only synapses may read it (the cpu engine runs this build)")
    if np.any(node.q.steps > 1):
        g.synaptic_delays[name] = node.q.steps - 1
    if source in g.outputs:
        g.outputs[name] = g.outputs[source]
    else:
        g.outputs[name] = wire = _Later(source)
        g.later.append(wire)


@lowering(ops.SpikeEmbedding, "host")  # a table look-up per token, before the chip
@lowering(ops.TokenCode, "host")  # token and position codes: table look-ups per token, before the chip
def _embedding(g: LavaGraph, name: str, node: QNode) -> None:
    _neuron_program(g, name, node)


def _lava_lif(g: LavaGraph, name: str, node: QNode, n: int, du: int, dv: int, vth: int, **reset) -> None:
    """Lava's own LIF process (no bias), fed by the node's inputs (summed at a_in); a sink records its spikes.
    ``reset``: Lava's LIFReset instead (``reset_interval``, ``reset_offset``)."""
    kind = g.lava.LIFReset if reset else g.lava.LIF
    lif = kind(shape=(n,), du=du, dv=dv, vth=vth, bias_mant=0, bias_exp=0, name=name, **reset)
    for src in node.inputs:
        g.outputs[src].connect(lif.a_in)
    sink = g.lava.Sink(shape=(n,), buffer=g.steps)
    lif.s_out.connect(sink.a_in)
    g.outputs[name], g.heads[name], g.sinks[name] = lif.s_out, lif, sink
    g.processes += 2


@lowering(ops.LIF, "neuron")
def _lif(g: LavaGraph, name: str, node: QNode) -> None:
    """Lava's own LIF (du, dv, vth from quantization)."""
    _lava_lif(g, name, node, node.q.n, node.q.du, node.q.dv, node.q.vth)


@lowering(ops.PeriodicLIF, "neuron")
def _periodic_lif(g: LavaGraph, name: str, node: QNode) -> None:
    """Lava's LIFReset: the LIF cleared every ``period`` steps.  A node at depth d computes stream step s at Lava
    time step 1 + d + s, so a period starts where ``time_step % period == (1 + d) % period`` (Lava resets before
    the step's input, as the integer op does)."""
    q = node.q
    if len({g.depth[i] for i in node.inputs}) != 1:
        _neuron_program(g, name, node)
        return
    _lava_lif(g, name, node, q.n, q.du, q.dv, q.vth, reset_interval=q.period, reset_offset=(1 + g.depth[name]) % q.period)


@lowering(ops.SpikingAttention, "neuron", neurons=lambda q: q.period * q.heads * q.head_dim**2)
def _attention(g: LavaGraph, name: str, node: QNode) -> None:
    """The attention state on programmable neurons, one per (synthetic step, head, i, j): neuron (i, j) counts the
    coincidences of key spike i and value spike j and sends its count to output j when query spike i arrives
    (ops/attention.py).  In Lava: a NodeProcess running the same integer step."""
    _neuron_program(g, name, node)


@lowering(ops.CUBA, "neuron")
def _cuba(g: LavaGraph, name: str, node: QNode) -> None:
    """Lava's own LIF where it computes this neuron (``QCUBA.lava_lif``) and every input arrives at one depth (a LIF
    cannot hold inputs back) -- its LIFReset where the state is cleared periodically (stream step s runs at Lava time
    step 1 + depth + s: cleared where that is 1 + depth + phase, modulo the period); otherwise a Loihi 2 neuron
    program (NodeProcess) with the same arithmetic."""
    q = node.q
    if q.lava_lif and len({g.depth[i] for i in node.inputs}) == 1:
        reset = {"reset_interval": q.period, "reset_offset": (1 + g.depth[name] + q.phase) % q.period} if q.period else {}
        _lava_lif(g, name, node, q.n, int(q.du[0]), int(q.dv[0]), int(q.vth[0]), **reset)
    else:
        _neuron_program(g, name, node)


def row_groups(q, port: int, slices: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(start, end, weight_exp): the core slices, cut further wherever the rows' weight exponent changes."""
    groups = []
    exps = q.exps[port]
    for start, end in slices:
        begin = start
        for row in range(start + 1, end + 1):
            if row == end or exps[row] != exps[begin]:
                groups.append((begin, row, int(exps[begin])))
                begin = row
    return groups


def _matrix_row_bytes(q, weight_bits: int) -> int:
    """A Dense's row: one weight per input, per port."""
    ports, _, inputs = q.halves.shape
    return ports * inputs * weight_bits // 8


@lowering(ops.Dense, "synapse", delay=1, row_bytes=_matrix_row_bytes)  # Lava's Dense delivers one step late
def _dense(g: LavaGraph, name: str, node: QNode) -> None:
    """One Lava synapse process per input port and per core slice (a Sparse holding that slice's rows, or a
    Dense for a whole matrix), 8-bit weights with the rows' weight_exp, graded ports with 24-bit messages;
    all feed one NodeProcess, the receiving neurons' side (Lava sums the slices at its input port)."""
    q, width = node.q, g.program.width(name)
    receiver = g.node_process(name, node, [(width,)], input_delays=[0], accumulate_only=True)
    node_slices = sorted(g.slices[name]) if g.slices and name in g.slices else [(0, width)]
    groups = [(port, grp) for port in range(len(node.inputs)) for grp in row_groups(q, port, node_slices)]
    if len(groups) > MAX_SYNAPSE_PROCESSES_PER_NODE:
        raise UserError(f"layer {name}: {len(groups)} synapse processes (core slices x weight-exponent blocks), "
                        f"over {MAX_SYNAPSE_PROCESSES_PER_NODE}; export with --block-rows 0 (or larger blocks)")
    for port, (start, end, exp) in groups:
        bits = 0 if q.binary[port] else 24
        delays = g.synaptic_delays.get(node.inputs[port])
        if delays is not None:  # a delay line: Loihi 2's synaptic delays, per source neuron (rows outside the slice empty)
            rows = np.zeros(q.halves[port].shape, np.int32)
            rows[start:end] = 2 * q.halves[port][start:end].astype(np.int32)
            synapses = g.lava.DelayDense(weights=rows, delays=np.broadcast_to(delays, rows.shape).astype(int),
                                         weight_exp=exp, num_message_bits=bits, name=f"{name}.port{port}.rows{start}-{end}")
        elif (start, end) == (0, width):
            synapses = g.lava.Dense(weights=2 * q.halves[port].astype(np.int32), weight_exp=exp, num_message_bits=bits,
                                    name=f"{name}.port{port}")
        else:  # this core slice's rows only; the other rows are empty
            rows = np.zeros(q.halves[port].shape, np.int32)
            rows[start:end] = 2 * q.halves[port][start:end].astype(np.int32)
            synapses = g.lava.Sparse(weights=g.lava.csr_matrix(rows), weight_exp=exp, num_message_bits=bits,
                                     name=f"{name}.port{port}.rows{start}-{end}")
        g.outputs[node.inputs[port]].connect(synapses.s_in)
        synapses.a_out.connect(receiver.in0)
        g.processes += 1
    g.outputs[name], g.heads[name] = receiver.out, receiver


def _kernel_row_bytes(q, weight_bits: int) -> int:
    """A convolution stores its kernel once per core for the output channels it holds (weight sharing, as Intel's
    compiler places PilotNet's conv layers on few cores); spread over the channel's neurons, at least a byte each
    (an assumption: Loihi 2's convolutional synapse encoding is not published in this detail)."""
    per_channel = int(np.prod(q.halves.shape[1:])) * weight_bits // 8
    return max(1, -(-per_channel // int(np.prod(q.shape[1:]))))


@lowering(ops.ConvSynapse, "synapse", delay=1, row_bytes=_kernel_row_bytes)  # Lava's Conv sends one step late
def _conv(g: LavaGraph, name: str, node: QNode) -> None:
    """Lava's own Conv process on the whole map (its input C x H x W held flat here, Lava's (X, Y, C) by a reshape
    and a transpose of the port; Lava convolves, so the kernel goes in flipped and as (C_out, W, H, C_in)), its
    24-bit sums into one NodeProcess, the receiving neurons' side (the weight exponent's shift, the bias)."""
    q, width = node.q, g.program.width(name)
    if g.synaptic_delays.get(node.inputs[0]) is not None:
        raise UserError(f"layer {name}: a convolution reading delayed spikes; Lava's Conv process has no delays "
                        f"(the cpu engine runs this build)")
    receiver = g.node_process(name, node, [(width,)], input_delays=[0], accumulate_only=True)
    c, h, w = q.in_shape
    conv = g.lava.Conv(weight=(2 * q.halves[:, :, ::-1, ::-1].astype(np.int32)).transpose(0, 3, 2, 1),
                       input_shape=(w, h, c), stride=q.stride[::-1], padding=q.padding[::-1],
                       dilation=q.dilation[::-1], groups=q.groups, name=f"{name}.conv")
    g.outputs[node.inputs[0]].reshape((c, h, w)).transpose([2, 1, 0]).connect(conv.s_in)
    conv.a_out.transpose([2, 1, 0]).reshape((width,)).connect(receiver.in0)
    g.processes += 1
    g.outputs[name], g.heads[name] = receiver.out, receiver


LIF_INSTRUCTIONS = 6  # a LIF update: decay u, add the input, decay v, add u, compare, reset (the unit of eval_cost)


@lowering(ops.NeuronWKV, "neuron", eval_cost=NeuronWKVForm.instructions / LIF_INSTRUCTIONS)
def _neuron_wkv(g: LavaGraph, name: str, node: QNode) -> None:
    """WKV as a neuron program (one neuron per channel, 24-bit state): in Lava a NodeProcess running its int_step."""
    _neuron_program(g, name, node)


@lowering(ops.NeuronLayerNorm, "neuron", delay=NeuronLayerNormForm.STAGES,
          eval_cost=NeuronLayerNormForm.instructions / LIF_INSTRUCTIONS)
def _neuron_layer_norm(g: LavaGraph, name: str, node: QNode) -> None:
    """LayerNorm as neuron programs (a neuron per channel, two reduction neurons; four synaptic stages, so its
    output leaves four steps after its input, as in Lava): in Lava a NodeProcess running its int_step."""
    _neuron_program(g, name, node)


@lowering(ops.LayerNorm, "embedded_cpu")
@lowering(ops.WKV, "embedded_cpu")
def _embedded_cpu(g: LavaGraph, name: str, node: QNode) -> None:
    """64-bit state, square roots and divisions: the chip's x86 cores; in Lava a NodeProcess like any program."""
    _neuron_program(g, name, node)


@lowering(ops.Output, "host")
def _output(g: LavaGraph, name: str, node: QNode) -> None:
    _neuron_program(g, name, node)
