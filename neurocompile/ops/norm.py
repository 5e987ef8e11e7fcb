"""Normalisation: LayerNorm (an extension op: NIR lacks it)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .. import fixed
from .base import Op, _bits_max, _saturated, _t


@dataclass(frozen=True)
class QLayerNorm:
    n: int
    budget: int  # bits n*x - sum(x) may keep so that the sum of squares stays inside int64
    eps: int  # eps in the units of (n x)^2: eps * n^2 * 4^in_frac
    gamma: np.ndarray  # gamma * 2**gamma_frac
    gamma_frac: int
    beta: np.ndarray  # beta * 2**out_frac
    out_frac: int
    out_bits: int


# extra bits of the integer standard deviation (keeps the division precise; bounded by int64 headroom)
LN_STD_BITS = 8


@dataclass(frozen=True, eq=False)
class LayerNorm(Op):
    """LayerNorm.  Integer form (an embedded-CPU op): deviations ``n x - sum(x)`` computed exactly (no
    rounded mean), a sum of squares (low bits dropped per row only if int64 needs it), an integer square
    root and one rounded division per element."""

    kind: ClassVar[str] = "LayerNorm"
    weight: np.ndarray
    bias: np.ndarray
    eps: float = 1e-5

    @property
    def size(self) -> int:
        return self.weight.shape[0]

    def float_step(self, inputs, state):
        (x,) = inputs
        return torch.nn.functional.layer_norm(x, (self.size,), _t(self.weight, x), _t(self.bias, x), self.eps), state

    Q: ClassVar[type] = QLayerNorm

    def quantize(self, ctx):
        n = self.size
        budget = (62 - 2 * LN_STD_BITS - math.ceil(math.log2(n))) // 2  # n * (2**budget)**2 << 2 LN_STD_BITS < 2**62
        gamma_frac = int(np.floor(np.log2(_bits_max(16) / max(np.abs(self.weight).max(), 1e-12))))
        return QLayerNorm(
            n=n, budget=budget, eps=round(self.eps * n * n * 4.0 ** ctx.in_frac[0]),
            gamma=np.round(self.weight * 2.0**gamma_frac).astype(np.int64), gamma_frac=gamma_frac,
            beta=np.round(self.bias * 2.0**ctx.out_frac).astype(np.int64), out_frac=ctx.out_frac,
            out_bits=ctx.spec.payload_bits)

    @staticmethod
    def int_width(q: QLayerNorm):
        return q.n

    @staticmethod
    def int_step(q: QLayerNorm, inputs, state, tally):
        (x,) = inputs
        d = q.n * x - x.sum(-1, keepdims=True)  # n (x - mean), exact
        # like a block floating point: drop low bits only when a row's deviations need more than the budget
        down = np.maximum(fixed.bit_length(np.abs(d).max(-1, keepdims=True)) - q.budget, 0)
        d = fixed.round_shift(d, down)
        var = (d * d).sum(-1, keepdims=True) // q.n + fixed.round_shift(np.int64(q.eps), 2 * down)
        std = fixed.isqrt(var << (2 * LN_STD_BITS))  # n std, times 2**LN_STD_BITS, in d's units
        num = d * q.gamma
        up = q.out_frac + LN_STD_BITS - q.gamma_frac
        num = num << up if up >= 0 else fixed.round_shift(num, -up)
        y = fixed.div_round(num, std) + q.beta
        tally.op_evals += y.size
        return _saturated(y, q.out_bits, tally), state
