"""Spiking attention without softmax, streamed (SpikeDecoder), and the per-token sum of synthetic time steps.

Without a softmax, causal attention is ``y_t = scale * q_t (sum_{j<=t} k_j^T v_j)`` per head: one running d x d sum
per head replaces the key/value cache.  SpikeDecoder computes attention separately for each of the T synthetic
steps of a token, so the state holds T such sums and step ``s`` of the stream uses sum ``s mod T``.  With q, k, v
spikes the sums are counts and the op is exact in integers (``scale`` a power of two: the output's fractional
bits); the counts grow by at most one per token, so a ``state_bits`` state is exact for 2^(state_bits-1) - 1 tokens
and saturation beyond is counted.

On Loihi 2 the state is held by programmable neurons, one per (synthetic step, head, i, j): neuron (i, j) adds the
coincidence of key spike i and value spike j, and when query spike i arrives sends its count as a graded spike to
output j (a synapse of weight one).  The counters follow that mapping: each q, k, v spike fans out to d state
neurons (binary events), each non-zero count read by a query spike is one graded message and one graded synaptic
event, and every resident state neuron is updated every step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .base import CALIBRATE, Op, _bits_max, _saturated


@dataclass(frozen=True)
class QAttention:
    heads: int
    head_dim: int
    period: int
    state_bits: int
    out_bits: int


@dataclass(frozen=True, eq=False)
class SpikingAttention(Op):
    """Inputs q, k, v (spikes, [B, heads * head_dim]); output ``scale * q . S`` with ``S += k^T v`` per head, one ``S``
    per step of the ``period`` (the synthetic steps of a token)."""

    kind: ClassVar[str] = "SpikingAttention"
    arity: ClassVar[int | None] = 3
    heads: int
    head_dim: int
    period: int
    scale: float

    @property
    def size(self) -> int:
        return self.heads * self.head_dim

    @property
    def state_neurons(self) -> int:
        """Count-holding neurons per stream: one per synthetic step, head and (i, j)."""
        return self.period * self.heads * self.head_dim**2

    def _split(self, x):
        return x.reshape(x.shape[0], self.heads, self.head_dim)

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.period, self.heads, self.head_dim, self.head_dim, dtype=dtype), 0

    def float_step(self, inputs, state):
        q, k, v = (self._split(x) for x in inputs)
        sums, step = state
        slot = step % self.period
        sums = sums.clone()
        sums[:, slot] += k.unsqueeze(-1) @ v.unsqueeze(-2)
        y = (q.unsqueeze(-2) @ sums[:, slot]).squeeze(-2) * self.scale
        return y.reshape(y.shape[0], -1), (sums, step + 1)

    Q: ClassVar[type] = QAttention

    def output_frac(self, in_frac):
        shift = -math.log2(self.scale) if self.scale > 0 else math.nan
        return int(shift) if shift.is_integer() and shift >= 0 else CALIBRATE

    def quantize(self, ctx):
        if not all(ctx.binary_in):
            raise ValueError("q, k and v must be spikes (the state counts coincidences)")
        if ctx.out_frac != self.output_frac(ctx.in_frac):
            raise ValueError(f"attention scale {self.scale:g} is not a power of two (1/2^k): the integer form scales "
                             f"counts by a shift")
        return QAttention(self.heads, self.head_dim, self.period, ctx.spec.state_bits, ctx.spec.payload_bits)

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

    def state_range(self, spec) -> int:
        """How many tokens the state counts exactly: one increment per token at most."""
        return _bits_max(spec.state_bits)


@dataclass(frozen=True)
class QTimeSum:
    n: int
    period: int
    out_bits: int


@dataclass(frozen=True, eq=False)
class TimeSum(Op):
    """The sum of the input over the steps of the current period (a token's synthetic steps), cleared when a period
    starts: at a token's last step it holds the whole token's sum (SpikeDecoder's ``accumulate``; ``average`` folds
    1/T into the weights before it).  On Loihi 2: integrating neurons without leak or threshold, cleared per token."""

    kind: ClassVar[str] = "TimeSum"
    n: int
    period: int

    @property
    def size(self) -> int:
        return self.n

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.n, dtype=dtype), 0

    def float_step(self, inputs, state):
        total, step = state
        total = inputs[0] + (0 if step % self.period == 0 else total)
        return total, (total, step + 1)

    Q: ClassVar[type] = QTimeSum

    def value_bits(self, spec):
        return spec.state_bits  # an integrating neuron's state

    def input_bits(self, port, spec):
        return spec.state_bits - math.ceil(math.log2(self.period)) if self.period > 1 else spec.state_bits  # room for the sum

    def output_frac(self, in_frac):
        return in_frac[0]  # a sum keeps its input's scale (it needs headroom: its input's peak x period)

    def quantize(self, ctx):
        return QTimeSum(self.n, self.period, ctx.spec.state_bits)

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
