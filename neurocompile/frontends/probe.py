"""Measure, on real input, what each op is fed: binary spikes or real values, and how often LIFs fire.

The energy accounting of SNN papers hinges on whether a layer's input is binary (an accumulate per active
input) or real-valued (a multiply-accumulate per input).  This is measured on a run, never assumed.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from ..models.neurons import SpikingNeuron


@dataclass
class InputStats:
    values: int = 0
    binary: int = 0  # values in {0, 1}
    zeros: int = 0

    def add(self, x: torch.Tensor) -> None:
        self.values += x.numel()
        self.binary += int(((x == 0) | (x == 1)).sum())
        self.zeros += int((x == 0).sum())

    @property
    def kind(self) -> str:
        return "binary" if self.values and self.binary == self.values else "real"

    @property
    def density(self) -> float:
        return 1 - self.zeros / self.values if self.values else 0.0


@dataclass
class ProbeResult:
    inputs: dict[str, InputStats] = field(default_factory=dict)  # per Linear / LayerNorm, by module name
    firing: dict[str, InputStats] = field(default_factory=dict)  # per LIF output


def _spikes(out: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """A neuron module returns its spikes, or (spikes, membrane) when it hands its state back."""
    return out[0] if isinstance(out, tuple) else out


@contextmanager
def probe(model: nn.Module):
    """Within the block, every forward records its statistics into the yielded ProbeResult."""
    result = ProbeResult()
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.LayerNorm, nn.BatchNorm1d)):
            stats = result.inputs.setdefault(name, InputStats())
            handles.append(module.register_forward_pre_hook(lambda m, args, s=stats: s.add(args[0].detach())))
        elif isinstance(module, SpikingNeuron):
            stats = result.firing.setdefault(name, InputStats())
            handles.append(module.register_forward_hook(lambda m, args, out, s=stats: s.add(_spikes(out).detach())))
    try:
        yield result
    finally:
        for h in handles:
            h.remove()
