"""Loihi 2's integer forms of SpikeDecoder's spiking attention and of the per-token sum of synthetic steps.

With q, k, v spikes the attention's sums are counts and the op is exact in integers (``scale`` a power of two: the
output's fractional bits); the counts grow by at most one per token, so a ``state_bits`` state is exact for
2^(state_bits-1) - 1 tokens and saturation beyond is counted.  The state is held by programmable neurons, one per
(synthetic step, head, i, j): neuron (i, j) adds the coincidence of key spike i and value spike j, and when query
spike i arrives sends its count as a graded spike to output j (a synapse of weight one).  The counters follow that
mapping: each q, k, v spike fans out to d state neurons (binary events), each non-zero count read by a query spike
is one graded message and one graded synaptic event, and every resident state neuron is updated every step."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurocompile.ops import CALIBRATE, IntegerForm
from neurocompile.ops.attention import SpikingAttention, TimeSum
from neurocompile.ops.base import _saturated

from .numeric import ARITHMETIC


@dataclass(frozen=True)
class QAttention:
    heads: int
    head_dim: int
    period: int
    state_bits: int
    out_bits: int


@dataclass(frozen=True)
class QTimeSum:
    n: int
    period: int
    out_bits: int


class SpikingAttentionForm(IntegerForm, op=SpikingAttention, arithmetic=ARITHMETIC):
    """Counts of coincidences in ``state_bits`` neurons (module docstring); the output's scale a shift."""

    Q: ClassVar[type] = QAttention

    @staticmethod
    def output_frac(op: SpikingAttention, in_frac):
        shift = -math.log2(op.scale) if op.scale > 0 else math.nan
        return int(shift) if shift.is_integer() and shift >= 0 else CALIBRATE

    @staticmethod
    def quantize(op: SpikingAttention, ctx):
        if not all(ctx.binary_in):
            raise ValueError("q, k and v must be spikes (the state counts coincidences)")
        if ctx.out_frac != SpikingAttentionForm.output_frac(op, ctx.in_frac):
            raise ValueError(f"attention scale {op.scale:g} is not a power of two (1/2^k): the integer form scales "
                             f"counts by a shift")
        return QAttention(op.heads, op.head_dim, op.period, ctx.spec.state_bits, ctx.spec.payload_bits)

    @staticmethod
    def int_width(q: QAttention):
        return q.heads * q.head_dim

    @staticmethod
    def int_initial_state(q: QAttention, batch):
        return np.zeros((batch, q.period, q.heads, q.head_dim, q.head_dim), np.int64), 0

    @staticmethod
    def int_step(q: QAttention, inputs, state, tally):
        b = inputs[0].shape[0]
        qs, ks, vs = (x.reshape(b, q.heads, q.head_dim) for x in inputs)
        sums, step = state
        slot = step % q.period
        sums[:, slot] = _saturated(sums[:, slot] + ks[..., :, None] * vs[..., None, :], q.state_bits, tally)
        read = qs[..., :, None] * sums[:, slot]  # [B, H, d, d]: count (i, j) sent when query spike i arrives
        y = read.sum(axis=-2).reshape(b, -1)
        messages = int(np.count_nonzero(read))
        tally.binary_events += int(qs.sum() + ks.sum() + vs.sum()) * q.head_dim
        tally.effective_binary_events += int(qs.sum() + ks.sum() + vs.sum()) * q.head_dim
        tally.graded_messages += messages
        tally.graded_events += messages
        tally.effective_graded_events += messages
        tally.neuron_updates += b * q.period * q.heads * q.head_dim**2
        return _saturated(y, q.out_bits, tally), (sums, step + 1)

    @staticmethod
    def ann_macs(q: QAttention, tokens: int) -> int:
        """A softmax-free transformer with a key/value cache: q.K and A.V over the n + 1 positions so far, 2 (n + 1) E
        per token, E (L + 1) on average over a run of L tokens (the stream here: a constant T H d^2 state)."""
        return q.heads * q.head_dim * (tokens + 1)


class TimeSumForm(IntegerForm, op=TimeSum, arithmetic=ARITHMETIC):
    """Integrating neurons without leak or threshold (state-width sums), cleared when a period starts."""

    Q: ClassVar[type] = QTimeSum

    @staticmethod
    def value_bits(op: TimeSum, spec):
        return spec.state_bits  # an integrating neuron's state

    @staticmethod
    def input_bits(op: TimeSum, port, spec):
        return spec.state_bits - math.ceil(math.log2(op.period)) if op.period > 1 else spec.state_bits  # room for the sum

    @staticmethod
    def output_frac(op: TimeSum, in_frac):
        return in_frac[0]  # a sum keeps its input's scale (it needs headroom: its input's peak x period)

    @staticmethod
    def quantize(op: TimeSum, ctx):
        return QTimeSum(op.n, op.period, ctx.spec.state_bits)

    @staticmethod
    def int_width(q: QTimeSum):
        return q.n

    @staticmethod
    def int_initial_state(q: QTimeSum, batch):
        return np.zeros((batch, q.n), np.int64), 0

    @staticmethod
    def int_step(q: QTimeSum, inputs, state, tally):
        total, step = state
        total = _saturated(inputs[0] + (0 if step % q.period == 0 else total), q.out_bits, tally)
        tally.neuron_updates += total.size
        return total, (total, step + 1)
