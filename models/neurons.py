"""Spiking neurons shared by the model families, with spikingjelly's float semantics.

Upstream SpikeGPT and SpikeDecoder use spikingjelly's ``MultiStepLIFNode(tau=2, v_threshold=1,
v_reset=0, decay_input=True)``: per step ``v = v + (x - v) / tau``; spike iff ``v >= v_threshold``;
then hard reset ``v = 0``.  The forward pass of the spike is a Heaviside step; training uses the ATan
surrogate gradient (``alpha = 2``), as upstream does.  The arithmetic order below is upstream's, so
float64 results match bit for bit.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class SpikingNeuron(nn.Module):
    """What every family's LIF module is: tools that measure firing (``inspect``'s probe) look for this."""


class _HeavisideATan(torch.autograd.Function):
    """Forward: ``x >= 0`` as 0/1.  Backward: spikingjelly's ATan surrogate."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        alpha = ctx.alpha
        grad = alpha / 2 / (1 + (math.pi / 2 * alpha * x).square())
        return grad_out * grad, None


def heaviside(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """Binary spike ``x >= 0`` with the ATan surrogate gradient."""
    return _HeavisideATan.apply(x, alpha)


def lif_step(x: torch.Tensor, v: torch.Tensor, tau: float, v_threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One LIF step: returns (spikes, new membrane)."""
    v = v + (x - v) / tau
    spike = heaviside(v - v_threshold)
    v = v * (1.0 - spike)  # hard reset to 0, gradient flows through the reset as upstream (detach_reset=False)
    return spike, v


def lif_sequence(
    x: torch.Tensor, tau: float, v_threshold: float, v0: torch.Tensor | None = None, time_dim: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the LIF over ``time_dim`` of ``x``; returns (spikes shaped like x, final membrane)."""
    steps = x.unbind(time_dim)
    v = torch.zeros_like(steps[0]) if v0 is None else v0
    spikes = []
    for x_t in steps:
        s, v = lif_step(x_t, v, tau, v_threshold)
        spikes.append(s)
    return torch.stack(spikes, time_dim), v
