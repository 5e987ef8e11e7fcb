"""Lower stage: fold traced ops into the forms integers are computed in; float semantics unchanged.

* ``Scale`` nodes that feed only a ``Linear`` fold into it: ``W (s * x)`` = ``(W diag s) x``.  The Linear
  becomes a ``Dense`` whose inputs each carry their scale (token mixing: one input for the current token,
  one for the previous); quantization turns each input into its own 8-bit matrix ``W diag(s_p)``, which is
  how two Lava Dense processes feed one neuron.  The weight array is shared, never copied.
* ``Embedding`` followed by ``Heaviside`` becomes a table of binary codes (``SpikeEmbedding``).
"""
from __future__ import annotations

import numpy as np

from .graph import Graph
from .ops import Dense, Embedding, Heaviside, Linear, Scale, SpikeEmbedding


def _consumers(graph: Graph) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for node in graph.nodes.values():
        for src in node.inputs:
            users[src].append(node.name)
    return users


def lower(graph: Graph) -> Graph:
    users = _consumers(graph)
    folded: set[str] = set()
    for node in graph.nodes.values():
        if isinstance(node.op, Linear):
            folded.update(i for i in node.inputs if isinstance(graph.nodes[i].op, Scale) and users[i] == [node.name])
        if isinstance(node.op, Heaviside) and isinstance(graph.nodes[node.inputs[0]].op, Embedding) \
                and users[node.inputs[0]] == [node.name]:
            folded.add(node.inputs[0])
    out = Graph(metadata=dict(graph.metadata))
    for node in graph.nodes.values():
        if node.name in folded:
            continue
        op, inputs = node.op, node.inputs
        if isinstance(op, Linear):
            scales, ports = [], []
            for src in node.inputs:
                if src in folded:
                    scales.append(graph.nodes[src].op.scale)
                    ports.append(graph.nodes[src].inputs[0])
                else:
                    scales.append(np.ones(op.weight.shape[1], op.weight.dtype))
                    ports.append(src)
            op, inputs = Dense(op.weight, np.stack(scales)), tuple(ports)
        elif isinstance(op, Heaviside) and node.inputs[0] in folded:
            embedding = graph.nodes[node.inputs[0]]
            op, inputs = SpikeEmbedding(embedding.op.weight >= 0), embedding.inputs
        out.add(node.name, op, *inputs)
    return out
