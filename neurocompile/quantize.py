"""Quantize stage: a lowered graph + calibration text -> an integer Program under a target's NumericSpec.

Every value is an integer with ``frac`` fractional bits (value = int / 2**frac).  Spikes have frac 0.
Fractional bits come from the largest magnitude seen on calibration text, with one bit of headroom, for
the value's bit width, which depends on where the value goes:

* into a LIF: ``lif_input_bits`` (Lava adds ``a_in << 6`` to a 24-bit current);
* into a WKV as ``v`` or into anything as a message: ``payload_bits`` (a graded spike);
* a Dense output read by a neuron program: ``state_bits``.

Saturations on other text are counted by the simulator, never hidden.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

import h5py
import numpy as np
import torch

from .graph import EXECUTION_KEYS, FloatRun, Graph, steps_per_token
from .ops import CALIBRATE, HEADROOM, IntegerForm, Op, Output, QuantContext, integer_form, integer_forms
from .errors import UserError

PROGRAM_FORMAT = "neurocompile.program/2"  # 2: Dense weights stored as int8 halves


@dataclass(frozen=True)
class NumericSpec:
    """Bit widths of the integer program (every field with its reason in the target's module)."""

    name: str
    weight_bits: int  # synaptic weight mantissa, sign included
    state_bits: int  # neuron state and dendritic accumulators
    payload_bits: int  # graded spike payload: real-valued activations travel as these
    lif_input_bits: int  # LIF input: Lava adds a_in << 6 to a 24-bit current
    decay_bits: int  # LIF decay constants
    block_rows: int = 0  # rows of a weight matrix sharing one exponent (0: the whole matrix)

    def __post_init__(self) -> None:
        if not 2 <= self.payload_bits <= self.state_bits <= 24:
            raise ValueError("payload_bits <= state_bits <= 24 is required (exact float64 products, Lava's 24-bit state)")


@dataclass(frozen=True)
class QNode:
    name: str
    kind: str
    inputs: tuple[str, ...]
    frac: int | None  # None for token ids
    q: Any  # the op's quantized parameters

    @property
    def op_class(self) -> type[Op]:
        return Op.registry[self.kind]



@dataclass
class Program:
    nodes: dict[str, QNode]  # execution order
    spec: NumericSpec
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def outputs(self) -> list[QNode]:
        """The Output nodes, in execution order."""
        return [n for n in self.nodes.values() if n.op_class is Output]

    @property
    def output(self) -> QNode:
        """The first Output node (the logits of a language model)."""
        return self.outputs[0]

    def form(self, node: QNode) -> type[IntegerForm]:
        """How the program's arithmetic computes `node`'s op (``ops.integer_form`` of the spec's name)."""
        return integer_form(node.op_class, self.spec.name)

    def width(self, name: str) -> int:
        """Values a node outputs per stream and step: its own width, or (elementwise ops) its first input's."""
        node = self.nodes[name]
        width = self.form(node).int_width(node.q)
        return width if width is not None else self.width(node.inputs[0])


# --------------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------------


def calibrate(graph: Graph, tokens: torch.Tensor, after_each: Callable[[], object] = lambda: None) -> dict[str, float]:
    """Largest |value| of every node over token streams [B, T] (float semantics in float32: only ranges matter).

    Node by node over the whole sequence, so that each node's weights are read once (`after_each` runs after each
    node: an export releases them); a graph with a loop (a delay reading a later node) runs step by step instead.
    Both give the same values: each op's float step on the same inputs."""
    if any(not node.op.feedthrough for node in graph.nodes.values()):
        return _calibrate_by_step(graph, tokens)
    steps = [tokens[:, t] for t in range(tokens.shape[1]) for _ in range(steps_per_token(graph.metadata))]
    last_read = {src: i for i, node in enumerate(graph.nodes.values()) for src in node.inputs}
    values: dict[str, list[torch.Tensor]] = {}
    peak = {}
    for i, (name, node) in enumerate(graph.nodes.items()):
        if node.op.arity == 0:
            series = [x.reshape(x.shape[0], -1) for x in steps]
        else:
            state, series = node.op.initial_state(tokens.shape[0], torch.float32), []
            for t in range(len(steps)):
                out, state = node.op.float_step([values[src][t] for src in node.inputs], state)
                series.append(out.to(torch.float32) if out.is_floating_point() else out)
        peak[name] = max([float(v.abs().max()) for v in series if v.is_floating_point()], default=0.0)
        if name in last_read:
            values[name] = series
        for src in set(node.inputs):
            if last_read[src] == i:
                del values[src]
        after_each()
    return peak


def _calibrate_by_step(graph: Graph, tokens: torch.Tensor) -> dict[str, float]:
    run = FloatRun(graph, tokens.shape[0], torch.float32)
    peak = {name: 0.0 for name in graph.nodes}
    for t in range(tokens.shape[1]):
        for _ in range(run.per_input):  # every synthetic step of the token
            run.step(tokens[:, t])
            for name, value in run.values.items():
                if value.is_floating_point():
                    peak[name] = max(peak[name], float(value.abs().max()))
    return peak


# --------------------------------------------------------------------------------------------------
# Fractional bits and quantization
# --------------------------------------------------------------------------------------------------


def _frac(peak: float, bits: int) -> int:
    peak = max(peak * HEADROOM, 2.0**-20)
    return int(math.floor(math.log2(((1 << (bits - 1)) - 1) / peak)))


def quantize(graph: Graph, spec: NumericSpec, peaks: dict[str, float], metadata: dict[str, str] | None = None,
             after_each: Callable[[], object] = lambda: None) -> Program:
    """Each node's scale: fixed by the op (``Op.output_frac``), or calibrated into the width its consumers ask
    for (``Op.input_bits``; else the op's own ``value_bits``) within their limits (``Op.input_frac_limit``).
    `after_each` runs after each node (an export releases the float weights it has read)."""
    users: dict[str, list[tuple[Op, int]]] = {name: [] for name in graph.nodes}
    users_of: dict[str, set[str]] = {name: set() for name in graph.nodes}
    users_named: dict[str, list[tuple[Op, int, str]]] = {name: [] for name in graph.nodes}
    for node in graph.nodes.values():
        for port, src in enumerate(node.inputs):
            users[src].append((node.op, port))
            users_named[src].append((node.op, port, node.name))
            users_of[src].add(node.name)
    fracs: dict[str, int | None] = {}
    nodes: dict[str, QNode] = {}
    for name, node in graph.nodes.items():
        op = node.op
        form = integer_form(type(op), spec.name)
        in_frac = tuple(fracs.get(i) for i in node.inputs)  # None: a loop's later node (read by a delay)
        frac = form.output_frac(op, in_frac)
        if frac == CALIBRATE:
            asked = [b for user, port in users[name]
                     if (b := integer_form(type(user), spec.name).input_bits(user, port, spec)) is not None]
            # a user that sums its inputs as they arrive needs one scale for all: size it for their summed peaks
            peak = max([peaks[name], *(sum(peaks[i] for i in graph.nodes[u].inputs) for u in users_of[name]
                                       if graph.nodes[u].op.same_input_frac)])
            # the narrower of what the consumers take and what the op itself holds (a message's payload, a state)
            frac = _frac(peak, min([*asked, form.value_bits(op, spec)]))
            limits = [lim for user, port, user_name in users_named[name]
                      if (lim := integer_form(type(user), spec.name).input_frac_limit(user, port, peaks[user_name]))
                      is not None]
            frac = min([frac, *limits])
        binary_in = tuple(graph.nodes[i].op.binary_output for i in node.inputs)
        try:
            q = form.quantize(op, QuantContext(in_frac, binary_in, frac, spec))
        except ValueError as exc:
            raise UserError(f"layer {name} ({op.kind}) cannot be quantized for {spec.name}: {exc}") from None
        nodes[name] = QNode(name, op.kind, node.inputs, frac, q)
        fracs[name] = frac
        after_each()
    execution = {k: v for k, v in graph.metadata.items() if k in EXECUTION_KEYS}
    return Program(nodes, spec, {**execution, **(metadata or {})})


def requantize(graph: Graph, program: Program, fracs: dict[str, int],
               weight_exps: dict[str, int] | None = None) -> Program:
    """`program` with the calibrated scales of the nodes in `fracs` set to those fractional bits (a value carried
    with fewer, or more, bits), the synapses in `weight_exps` quantized at that one weight exponent, and every node
    that sees a change -- those nodes, their readers, and the ops whose scale follows their input's -- quantized
    again from `graph` (the lowered graph the program was made from).  Everything else is kept as it is."""
    weight_exps = weight_exps or {}
    new_fracs: dict[str, int | None] = {}
    nodes: dict[str, QNode] = {}
    for name, node in program.nodes.items():
        op = graph.nodes[name].op
        form = integer_form(type(op), program.spec.name)
        in_frac = tuple(new_fracs.get(i, program.nodes[i].frac) for i in node.inputs)
        fixed = form.output_frac(op, in_frac)
        frac = fracs.get(name, node.frac) if fixed == CALIBRATE else fixed
        new_fracs[name] = frac
        old_in = tuple(program.nodes[i].frac for i in node.inputs)
        if frac == node.frac and in_frac == old_in and name not in weight_exps or op.arity == 0:
            nodes[name] = node
            continue
        binary_in = tuple(graph.nodes[i].op.binary_output for i in node.inputs)
        q = form.quantize(op, QuantContext(in_frac, binary_in, frac, program.spec, weight_exps.get(name)))
        nodes[name] = QNode(name, node.kind, node.inputs, frac, q)
    return Program(nodes, program.spec, dict(program.metadata))


def coarser_weights(program: Program, name: str, drop: int) -> Program:
    """`program` with Dense node `name`'s 8-bit weights rounded to 8 - `drop` bits (multiples of 2^drop, the
    exponent unchanged)."""
    node = program.nodes[name]
    step = 1 << drop
    halves = np.clip(np.round(node.q.halves.astype(np.float64) / step) * step, -128, 128 - step).astype(np.int8)
    return Program({**program.nodes, name: replace(node, q=replace(node.q, halves=halves))}, program.spec,
                   dict(program.metadata))


def coarser_field(program: Program, name: str, field_name: str, drop: int) -> Program:
    """`program` with node `name`'s integer parameter `field_name` (one of its op's ``coarsenable``: a decay, a
    threshold mantissa) rounded to a multiple of 2^`drop`, within the field's range."""
    node = program.nodes[name]
    _, _, top = program.form(node).coarsenable[field_name]
    value = getattr(node.q, field_name)
    step = 1 << drop
    coarse = np.clip(np.round(np.asarray(value, np.float64) / step) * step, 0, top).astype(np.int64)
    coarse = int(coarse) if np.ndim(value) == 0 else coarse.astype(np.asarray(value).dtype)
    return Program({**program.nodes, name: replace(node, q=replace(node.q, **{field_name: coarse}))}, program.spec,
                   dict(program.metadata))


# --------------------------------------------------------------------------------------------------
# Storage: one HDF5 group per node, one dataset or attribute per quantized field
# --------------------------------------------------------------------------------------------------


def _write_fields(group: h5py.Group, obj: Any) -> None:
    group.attrs["type"] = type(obj).__name__
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            _write_fields(group.create_group(f.name), value)
        elif isinstance(value, np.ndarray):
            # large arrays (weights) uncompressed: gzip costs minutes on large models for little gain
            big = value.nbytes > 1 << 20
            group.create_dataset(f.name, data=value, compression=None if big else "gzip", compression_opts=None if big else 4)
        elif isinstance(value, tuple):
            group.attrs[f.name] = np.asarray(value, dtype=np.int64)
        else:
            group.attrs[f.name] = value


def _read_fields(group: h5py.Group, classes: dict[str, type]) -> Any:
    cls = classes[group.attrs["type"]]
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in group:
            item = group[f.name]
            kwargs[f.name] = _read_fields(item, classes) if isinstance(item, h5py.Group) else item[()]
        elif f.name in group.attrs:
            value = group.attrs[f.name]
            kwargs[f.name] = tuple(int(v) for v in value) if isinstance(value, np.ndarray) else value.item() if hasattr(value, "item") else value
        elif f.default is MISSING and f.default_factory is MISSING:
            raise KeyError(f"{cls.__name__} has no {f.name!r}")
    return cls(**kwargs)


def _q_classes(arithmetic: str) -> dict[str, type]:
    """Every class a stored program of `arithmetic` may name: each op's Q there, the dataclasses nested in them."""
    found: dict[str, type] = {}
    integer_forms()  # every target loaded: its ops are in the registry
    todo = [q for cls in Op.registry.values() if (q := integer_form(cls, arithmetic).Q) is not None]
    while todo:
        cls = todo.pop()
        if cls.__name__ not in found:
            found[cls.__name__] = cls
            todo += [t for t in get_type_hints(cls).values() if isinstance(t, type) and is_dataclass(t)]
    return found


def save_program(program: Program, path: Path) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["format"] = PROGRAM_FORMAT
        f.attrs["order"] = ",".join(program.nodes)
        _write_fields(f.create_group("spec"), program.spec)
        meta = f.create_group("metadata")
        for k, v in sorted(program.metadata.items()):
            meta.attrs[k] = v
        for i, node in enumerate(program.nodes.values()):
            g = f.create_group(f"nodes/{i:04d}")
            g.attrs.update({"name": node.name, "kind": node.kind, "inputs": ",".join(node.inputs),
                            "frac": -(10**6) if node.frac is None else node.frac})
            if node.q is not None:
                _write_fields(g.create_group("q"), node.q)


def load_program(path: Path) -> Program:
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != PROGRAM_FORMAT:
            raise UserError(f"{path}: not a neurocompile program (format {f.attrs.get('format')!r}, expected {PROGRAM_FORMAT!r})")
        spec = _read_fields(f["spec"], {"NumericSpec": NumericSpec})
        classes = _q_classes(spec.name)
        metadata = {k: str(v) for k, v in f["metadata"].attrs.items()}
        nodes = {}
        for key in sorted(f["nodes"]):
            g = f["nodes"][key]
            frac = int(g.attrs["frac"])
            inputs = tuple(s for s in str(g.attrs["inputs"]).split(",") if s)
            name = str(g.attrs["name"])
            if "q" in g and str(g["q"].attrs.get("type")) not in classes:
                raise UserError(f"{path}: node {name} holds {g['q'].attrs.get('type')!r} parameters, which no op has in "
                                f"the arithmetic {spec.name!r} its numeric spec names; export again")
            q = _read_fields(g["q"], classes) if "q" in g else None
            nodes[name] = QNode(name, str(g.attrs["kind"]), inputs, None if frac == -(10**6) else frac, q)
    return Program(nodes, spec, metadata)
