"""Elementwise extension ops: residual add, sigmoid (table), squared ReLU, gating product."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .. import fixed
from .base import _Width, _saturated, _sum


@dataclass(frozen=True)
class QAdd:
    shifts: tuple[int, ...]  # per input: in_frac - out_frac
    out_bits: int


@dataclass(frozen=True, eq=False)
class Add(_Width):
    """Residual add: the sum of the inputs (NIR's own edge semantics)."""

    kind: ClassVar[str] = "Add"
    arity: ClassVar[int | None] = None

    def float_step(self, inputs, state):
        return _sum(inputs), state

    Q: ClassVar[type] = QAdd

    def quantize(self, ctx):
        return QAdd(tuple(f - ctx.out_frac for f in ctx.in_frac), ctx.spec.payload_bits)

    @staticmethod
    def int_step(q: QAdd, inputs, state, tally):
        total = sum(fixed.round_shift(x, s) for x, s in zip(inputs, q.shifts))
        tally.op_evals += total.size
        return _saturated(total, q.out_bits, tally), state


SIGMOID_FRAC = 15  # sigmoid output in Q0.15
SIGMOID_STEP_FRAC = 8  # table step 2**-8 over [-8, 8): 4096 entries


@dataclass(frozen=True)
class QTable:
    """A look-up table indexed by ``round(x * 2**step_frac) + offset``, clipped to the table."""

    in_frac: int
    step_frac: int
    offset: int
    table: np.ndarray


def _lookup(q: QTable, x: np.ndarray) -> np.ndarray:
    index = fixed.round_shift(x, q.in_frac - q.step_frac) + q.offset
    return q.table[np.clip(index, 0, len(q.table) - 1)]


@dataclass(frozen=True, eq=False)
class Sigmoid(_Width):
    """Integer form: a 4096-entry table over [-8, 8) in steps of 1/256, output Q0.15."""

    kind: ClassVar[str] = "Sigmoid"

    def float_step(self, inputs, state):
        return torch.sigmoid(inputs[0]), state

    Q: ClassVar[type] = QTable

    def output_frac(self, in_frac):
        return SIGMOID_FRAC

    def quantize(self, ctx):
        if ctx.out_frac != SIGMOID_FRAC:
            raise ValueError(f"sigmoid outputs Q0.{SIGMOID_FRAC}")
        half = 8 << SIGMOID_STEP_FRAC
        grid = (np.arange(2 * half) - half) / 2.0**SIGMOID_STEP_FRAC
        table = np.round(2.0**SIGMOID_FRAC / (1 + np.exp(-grid))).astype(np.int64)
        return QTable(ctx.in_frac[0], SIGMOID_STEP_FRAC, half, table)

    @staticmethod
    def int_step(q: QTable, inputs, state, tally):
        tally.op_evals += inputs[0].size
        return _lookup(q, inputs[0]), state


@dataclass(frozen=True)
class QProduct:
    shift: int  # sum of input fracs - output frac
    out_bits: int


@dataclass(frozen=True, eq=False)
class SquaredReLU(_Width):
    kind: ClassVar[str] = "SquaredReLU"

    def float_step(self, inputs, state):
        return torch.square(torch.relu(inputs[0])), state

    Q: ClassVar[type] = QProduct

    def quantize(self, ctx):
        return QProduct(2 * ctx.in_frac[0] - ctx.out_frac, ctx.spec.payload_bits)

    @staticmethod
    def int_step(q: QProduct, inputs, state, tally):
        x = np.maximum(inputs[0], 0)
        tally.op_evals += x.size
        return _saturated(fixed.round_shift(x * x, q.shift), q.out_bits, tally), state


@dataclass(frozen=True, eq=False)
class Mul(_Width):
    """Elementwise product of two inputs (gating)."""

    kind: ClassVar[str] = "Mul"
    arity: ClassVar[int | None] = 2

    def float_step(self, inputs, state):
        a, b = inputs
        return a * b, state

    Q: ClassVar[type] = QProduct

    def quantize(self, ctx):
        return QProduct(ctx.in_frac[0] + ctx.in_frac[1] - ctx.out_frac, ctx.spec.payload_bits)

    @staticmethod
    def int_step(q: QProduct, inputs, state, tally):
        a, b = inputs
        tally.op_evals += a.size
        return _saturated(fixed.round_shift(a * b, q.shift), q.out_bits, tally), state
