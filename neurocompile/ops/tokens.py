"""Token ids into a graph: the input of a language model (one id per stream and step) and SpikeDecoder's token and
position codes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np
import torch

from .base import NOTE_KEY, OP_KEY, PARAM_PREFIX, IntegerForm, Op


@dataclass(frozen=True, eq=False)
class TokenInput(Op):
    """Graph input: one token id per stream and step, as a [B, 1] value (NIR: Input of a one-hot vector of `vocab`)."""

    kind: ClassVar[str] = "TokenInput"
    arity: ClassVar[int | None] = 0
    vocab: int

    @property
    def size(self) -> int:
        return self.vocab

    def to_nir(self, input_names):
        return nir.Input(input_type={"input": np.array([self.vocab])},
                         metadata={OP_KEY: self.kind, NOTE_KEY: "one-hot token id, one token per time step"})

    @classmethod
    def from_nir(cls, node: nir.Input, ctx) -> "TokenInput":
        return cls(int(np.asarray(node.input_type["input"])[0]))


@dataclass(frozen=True)
class QTokenCode:
    table: np.ndarray  # [V, Et] int64 0/1: the token codes
    positions: np.ndarray  # [P, Ep] int64 0/1
    outer: bool
    period: int


@dataclass(frozen=True, eq=False)
class TokenCode(Op):
    """A token's binary input code and its position's, concatenated (SpikeDecoder's embedder), held for the
    ``period`` synthetic steps of each token: the position is the step count over ``period``.  ``outer``: the
    one-hot code of (position, token) instead (upstream's ``one-hot`` encoding, ``P x V`` wide).  A table look-up
    before the chip, like an embedding.  Past the table (the model's context) the code is all zeros: the language
    task refuses such runs before they start (``graph.context``), and a pipelined executor's drain steps, which
    run past the last token, must not fail."""

    kind: ClassVar[str] = "TokenCode"
    binary_output: ClassVar[bool] = True
    tokens: np.ndarray  # [V, Et] bool
    positions: np.ndarray  # [P, Ep] bool
    outer: bool
    period: int

    @property
    def size(self) -> int:
        if self.outer:
            return self.positions.shape[0] * self.tokens.shape[0]
        return self.tokens.shape[1] + self.positions.shape[1]

    def to_nir(self, input_names):
        """A NIR Linear on the one-hot token (the token part of the code; the position part is zero there), with
        every parameter in its metadata: NIR has no position-dependent input code."""
        weight = np.zeros((self.size, self.tokens.shape[0]))
        if not self.outer:
            weight[: self.tokens.shape[1]] = self.tokens.T
        meta = {PARAM_PREFIX + name: value for name, value in self.params().items()}
        return nir.Linear(weight=weight, metadata={OP_KEY: self.kind, **meta, NOTE_KEY: (
            f"token code, plus the position's code (position = step // {self.period}); held for {self.period} steps")})

    @classmethod
    def from_nir(cls, node: nir.Linear, ctx) -> "TokenCode":
        return cls.from_extension(node.metadata)

    @staticmethod
    def _code(tokens, positions, outer, ids, position):
        if position >= positions.shape[0]:
            width = positions.shape[0] * tokens.shape[0] if outer else tokens.shape[1] + positions.shape[1]
            return np.zeros((len(ids), width), np.int64)
        rows = tokens.shape[0]
        if np.any((ids < -rows) | (ids >= rows)):  # numpy would let it pass where the table has no columns
            raise IndexError(f"a token id outside the table's {rows} rows")
        if outer:
            out = np.zeros((len(ids), positions.shape[0], tokens.shape[0]), np.int64)
            out[np.arange(len(ids)), position, ids] = 1
            return out.reshape(len(ids), -1)
        pos = np.broadcast_to(positions[position], (len(ids), positions.shape[1]))
        return np.concatenate([tokens[ids], pos], axis=1).astype(np.int64)

    def initial_state(self, batch, dtype):
        return 0

    def float_step(self, inputs, state):
        ids = inputs[0][:, 0].long().numpy()
        code = self._code(self.tokens, self.positions, self.outer, ids, state // self.period)
        return torch.from_numpy(code).to(torch.float64), state + 1


# The interface's integer forms, the same on every target (exact: no arithmetic a chip chooses)


class TokenInputForm(IntegerForm, op=TokenInput):
    @staticmethod
    def int_width(q) -> int:
        return 1  # one id per stream and step

    @staticmethod
    def output_frac(op: TokenInput, in_frac):
        return None  # token ids: integers without a scale

    @staticmethod
    def quantize(op: TokenInput, ctx):
        return None


class TokenCodeForm(IntegerForm, op=TokenCode):
    Q: ClassVar[type] = QTokenCode

    @staticmethod
    def quantize(op: TokenCode, ctx):
        return QTokenCode(op.tokens.astype(np.int64), op.positions.astype(np.int64), bool(op.outer), int(op.period))

    @staticmethod
    def int_width(q: QTokenCode):
        return q.positions.shape[0] * q.table.shape[0] if q.outer else q.table.shape[1] + q.positions.shape[1]

    @staticmethod
    def int_initial_state(q: QTokenCode, batch):
        return 0

    @staticmethod
    def int_step(q: QTokenCode, inputs, state, tally):
        out = TokenCode._code(q.table, q.positions, q.outer, inputs[0][:, 0], state // q.period)
        tally.op_evals += len(inputs[0])  # one table look-up per stream
        return out, state + 1
