"""The RWKV-4 WKV recurrence (an extension op: NIR lacks it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from .base import Op, _t


@dataclass(frozen=True, eq=False)
class WKV(Op):
    """RWKV-4 WKV recurrence; inputs (k, v); ``w = -exp(time_decay)``, ``u = time_first`` (see models/wkv.py)."""

    kind: ClassVar[str] = "WKV"
    arity: ClassVar[int | None] = 2
    time_decay: np.ndarray
    time_first: np.ndarray

    @property
    def size(self) -> int:
        return self.time_decay.shape[0]

    def initial_state(self, batch, dtype):
        from ..models.wkv import WKVState

        return WKVState.zeros(batch, self.size, dtype)

    def float_step(self, inputs, state):
        from ..models.wkv import wkv_step

        k, v = inputs
        return wkv_step(-torch.exp(_t(self.time_decay, k)), _t(self.time_first, k), k, v, state)

    def neuron_program(self):
        return NeuronWKV(self.time_decay, self.time_first)


# --------------------------------------------------------------------------------------------------
# WKV as a neuron program: one programmable neuron per channel
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NeuronWKV(WKV):
    """The WKV recurrence as a neuron program (one programmable neuron per channel; ``lower``'s ``extension_ops``
    "neuron"), instead of an embedded CPU: the same float semantics, lowered to a form a target computes with its
    programmable neurons."""

    kind: ClassVar[str] = "NeuronWKV"
    lowered: ClassVar[bool] = True

    def neuron_program(self):
        return self
