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
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from .graph import FloatRun, Graph
from .ops import LIF, WKV, Dense, Op, Output, QuantContext, QTable, Sigmoid, TokenInput, TokenShift, SIGMOID_FRAC
from .errors import UserError
from .target import NumericSpec

PROGRAM_FORMAT = "neurocompile.program/1"
HEADROOM = 2.0  # calibration max x 2: one bit of headroom for text the calibration did not see
LIF_VTH_MAX = 2**17 - 1  # Lava LIF threshold mantissa (vth << 6 must stay inside the 24-bit voltage)


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
    def output(self) -> QNode:
        return next(n for n in self.nodes.values() if n.kind == "Output")

    @property
    def vocab_size(self) -> int:
        """Token ids the program takes: rows of the code table its token input feeds."""
        token = next(n.name for n in self.nodes.values() if n.kind == "TokenInput")
        table = next(n for n in self.nodes.values() if token in n.inputs)
        return int(table.q.table.shape[0])

    def width(self, name: str) -> int:
        """Values a node outputs per stream and step: its own width, or (elementwise ops) its first input's."""
        node = self.nodes[name]
        if node.kind == "Dense":
            return node.q.weights.shape[1]
        if node.kind == "SpikeEmbedding":
            return node.q.table.shape[1]
        if hasattr(node.q, "n"):
            return node.q.n
        return self.width(node.inputs[0])


# --------------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------------


def calibrate(graph: Graph, tokens: torch.Tensor) -> dict[str, float]:
    """Largest |value| of every node over token streams [B, T] (float semantics in float32: only ranges matter)."""
    run = FloatRun(graph, tokens.shape[0], torch.float32)
    peak = {name: 0.0 for name in graph.nodes}
    for t in range(tokens.shape[1]):
        run.step(tokens[:, t])
        for name, value in run.values.items():
            if value.is_floating_point():
                peak[name] = max(peak[name], float(value.abs().max()))
    return peak


# --------------------------------------------------------------------------------------------------
# Fractional bits and quantization
# --------------------------------------------------------------------------------------------------


def _bits_for(graph: Graph, name: str, users: dict[str, list[tuple[str, int]]], spec: NumericSpec) -> int:
    consumers = [(graph.nodes[u].op, port) for u, port in users[name]]
    if any(isinstance(op, LIF) for op, _ in consumers):
        return spec.lif_input_bits
    if any(isinstance(op, WKV) and port == 1 for op, port in consumers):
        return spec.payload_bits
    if isinstance(graph.nodes[name].op, Dense):
        return spec.state_bits
    return spec.payload_bits


def _frac(peak: float, bits: int) -> int:
    peak = max(peak * HEADROOM, 2.0**-20)
    return int(math.floor(math.log2(((1 << (bits - 1)) - 1) / peak)))


def quantize(graph: Graph, spec: NumericSpec, peaks: dict[str, float], metadata: dict[str, str] | None = None) -> Program:
    users: dict[str, list[tuple[str, int]]] = {name: [] for name in graph.nodes}
    for node in graph.nodes.values():
        for port, src in enumerate(node.inputs):
            users[src].append((node.name, port))
    fracs: dict[str, int | None] = {}
    nodes: dict[str, QNode] = {}
    for name, node in graph.nodes.items():
        op = node.op
        if isinstance(op, TokenInput):
            nodes[name] = QNode(name, op.kind, (), None, None)
            fracs[name] = None
            continue
        if op.binary_output:
            frac = 0
        elif isinstance(op, Sigmoid):
            frac = SIGMOID_FRAC
        elif isinstance(op, (TokenShift, Output)):
            frac = fracs[node.inputs[0]]
        elif isinstance(op, WKV):
            frac = fracs[node.inputs[1]]
        else:
            frac = _frac(peaks[name], _bits_for(graph, name, users, spec))
            for user, _ in users[name]:  # a LIF's threshold mantissa tau * vth * 2**frac must fit Lava's 17 bits
                lif = graph.nodes[user].op
                if isinstance(lif, LIF):
                    frac = min(frac, int(math.floor(math.log2(LIF_VTH_MAX / (lif.tau * lif.v_threshold)))))
        in_frac = tuple(fracs[i] for i in node.inputs)
        binary_in = tuple(graph.nodes[i].op.binary_output for i in node.inputs)
        try:
            q = op.quantize(QuantContext(in_frac, binary_in, frac, spec))
        except ValueError as exc:
            raise UserError(f"layer {name} ({op.kind}) cannot be quantized for {spec.name}: {exc}") from None
        nodes[name] = QNode(name, op.kind, node.inputs, frac, q)
        fracs[name] = frac
    return Program(nodes, spec, dict(metadata or {}))


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
        else:
            value = group.attrs[f.name]
            kwargs[f.name] = tuple(int(v) for v in value) if isinstance(value, np.ndarray) else value.item() if hasattr(value, "item") else value
    return cls(**kwargs)


def _q_classes() -> dict[str, type]:
    from . import ops

    return {name: obj for name, obj in vars(ops).items() if isinstance(obj, type) and name.startswith("Q") and is_dataclass(obj)}


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
    classes = {**_q_classes(), "NumericSpec": NumericSpec, "QTable": QTable}
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != PROGRAM_FORMAT:
            raise UserError(f"{path}: not a neurocompile program (format {f.attrs.get('format')!r}, expected {PROGRAM_FORMAT!r})")
        spec = _read_fields(f["spec"], classes)
        metadata = {k: str(v) for k, v in f["metadata"].attrs.items()}
        nodes = {}
        for key in sorted(f["nodes"]):
            g = f["nodes"][key]
            frac = int(g.attrs["frac"])
            inputs = tuple(s for s in str(g.attrs["inputs"]).split(",") if s)
            q = _read_fields(g["q"], classes) if "q" in g else None
            name = str(g.attrs["name"])
            nodes[name] = QNode(name, str(g.attrs["kind"]), inputs, None if frac == -(10**6) else frac, q)
    return Program(nodes, spec, metadata)
