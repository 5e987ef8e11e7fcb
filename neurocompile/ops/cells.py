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

from .base import OP_KEY, Op, _numpy, _sum, _t

DT_KEY, RESET_KEY = "neurocompile.dt", "neurocompile.reset"
PERIOD_KEY, PHASE_KEY = "neurocompile.period", "neurocompile.phase"  # a state cleared periodically (netx's reset)

RESETS = ("zero", "subtract")


class _EulerCell(Op):
    """What NIR's spiking cells share here: every NIR parameter per neuron, plus ``dt`` and the reset mode (kept in
    our NIR metadata, so a file round-trips), NIR's edge sum as input, spikes as output."""

    arity: ClassVar[int | None] = None  # NIR sums the edges that enter a node
    binary_output: ClassVar[bool] = True
    keeps_map: ClassVar[bool] = True
    nir_type: ClassVar[type]  # the NIR node this op is

    def __post_init__(self) -> None:
        if self.reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {self.reset!r}")

    @classmethod
    def _nir_fields(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name not in ("dt", "reset", "shape", "period", "phase")]

    @property
    def size(self) -> int:
        return int(getattr(self, self._nir_fields()[0]).shape[0])

    current: ClassVar[bool] = False  # a synaptic current I before the membrane (CubaLIF, CubaLI): state (I, v)

    def initial_state(self, batch, dtype):
        v = torch.zeros(batch, self.size, dtype=dtype)
        return (torch.zeros_like(v), v) if self.current else v

    def _membrane(self, v: torch.Tensor, tau: np.ndarray, x: torch.Tensor) -> torch.Tensor:
        """One Euler step of ``tau dv/dt = v_leak - v + r x``."""
        return v + _t(self.dt / tau, v) * (_t(self.v_leak, v) - v + _t(self.r, v) * x)

    def _synapse(self, i: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One Euler step of ``tau_syn dI/dt = w_in x - I``."""
        return i + _t(self.dt / self.tau_syn, i) * (_t(self.w_in, i) * x - i)

    def to_nir(self, input_names):
        shape = tuple(self.shape) or (self.size,)  # parameters shaped like the map they act on (NIR's type check)
        return self.nir_type(**{k: getattr(self, k).reshape(shape) for k in self._nir_fields()},
                             metadata={OP_KEY: self.kind, DT_KEY: self.dt, RESET_KEY: self.reset,
                                       **self._period_metadata()})

    def _period_metadata(self) -> dict:
        """Metadata of a state cleared periodically (EulerCubaLIF's netx reset interval); none for other cells."""
        return {}

    @classmethod
    def from_nir(cls, node: nir.NIRNode, ctx) -> "_EulerCell":
        """`dt` and `reset` from the context (an import) or from our metadata (a round trip of our file); the shape:
        the map its input carries (parameters given once for the population are broadcast to it)."""
        dt, reset = _dt_reset(node, ctx.dt, ctx.reset)
        shape = ctx.in_shape if ctx.in_shape is not None else _numpy(getattr(node, cls._nir_fields()[0])).shape
        n = int(np.prod(shape))
        params = {}
        for k in cls._nir_fields():
            value = _numpy(getattr(node, k)).reshape(-1)
            if value.size not in (1, n):
                raise ValueError(f"{k} has {value.size} values for {n} neurons")
            params[k] = np.broadcast_to(value, (n,)).copy()
        meta = node.metadata or {}
        cleared = {k: int(np.asarray(meta[key])) for k, key in (("period", PERIOD_KEY), ("phase", PHASE_KEY))
                   if key in meta and OP_KEY in meta}  # our own file's (a periodically cleared netx layer)
        return cls(**params, dt=dt, reset=reset, shape=tuple(shape) if len(shape) > 1 else (), **cleared)


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
    shape: tuple = ()  # the map the neurons form (C, H, W), when not a vector

    def float_step(self, inputs, v):
        return _fire(self._membrane(v, self.tau, _sum(inputs)), self.v_threshold, self.v_reset, self.reset)

    def neuron_form(self):
        """``v' = (1 - a) v + a v_leak + a r x`` with ``a = dt / tau``: no current memory (``du = 1``), the input
        scaled by ``a r``, ``a v_leak`` as the voltage bias."""
        a = self.dt / self.tau
        _check_reset(self)
        return a * self.r, CUBA(np.ones_like(a), a, a * self.v_leak, self.v_threshold, self.reset)


@dataclass(frozen=True, eq=False)
class EulerIF(_EulerCell):
    """NIR's IF, ``dv/dt = r I``, integrated without dt as Norse and Sinabs do: ``v += r x``; a spike where
    ``v > v_threshold``, then reset (NIR's literal semantics, Norse's: one spike per step, no lower bound)."""

    kind: ClassVar[str] = "EulerIF"
    nir_type: ClassVar[type] = nir.IF
    r: np.ndarray
    v_threshold: np.ndarray
    v_reset: np.ndarray
    dt: float
    reset: str = "zero"
    shape: tuple = ()  # the map the neurons form (C, H, W), when not a vector

    def float_step(self, inputs, v):
        return _fire(v + _t(self.r, v) * _sum(inputs), self.v_threshold, self.v_reset, self.reset)

    def neuron_form(self):
        """No leak and no current memory: ``du = 1``, ``dv = 0``, the input scaled by ``r``."""
        _check_reset(self)
        n = self.size
        return self.r, CUBA(np.ones(n), np.zeros(n), np.zeros(n), self.v_threshold, self.reset)


@dataclass(frozen=True, eq=False)
class EulerCubaLIF(_EulerCell):
    """NIR's CubaLIF (a LIF fed by a synaptic current), forward Euler at ``dt``:
    ``I += dt / tau_syn * (-I + w_in x)``, then ``v += dt / tau_mem * (v_leak - v + r I)`` with this step's
    ``I`` -- the order snnTorch's importer runs (``Synaptic``: ``syn = alpha syn + x; mem = beta mem + syn``)."""

    kind: ClassVar[str] = "EulerCubaLIF"
    current: ClassVar[bool] = True
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
    shape: tuple = ()  # the map the neurons form (C, H, W), when not a vector
    period: int = 0  # I and v cleared before every step s = phase (mod period) (a netx layer's reset_interval)
    phase: int = 0

    def initial_state(self, batch, dtype):
        return _with_step(super().initial_state(batch, dtype), self.period)

    def _period_metadata(self) -> dict:
        return {PERIOD_KEY: self.period, PHASE_KEY: self.phase} if self.period else {}

    def float_step(self, inputs, state):
        state, step = _cleared(state, self.period, self.phase)
        i = self._synapse(state[0], _sum(inputs))
        v = self._membrane(state[1], self.tau_mem, i)
        spikes, v = _fire(v, self.v_threshold, self.v_reset, self.reset)
        return spikes, _with_step((i, v), self.period, step)

    def neuron_form(self):
        """With ``a_s = dt / tau_syn``, ``a_m = dt / tau_mem`` and ``u = a_m r I``: ``u' = (1 - a_s) u + (a_m r a_s
        w_in) x`` and ``v' = (1 - a_m) v + a_m v_leak + u'`` -- the CUBA neuron, exactly."""
        a_s, a_m = self.dt / self.tau_syn, self.dt / self.tau_mem
        _check_reset(self)
        return a_m * self.r * a_s * self.w_in, CUBA(a_s, a_m, a_m * self.v_leak, self.v_threshold,
                                                   self.reset, self.period, self.phase)


@dataclass(frozen=True, eq=False)
class EulerLI(_EulerCell):
    """NIR's LI (a leaky integrator, no spikes), forward Euler at ``dt``: ``v += dt / tau * (v_leak - v + r x)``;
    its output is ``v`` (a graded value: a readout)."""

    kind: ClassVar[str] = "EulerLI"
    nir_type: ClassVar[type] = nir.LI
    binary_output: ClassVar[bool] = False
    tau: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    dt: float
    reset: str = "zero"  # unused: an LI does not spike (kept so every cell reads and writes alike)
    shape: tuple = ()

    def float_step(self, inputs, v):
        v = self._membrane(v, self.tau, _sum(inputs))
        return v, v

    def neuron_form(self):
        a = self.dt / self.tau
        return a * self.r, CUBAVoltage(np.ones_like(a), a, a * self.v_leak)


@dataclass(frozen=True, eq=False)
class EulerCubaLI(_EulerCell):
    """NIR's CubaLI: the CubaLIF's synaptic current into a leaky integrator, no spikes; its output is ``v``."""

    kind: ClassVar[str] = "EulerCubaLI"
    current: ClassVar[bool] = True
    nir_type: ClassVar[type] = nir.CubaLI
    binary_output: ClassVar[bool] = False
    tau_syn: np.ndarray
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    w_in: np.ndarray
    dt: float
    reset: str = "zero"  # unused: a CubaLI does not spike
    shape: tuple = ()

    def float_step(self, inputs, state):
        i = self._synapse(state[0], _sum(inputs))
        v = self._membrane(state[1], self.tau_mem, i)
        return v, (i, v)

    def neuron_form(self):
        a_s, a_m = self.dt / self.tau_syn, self.dt / self.tau_mem
        return a_m * self.r * a_s * self.w_in, CUBAVoltage(a_s, a_m, a_m * self.v_leak)


@dataclass(frozen=True, eq=False)
class EulerI(_EulerCell):
    """NIR's I (integrator), ``dv/dt = r I``: no leak, no spikes; integrated without dt like the IF (``v += r x``, the
    convention Norse and Sinabs use for the IF, whose membrane is this one); its output is ``v`` (a graded value).
    Lowered to a CUBA voltage readout without leak: the voltage's 24 bits hold the calibrated range, and steps that
    reach the rail are counted as saturations."""

    kind: ClassVar[str] = "EulerI"
    nir_type: ClassVar[type] = nir.I
    binary_output: ClassVar[bool] = False
    r: np.ndarray
    dt: float
    reset: str = "zero"  # unused: an integrator does not spike
    shape: tuple = ()

    def float_step(self, inputs, v):
        v = v + _t(self.r, v) * _sum(inputs)
        return v, v

    def neuron_form(self):
        n = self.size
        return self.r, CUBAVoltage(np.ones(n), np.zeros(n), np.zeros(n))


@dataclass(frozen=True, eq=False)
class Threshold(Op):
    """NIR's Threshold: a spike where the (summed) input exceeds ``threshold``; no state."""

    kind: ClassVar[str] = "Threshold"
    arity: ClassVar[int | None] = None
    binary_output: ClassVar[bool] = True
    keeps_map: ClassVar[bool] = True
    threshold: np.ndarray  # [n]
    shape: tuple = ()

    @property
    def size(self) -> int:
        return int(self.threshold.shape[0])

    def float_step(self, inputs, state):
        x = _sum(inputs)
        return (x > _t(self.threshold, x)).to(x.dtype), state

    def to_nir(self, input_names):
        return nir.Threshold(threshold=self.threshold.reshape(tuple(self.shape) or (self.size,)),
                             metadata={OP_KEY: self.kind})

    @classmethod
    def from_nir(cls, node: nir.Threshold, ctx) -> "Threshold":
        value = _numpy(node.threshold)
        shape = tuple(ctx.in_shape) if ctx.in_shape is not None else value.shape
        n = int(np.prod(shape))
        if value.size not in (1, n):
            raise ValueError(f"threshold has {value.size} values for {n} neurons")
        return cls(np.broadcast_to(value.reshape(-1), (n,)).copy(), shape if len(shape) > 1 else ())


def _fire(v: torch.Tensor, v_threshold: np.ndarray, v_reset: np.ndarray, reset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Spike where ``v > v_threshold`` (NIR's strict threshold), then reset in the same step."""
    spikes = v > _t(v_threshold, v)
    if reset == "zero":
        v = torch.where(spikes, _t(v_reset, v).expand_as(v), v)
    else:
        v = v - spikes.to(v.dtype) * _t(v_threshold, v)
    return spikes.to(v.dtype), v


def _check_reset(cell: _EulerCell) -> None:
    """The lowered neuron (``CUBA``) resets its voltage to 0: a cell that resets elsewhere has no lowered form (yet)."""
    if cell.reset == "zero" and np.any(cell.v_reset != 0):
        raise ValueError(f"v_reset = {cell.v_reset[cell.v_reset != 0][0]:g}: the lowered neuron resets the voltage to 0, "
                         f"and this version maps only v_reset = 0 to integers")


def _dt_reset(node: nir.NIRNode, dt: float | None, reset: str | None) -> tuple[float, str]:
    """From the arguments (an import), else from our metadata (a round trip of our own file)."""
    meta = node.metadata or {}
    if dt is None:
        dt = float(np.asarray(meta[DT_KEY]))
    if reset is None:
        value = np.asarray(meta[RESET_KEY]).item()
        reset = value.decode() if isinstance(value, bytes) else str(value)
    return float(dt), reset


# --------------------------------------------------------------------------------------------------
# The neurons the cells lower to (their integer forms are the targets')
# --------------------------------------------------------------------------------------------------


class _Compartment(Op):
    """What the current-based compartments share: ``u' = (1 - du) u + x`` on the summed inputs (one scale for all),
    ``v' = (1 - dv) v + u' + bias``."""

    arity: ClassVar[int | None] = None
    lowered: ClassVar[bool] = True
    same_input_frac: ClassVar[bool] = True  # the inputs are summed as they arrive, so they share one scale

    @property
    def size(self) -> int:
        return int(self.du.shape[0])

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.size, dtype=dtype), torch.zeros(batch, self.size, dtype=dtype)

    def _uv(self, inputs, state):
        u, v = state
        u = (1 - _t(self.du, u)) * u + _sum(inputs)
        return u, (1 - _t(self.dv, v)) * v + u + _t(self.bias, v)


@dataclass(frozen=True, eq=False)
class CUBA(_Compartment):
    """The current-based LIF neuron (lowered form of every spiking NIR cell):
    ``u' = (1 - du) u + x``; ``v' = (1 - dv) v + u' + bias``; a spike where ``v' > v_threshold``, then reset.

    ``x`` is the sum of the inputs (synapse outputs, already scaled by the cell's gain: ``neuron_form``)."""

    kind: ClassVar[str] = "CUBA"
    binary_output: ClassVar[bool] = True
    du: np.ndarray
    dv: np.ndarray
    bias: np.ndarray
    v_threshold: np.ndarray
    reset: str = "zero"
    period: int = 0  # the state cleared before every step s = phase (mod period) (netx's reset_interval; 0: never)
    phase: int = 0

    def initial_state(self, batch, dtype):
        return _with_step(super().initial_state(batch, dtype), self.period)

    def float_step(self, inputs, state):
        state, step = _cleared(state, self.period, self.phase)
        u, v = self._uv(inputs, state)
        spikes, v = _fire(v, self.v_threshold, np.zeros_like(self.v_threshold), self.reset)
        return spikes, _with_step((u, v), self.period, step)


def _with_step(state: tuple, period: int, step: int = -1) -> tuple:
    """A periodically cleared neuron's state carries the step it has reached (the next one: `step` + 1)."""
    return (*state, step + 1) if period else state


def _cleared(state: tuple, period: int, phase: int) -> tuple[tuple, int]:
    """(the state, zeros where this step starts a period; the step) -- ``(state, -1)`` for a neuron never cleared."""
    if not period:
        return state, -1
    *values, step = state
    if (step - phase) % period == 0:
        values = [v * 0 for v in values]
    return tuple(values), step


@dataclass(frozen=True, eq=False)
class CUBAVoltage(_Compartment):
    """The current-based neuron without a threshold, sending its voltage each step as a graded value (the lowered LI
    and CubaLI: a readout).  ``u' = (1 - du) u + x``; ``v' = (1 - dv) v + u' + bias``; output ``v'``."""

    kind: ClassVar[str] = "CUBAVoltage"
    du: np.ndarray
    dv: np.ndarray
    bias: np.ndarray

    def float_step(self, inputs, state):
        u, v = self._uv(inputs, state)
        return v, (u, v)
