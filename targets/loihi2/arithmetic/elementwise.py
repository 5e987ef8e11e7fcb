"""Loihi 2's integer forms of the elementwise extension ops, as neuron programs in the op set assumed for a Loihi 2
programmable neuron (``microcode``): residual add, sigmoid (a table), squared ReLU, gating product, token-shift mix.
Each saturates to the graded payload (``spec.payload_bits``) and counts one op evaluation per output element."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from neurocompile import fixed
from neurocompile.ops import IntegerForm
from neurocompile.ops.base import _saturated
from neurocompile.ops.elementwise import Add, Mix, Mul, Sigmoid, SquaredReLU

from .numeric import ARITHMETIC

SIGMOID_FRAC = 15  # sigmoid output in Q0.15
SIGMOID_STEP_FRAC = 8  # table step 2**-8 over [-8, 8): 4096 entries
MIX_BITS = 16  # a mixing ratio's signed mantissa: a 16-bit operand of the neuron program's multiply (assumption)


@dataclass(frozen=True)
class QAdd:
    shifts: tuple[int, ...]  # per input: in_frac - out_frac
    out_bits: int


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


@dataclass(frozen=True)
class QProduct:
    shift: int  # sum of input fracs - output frac
    out_bits: int


@dataclass(frozen=True)
class QMix:
    ratios: np.ndarray  # [ports, n] int64: each input's per-channel ratio x 2**ratio_frac
    lefts: tuple[int, ...]  # per input: frac of the finest input - this input's frac (aligns them exactly)
    shift: int  # finest input frac + ratio_frac - out_frac
    out_bits: int


class _Unparameterised(IntegerForm):
    """An elementwise neuron program without per-channel parameters: a core slice runs the same program."""

    @staticmethod
    def slice_q(q, start, end):
        return q


class AddForm(_Unparameterised, op=Add, arithmetic=ARITHMETIC):
    """The inputs aligned to the output's scale (rounded), summed, saturated to the payload."""

    Q: ClassVar[type] = QAdd

    @staticmethod
    def quantize(op: Add, ctx):
        return QAdd(tuple(f - ctx.out_frac for f in ctx.in_frac), ctx.spec.payload_bits)

    @staticmethod
    def int_step(q: QAdd, inputs, state, tally):
        total = sum(fixed.round_shift(x, s) for x, s in zip(inputs, q.shifts))
        tally.op_evals += total.size
        return _saturated(total, q.out_bits, tally), state


class SigmoidForm(_Unparameterised, op=Sigmoid, arithmetic=ARITHMETIC):
    """A 4096-entry table over [-8, 8) in steps of 1/256, output Q0.15."""

    approximation: ClassVar[str | None] = "sigmoid: 4096-entry table over [-8, 8), output Q0.15"

    Q: ClassVar[type] = QTable

    @staticmethod
    def output_frac(op: Sigmoid, in_frac):
        return SIGMOID_FRAC

    @staticmethod
    def quantize(op: Sigmoid, ctx):
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


class SquaredReLUForm(_Unparameterised, op=SquaredReLU, arithmetic=ARITHMETIC):
    """``relu(x)^2`` exactly, one rounding shift to the output's scale, saturated to the payload."""

    Q: ClassVar[type] = QProduct

    @staticmethod
    def quantize(op: SquaredReLU, ctx):
        return QProduct(2 * ctx.in_frac[0] - ctx.out_frac, ctx.spec.payload_bits)

    @staticmethod
    def int_step(q: QProduct, inputs, state, tally):
        x = np.maximum(inputs[0], 0)
        tally.op_evals += x.size
        return _saturated(fixed.round_shift(x * x, q.shift), q.out_bits, tally), state


class MulForm(_Unparameterised, op=Mul, arithmetic=ARITHMETIC):
    """The exact product, one rounding shift to the output's scale, saturated to the payload."""

    Q: ClassVar[type] = QProduct

    @staticmethod
    def quantize(op: Mul, ctx):
        return QProduct(ctx.in_frac[0] + ctx.in_frac[1] - ctx.out_frac, ctx.spec.payload_bits)

    @staticmethod
    def int_step(q: QProduct, inputs, state, tally):
        a, b = inputs
        tally.op_evals += a.size
        return _saturated(fixed.round_shift(a * b, q.shift), q.out_bits, tally), state


class MixForm(IntegerForm, op=Mix, arithmetic=ARITHMETIC):
    """Ratios as ``MIX_BITS``-bit signed mantissas sharing one power-of-two scale (the finest that holds the largest
    |ratio|); inputs aligned to the finest input's scale, products summed exactly, one rounding shift to the
    output's scale, saturated to the payload."""

    @staticmethod
    def slice_q(q, start, end):
        return replace(q, ratios=q.ratios[:, start:end])

    Q: ClassVar[type] = QMix

    @staticmethod
    def quantize(op: Mix, ctx):
        if len(ctx.in_frac) != len(op.ratios):
            raise ValueError(f"{len(op.ratios)} ratios for {len(ctx.in_frac)} inputs")
        peak = float(np.abs(op.ratios).max(initial=0.0))
        if not np.isfinite(peak):
            raise ValueError("a mixing ratio is not finite")
        frac = min(2 * MIX_BITS, math.floor(math.log2(((1 << (MIX_BITS - 1)) - 1) / peak))) if peak > 0 else MIX_BITS - 1
        ratios = np.round(np.asarray(op.ratios, np.float64) * 2.0**frac).astype(np.int64)
        finest = max(ctx.in_frac)
        return QMix(ratios, tuple(finest - f for f in ctx.in_frac), finest + frac - ctx.out_frac, ctx.spec.payload_bits)

    @staticmethod
    def int_width(q: QMix):
        return q.ratios.shape[1]

    @staticmethod
    def int_step(q: QMix, inputs, state, tally):
        total = sum((x << left) * r for x, left, r in zip(inputs, q.lefts, q.ratios))
        tally.op_evals += total.size
        return _saturated(fixed.round_shift(total, q.shift), q.out_bits, tally), state
