"""Loihi 2's integer forms of the RWKV-4 WKV recurrence: on the embedded x86 cores (``WKV``, 64-bit) and as a neuron
program (``NeuronWKV``: 24-bit, the op set assumed in ``microcode``)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from neurocompile import fixed
from neurocompile.ops import IntegerForm, Tally
from neurocompile.ops.rwkv import WKV, NeuronWKV

from .numeric import ARITHMETIC
from .elementwise import QTable, _lookup
from .microcode import NEURON_BITS, TOP, r24


EXP_FRAC = 15  # exp table output Q0.15
EXP_STEP_FRAC = 10  # exp table step 2**-10 over [0, 16): 16384 entries
WKV_EMPTY = -(1 << 40)  # the "no history" exponent (far below the table's range)


@dataclass(frozen=True)
class QWKV:
    n: int
    k_frac: int
    v_frac: int
    w: np.ndarray  # -exp(time_decay) * 2**k_frac
    u: np.ndarray  # time_first * 2**k_frac
    exp: QTable  # exp(-x) for x >= 0, Q0.15


# WKV as a neuron program: only the op set assumed for a Loihi 2 programmable neuron (``microcode``), with its two
# small tables.
POW2_FRAC = 15  # 2^-f, f in [0, 1] in steps of 1/256, Q0.15: exp(-x) = 2^(-x log2 e), split into 2^-whole and 2^-f
POW2_STEPS = 8
POW2_TABLE = np.round(2.0**POW2_FRAC * 2.0 ** (-np.arange((1 << POW2_STEPS) + 1) / (1 << POW2_STEPS))).astype(np.int64)
LOG2E_FRAC = 12
LOG2E = round(math.log2(math.e) * (1 << LOG2E_FRAC))  # 5909: log2(e) in Q.12
Q_FRAC = 12  # the normaliser q in Q.12 (a sum of up to 1 / (1 - e^w) terms of at most 1: <= 2^11 for the decays seen)
RECIP_FRAC = 21  # 1 / d for d in [0.5, 1): (1, 2] in Q.21
RECIP_SEED = np.round(2.0**RECIP_FRAC * 32 / (16 + np.arange(16) + 0.5)).astype(np.int64)  # by the top 4 bits of d
EMPTY = -(1 << (NEURON_BITS - 1))  # o before the first token: exp(anything - EMPTY) underflows to 0


def _exp_neg(x, k_frac: int, tally: Tally):
    """exp(-x) for x >= 0 at k's scale, Q0.15: t = x log2(e); 2^-t = table[fraction of t] >> whole part of t."""
    t = np.minimum((x * LOG2E) >> LOG2E_FRAC, TOP)  # beyond 2^23: exp underflows to 0 anyway (not a saturation)
    whole = t >> k_frac
    index = fixed.round_shift(t & ((1 << k_frac) - 1), k_frac - POW2_STEPS)
    return np.where(whole >= POW2_FRAC + 1, 0, fixed.round_shift(POW2_TABLE[index], np.minimum(whole, POW2_FRAC + 1)))


def _divide(num, den, tally: Tally):
    """num / den (den > 0, Q.Q_FRAC) at num's scale: den normalised to d in [0.5, 1) by its leading zeros, 1/d from a
    16-entry seed and two Newton-Raphson steps r <- r (2 - d r), then one multiply by num, shifted back."""
    den = np.maximum(den, 1)
    top = fixed.bit_length(den) - 1  # den in [2^top, 2^(top+1))
    shift = top - (NEURON_BITS - 2)
    d = np.where(shift >= 0, fixed.round_shift(den, np.maximum(shift, 0)), den << np.maximum(-shift, 0))
    d = np.minimum(d, TOP)  # [2^22, 2^23): d / 2^23 in [0.5, 1)
    r = RECIP_SEED[(d >> (NEURON_BITS - 6)) - 16]
    two = np.int64(2) << RECIP_FRAC
    for _ in range(2):
        r = r24((r * (two - ((d * r) >> (NEURON_BITS - 1)))) >> RECIP_FRAC, tally)
    # num / den = num 2^Q_FRAC / den = num r 2^Q_FRAC / (2^RECIP_FRAC 2^(top + 1))
    return r24(fixed.round_shift(num * r, RECIP_FRAC + top + 1 - Q_FRAC), tally)


@dataclass(frozen=True)
class QNeuronWKV:
    n: int
    k_frac: int
    w: np.ndarray  # -exp(time_decay) * 2**k_frac (24-bit)
    u: np.ndarray  # time_first * 2**k_frac (24-bit)


class WKVForm(IntegerForm, op=WKV, arithmetic=ARITHMETIC):
    """An embedded-CPU op (64-bit state): the CUDA kernel's stabilised recurrence with the exponent ``o`` kept at k's
    scale, ``exp`` of non-positive arguments from a 16384-entry Q0.15 table (step 2^-10, zero below -16), ``p`` at
    v's scale times 2^15, ``q`` in Q.15, one rounded division per channel; the output has v's scale."""

    approximation: ClassVar[str | None] = ("WKV (embedded x86 cores, 64-bit): exp from a 16384-entry table exp(-x), x in "
                                           "[0, 16), step 2^-10, Q0.15; one rounded division per channel")

    empty: ClassVar[int] = WKV_EMPTY  # the exponent state o before the first token

    Q: ClassVar[type] = QWKV

    @staticmethod
    def output_frac(op: WKV, in_frac):
        return in_frac[1]  # at v's scale

    @staticmethod
    def input_bits(op: WKV, port, spec):
        return spec.payload_bits if port == 1 else None  # v arrives as a graded message

    @staticmethod
    def quantize(op: WKV, ctx):
        k_frac, v_frac = ctx.in_frac
        if ctx.out_frac != v_frac:
            raise ValueError("WKV outputs at v's scale")
        steps = np.arange(16 << EXP_STEP_FRAC) / 2.0**EXP_STEP_FRAC
        table = np.round(2.0**EXP_FRAC * np.exp(-steps)).astype(np.int64)
        return QWKV(op.size, k_frac, v_frac,
                    w=np.round(-np.exp(op.time_decay.astype(np.float64)) * 2.0**k_frac).astype(np.int64),
                    u=np.round(op.time_first.astype(np.float64) * 2.0**k_frac).astype(np.int64),
                    exp=QTable(k_frac, EXP_STEP_FRAC, 0, table))

    @staticmethod
    def int_width(q: QWKV):
        return q.n

    @classmethod
    def int_initial_state(cls, q, batch):
        zero = np.zeros((batch, q.n), np.int64)
        return zero, zero.copy(), np.full((batch, q.n), cls.empty, np.int64)

    @staticmethod
    def int_step(q: QWKV, inputs, state, tally):
        k, v = inputs
        p, qq, o = state
        one = np.int64(1 << EXP_FRAC)

        def exp_neg(x):  # exp(x) for x <= 0, Q0.15
            return _lookup(q.exp, -x)

        uk = q.u + k
        no = np.maximum(o, uk)
        a, b = exp_neg(o - no), exp_neg(uk - no)
        num = a * p + b * v * one
        den = a * qq + b * one
        y = fixed.div_round(num, den)
        no = np.maximum(q.w + o, k)
        a, b = exp_neg(q.w + o - no), exp_neg(k - no)
        p = fixed.round_shift(a * p + b * v * one, EXP_FRAC)
        qq = fixed.round_shift(a * qq + b * one, EXP_FRAC)
        tally.op_evals += y.size
        return y, (p, qq, no)


class NeuronWKVForm(WKVForm, op=NeuronWKV, arithmetic=ARITHMETIC):
    """One programmable neuron per channel, only the op set assumed in ``microcode``.  State ``p`` at v's scale, ``q``
    in Q.12, ``o`` at k's scale, all 24-bit; exponentials by a 257-entry table of 2^-f and shifts; the division by a
    reciprocal (seed table + two Newton-Raphson steps)."""

    approximation: ClassVar[str | None] = (
        "WKV as a neuron program (24-bit, the op set assumed in targets/loihi2/arithmetic/microcode.py): exp(-x) as 2^-f from a 257-entry "
        "table and a shift; the division by a 16-entry reciprocal seed and two Newton-Raphson steps; stored "
        "intermediates saturate (counted)")

    empty: ClassVar[int] = EMPTY

    Q: ClassVar[type] = QNeuronWKV

    # instructions of one channel's step, counted from int_step in the op set above (2 x 2 exponentials of ~10, a
    # reciprocal of ~21, four multiply-accumulates of ~5, and the max/add/clamp steps around them)
    instructions: ClassVar[int] = 86

    @staticmethod
    def slice_q(q, start, end):
        return replace(q, n=end - start, w=q.w[start:end], u=q.u[start:end])

    @staticmethod
    def input_bits(op: NeuronWKV, port, spec):
        return spec.payload_bits  # k and v both arrive as graded messages

    @staticmethod
    def quantize(op: NeuronWKV, ctx):
        k_frac, v_frac = ctx.in_frac
        if ctx.out_frac != v_frac:
            raise ValueError("WKV outputs at v's scale")
        w = np.round(-np.exp(op.time_decay.astype(np.float64)) * 2.0**k_frac)
        u = np.round(op.time_first.astype(np.float64) * 2.0**k_frac)
        if np.abs(w).max() > TOP or np.abs(u).max() > TOP:
            raise ValueError(f"decays or bonuses beyond 24 bits at k's scale (2^-{k_frac})")
        return QNeuronWKV(op.size, k_frac, w.astype(np.int64), u.astype(np.int64))

    @staticmethod
    def int_step(q: QNeuronWKV, inputs, state, tally):
        k, v = inputs
        p, qq, o = state
        uk = r24(q.u + k, tally)
        no = np.maximum(o, uk)
        a, b = _exp_neg(np.minimum(no - o, TOP), q.k_frac, tally), _exp_neg(no - uk, q.k_frac, tally)
        num = r24(fixed.round_shift(a * p + b * v, POW2_FRAC), tally)
        den = r24(fixed.round_shift(a * qq + (b << Q_FRAC), POW2_FRAC), tally)
        y = _divide(num, den, tally)
        wo = np.maximum(q.w + o, EMPTY)  # still "no history" (not a saturation)
        no = np.maximum(wo, k)
        a, b = _exp_neg(no - wo, q.k_frac, tally), _exp_neg(no - k, q.k_frac, tally)
        p = r24(fixed.round_shift(a * p + b * v, POW2_FRAC), tally)
        qq = r24(fixed.round_shift(a * qq + (b << Q_FRAC), POW2_FRAC), tally)
        tally.op_evals += y.size
        return y, (p, qq, no)
