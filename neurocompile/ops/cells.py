"""Neuron models as NIR defines them: continuous-time ODEs, stepped by forward Euler at ``dt``.

NIR (``shared/reference/nir.md``): LIF ``tau dv/dt = (v_leak - v) + r I``, spiking when ``v > v_threshold``;
NIR has no reset mode and no ``dt``, so both are parameters of the imported op, recorded in the build
(``reset``: 'zero' sets v to ``v_reset``, 'subtract' removes ``v_threshold``).  One Euler step:
``v += dt / tau * (v_leak - v + r x)``, then spike and reset in the same step -- the discretisation of
snnTorch's and Norse's NIR importers (tests/test_nir_import.py checks it against snnTorch's).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import nir
import numpy as np
import torch

from .base import OP_KEY, Op, _sum, _t

DT_KEY, RESET_KEY = "neurocompile.dt", "neurocompile.reset"

RESETS = ("zero", "subtract")


class _EulerCell(Op):
    """What NIR's spiking cells share here: every NIR parameter per neuron, plus ``dt`` and the reset mode (kept in
    our NIR metadata, so a file round-trips), NIR's edge sum as input, spikes as output."""

    arity: ClassVar[int | None] = None  # NIR sums the edges that enter a node
    binary_output: ClassVar[bool] = True
    nir_type: ClassVar[type]  # the NIR node this op is

    def __post_init__(self) -> None:
        if self.reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {self.reset!r}")

    @classmethod
    def _nir_fields(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name not in ("dt", "reset")]

    @property
    def size(self) -> int:
        return int(self.v_threshold.shape[0])

    def to_nir(self, input_names):
        return self.nir_type(**{k: getattr(self, k) for k in self._nir_fields()},
                             metadata={OP_KEY: self.kind, DT_KEY: self.dt, RESET_KEY: self.reset})

    @classmethod
    def from_nir(cls, node: nir.NIRNode, dt: float | None = None, reset: str | None = None) -> "_EulerCell":
        """`dt` and `reset` from the arguments (an import) or from our metadata (a round trip of our file)."""
        dt, reset = _dt_reset(node, dt, reset)
        n = np.asarray(node.v_threshold).size
        return cls(**{k: _per_neuron(getattr(node, k), n) for k in cls._nir_fields()}, dt=dt, reset=reset)


@dataclass(frozen=True, eq=False)
class EulerLIF(_EulerCell):
    """NIR's LIF, forward Euler at ``dt``: ``v += dt / tau * (v_leak - v + r x)``."""

    kind: ClassVar[str] = "EulerLIF"
    nir_type: ClassVar[type] = nir.LIF
    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    dt: float
    reset: str = "zero"

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.size, dtype=dtype)

    def float_step(self, inputs, v):
        x = _sum(inputs)
        v = v + _t(self.dt / self.tau, v) * (_t(self.v_leak, v) - v + _t(self.r, v) * x)
        return _fire(v, self.v_threshold, self.v_reset, self.reset)


@dataclass(frozen=True, eq=False)
class EulerCubaLIF(_EulerCell):
    """NIR's CubaLIF (a LIF fed by a synaptic current), forward Euler at ``dt``:
    ``I += dt / tau_syn * (-I + w_in x)``, then ``v += dt / tau_mem * (v_leak - v + r I)`` with this step's
    ``I`` -- the order snnTorch's importer runs (``Synaptic``: ``syn = alpha syn + x; mem = beta mem + syn``)."""

    kind: ClassVar[str] = "EulerCubaLIF"
    nir_type: ClassVar[type] = nir.CubaLIF
    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    w_in: np.ndarray
    dt: float
    reset: str = "zero"

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.size, dtype=dtype), torch.zeros(batch, self.size, dtype=dtype)

    def float_step(self, inputs, state):
        i, v = state
        x = _sum(inputs)
        i = i + _t(self.dt / self.tau_syn, i) * (_t(self.w_in, i) * x - i)
        v = v + _t(self.dt / self.tau_mem, v) * (_t(self.v_leak, v) - v + _t(self.r, v) * i)
        spikes, v = _fire(v, self.v_threshold, self.v_reset, self.reset)
        return spikes, (i, v)


def _fire(v: torch.Tensor, v_threshold: np.ndarray, v_reset: np.ndarray, reset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Spike where ``v > v_threshold`` (NIR's strict threshold), then reset in the same step."""
    spikes = v > _t(v_threshold, v)
    if reset == "zero":
        v = torch.where(spikes, _t(v_reset, v).expand_as(v), v)
    else:
        v = v - spikes.to(v.dtype) * _t(v_threshold, v)
    return spikes.to(v.dtype), v


def _per_neuron(value, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float64).reshape(-1), (n,)).copy()


def _dt_reset(node: nir.NIRNode, dt: float | None, reset: str | None) -> tuple[float, str]:
    """From the arguments (an import), else from our metadata (a round trip of our own file)."""
    meta = node.metadata or {}
    if dt is None:
        dt = float(np.asarray(meta[DT_KEY]))
    if reset is None:
        value = np.asarray(meta[RESET_KEY]).item()
        reset = value.decode() if isinstance(value, bytes) else str(value)
    return float(dt), reset
