"""NIR graphs exported by snnTorch, Norse, Sinabs or Rockpool -> a Graph (float semantics; first slice).

NIR nodes are continuous-time; a run is discrete.  The importer states both conventions NIR leaves open:
``dt`` (forward Euler; default 1e-4, snnTorch's importer's; Norse's default is 1e-3) and the reset mode
('zero' or 'subtract'; NIR has no field for it), and records them in the graph's metadata.  Each NIR node
type has one converter, registered below; anything else is refused with the node's name and type, never
approximated.

Supported in this slice: Input and Output (1-D), Affine, Linear, LIF, CubaLIF.  Not yet: recurrent edges
(cycles), nested graphs, IF, LI, CubaLI, Integrator, Threshold, Flatten, Delay, Conv, pooling, C x H x W
shapes; and no integer semantics for the imported ops yet (float engine only).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nir
import numpy as np

from ...errors import UserError
from ...graph import Graph
from ...ops import Affine, EulerCubaLIF, EulerLIF, Linear, Op, Output, SpikeInput
from ...ops.cells import RESETS

DEFAULT_DT = 1e-4

CONVERTERS: dict[type, Callable[[nir.NIRNode, float, str], Op]] = {}


def converts(nir_type: type):
    def register(fn: Callable[[nir.NIRNode, float, str], Op]):
        CONVERTERS[nir_type] = fn
        return fn

    return register


def _width(shape, where: str) -> int:
    shape = np.asarray(shape).reshape(-1)
    if shape.size != 1:
        raise UserError(f"{where}: shape {tuple(int(s) for s in shape)} is multi-dimensional, which this importer "
                        f"does not support yet (1-D only)")
    return int(shape[0])


@converts(nir.Input)
def _input(node: nir.Input, dt: float, reset: str) -> Op:
    return SpikeInput(_width(node.input_type["input"], "the graph's Input"))


@converts(nir.Output)
def _output(node: nir.Output, dt: float, reset: str) -> Op:
    return Output(_width(node.output_type["output"], "the graph's Output"))


@converts(nir.Affine)
def _affine(node: nir.Affine, dt: float, reset: str) -> Op:
    return Affine(np.asarray(node.weight, np.float64), np.asarray(node.bias, np.float64))


@converts(nir.Linear)
def _linear(node: nir.Linear, dt: float, reset: str) -> Op:
    return Linear(np.asarray(node.weight, np.float64))


@converts(nir.CubaLIF)
def _cuba_lif(node: nir.CubaLIF, dt: float, reset: str) -> Op:
    return EulerCubaLIF.from_nir(node, dt, reset)


@converts(nir.LIF)
def _lif(node: nir.LIF, dt: float, reset: str) -> Op:
    return EulerLIF.from_nir(node, dt, reset)


def read_nir_file(path: str | Path) -> nir.NIRGraph:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {'a folder, not a file' if path.is_dir() else 'no such file'}")
    try:
        return nir.read(str(path))
    except Exception as exc:  # nir.read fails in many ways on damaged or foreign files
        raise UserError(f"{path}: not a NIR file nir {getattr(nir, 'version', '')} can read "
                        f"({type(exc).__name__}: {exc})") from None


def import_graph(g: nir.NIRGraph, dt: float = DEFAULT_DT, reset: str = "zero") -> Graph:
    """The NIR graph as a neurocompile Graph, nodes in execution order, with `dt` and `reset` recorded."""
    if not (np.isfinite(dt) and dt > 0):
        raise UserError(f"dt must be a positive number of seconds, got {dt}")
    if reset not in RESETS:
        raise UserError(f"reset must be one of {', '.join(RESETS)}, got {reset!r}")
    nested = [name for name, node in g.nodes.items() if isinstance(node, nir.NIRGraph)]
    if nested:
        raise UserError(f"node {nested[0]}: a nested NIR graph, which this importer does not flatten yet")
    unknown = [f"node {name}: NIR {type(node).__name__}" for name, node in g.nodes.items() if type(node) not in CONVERTERS]
    if unknown:
        raise UserError(f"{'; '.join(unknown)} is not supported yet (supported: "
                        f"{', '.join(sorted(t.__name__ for t in CONVERTERS))})")
    ops: dict[str, Op] = {}
    for name, node in g.nodes.items():
        try:
            ops[name] = CONVERTERS[type(node)](node, dt, reset)
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError(f"node {name} ({type(node).__name__}): {exc}") from None
    for kind in (SpikeInput, Output):
        found = [n for n, op in ops.items() if isinstance(op, kind)]
        if len(found) != 1:
            raise UserError(f"the graph has {len(found)} {'Input' if kind is SpikeInput else 'Output'} nodes; this "
                            f"importer takes exactly one")
    sources: dict[str, list[str]] = {name: [] for name in ops}
    for src, dst in g.edges:
        if src not in ops or dst not in ops:
            raise UserError(f"edge {src} -> {dst} names a node the graph does not have")
        sources[dst].append(src)
    order: list[str] = []
    ready = [n for n in ops if not sources[n]]
    remaining = {n: len(set(s)) for n, s in sources.items()}
    users = {n: [d for d, s in sources.items() if n in s] for n in ops}
    while ready:
        name = ready.pop(0)
        order.append(name)
        for user in users[name]:
            remaining[user] -= 1
            if remaining[user] == 0:
                ready.append(user)
    if len(order) != len(ops):
        cycle = sorted(set(ops) - set(order))
        raise UserError(f"the graph has recurrent edges among {', '.join(cycle)}, which this importer does not support "
                        f"yet")
    graph = Graph(metadata={"neurocompile.family": "nir", "neurocompile.dt": repr(float(dt)),
                            "neurocompile.reset": reset})
    for name in order:
        graph.add(name, ops[name], *sources[name])
    return graph
