"""Lower stage: fold traced ops into the forms integers are computed in; float semantics unchanged.

* Weight matrices (ops with a ``synapse_form``: Linear, Affine, Conv2d, pooling) become ``Dense`` nodes; one that
  only feeds another (pooling, then Affine: nothing spikes in between) is multiplied into it.  ``Scale`` nodes that
  feed only one of them fold into it: ``W (s * x)`` = ``(W diag s) x``; each input becomes a port carrying its
  scale (token mixing: one port for the current token, one for the previous); quantization turns each port into
  its own 8-bit matrix ``W diag(s_p)``, which is how two Lava Dense processes feed one neuron.  Any other ``Scale``
  (one that feeds a neuron, or several nodes) is the diagonal matrix ``diag(s)``: a weight matrix like the others.  The weight array
  is shared, never copied, unless a neuron's gain is folded into it (below).
  ``token_shift`` chooses how a weight matrix that reads a token shift (the previous token's value) beside other
  inputs is built: ``"fold"`` as above (one matrix per input: twice the synaptic memory, and every graded input
  sent to two matrices), ``"delay"`` as a neuron program ``Mix`` that sums the scaled inputs (``NAME.mix``) in
  front of one matrix.
* ``Embedding`` followed by ``Heaviside`` becomes a table of binary codes (``SpikeEmbedding``).
* Identity ops (``Flatten``: maps are held flat) vanish.
* Neuron models with a ``neuron_form`` (NIR's cells) become the neuron that form names (Loihi's ``CUBA``), fed
  only by synapses: a weight matrix used by that neuron alone takes the neuron's input gain into its rows (and
  bias); any other input gets a synapse of its own (``NAME.syn<k>``, the diagonal of the gain).
"""
from __future__ import annotations

import numpy as np

from .errors import UserError
from .graph import Graph
from .ops import Dense, Embedding, Heaviside, Linear, Mix, Scale, SpikeEmbedding, TokenShift
from .ops.conv import ConvSynapse, SumPool2d

TOKEN_SHIFT_MODES = ("fold", "delay")
TOKEN_SHIFT_KEY = "token_shift"  # program metadata: the mode the program was lowered with
NEURON_OPS_KEY = "neuron_ops"  # program metadata: the extension ops lowered to neuron programs (comma-separated kinds)


def _consumers(graph: Graph) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for node in graph.nodes.values():
        for src in node.inputs:
            users[src].append(node.name)
    return users


def lower(graph: Graph, token_shift: str = "fold", neuron_ops: frozenset[str] = frozenset()) -> Graph:
    """`neuron_ops`: kinds of extension ops to run as neuron programs (``Op.neuron_program``) instead of their
    embedded-CPU integer form."""
    if token_shift not in TOKEN_SHIFT_MODES:
        raise UserError(f"token shift {token_shift!r}: choose one of {', '.join(TOKEN_SHIFT_MODES)}")
    graph = _scales_as_matrices(_without_identities(graph))
    users = _consumers(graph)
    nodes = graph.nodes
    folded: set[str] = set()
    gains: dict[str, np.ndarray] = {}  # weight node -> the gain of the one neuron it feeds
    neurons = {name: form for name, node in nodes.items() if (form := _neuron_form(name, node.op)) is not None}
    for node in nodes.values():
        if node.op.synapse_form() is not None:
            folded.update(i for i in node.inputs if isinstance(nodes[i].op, Scale) and users[i] == [node.name])
            if len(node.inputs) == 1 and nodes[node.inputs[0]].op.synapse_form() is not None \
                    and users[node.inputs[0]] == [node.name]:  # nothing spikes in between (pooling, then Affine)
                folded.add(node.inputs[0])
            if len(users[node.name]) == 1 and users[node.name][0] in neurons:
                gains[node.name] = neurons[users[node.name][0]][0]
        if isinstance(node.op, Heaviside) and isinstance(nodes[node.inputs[0]].op, Embedding) \
                and users[node.inputs[0]] == [node.name]:
            folded.add(node.inputs[0])
    kernels = {name: kernel for name, node in nodes.items() if name not in folded
               and (kernel := _kernel(node, nodes, users, gains.get(name))) is not None}
    out = Graph(metadata=dict(graph.metadata))
    synapses: dict[str, tuple] = {}  # weight node -> (weight, scales, bias, ports), folded ones included
    for node in nodes.values():
        op, inputs = node.op, node.inputs
        if node.name in kernels:
            op, inputs = kernels[node.name]
            out.add(node.name, op, *inputs)
            continue
        if (synapse := op.synapse_form()) is not None:
            weight, bias = synapse
            if len(node.inputs) == 1 and node.inputs[0] in synapses and node.inputs[0] in folded:
                inner, scales, inner_bias, ports = synapses[node.inputs[0]]  # W2 (W1 x + b1) + b2
                if inner_bias is not None:
                    bias = weight @ inner_bias + (0 if bias is None else bias)
                weight = weight @ inner
            else:
                scales, ports = [], []
                for src in node.inputs:
                    if src in folded:
                        scales.append(nodes[src].op.scale)
                        ports.append(nodes[src].inputs[0])
                    else:
                        scales.append(np.ones(weight.shape[1], weight.dtype))
                        ports.append(src)
                scales = np.stack(scales)
                if token_shift == "delay" and len(ports) > 1 and any(isinstance(nodes[p].op, TokenShift) for p in ports):
                    mixed = out.add(f"{node.name}.mix", Mix(scales), *ports)
                    scales, ports = np.ones((1, weight.shape[1]), weight.dtype), [mixed]
            if node.name in gains:
                gain = gains[node.name]
                weight, bias = weight * gain[:, None], None if bias is None else bias * gain
            synapses[node.name] = (weight, scales, bias, tuple(ports))
            op, inputs = Dense(weight, scales, bias, getattr(op, "bias_from", 0)), tuple(ports)
        if node.name in folded:
            continue
        if synapse is not None:
            pass  # the Dense above
        elif isinstance(op, Heaviside) and node.inputs[0] in folded:
            embedding = nodes[node.inputs[0]]
            op, inputs = SpikeEmbedding(embedding.op.weight >= 0), embedding.inputs
        elif op.kind in neuron_ops and op.neuron_program() is not None:
            op = op.neuron_program()
        elif node.name in neurons:
            gain, op = neurons[node.name]
            inputs = tuple(src if src in gains else _own_synapse(out, f"{node.name}.syn{k}", src, gain)
                           for k, src in enumerate(node.inputs))
        out.add(node.name, op, *inputs)
    return out


def lower_like(graph: Graph, program) -> Graph:
    """`graph` lowered the way `program` was (programs from before these options: folded, every op in its default form)."""
    kinds = frozenset(k for k in program.metadata.get(NEURON_OPS_KEY, "").split(",") if k)
    return lower(graph, program.metadata.get(TOKEN_SHIFT_KEY, "fold"), kinds)


def _without_identities(graph: Graph) -> Graph:
    """Ops that pass their input on (Flatten of a flat map) removed; their users read their input."""
    through: dict[str, str] = {}
    if not any(node.op.identity for node in graph.nodes.values()):
        return graph
    out = Graph(metadata=dict(graph.metadata))
    for node in graph.nodes.values():
        inputs = tuple(through.get(i, i) for i in node.inputs)
        if node.op.identity and len(inputs) == 1:
            through[node.name] = inputs[0]
        else:
            out.add(node.name, node.op, *inputs)
    return out


def _scales_as_matrices(graph: Graph) -> Graph:
    """Each Scale that does not feed one weight matrix alone made the diagonal matrix it is (exact)."""
    users = _consumers(graph)
    alone = {name for name, node in graph.nodes.items() if isinstance(node.op, Scale)
             and len(users[name]) == 1 and graph.nodes[users[name][0]].op.synapse_form() is not None}
    if all(name in alone for name, node in graph.nodes.items() if isinstance(node.op, Scale)):
        return graph
    out = Graph(metadata=dict(graph.metadata))
    for node in graph.nodes.values():
        matrix = isinstance(node.op, Scale) and node.name not in alone
        out.add(node.name, Linear(np.diag(node.op.scale)) if matrix else node.op, *node.inputs)
    return out


def _kernel(node, nodes, users, gain: np.ndarray | None) -> tuple[ConvSynapse, tuple[str]] | None:
    """A convolution on spikes held as its kernel (``ConvSynapse``) and what it reads: the gain of the neuron it feeds
    folded into each output channel; a sum or average pooling of spikes before it (read by it alone) folded into the
    kernel (``ConvSynapse.after_pool``) -- or None, to unroll it: it reads other graded values or several inputs, a
    pooling that does not fold exactly, or that neuron's gain differs within a channel."""
    form = node.op.kernel_form()
    if form is None or len(node.inputs) != 1:
        return None
    src = nodes[node.inputs[0]]
    reads = node.inputs
    if isinstance(src.op, SumPool2d) and users[src.name] == [node.name] and len(src.inputs) == 1:
        form, reads = form.after_pool(src.op), src.inputs
        src = nodes[src.inputs[0]]
    if form is None or not src.op.binary_output:
        return None
    if gain is not None:
        per_channel = gain.reshape(form.weight.shape[0], -1)
        if not np.all(per_channel == per_channel[:, :1]):
            return None
        scale = per_channel[:, 0]
        form = ConvSynapse(form.weight * scale[:, None, None, None], None if form.bias is None else form.bias * scale,
                           form.in_shape, form.stride, form.padding, form.dilation, form.groups)
    return form, tuple(reads)


def _neuron_form(name: str, op):
    try:
        return op.neuron_form()
    except ValueError as exc:
        raise UserError(f"layer {name} ({op.kind}) has no integer form: {exc}") from None


def _own_synapse(out: Graph, name: str, src: str, gain: np.ndarray) -> str:
    """A one-to-one synapse carrying a neuron's gain, for an input that is not a weight matrix of its own."""
    return out.add(name, Dense(np.diag(gain), np.ones((1, gain.shape[0]))), src)
