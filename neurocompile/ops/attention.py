"""Spiking attention without softmax, streamed (SpikeDecoder), and the per-token sum of synthetic time steps.

Without a softmax, causal attention is ``y_t = scale * q_t (sum_{j<=t} k_j^T v_j)`` per head: one running d x d sum
per head replaces the key/value cache.  SpikeDecoder computes attention separately for each of the T synthetic
steps of a token, so the state holds T such sums and step ``s`` of the stream uses sum ``s mod T``.  With q, k, v
spikes the sums are counts (a target's integer form can keep them exact).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import Op


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


@dataclass(frozen=True, eq=False)
class TimeSum(Op):
    """The sum of the input over the steps of the current period (a token's synthetic steps), cleared when a period
    starts: at a token's last step it holds the whole token's sum (SpikeDecoder's ``accumulate``; ``average`` folds
    1/T into the weights before it)."""

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
