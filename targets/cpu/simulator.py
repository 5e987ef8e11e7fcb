"""Streaming bit-accurate simulator: token in, logits out, with counters per node per token.

It runs each op's integer semantics (``neurocompile.ops``), the same code any other executor of the
program runs, on a batch of independent streams.  One token is one step through the whole program; a
pipelined executor (Lava) reaches the same values ``depth`` steps later.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from neurocompile.ops import Tally
from neurocompile.quantize import Program


class Simulator:
    def __init__(self, program: Program, batch: int, record: Iterable[str] = ()):
        self.program = program
        self.batch = batch
        self.nodes = list(program.nodes.values())
        self.classes = [node.op_class for node in self.nodes]
        self.state = {n.name: cls.int_initial_state(n.q, batch) for n, cls in zip(self.nodes, self.classes)}
        self.record = set(record)
        self.recorded: dict[str, list[np.ndarray]] = {name: [] for name in self.record}
        self.counts: list[np.ndarray] = []  # per step: [nodes, Tally.FIELDS]
        self.values: dict[str, np.ndarray] = {}
        out = program.output
        self.logit_scale = 2.0 ** -out.frac

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """tokens [B] -> integer logits [B, V]; counters of this step appended to ``self.counts``."""
        values: dict[str, np.ndarray] = {}
        counts = np.zeros((len(self.nodes), len(Tally.FIELDS)), np.int64)
        for i, (node, cls) in enumerate(zip(self.nodes, self.classes)):
            if node.kind == "TokenInput":
                values[node.name] = np.asarray(tokens, dtype=np.int64)
                continue
            tally = Tally()
            values[node.name], self.state[node.name] = cls.int_step(
                node.q, [values[src] for src in node.inputs], self.state[node.name], tally)
            counts[i] = tally.as_array()
        for name in self.record:
            self.recorded[name].append(values[name].copy())
        self.counts.append(counts)
        self.values = values
        return values[self.program.output.name]

    def logits(self, tokens: np.ndarray) -> np.ndarray:
        """tokens [B] -> float logits [B, V] (the integer logits times their scale)."""
        return self.step(tokens) * self.logit_scale

    def run(self, tokens: np.ndarray) -> np.ndarray:
        """tokens [B, T] -> float logits [B, T, V]."""
        return np.stack([self.logits(tokens[:, t]) for t in range(tokens.shape[1])], 1)
