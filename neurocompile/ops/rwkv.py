"""The RWKV-4 WKV recurrence (an extension op: NIR lacks it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .. import fixed
from .base import Op, _t
from .elementwise import QTable, _lookup


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


@dataclass(frozen=True, eq=False)
class WKV(Op):
    """RWKV-4 WKV recurrence; inputs (k, v); ``w = -exp(time_decay)``, ``u = time_first`` (see models/wkv.py).

    Integer form (an embedded-CPU op, 64-bit state): the CUDA kernel's stabilised recurrence with the
    exponent ``o`` kept at k's scale, ``exp`` of non-positive arguments from a 16384-entry Q0.15 table
    (step 2^-10, zero below -16), ``p`` at v's scale times 2^15, ``q`` in Q.15, one rounded division per
    channel; the output has v's scale.
    """

    kind: ClassVar[str] = "WKV"
    arity: ClassVar[int | None] = 2
    time_decay: np.ndarray
    time_first: np.ndarray

    @property
    def size(self) -> int:
        return self.time_decay.shape[0]

    def initial_state(self, batch, dtype):
        from ..models.wkv import WKVState

        return WKVState.zeros(batch, self.size, dtype)

    def float_step(self, inputs, state):
        from ..models.wkv import wkv_step

        k, v = inputs
        return wkv_step(-torch.exp(_t(self.time_decay, k)), _t(self.time_first, k), k, v, state)

    Q: ClassVar[type] = QWKV

    def output_frac(self, in_frac):
        return in_frac[1]  # at v's scale

    def input_bits(self, port, spec):
        return spec.payload_bits if port == 1 else None  # v arrives as a graded message

    def quantize(self, ctx):
        k_frac, v_frac = ctx.in_frac
        if ctx.out_frac != v_frac:
            raise ValueError("WKV outputs at v's scale")
        steps = np.arange(16 << EXP_STEP_FRAC) / 2.0**EXP_STEP_FRAC
        table = np.round(2.0**EXP_FRAC * np.exp(-steps)).astype(np.int64)
        return QWKV(self.size, k_frac, v_frac,
                    w=np.round(-np.exp(self.time_decay.astype(np.float64)) * 2.0**k_frac).astype(np.int64),
                    u=np.round(self.time_first.astype(np.float64) * 2.0**k_frac).astype(np.int64),
                    exp=QTable(k_frac, EXP_STEP_FRAC, 0, table))

    @staticmethod
    def int_width(q: QWKV):
        return q.n

    @staticmethod
    def int_initial_state(q: QWKV, batch):
        zero = np.zeros((batch, q.n), np.int64)
        return zero, zero.copy(), np.full((batch, q.n), WKV_EMPTY, np.int64)

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
