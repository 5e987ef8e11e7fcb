"""NIR graphs exported by snnTorch, Norse, Sinabs or Rockpool -> a Graph (the graph's float semantics).

NIR nodes are continuous-time; a run is discrete.  The importer states both conventions NIR leaves open:
``dt`` (forward Euler; default 1e-4, snnTorch's importer's; Norse's default is 1e-3) and the reset mode
('zero' or 'subtract'; NIR has no field for it), and records them in the graph's metadata.  What each NIR node
type means is ``neurocompile.nir_codec.TABLE`` (one op per type, the same table our own graph.nir is read with);
anything else is refused with the node's name and type, never approximated.  Maps (C x H x W) are held flat,
row-major: each node is read given the shape its input carries and gives the shape of its output, so convolutions
and pooling know their geometry whatever the exporter wrote down.  This module adds what an import does beyond
reading nodes: values checked, nested graphs inlined, loops read through the previous step's spikes.

Supported: Input, Output, Affine, Linear, Scale (as a diagonal matrix), LIF, CubaLIF, IF, LI, CubaLI, I, Threshold,
Delay (whole steps per neuron, on spikes), Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten; nested graphs (inlined);
loops (read the previous step's spikes); several Output nodes (one Input).
"""
from __future__ import annotations

import warnings
from dataclasses import fields, is_dataclass, replace
from pathlib import Path

import nir
import numpy as np

from ... import files
from ...errors import UserError
from ...graph import Graph
from ...nir_codec import TABLE, NirContext, decode, supported
from ...ops import Op, SpikeDelay
from ...ops.base import MAX_NEURONS
from ...ops.cells import RESETS

DEFAULT_DT = 1e-4
MAX_FILE_BYTES = 4 << 30  # what a NIR file's arrays may declare in all (read before any is loaded: no bombs)
_NOT_PARAMETERS = ("input_type", "output_type", "metadata")


def _shape(value) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(value).reshape(-1))


_AT_LEAST = {"stride": 1, "dilation": 1, "groups": 1, "kernel_size": 1, "padding": 0}  # NIR's geometry fields


def check_values(name: str, node: nir.NIRNode) -> None:
    """Every numeric parameter of a NIR node finite, NIR's time constants (``tau*``) positive, its
    geometry (stride, dilation, groups, kernel size >= 1, padding >= 0) in range: one UserError naming the node,
    the field, the value, where it is and the limit, before any of it is used."""
    _check_fields(name, type(node).__name__,
                  {f.name: getattr(node, f.name) for f in (fields(node) if is_dataclass(node) else ())})


def _check_fields(name: str, kind: str, values: dict) -> None:
    for key, value in values.items():
        if key in _NOT_PARAMETERS or key == "type" or value is None or isinstance(value, (str, bytes, dict, nir.NIRNode)):
            continue
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        where = lambda mask: "" if array.ndim == 0 else f" at index {tuple(int(i) for i in np.argwhere(mask)[0])}"  # noqa: E731
        bad = ~np.isfinite(array)
        if bad.any():
            raise UserError(f"node {name} ({kind}): {key} is {array[bad].flat[0]}{where(bad)}; every parameter must be a "
                            f"finite number")
        low = array <= 0 if key.startswith("tau") else array < _AT_LEAST.get(key, -np.inf)
        if low.any():
            limit = "> 0 seconds (a time constant)" if key.startswith("tau") else f">= {_AT_LEAST[key]}"
            raise UserError(f"node {name} ({kind}): {key} is {array[low].flat[0]:g}{where(low)}; it must be {limit}")


def _check_width(name: str, node: nir.NIRNode, width: int | None) -> None:
    if width is not None and width > MAX_NEURONS:
        raise UserError(f"node {name} ({type(node).__name__}): {width:,} neurons, over the {MAX_NEURONS:,} one node may "
                        f"have in this version (each engine holds several values per neuron and stream)")


DT_KEYS = ("dt", "neurocompile.dt")  # graph metadata that may state the time step


def graph_dt(g: nir.NIRGraph, dt: float | None) -> tuple[float, str]:
    """The time step to import at, and where it came from: the caller's, else the graph's metadata, else the
    default (snnTorch's importer's)."""
    if dt is not None:
        return float(dt), "given"
    for key in DT_KEYS:
        if key in (g.metadata or {}):
            try:
                value = float(np.asarray(g.metadata[key]).reshape(-1)[0])
            except (TypeError, ValueError, IndexError):
                raise UserError(f"the graph's metadata {key!r} is {g.metadata[key]!r}, not a time step; pass --dt") from None
            return value, f"the graph's metadata {key!r}"
    return DEFAULT_DT, "the default, snnTorch's importer's (the graph states none; --dt changes it)"


def is_nir_file(path: str | Path | None) -> bool:
    """NIR files are HDF5; checkpoints are zip archives or pickles (the first bytes tell)."""
    if path is None or not Path(path).is_file():
        return False
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def from_module(module, sample_input) -> nir.NIRGraph:
    """A snnTorch or Norse module as NIR, by its framework's own exporter (`sample_input`: one step's input)."""
    import torch

    frameworks = {type(m).__module__.split(".")[0] for m in module.modules()} & set(EXPORTERS)
    if len(frameworks) != 1:
        raise UserError(f"a {type(module).__name__} made of {'no' if not frameworks else 'several'} known framework's "
                        f"layers; export takes snnTorch or Norse modules ({', '.join(EXPORTERS)}), or a nir.NIRGraph")
    if sample_input is None:
        raise UserError("exporting a module to NIR needs sample_input= (one time step's input tensor)")
    framework = frameworks.pop()
    try:
        return EXPORTERS[framework](module, torch.as_tensor(sample_input, dtype=torch.float32))
    except Exception as exc:  # the frameworks' exporters fail in many ways on modules they do not cover
        raise UserError(f"{framework}'s NIR exporter failed on this {type(module).__name__} ({type(exc).__name__}: "
                        f"{exc})") from None


def _snntorch(module, sample):
    from snntorch.export_nir import export_to_nir

    return export_to_nir(module, sample)


def _norse(module, sample):
    import norse.torch

    return norse.torch.to_nir(module, sample)


EXPORTERS = {"snntorch": _snntorch, "norse": _norse}  # top-level package of a module's layers -> its NIR exporter


def read_nir_file(path: str | Path) -> nir.NIRGraph:
    """The file's graph.  A graph whose stated types disagree -- Rockpool writes its sample's batch into the Input's
    shape -- is read without NIR's type check: the importer derives every shape from the Input itself and refuses,
    by node, what does not fit.  The arrays' declared sizes are checked before any is read (a compressed dataset
    can declare terabytes in a few bytes); a file nir cannot read is refused naming the node that fails."""
    path = files.regular_file(Path(path), "the NIR file")
    _check_declared_size(path)
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # one message of ours, not nir's warnings too
        warnings.simplefilter("ignore")
        try:
            return nir.read(str(path))
        except Exception as exc:  # nir.read fails in many ways on damaged or foreign files
            first = exc
        try:
            return nir.read(str(path), type_check=False)
        except Exception:
            where = _failing_node(path)
            detail = where or f"{type(first).__name__}: {first}"
            raise UserError(f"{path}: not a NIR file nir {getattr(nir, 'version', '')} can read ({detail})") from None


def _check_declared_size(path: Path) -> None:
    """Refuse a file whose arrays declare more than MAX_FILE_BYTES in all, from their shapes alone."""
    import h5py

    total = 0

    def visit(_name, item) -> None:
        nonlocal total
        if isinstance(item, h5py.Dataset):
            total += int(np.prod(item.shape or (1,), dtype=object)) * max(item.dtype.itemsize, 1)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception:  # noqa: BLE001 -- not HDF5 at all: nir.read says so, naming the file
        return
    if total > MAX_FILE_BYTES:
        raise UserError(f"{path}: its arrays declare {total / 2**30:,.1f} GB, over the {MAX_FILE_BYTES >> 30} GB this "
                        f"version reads; not a graph it can run")


def _failing_node(path: Path) -> str | None:
    """Which node of the file nir cannot make, and why: 'node NAME: NIR TYPE is not a node type nir VERSION knows'
    for a type from a newer NIR, else the node's own error.  None when no single node is to blame."""
    import h5py
    from nir.serialization import hdf2dict

    known = set(getattr(nir.ir, "__all__", ()))

    def walk(nodes: dict, prefix: str) -> str | None:
        for name, data in nodes.items():
            if not isinstance(data, dict):
                continue
            kind = data.get("type")
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind not in known:
                return (f"node {prefix}{name}: NIR type {kind!r} is not one nir {getattr(nir, 'version', '')} knows -- "
                        f"the file may come from a newer NIR; this importer supports {supported()}")
            if kind == "NIRGraph":
                found = walk(data.get("nodes", {}), f"{prefix}{name}.")
                if found:
                    return found
                continue
            try:
                _check_fields(f"{prefix}{name}", kind, data)
                nir.dict2NIRNode(dict(data))
            except UserError as exc:
                return str(exc)
            except Exception as exc:  # noqa: BLE001 -- the node's own reason, whatever it is
                return f"node {prefix}{name} ({kind}): {type(exc).__name__}: {exc}".rstrip(": ")
        return None

    try:
        with h5py.File(path, "r") as f:
            data = hdf2dict(f["node"])
    except Exception:  # noqa: BLE001
        return None
    return walk(data.get("nodes", {}), "") if isinstance(data, dict) else None


def flatten(g: nir.NIRGraph, prefix: str = "") -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """Nested NIR graphs inlined: a subgraph's nodes become ``NAME.SUB``; its Input and Output nodes vanish, the edges
    into the subgraph going to what its Input feeds and the edges out of it leaving from what feeds its Output."""
    nodes: dict[str, nir.NIRNode] = {}
    entry: dict[str, list[str]] = {}  # subgraph name -> flattened nodes its Input feeds
    leave: dict[str, list[str]] = {}  # subgraph name -> flattened nodes feeding its Output
    inner_edges: list[tuple[str, str]] = []
    for name, node in g.nodes.items():
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = flatten(node, f"{prefix}{name}.")
            ins = [n for n, x in node.nodes.items() if isinstance(x, nir.Input)]
            outs = [n for n, x in node.nodes.items() if isinstance(x, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise UserError(f"node {prefix}{name}: a nested graph with {len(ins)} Input and {len(outs)} Output "
                                f"nodes; this importer inlines nested graphs with one of each")
            i_name, o_name = f"{prefix}{name}.{ins[0]}", f"{prefix}{name}.{outs[0]}"
            entry[name] = [d for s, d in sub_edges if s == i_name]
            leave[name] = [s for s, d in sub_edges if d == o_name]
            nodes.update({k: v for k, v in sub_nodes.items() if k not in (i_name, o_name)})
            inner_edges += [(s, d) for s, d in sub_edges if i_name not in (s, d) and o_name not in (s, d)]
        else:
            nodes[f"{prefix}{name}"] = node
    edges = list(inner_edges)
    for src, dst in g.edges:
        for s in leave.get(src, [f"{prefix}{src}"]):
            for d in entry.get(dst, [f"{prefix}{dst}"]):
                edges.append((s, d))
    return nodes, edges


def _back_edges(sources: dict[str, list[str]], start: str, delays: set[str]) -> list[tuple[str, str]]:
    """Edges that close a loop, as a depth-first walk from the input meets them (edge order kept): in discrete time
    these read the previous step.  A loop through a delay node reads it already: the walk does not go on from one."""
    users: dict[str, list[str]] = {n: [] for n in sources}
    for dst, srcs in sources.items():
        for src in srcs:
            if src not in delays:
                users[src].append(dst)
    state: dict[str, int] = {}  # 1: on the walk's path, 2: done
    back: list[tuple[str, str]] = []
    stack = [(start, iter(users[start]))]
    state[start] = 1
    while stack:
        node, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            state[node] = 2
            stack.pop()
        elif state.get(nxt) == 1:
            back.append((node, nxt))
        elif nxt not in state:
            state[nxt] = 1
            stack.append((nxt, iter(users[nxt])))
    return back


def import_graph(g: nir.NIRGraph, dt: float = DEFAULT_DT, reset: str = "zero") -> Graph:
    """The NIR graph as a neurocompile Graph, nodes in execution order, with `dt` and `reset` recorded.

    Nested graphs are inlined (``flatten``).  A loop reads the previous step's spikes: each edge that closes one
    (``_back_edges``) is traced back through the weight matrices feeding it to the spiking node it starts from, and a
    ``SpikeDelay`` of that node's spikes (``NAME.prev``) takes its place.  The loop's value at step 0 is zero, as
    Norse's and nirtorch's interpreters read a loop (the previous step's output of the edge's source): the
    weights' biases in the loop enter from step 1 (``Affine.bias_from``)."""
    if not (np.isfinite(dt) and dt > 0):
        raise UserError(f"dt must be a positive number of seconds, got {dt}")
    if reset not in RESETS:
        raise UserError(f"reset must be one of {', '.join(RESETS)}, got {reset!r}")
    flat, edges = flatten(g)
    unknown = [f"node {name}: NIR {type(node).__name__}" for name, node in flat.items() if type(node) not in TABLE]
    if unknown:
        raise UserError(f"{'; '.join(unknown)} is not supported yet (supported: {supported()})")
    inputs = [n for n, node in flat.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in flat.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1:
        raise UserError(f"the graph has {len(inputs)} Input nodes; this importer takes exactly one (merge the inputs "
                        f"into one map before exporting)")
    if not outputs:
        raise UserError("the graph has no Output node: nothing to read a run's result from")
    sources: dict[str, list[str]] = {name: [] for name in flat}
    for src, dst in edges:
        if src not in flat or dst not in flat:
            raise UserError(f"edge {src} -> {dst} names a node the graph does not have")
        sources[dst].append(src)
    start = inputs[0]
    ops: dict[str, Op] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for name, node in flat.items():
        check_values(name, node)
    for name in _reached(sources, start):  # sources before users, loops aside: shapes flow forward
        node = flat[name]
        known = [shapes[s] for s in sources[name] if s in shapes]
        sizes = {int(np.prod(k)) for k in known}
        try:
            if len(sizes) > 1:
                raise ValueError(f"its inputs carry different sizes {sorted(sizes)}")
            ctx = NirContext(dt, reset, known[0]) if known else NirContext(dt, reset, None, _read_as(flat, sources, name))
            _check_width(name, node, ctx.width)
            with np.errstate(divide="raise", over="raise", invalid="raise"):
                op, shapes[name] = decode(node, ctx)
            if op.size < 1:
                raise ValueError("0 neurons; every node needs at least one")
            _check_width(name, node, op.size)
        except (ValueError, TypeError, KeyError, IndexError, FloatingPointError, OverflowError) as exc:
            raise UserError(f"node {name} ({type(node).__name__}): {exc}") from None
        ops[name] = op
    unreached = sorted(set(flat) - set(shapes))
    if unreached:
        raise UserError(f"nodes {', '.join(unreached)} are not reached from the graph's Input")
    delayed = {name: sources[name][0] for name, op in ops.items() if not op.feedthrough}  # the graph's own delays
    for name, source in delayed.items():
        if len(sources[name]) != 1 or not ops[source].binary_output:
            raise UserError(f"node {name} (Delay): it delays {', '.join(sources[name])}, which is not one spiking node; "
                            f"this version delays spikes only")
    for src, dst in _back_edges(sources, start, set(delayed)):
        spiking, head, chain = src, dst, []
        while ops[spiking].synapse_form() is not None and len(sources[spiking]) == 1 \
                and _users(sources, spiking) == [head]:
            chain.append(spiking)
            spiking, head = sources[spiking][0], spiking
        for name in chain:  # the loop carries src's output of the previous step, zero at step 0: no bias then
            bias = ops[name].synapse_form()[1]
            if bias is None or not np.any(bias != 0):
                continue
            if "bias_from" not in {f.name for f in fields(ops[name])}:
                raise UserError(f"node {name} ({type(flat[name]).__name__}): a bias inside a loop; this importer "
                                f"delays the biases of a loop's Affine nodes only (zero at step 0, as NIR's "
                                f"interpreters run a loop)")
            ops[name] = replace(ops[name], bias_from=1)
        if not ops[spiking].binary_output:
            raise UserError(f"the loop closed by edge {src} -> {dst} does not start at a spiking node (it starts at "
                            f"{spiking}, {type(flat[spiking]).__name__}); this importer reads loops through spikes only")
        delay = f"{spiking}.prev"
        if delay not in ops:
            ops[delay], sources[delay], delayed[delay] = SpikeDelay(ops[spiking].size, dt), [spiking], spiking
        sources[head] = [delay if (s == spiking) else s for s in sources[head]]
    order = _order(ops, sources, set(delayed))
    graph = Graph(metadata={"neurocompile.family": "nir", "neurocompile.dt": repr(float(dt)),
                            "neurocompile.reset": reset})
    for name in order:
        graph.add(name, ops[name], *sources[name])
    return graph


def _reached(sources: dict[str, list[str]], start: str) -> list[str]:
    """The nodes reached from `start`, each after its sources (reverse post-order of a depth-first walk; the edge
    closing a loop is the one exception)."""
    users: dict[str, list[str]] = {n: [] for n in sources}
    for dst, srcs in sources.items():
        for src in srcs:
            users[src].append(dst)
    seen, post = {start}, []
    stack = [(start, iter(users[start]))]
    while stack:
        node, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            post.append(node)
            stack.pop()
        elif nxt not in seen:
            seen.add(nxt)
            stack.append((nxt, iter(users[nxt])))
    return post[::-1]


def _read_as(flat: dict[str, nir.NIRNode], sources: dict[str, list[str]], name: str) -> tuple[int, ...] | None:
    """The input shape the first node that `name` feeds declares (NIR's ``input_type``), if it declares one."""
    for user in _users(sources, name):
        declared = (getattr(flat[user], "input_type", None) or {}).get("input")
        if declared is not None:
            return _shape(declared)
    return None


def _users(sources: dict[str, list[str]], name: str) -> list[str]:
    return [dst for dst, srcs in sources.items() for s in srcs if s == name]


def _order(ops: dict[str, Op], sources: dict[str, list[str]], delays: set[str]) -> list[str]:
    """Execution order: a node after everything it reads, except that a delay reads the previous step (no wait)."""
    waits = {n: (set() if n in delays else set(s)) for n, s in sources.items()}
    order: list[str] = []
    ready = [n for n in ops if not waits[n]]
    done: set[str] = set()
    while ready:
        name = ready.pop(0)
        order.append(name)
        done.add(name)
        for user, w in waits.items():
            if user not in done and user not in ready and name in w and w <= done:
                ready.append(user)
    if len(order) != len(ops):
        stuck = sorted(set(ops) - set(order))
        raise UserError(f"nodes {', '.join(stuck)} cannot be ordered (a loop without a spiking node, or nodes the "
                        f"input does not reach)")
    return order
