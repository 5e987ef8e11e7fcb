"""Loihi 2's integer forms of LayerNorm: on the embedded x86 cores (``LayerNorm``, 64-bit) and as neuron programs
(``NeuronLayerNorm``: one programmable neuron per channel and two reduction neurons, joined by synapses)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurocompile import fixed
from neurocompile.ops import IntegerForm
from neurocompile.ops.base import _bits_max, _saturated
from neurocompile.ops.norm import LayerNorm, NeuronLayerNorm

from .numeric import ARITHMETIC
from .microcode import NEURON_BITS, r24


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


R_FRAC = 20  # 1 / sqrt(m) for m in [1/4, 1): (1, 2] in Q.20
RSQRT_SEED = np.round(2.0**R_FRAC / np.sqrt((np.arange(4, 16) + 0.5) / 16)).astype(np.int64)  # by m's top 4 bits
RSQRT_STEPS = 3  # Newton-Raphson steps r <- r (3 - m r^2) / 2: 6 % off at worst -> 2^-20
RSQRT_HALF = (NEURON_BITS - 1) // 2  # 1/sqrt(m) = r 2^-R_FRAC 2^-11.5 for m = r's argument x 2^23; the 0.5 is in the gain


@dataclass(frozen=True)
class QNeuronLayerNorm:
    n: int
    up: int  # a channel holds its input shifted left by this (its deviation then fills 23 bits)
    sum_shift: int  # the first reduction's weight exponent -sum_shift: the sum of n inputs within 24 bits
    mean_mul: int  # ~ 2^(mean_shift + sum_shift + up) / n: the mean at the channels' scale, one multiply-shift
    mean_shift: int
    square_shift: int  # a channel sends its squared deviation shifted right by this (24-bit payload)
    var_shift: int  # the second reduction's weight exponent -var_shift: the sum of n squares within 24 bits
    eps: int  # eps in the variance neuron's units
    product_shift: int  # deviation x 1/std, shifted right by this (24 bits)
    gain: np.ndarray  # gamma x sqrt(n / 2^var_shift) x 2^(-square_shift/2 - 1/2) x 2^gain_frac (16-bit)
    gain_frac: int
    beta: np.ndarray  # beta x 2^out_frac
    out_frac: int
    out_bits: int


class LayerNormForm(IntegerForm, op=LayerNorm, arithmetic=ARITHMETIC):
    """An embedded-CPU op (64-bit): deviations ``n x - sum(x)`` computed exactly (no rounded mean), a sum of squares
    (low bits dropped per row only if int64 needs it), an integer square root and one rounded division per element."""

    approximation: ClassVar[str | None] = "LayerNorm (embedded x86 cores, 64-bit): integer square root and rounded division"

    Q: ClassVar[type] = QLayerNorm

    @staticmethod
    def quantize(op: LayerNorm, ctx):
        n = op.size
        budget = (62 - 2 * LN_STD_BITS - math.ceil(math.log2(n))) // 2  # n * (2**budget)**2 << 2 LN_STD_BITS < 2**62
        gamma_frac = int(np.floor(np.log2(_bits_max(16) / max(np.abs(op.weight).max(), 1e-12))))
        return QLayerNorm(
            n=n, budget=budget, eps=round(op.eps * n * n * 4.0 ** ctx.in_frac[0]),
            gamma=np.round(op.weight * 2.0**gamma_frac).astype(np.int64), gamma_frac=gamma_frac,
            beta=np.round(op.bias * 2.0**ctx.out_frac).astype(np.int64), out_frac=ctx.out_frac,
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


class NeuronLayerNormForm(LayerNormForm, op=NeuronLayerNorm, arithmetic=ARITHMETIC):
    """In the op set assumed for Loihi 2's programmable neurons (``microcode``).  A channel's neuron cannot see the
    others, so two reduction neurons do the sums through synapses (weights 1, one exponent each, Lava's Dense
    arithmetic: the sum floored by the exponent): the first sums the inputs, makes the mean with one multiply-shift
    and sends it back; each channel sends its squared deviation (shifted to a 24-bit payload); the second sums those,
    adds eps, and sends back 1/sqrt of it as a mantissa (Q.20, from a 12-entry seed table by the top bits after an
    even normalising shift, and three Newton-Raphson steps) with its shift; each channel multiplies its deviation by
    it and by its gain (gamma with the constant factors folded in), adds beta.  Four synaptic stages (``STAGES``):
    the output leaves four steps after the input.  Unlike the x86 form (which renormalises each row), the squares
    are shifted by a constant: a row whose spread is far below the calibrated range keeps fewer bits of its variance
    (measured on the held-out text, BENCHMARKS.md)."""

    approximation: ClassVar[str | None] = (
        "LayerNorm as neuron programs (24-bit, the op set assumed in targets/loihi2/arithmetic/microcode.py): sums through synapses to two "
        "reduction neurons (floored by their weight exponents), squares shifted by a constant (a row of small spread "
        "keeps fewer bits of its variance), 1/sqrt from a 12-entry seed and three Newton-Raphson steps; four "
        "synaptic stages of latency")

    Q: ClassVar[type] = QNeuronLayerNorm

    # instructions per channel and step, counted from int_step in the assumed op set: keep x, subtract the mean,
    # square-shift-send, multiply-shift by 1/std, multiply by the gain with the row's shift, add beta, saturate (~10);
    # the two reduction neurons' ~20 per row (the mean's multiply-shift; leading zeros, a shift, a seed look-up and
    # three 4-instruction Newton steps) add at most 0.2 per channel from 128 channels up: 12
    instructions: ClassVar[int] = 12

    STAGES: ClassVar[int] = 4  # synaptic stages: inputs -> sum neuron -> mean back -> squares -> variance neuron -> back

    @staticmethod
    def input_bits(op: NeuronLayerNorm, port, spec):
        return spec.payload_bits  # the input arrives as graded messages

    @staticmethod
    def quantize(op: NeuronLayerNorm, ctx):
        n = op.size
        bits = 2 if ctx.binary_in[0] else ctx.spec.payload_bits  # |x| < 2^(bits - 1): spikes are 0 or 1
        up = max(0, NEURON_BITS - 1 - bits)  # x 2^up: |x 2^up - mean| < 2^(NEURON_BITS - 1)
        lg = max(0, math.ceil(math.log2(n)))
        sum_shift = max(0, bits + lg - NEURON_BITS)  # n inputs within 24 bits
        mean_shift = R_FRAC + 1 + lg - sum_shift  # mean_mul in [2^21, 2^22]; the mean comes out times 2^up
        scale = n / 2**lg  # the second reduction sums n squares over 2^lg
        eps = op.eps * 4.0 ** (ctx.in_frac[0] + up) * scale  # in the squares' units before their shift
        # each square within 23 bits, and eps within 22 (an eps beyond every variance the row holds: tiny inputs)
        square_shift = max(0, 2 * (bits + up) - (NEURON_BITS - 1), math.ceil(math.log2(eps + 1)) - (NEURON_BITS - 2))
        base = op.weight.astype(np.float64) * math.sqrt(scale) * 2.0 ** (-square_shift / 2 - 0.5)
        gain_frac = int(np.floor(np.log2(_bits_max(16) / max(np.abs(base).max(), 1e-12))))
        return QNeuronLayerNorm(
            n=n, up=up, sum_shift=sum_shift, mean_mul=round(2.0 ** (mean_shift + sum_shift) / n),
            mean_shift=mean_shift - up, square_shift=square_shift, var_shift=lg,
            eps=round(eps * 2.0**-square_shift),
            product_shift=max(0, bits + up + R_FRAC + 1 - (NEURON_BITS - 1)),
            gain=np.round(base * 2.0**gain_frac).astype(np.int64), gain_frac=gain_frac,
            beta=np.round(op.bias * 2.0**ctx.out_frac).astype(np.int64), out_frac=ctx.out_frac,
            out_bits=ctx.spec.payload_bits)

    @staticmethod
    def int_step(q: QNeuronLayerNorm, inputs, state, tally):
        (x,) = inputs
        mean = r24(fixed.round_shift(r24(x.sum(-1, keepdims=True) >> q.sum_shift, tally) * q.mean_mul, q.mean_shift),
                   tally)
        d = r24((x << q.up) - mean, tally)
        square = r24(fixed.round_shift(d * d, q.square_shift), tally)
        var = np.maximum(r24(r24(square.sum(-1, keepdims=True) >> q.var_shift, tally) + q.eps, tally), 1)
        h = (fixed.bit_length(var) - (NEURON_BITS - 2)) // 2  # var = m 4^h, m in [2^21, 2^23)
        m = np.where(h >= 0, var >> np.maximum(2 * h, 0), var << np.maximum(-2 * h, 0))
        r = RSQRT_SEED[(m >> (NEURON_BITS - 5)) - 4]
        for _ in range(RSQRT_STEPS):
            r = r24((r * ((3 << R_FRAC) - ((m * ((r * r) >> R_FRAC)) >> (NEURON_BITS - 1)))) >> (R_FRAC + 1), tally)
        t = r24(fixed.round_shift(d * r, q.product_shift), tally)
        shift = R_FRAC + RSQRT_HALF + h + q.gain_frac - q.out_frac - q.product_shift
        y = np.where(shift >= 0, fixed.round_shift(t * q.gain, np.maximum(shift, 0)),
                     (t * q.gain) << np.minimum(np.maximum(-shift, 0), NEURON_BITS))
        rows = x.shape[0]
        sent = int(np.count_nonzero(x)) + int(np.count_nonzero(square))  # event-driven: zeros send nothing
        tally.graded_events += sent + 3 * rows * q.n  # the two sums in, the mean and 1/std (mantissa, shift) back
        tally.effective_graded_events += sent + 3 * rows * q.n
        tally.graded_messages += sent + 3 * rows
        tally.op_evals += rows * q.n
        return _saturated(y + q.beta, q.out_bits, tally), state
