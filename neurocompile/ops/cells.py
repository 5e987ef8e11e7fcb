"""Neuron models as NIR defines them: continuous-time ODEs, stepped by forward Euler at ``dt``.

NIR (``shared/reference/nir.md``): LIF ``tau dv/dt = (v_leak - v) + r I``, spiking when ``v > v_threshold``;
NIR has no reset mode and no ``dt``, so both are parameters of the imported op, recorded in the build
(``reset``: 'zero' sets v to ``v_reset``, 'subtract' removes ``v_threshold``).  One Euler step:
``v += dt / tau * (v_leak - v + r x)``, then spike and reset in the same step -- the discretisation of
snnTorch's and Norse's NIR importers (tests/test_nir_import.py checks it against snnTorch's).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np
import torch

from .base import OP_KEY, Op, _sum, _t

DT_KEY, RESET_KEY = "neurocompile.dt", "neurocompile.reset"

RESETS = ("zero", "subtract")


@dataclass(frozen=True, eq=False)
class EulerLIF(Op):
    """NIR's LIF, every parameter per neuron, forward Euler at ``dt``."""

    kind: ClassVar[str] = "EulerLIF"
    arity: ClassVar[int | None] = None  # NIR sums the edges that enter a node
    binary_output: ClassVar[bool] = True
    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    dt: float
    reset: str = "zero"

    def __post_init__(self) -> None:
        if self.reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {self.reset!r}")

    @property
    def size(self) -> int:
        return int(self.tau.shape[0])

    def to_nir(self, input_names):
        return nir.LIF(tau=self.tau, r=self.r, v_leak=self.v_leak, v_threshold=self.v_threshold, v_reset=self.v_reset,
                       metadata={OP_KEY: self.kind, DT_KEY: self.dt, RESET_KEY: self.reset})

    @classmethod
    def from_nir(cls, node: nir.LIF, dt: float | None = None, reset: str | None = None) -> "EulerLIF":
        """A NIR LIF; `dt` and `reset` from the arguments (an import) or from our metadata (a round trip)."""
        meta = node.metadata or {}
        dt = float(np.asarray(meta[DT_KEY])) if dt is None else dt
        reset = (reset if reset is not None else
                 np.asarray(meta[RESET_KEY]).item().decode() if isinstance(np.asarray(meta[RESET_KEY]).item(), bytes)
                 else str(np.asarray(meta[RESET_KEY]).item()))
        n = np.asarray(node.tau).size
        param = lambda v: np.broadcast_to(np.asarray(v, np.float64).reshape(-1), (n,)).copy()  # noqa: E731
        return cls(param(node.tau), param(node.r), param(node.v_leak), param(node.v_threshold), param(node.v_reset),
                   float(dt), reset)

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.size, dtype=dtype)

    def float_step(self, inputs, v):
        x = _sum(inputs)
        v = v + _t(self.dt / self.tau, v) * (_t(self.v_leak, v) - v + _t(self.r, v) * x)
        spikes = v > _t(self.v_threshold, v)
        if self.reset == "zero":
            v = torch.where(spikes, _t(self.v_reset, v).expand_as(v), v)
        else:
            v = v - spikes.to(v.dtype) * _t(self.v_threshold, v)
        return spikes.to(v.dtype), v
