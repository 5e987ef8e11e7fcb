"""Streaming bit-accurate simulator: token in, logits out, with counters per node.

It runs each op's integer semantics (``neurocompile.ops``), the same code any other executor of the
program runs, on a batch of independent streams.  One token is one step through the whole program; a
pipelined executor (Lava) reaches the same values ``depth`` steps later.

Memory is flat in the number of steps: counters are running sums (``totals``); values are kept per step
only for the nodes named in ``record``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from neurocompile.errors import UserError
from neurocompile.graph import steps_per_token
from neurocompile.ops import Tally
from neurocompile.quantize import Program


class NodeFailure(Exception):
    """A node's integer step raised: which node, and what it raised."""

    def __init__(self, node: str, kind: str, error: Exception):
        super().__init__(f"node {node} ({kind}): {type(error).__name__}: {error}")
        self.node, self.kind, self.error = node, kind, error


class Simulator:
    def __init__(self, program: Program, batch: int, record: Iterable[str] = ()):
        self.program = program
        self.batch = batch
        self.nodes = list(program.nodes.values())
        self.classes = [node.op_class for node in self.nodes]
        self.state = {n.name: cls.int_initial_state(n.q, batch) for n, cls in zip(self.nodes, self.classes)}
        self.record = set(record)
        self.recorded: dict[str, list[np.ndarray]] = {name: [] for name in self.record}
        self.totals = np.zeros((len(self.nodes), len(Tally.FIELDS)), np.int64)  # summed over steps and streams
        self.per_input = steps_per_token(program.metadata)  # steps one input (token) takes: 1, or T synthetic steps
        self.substeps = 0
        self.values: dict[str, np.ndarray] = {}
        out = program.output
        self.logit_scale = 2.0 ** -out.frac

    def step(self, x: np.ndarray) -> np.ndarray:
        """The step's input, [B] or [B, n] (token ids: [B]) -> the (first) output [B, n] (integers; every node's value
        stays in ``self.values``); this step's counters
        are added to ``self.totals``.  The program's input node (an op of arity 0) takes `x` as its value."""
        values: dict[str, np.ndarray] = {}
        delays = []
        for i, (node, cls) in enumerate(zip(self.nodes, self.classes)):
            if cls.arity == 0:
                values[node.name] = np.asarray(x, dtype=np.int64).reshape(len(x), -1)
                continue
            if not cls.feedthrough:  # its output from its state; its input at the end of the step
                values[node.name] = cls.emit(self.state[node.name])
                delays.append((i, node, cls))
                continue
            self._step(i, node, cls, values)
        for i, node, cls in delays:
            self._step(i, node, cls, values)
        for name in self.record:
            self.recorded[name].append(values[name].copy())
        self.substeps += 1
        self.values = values
        return values[self.program.output.name]

    def _step(self, i: int, node, cls, values: dict[str, np.ndarray]) -> None:
        tally = Tally()
        try:
            out, self.state[node.name] = cls.int_step(node.q, [values[src] for src in node.inputs], self.state[node.name],
                                                      tally)
        except (ArithmeticError, IndexError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise NodeFailure(node.name, node.kind, exc) from exc
        if cls.feedthrough:
            values[node.name] = out
        self.totals[i] += tally.as_array()

    @property
    def steps(self) -> int:
        """Inputs (tokens) taken whole so far: the unit counters are reported per."""
        return self.substeps // self.per_input

    def table(self) -> list[dict]:
        """The counters so far, one row per node (summed over steps and streams); neuron populations with their
        firing rate (spikes per neuron update)."""
        rows = []
        for node, row in zip(self.nodes, self.totals):
            entry = {"node": node.name, "kind": node.kind, **{f: int(v) for f, v in zip(Tally.FIELDS, row)}}
            if entry["neuron_updates"] and node.op_class.binary_output:  # a spiking population: spikes per update
                entry["firing_rate"] = entry["spikes"] / entry["neuron_updates"]
            rows.append(entry)
        return rows

    def logits(self, tokens: np.ndarray) -> np.ndarray:
        """tokens [B] -> float logits [B, V] (the integer logits times their scale), after the token's last step."""
        for _ in range(self.per_input):
            out = self.step(tokens)
        return out * self.logit_scale

    def run(self, tokens: np.ndarray) -> np.ndarray:
        """tokens [B, T] -> float logits [B, T, V]."""
        return np.stack([self.logits(tokens[:, t]) for t in range(tokens.shape[1])], 1)


def check_program(program: Program, path: Path, probe: Callable[[Program], np.ndarray]) -> None:
    """Refuse a program this engine cannot run: its structure, then one step on ``probe(program)`` (the task's
    extreme inputs)."""
    from neurocompile.ops import Op

    where = f"{path}: not a valid neurocompile program"
    names: set[str] = set()
    kinds = [node.kind for node in program.nodes.values()]
    inputs = [n for n in program.nodes.values() if n.kind in Op.registry and Op.registry[n.kind].arity == 0]
    if len(inputs) != 1 or "Output" not in kinds or next(iter(program.nodes)) != inputs[0].name:
        raise UserError(f"{where} (it needs one input, first, and an output); export again")
    for node in program.nodes.values():
        if node.kind not in Op.registry:
            raise UserError(f"{where}: node {node.name} has unknown kind {node.kind!r}; export again")
        undefined = [src for src in node.inputs if src not in names and (node.op_class.feedthrough or src not in program.nodes)]
        if undefined:
            raise UserError(f"{where}: node {node.name} reads {', '.join(undefined)}, not defined before it; export again")
        if node.q is None and node.op_class.arity != 0:
            raise UserError(f"{where}: node {node.name} has no parameters; export again")
        names.add(node.name)
    try:
        inputs = probe(program)
        Simulator(program, len(inputs)).step(inputs)
    except NodeFailure as exc:
        raise UserError(f"{where}: {exc}; export again") from None
    except (ArithmeticError, IndexError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{where}: {type(exc).__name__}: {exc}; export again") from None
