"""The neurocompile graph: named nodes in execution order, each an op and the names of its inputs.

A graph runs one token per step for a batch of streams.  ``run_float`` executes the float semantics (the
reference); integer execution lives in the targets.  ``write_nir`` / ``read_nir`` store a graph as a
standard NIR file (``nir.read`` loads it) and read it back to an equal graph.
"""
from __future__ import annotations

from collections.abc import Callable

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch

from .nir_codec import decode, encode, text
from .ops import INPUTS_KEY, Op, Output

GRAPH_FORMAT = "neurocompile.graph/1"


@dataclass(frozen=True, eq=False)
class Node:
    name: str
    op: Op
    inputs: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and (self.name, self.inputs) == (other.name, other.inputs) and self.op == other.op

    __hash__ = None  # type: ignore[assignment]


@dataclass(eq=False)
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)  # in execution (topological) order
    metadata: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, op: Op, *inputs: str) -> str:
        if name in self.nodes:
            raise ValueError(f"duplicate node name {name!r}")
        missing = [i for i in inputs if i not in self.nodes]
        if missing and op.feedthrough:  # a node without feedthrough may read one defined later (a loop)
            raise ValueError(f"node {name!r}: inputs not defined yet: {missing}")
        if op.arity is not None and len(inputs) != op.arity:
            raise ValueError(f"node {name!r}: {op.kind} takes {op.arity} input(s), got {len(inputs)}")
        self.nodes[name] = Node(name, op, tuple(inputs))
        return name

    @property
    def input(self) -> Node:
        return next(n for n in self.nodes.values() if n.op.arity == 0)

    @property
    def outputs(self) -> list[Node]:
        """The Output nodes, in execution order (a language model has one; a NIR graph may have several)."""
        return [n for n in self.nodes.values() if isinstance(n.op, Output)]

    @property
    def output(self) -> Node:
        """The first Output node (the logits of a language model)."""
        return self.outputs[0]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Graph) and list(self.nodes) == list(other.nodes)
                and all(self.nodes[k] == other.nodes[k] for k in self.nodes) and self.metadata == other.metadata)

    __hash__ = None  # type: ignore[assignment]


# ------------------------------------------------------------------------------------------------------
# Float execution
# ------------------------------------------------------------------------------------------------------


STEPS_PER_TOKEN = "neurocompile.steps_per_token"


CONTEXT = "neurocompile.context"
EXECUTION_KEYS = (STEPS_PER_TOKEN, CONTEXT)  # what a graph says about running it, carried into its program


def context(metadata: dict[str, str]) -> int | None:
    """How many tokens one stream may take (a SpikeDecoder's max_len); None: no limit (a recurrent model)."""
    return int(metadata[CONTEXT]) if CONTEXT in metadata else None


def steps_per_token(metadata: dict[str, str]) -> int:
    """How many steps of a graph or program one input (token) takes: 1, or a SpikeDecoder's synthetic steps T."""
    return int(metadata.get(STEPS_PER_TOKEN, 1))


class FloatRun:
    """Streams tokens through a graph's float semantics; keeps every op's state between steps."""

    def __init__(self, graph: Graph, batch: int, dtype: torch.dtype = torch.float64):
        self.graph, self.dtype = graph, dtype
        self.per_input = steps_per_token(graph.metadata)
        self.state = {name: node.op.initial_state(batch, dtype) for name, node in graph.nodes.items()}
        self.values: dict[str, torch.Tensor] = {}

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """The step's input, [B] or [B, n] (token ids: [B]) -> the (first) output node's value [B, n]; all node
        values stay in ``self.values``.  The graph's input node (an op of arity 0) takes `x` as its value."""
        values: dict[str, torch.Tensor] = {}
        delays = []
        for name, node in self.graph.nodes.items():
            if node.op.arity == 0:
                values[name] = x.reshape(x.shape[0], -1)
                continue
            if not node.op.feedthrough:  # its output from its state; its input at the end of the step
                values[name] = node.op.emit(self.state[name])
                delays.append(node)
                continue
            out, self.state[name] = node.op.float_step([values[i] for i in node.inputs], self.state[name])
            values[name] = out.to(self.dtype) if out.is_floating_point() else out
        for node in delays:
            _, self.state[node.name] = node.op.float_step([values[i] for i in node.inputs], self.state[node.name])
        self.values = values
        return values[self.graph.output.name]

    def token(self, x: torch.Tensor) -> torch.Tensor:
        """One input held for all its steps (a token's synthetic steps) -> the output after the last."""
        for _ in range(self.per_input):
            out = self.step(x)
        return out


def run_float(graph: Graph, tokens: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """tokens [B, S] -> outputs [B, S, n]: each token held for ``steps_per_token`` steps, its output the last one's."""
    run = FloatRun(graph, tokens.shape[0], dtype)
    return torch.stack([run.token(tokens[:, t]) for t in range(tokens.shape[1])], 1)


# ------------------------------------------------------------------------------------------------------
# NIR files
# ------------------------------------------------------------------------------------------------------


def to_nir(graph: Graph) -> nir.NIRGraph:
    nodes = {name: encode(node.op, node.inputs) for name, node in graph.nodes.items()}
    edges = [(src, name) for name, node in graph.nodes.items() for src in node.inputs]
    metadata = {"neurocompile.format": GRAPH_FORMAT, "neurocompile.order": ",".join(graph.nodes), **graph.metadata}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write_nir(graph: Graph, path: str | Path, after_each: Callable[[], object] = lambda: None) -> None:
    """The file ``nir.write(path, to_nir(graph), compression=None)`` writes, without its copies; `after_each` runs
    after each array written (an export releases the float weights it has read).

    ``nir.write`` serialises through ``dataclasses.asdict``, which deep-copies every weight (twice, for
    nested graphs); for a 216M-parameter model that alone is 1.7 GB.  This writes the same groups and
    datasets from the arrays themselves (a test checks the bytes are nir.write's).  Uncompressed: trained
    weights do not compress, and gzip costs minutes on large models.
    """
    import h5py

    def write_recursive(group: h5py.Group, node: dict) -> None:  # the layout of nir.serialization.write
        for k, v in node.items():
            if k == "metadata":
                if v != {}:
                    write_recursive(group.create_group(k), v)
            elif isinstance(v, str):
                group.create_dataset(k, data=v, dtype=h5py.string_dtype())
            elif isinstance(v, np.ndarray):
                group.create_dataset(k, data=v, dtype=v.dtype)
                after_each()
            elif isinstance(v, dict):
                write_recursive(group.create_group(str(k)), v)
            else:
                group.create_dataset(k, data=v)

    with h5py.File(str(path), "w") as f:
        f.create_dataset("version", data=nir.version, dtype=h5py.string_dtype())
        write_recursive(f.create_group("node"), _nir_dict(to_nir(graph)))


def _nir_dict(node: nir.NIRNode) -> dict[str, Any]:
    """``node.to_dict()`` without copying arrays."""
    from dataclasses import fields

    if isinstance(node, nir.NIRGraph):
        return {"metadata": dict(node.metadata), "nodes": {k: _nir_dict(n) for k, n in node.nodes.items()},
                "edges": [tuple(e) for e in node.edges], "type": "NIRGraph"}
    out = {f.name: getattr(node, f.name) for f in fields(node) if f.name not in ("input_type", "output_type")}
    out["type"] = type(node).__name__
    if isinstance(node, nir.Input):
        out["shape"] = node.input_type["input"]
    elif isinstance(node, nir.Output):
        out["shape"] = node.output_type["output"]
    return out


def from_nir(g: nir.NIRGraph) -> Graph:
    meta = {k: text(v) for k, v in (g.metadata or {}).items()}
    if meta.get("neurocompile.format") != GRAPH_FORMAT:
        raise ValueError(f"not a neurocompile graph (metadata neurocompile.format is {meta.get('neurocompile.format')!r}, "
                         f"expected {GRAPH_FORMAT!r})")
    order = meta.pop("neurocompile.order").split(",")
    meta.pop("neurocompile.format")
    graph = Graph(metadata=meta)
    for name in order:
        node = g.nodes[name]
        node_meta = node.metadata or {}
        op, _ = decode(node)
        if INPUTS_KEY in node_meta:  # ordered inputs of an extension op
            inputs = text(node_meta[INPUTS_KEY]).split(",")
        else:  # summing ops: the graph's edge order is the input order
            inputs = [src for src, dst in g.edges if dst == name]
        graph.add(name, op, *inputs)
    return graph


def read_nir(path: str | Path) -> Graph:
    return from_nir(nir.read(str(path)))
