"""The RWKV-4 WKV recurrence (with the ``u`` bonus) used by SpikeGPT, in two equivalent forms.

Per channel, with ``w = -exp(time_decay) < 0`` and ``u = time_first``::

    y_t = (a_{t-1} + e^{u + k_t} v_t) / (b_{t-1} + e^{u + k_t})
    a_t = e^{w} a_{t-1} + e^{k_t} v_t,   b_t = e^{w} b_{t-1} + e^{k_t},   a_0 = b_0 = 0

Both forms keep ``a = p e^{o}``, ``b = q e^{o}`` with a running maximum exponent ``o`` (as upstream's
CUDA kernel does), so neither overflows however long the sequence.  ``wkv_step`` is the kernel's loop
body; ``wkv_chunked`` processes a chunk of tokens at once (quadratic inside a chunk, recurrent across
chunks) so that training on a CPU needs no Python loop per token.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# Upstream's kernel starts the exponent at -1e38: "no history yet", finite so that no inf - inf occurs.
EMPTY_EXPONENT = -1e38


@dataclass
class WKVState:
    """Stabilised WKV state of one layer, each [B, C]: a = p·e^o, b = q·e^o."""

    p: torch.Tensor
    q: torch.Tensor
    o: torch.Tensor

    @staticmethod
    def zeros(batch: int, channels: int, dtype: torch.dtype, device: torch.device | None = None) -> "WKVState":
        z = torch.zeros(batch, channels, dtype=dtype, device=device)
        return WKVState(z, z.clone(), torch.full_like(z, EMPTY_EXPONENT))


def wkv_step(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor, state: WKVState) -> tuple[torch.Tensor, WKVState]:
    """One token: k, v are [B, C]; returns (y [B, C], new state)."""
    p, q, o = state.p, state.q, state.o
    no = torch.maximum(o, u + k)
    a = torch.exp(o - no)
    b = torch.exp(u + k - no)
    y = (a * p + b * v) / (a * q + b)
    no = torch.maximum(w + o, k)
    a = torch.exp(w + o - no)
    b = torch.exp(k - no)
    return y, WKVState(a * p + b * v, a * q + b, no)


def wkv_chunked(
    w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor, state: WKVState | None = None, chunk: int = 32
) -> tuple[torch.Tensor, WKVState]:
    """All tokens: k, v are [B, T, C]; returns (y [B, T, C], state after the last token).

    The stabilising exponents are detached: y does not depend on them mathematically, so gradients stay
    exact while the autograd graph gets smaller.
    """
    batch, steps, channels = k.shape
    if state is None:
        state = WKVState.zeros(batch, channels, k.dtype, k.device)
    p, q, o = state.p, state.q, state.o
    outputs = []
    for start in range(0, steps, chunk):
        kc, vc = k[:, start : start + chunk], v[:, start : start + chunk]
        length = kc.shape[1]
        i = torch.arange(length, device=k.device, dtype=k.dtype)
        lag = i[:, None] - 1 - i[None, :]  # token j's age (in decays) when it reaches output i, for j < i
        earlier = lag >= 0
        # exponents [B, i, j, C]: history from inside the chunk
        e_hist = lag[None, :, :, None] * w + kc[:, None, :, :]
        e_hist = torch.where(earlier[None, :, :, None], e_hist, torch.full_like(e_hist, float("-inf")))
        e_state = o[:, None, :] + i[None, :, None] * w  # state from before the chunk, decayed i times
        e_now = u + kc
        m = torch.maximum(torch.maximum(e_hist.amax(2), e_state), e_now).detach()
        hist_weight = torch.exp(e_hist - m[:, :, None, :])
        state_weight = torch.exp(e_state - m)
        now_weight = torch.exp(e_now - m)
        num = (hist_weight * vc[:, None, :, :]).sum(2) + state_weight * p[:, None, :] + now_weight * vc
        den = hist_weight.sum(2) + state_weight * q[:, None, :] + now_weight
        outputs.append(num / den)
        # carry the state past the chunk: a <- e^{L w} a + sum_j e^{(L-1-j) w + k_j} v_j
        e_tail = (length - 1 - i)[None, :, None] * w + kc
        e_carry = o + length * w
        o_new = torch.maximum(e_tail.amax(1), e_carry).detach()
        tail_weight = torch.exp(e_tail - o_new[:, None, :])
        carry_weight = torch.exp(e_carry - o_new)
        p = carry_weight * p + (tail_weight * vc).sum(1)
        q = carry_weight * q + tail_weight.sum(1)
        o = o_new
    return torch.cat(outputs, 1), WKVState(p, q, o)
