"""Normalisation: LayerNorm (an extension op: NIR lacks it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .base import Op, _t


@dataclass(frozen=True, eq=False)
class LayerNorm(Op):
    """LayerNorm over the channels, PyTorch's."""

    kind: ClassVar[str] = "LayerNorm"
    weight: np.ndarray
    bias: np.ndarray
    eps: float = 1e-5

    @property
    def size(self) -> int:
        return self.weight.shape[0]

    def neuron_program(self):
        return NeuronLayerNorm(self.weight, self.bias, self.eps)

    def float_step(self, inputs, state):
        (x,) = inputs
        return torch.nn.functional.layer_norm(x, (self.size,), _t(self.weight, x), _t(self.bias, x), self.eps), state


# --------------------------------------------------------------------------------------------------
# LayerNorm as neuron programs: one programmable neuron per channel and reduction neurons, joined by synapses
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NeuronLayerNorm(LayerNorm):
    """LayerNorm as neuron programs (``lower``'s ``extension_ops`` "neuron"), instead of an embedded CPU: the same
    float semantics, lowered to a form a target computes with programmable neurons and reduction neurons."""

    kind: ClassVar[str] = "NeuronLayerNorm"
    lowered: ClassVar[bool] = True

    def neuron_program(self):
        return self
