"""Neuron dynamics: LIF, and the one-step delay (token shift)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np
import torch

from .base import NOTE_KEY, OP_KEY, _numpy, _Width

DT_KEY = "neurocompile.dt"
MAX_DELAY_STEPS = 1 << 16  # a Delay node's longest delay, in time steps
MAX_DELAY_VALUES = 1 << 26  # steps x neurons one delay line holds per stream (512 MB of float64)


@dataclass(frozen=True, eq=False)
class TokenShift(_Width):
    """The previous token's input (zero at the first token): a one-step delay (NIR: Delay of 1 step)."""

    kind: ClassVar[str] = "TokenShift"

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.n, dtype=dtype)

    def float_step(self, inputs, state):
        (x,) = inputs
        return state, x

    def to_nir(self, input_names):
        return nir.Delay(delay=np.ones(self.n), metadata={OP_KEY: self.kind, NOTE_KEY: "time unit: one token"})

    @classmethod
    def from_nir(cls, node: nir.Delay, ctx) -> "TokenShift":
        if not np.all(np.asarray(node.delay) == 1):
            raise ValueError("only one-step delays (token shift) are supported")
        return cls(int(node.delay.shape[0]))

@dataclass(frozen=True, eq=False)
class LIF(_Width):
    """spikingjelly LIF, one step per token: ``v += (x - v) / tau``; spike iff ``v >= v_threshold``; reset to 0.

    NIR: LIF with ``r = 1``, ``v_leak = 0``, ``v_reset = 0`` and a time step of one token (Euler); NIR fires
    on ``v > v_threshold``, ours on ``>=`` (see note).
    """

    kind: ClassVar[str] = "LIF"
    binary_output: ClassVar[bool] = True
    tau: float
    v_threshold: float

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.n, dtype=dtype)

    def float_step(self, inputs, state):
        from ..models.neurons import lif_step

        return lif_step(inputs[0], state, self.tau, self.v_threshold)

    def to_nir(self, input_names):
        ones = np.ones(self.n)
        return nir.LIF(tau=self.tau * ones, r=ones, v_leak=0 * ones, v_threshold=self.v_threshold * ones,
                       v_reset=0 * ones, metadata={OP_KEY: self.kind,
                       NOTE_KEY: "Euler step of one token (dt = 1); fires on v >= v_threshold; hard reset"})

    @classmethod
    def from_nir(cls, node: nir.LIF, ctx) -> "LIF":
        return cls(int(node.tau.shape[0]), float(node.tau[0]), float(node.v_threshold[0]))

PERIOD_KEY = "neurocompile.param.period"


@dataclass(frozen=True, eq=False)
class PeriodicLIF(LIF):
    """The LIF above with its state cleared every ``period`` steps, before that step's input: SpikeDecoder's LIFs run
    over the T synthetic steps of one token, fresh for each token (positions interact only through attention)."""

    kind: ClassVar[str] = "PeriodicLIF"
    period: int = 1

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.n, dtype=dtype), 0

    def float_step(self, inputs, state):
        from ..models.neurons import lif_step

        v, step = state
        if step % self.period == 0:
            v = torch.zeros_like(v)
        spikes, v = lif_step(inputs[0], v, self.tau, self.v_threshold)
        return spikes, (v, step + 1)

    def to_nir(self, input_names):
        node = super().to_nir(input_names)
        node.metadata[PERIOD_KEY] = self.period
        node.metadata[NOTE_KEY] = (f"Euler step of one synthetic time step (dt = 1); state cleared every {self.period} "
                                   f"steps (one token); fires on v >= v_threshold; hard reset")
        return node

    @classmethod
    def from_nir(cls, node: nir.LIF, ctx) -> "PeriodicLIF":
        return cls(int(node.tau.shape[0]), float(node.tau[0]), float(node.v_threshold[0]),
                   int(np.asarray(node.metadata[PERIOD_KEY])))

@dataclass(frozen=True, eq=False)
class SpikeDelay(TokenShift):
    """Spikes of ``steps`` time steps ago (zeros before), per neuron: NIR's Delay on spikes, and how a recurrent edge
    reads in discrete time (one step).  Without feedthrough: its output comes from its state alone, so it may read a
    node that comes later in the execution order (the loop's spiking node); executors take its output first
    (``emit``) and give it its input at the end of the step.

    The state is a delay line ``[B, D, n]`` (D = the longest delay) whose slot 0 is the output: each step the line
    moves one slot towards 0 and neuron i's input enters at slot ``steps[i] - 1``, so it leaves ``steps[i]`` steps
    later (the same line in a target's integer form)."""

    kind: ClassVar[str] = "SpikeDelay"
    binary_output: ClassVar[bool] = True
    feedthrough: ClassVar[bool] = False
    dt: float = 1.0  # seconds per step, for its NIR form
    steps: np.ndarray | None = None  # [n] delays in steps (None: one step each)
    shape: tuple = ()  # the map its neurons form (C, H, W), when not a vector (its NIR form's type)

    def __post_init__(self) -> None:
        steps = np.ones(self.n, np.int64) if self.steps is None else np.asarray(self.steps, np.int64).reshape(-1)
        if steps.shape != (self.n,) or np.any(steps < 1):
            raise ValueError(f"delays must be >= 1 step, one per neuron ({self.n}); got {steps.tolist()[:6]}")
        object.__setattr__(self, "steps", steps)

    @property
    def longest(self) -> int:
        return int(self.steps.max())

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.longest, self.n, dtype=dtype)

    @staticmethod
    def emit(state):
        return state[:, 0]

    @staticmethod
    def _enter(line, x, steps):
        """The line one slot on, `x` entering at each neuron's own slot (torch or numpy alike)."""
        if line.shape[1] == 1:  # every delay one step: the line is this step's input
            return x[:, None].to(line.dtype).clone() if isinstance(x, torch.Tensor) else np.array(x[:, None], dtype=line.dtype)
        line = torch.roll(line, -1, 1) if isinstance(line, torch.Tensor) else np.roll(line, -1, 1)
        line[:, -1] = 0
        line[:, steps - 1, np.arange(steps.shape[0])] = x
        return line

    def float_step(self, inputs, state):
        return state[:, 0], self._enter(state, inputs[0], self.steps)

    def to_nir(self, input_names):
        return nir.Delay(delay=(self.steps * self.dt).reshape(tuple(self.shape) or (self.n,)),
                         metadata={OP_KEY: self.kind, DT_KEY: self.dt})

    @classmethod
    def from_nir(cls, node: nir.Delay, ctx) -> "SpikeDelay":
        """NIR's Delay: each neuron's input ``delay / dt`` steps later (a whole number >= 1 per neuron, or one for
        all), dt the import's or, in our own file, our metadata's.  Bounded before anything is allocated."""
        delay = _numpy(node.delay).reshape(-1)
        dt = ctx.dt if ctx.dt is not None else float(np.asarray((node.metadata or {}).get(DT_KEY, delay.min())))
        steps = delay / dt
        if steps.size and steps.max() > MAX_DELAY_STEPS:
            raise ValueError(f"a delay of {steps.max():.6g} time steps at dt {dt:g} s, over the {MAX_DELAY_STEPS:,} "
                             f"this version holds; choose a larger dt with --dt, or a shorter delay")
        width = ctx.width or steps.size
        if steps.size and width * float(np.ceil(steps.max())) > MAX_DELAY_VALUES:
            raise ValueError(f"its delay line would hold {width:,} neurons x {int(np.ceil(steps.max())):,} steps = "
                             f"{width * int(np.ceil(steps.max())):,} values per stream, over the {MAX_DELAY_VALUES:,} "
                             f"({MAX_DELAY_VALUES * 8 >> 20:,} MB) this version holds; shorten the delay or choose a "
                             f"larger dt")
        whole = np.rint(steps)
        if steps.size == 0 or not np.allclose(steps, whole, rtol=1e-6, atol=1e-6) or np.any(whole < 1):
            bad = steps[(np.abs(steps - whole) > 1e-6 * np.maximum(1, np.abs(steps))) | (whole < 1)] if steps.size else steps
            raise ValueError(f"delays of {sorted(set(np.round(bad, 6).tolist()))[:4]} time steps at dt {dt:g} s; a "
                             f"delay must be a whole number of steps, at least one (choose dt with --dt)")
        if steps.size not in (1, width):
            raise ValueError(f"delay has {steps.size} values for {width} neurons")
        shape = tuple(ctx.in_shape) if ctx.in_shape is not None and len(ctx.in_shape) > 1 else \
            tuple(np.shape(node.delay)) if np.ndim(node.delay) > 1 else ()
        return cls(width, dt, np.broadcast_to(whole.astype(np.int64), (width,)).copy(), shape)
