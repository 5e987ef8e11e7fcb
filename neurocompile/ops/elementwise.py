"""Elementwise extension ops: residual add, sigmoid (table), squared ReLU, gating product, token-shift mix."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .base import Op, _scaled_sum, _sum, _Width


@dataclass(frozen=True, eq=False)
class Add(_Width):
    """Residual add: the sum of the inputs (NIR's own edge semantics)."""

    kind: ClassVar[str] = "Add"
    arity: ClassVar[int | None] = None

    def float_step(self, inputs, state):
        return _sum(inputs), state


@dataclass(frozen=True, eq=False)
class Sigmoid(_Width):
    """The logistic function, elementwise."""

    kind: ClassVar[str] = "Sigmoid"

    def float_step(self, inputs, state):
        return torch.sigmoid(inputs[0]), state


@dataclass(frozen=True, eq=False)
class SquaredReLU(_Width):
    """``relu(x)^2``, elementwise."""

    kind: ClassVar[str] = "SquaredReLU"

    def float_step(self, inputs, state):
        return torch.square(torch.relu(inputs[0])), state


@dataclass(frozen=True, eq=False)
class Mul(_Width):
    """Elementwise product of two inputs (gating)."""

    kind: ClassVar[str] = "Mul"
    arity: ClassVar[int | None] = 2

    def float_step(self, inputs, state):
        a, b = inputs
        return a * b, state


@dataclass(frozen=True, eq=False)
class Mix(Op):
    """``y = sum_p r_p * x_p`` per channel: the token-shift mix (``x m + shift(x) (1 - m)``) computed by a neuron
    program before the one weight matrix that reads it (``lower``'s ``token_shift="delay"``), instead of one
    weight matrix per input with the ratio folded in (``"fold"``)."""

    kind: ClassVar[str] = "Mix"
    arity: ClassVar[int | None] = None
    lowered: ClassVar[bool] = True
    ratios: np.ndarray  # [ports, n]

    @property
    def size(self) -> int:
        return self.ratios.shape[1]

    def float_step(self, inputs, state):
        return _scaled_sum(inputs, self.ratios), state
