"""Loihi 2's integer forms of the neuron dynamics of the language models: spikingjelly's LIF (one step per token or
per synthetic step), the LIF cleared every period, and the delays (token shift, NIR's Delay on spikes).

LIF: Lava's LIF (``fixed.lif_step``) with ``du = 4095`` (the current is this step's input, no memory), ``dv =
4096/tau`` and the input at ``frac`` bits: then ``v_lava = 64 tau 2^frac v``, so the threshold mantissa is ``tau
v_threshold 2^frac`` (17 bits: ``vth << 6`` must stay inside the 24-bit voltage).  Lava fires on ``v > vth << 6``,
spikingjelly on ``>=``: they differ only when the integer membrane lands exactly on the threshold (named
approximation "strict threshold").  The periodic LIF is Lava's ``LIFReset`` (``reset_interval = period``).  Delays
are exact: the same delay line as the float step, on Loihi 2 the synapses' own delays."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurocompile import fixed
from neurocompile.ops import IntegerForm
from neurocompile.ops.neurons import LIF, PeriodicLIF, SpikeDelay, TokenShift

from .numeric import ARITHMETIC

LIF_VTH_MAX = 2**17 - 1  # Lava's LIF threshold mantissa (vth << 6 must stay inside the 24-bit voltage)


@dataclass(frozen=True)
class QShift:
    n: int


class TokenShiftForm(IntegerForm, op=TokenShift, arithmetic=ARITHMETIC):
    """The previous token's input at its own scale: exact."""

    Q: ClassVar[type] = QShift

    @staticmethod
    def output_frac(op: TokenShift, in_frac):
        return in_frac[0]  # a delay keeps its input's scale

    @staticmethod
    def quantize(op: TokenShift, ctx) -> QShift:
        if ctx.out_frac != ctx.in_frac[0]:
            raise ValueError("a token shift keeps its input's scale")
        return QShift(op.n)

    @staticmethod
    def int_width(q: QShift):
        return q.n

    @staticmethod
    def int_initial_state(q: QShift, batch):
        return np.zeros((batch, q.n), np.int64)

    @staticmethod
    def int_step(q, inputs, state, tally):
        return state, inputs[0]


@dataclass(frozen=True)
class QLIF:
    n: int
    du: int
    dv: int
    vth: int


class LIFForm(IntegerForm, op=LIF, arithmetic=ARITHMETIC):
    """Lava's LIF with ``du = 4095`` and ``dv = 4096/tau`` (module docstring)."""

    Q: ClassVar[type] = QLIF
    int_limits: ClassVar[dict[str, tuple[int, int]]] = {"du": (0, fixed.DECAY_UNITY - 1), "dv": (0, fixed.DECAY_UNITY),
                                                        "vth": (1, LIF_VTH_MAX)}
    coarsenable: ClassVar[dict[str, tuple[str, int, int]]] = {
        "dv": ("decay", fixed.DECAY_SHIFT, fixed.DECAY_UNITY), "vth": ("threshold", 17, LIF_VTH_MAX)}

    @staticmethod
    def input_bits(op: LIF, port, spec):
        return spec.lif_input_bits  # Lava adds a_in << 6 to a 24-bit current

    @staticmethod
    def input_frac_limit(op: LIF, port, own_peak=0.0):
        """The threshold mantissa tau * vth * 2**frac must fit Lava's 17 bits."""
        return int(math.floor(math.log2(LIF_VTH_MAX / (op.tau * op.v_threshold))))

    @staticmethod
    def quantize(op: LIF, ctx) -> QLIF:
        vth = round(op.tau * op.v_threshold * 2 ** ctx.in_frac[0])
        if not 1 <= vth < 2 ** 17:
            raise ValueError(f"threshold mantissa {vth} outside Lava's 17-bit range (input frac {ctx.in_frac[0]}); "
                             f"check --v-threshold ({op.v_threshold})")
        return QLIF(op.n, du=4095, dv=round(fixed.DECAY_UNITY / op.tau), vth=vth)

    @staticmethod
    def int_width(q: QLIF):
        return q.n

    @staticmethod
    def int_initial_state(q: QLIF, batch):
        return np.zeros((batch, q.n), np.int64), np.zeros((batch, q.n), np.int64)

    @staticmethod
    def int_step(q, inputs, state, tally):
        u, v = state
        spikes, u, v, wraps = fixed.lif_step(u, v, inputs[0], fixed.LIFParams(q.du, q.dv, q.vth))
        tally.wraps += wraps
        tally.neuron_updates += spikes.size
        tally.spikes += int(spikes.sum())
        return spikes.astype(np.int64), (u, v)


@dataclass(frozen=True)
class QPeriodicLIF(QLIF):
    period: int = 1


class PeriodicLIFForm(LIFForm, op=PeriodicLIF, arithmetic=ARITHMETIC):
    """Lava's ``LIFReset`` (``reset_interval = period``): the same arithmetic as Lava's LIF."""

    Q: ClassVar[type] = QPeriodicLIF

    @staticmethod
    def quantize(op: PeriodicLIF, ctx) -> QPeriodicLIF:
        q = LIFForm.quantize(op, ctx)
        return QPeriodicLIF(q.n, q.du, q.dv, q.vth, op.period)

    @staticmethod
    def int_initial_state(q: QPeriodicLIF, batch):
        return np.zeros((batch, q.n), np.int64), np.zeros((batch, q.n), np.int64), 0

    @staticmethod
    def int_step(q, inputs, state, tally):
        u, v, step = state
        if step % q.period == 0:
            u, v = np.zeros_like(u), np.zeros_like(v)
        spikes, (u, v) = LIFForm.int_step(q, inputs, (u, v), tally)
        return spikes, (u, v, step + 1)


@dataclass(frozen=True)
class QDelay:
    steps: np.ndarray  # [n] int64 >= 1: each neuron's delay in time steps

    @property
    def n(self) -> int:
        return int(self.steps.shape[0])


class SpikeDelayForm(IntegerForm, op=SpikeDelay, arithmetic=ARITHMETIC):
    """The float step's delay line on integers: exact."""

    Q: ClassVar[type] = QDelay
    int_limits: ClassVar[dict[str, tuple[int, int]]] = {"steps": (1, 1 << 16)}

    @staticmethod
    def output_frac(op: SpikeDelay, in_frac):
        return 0  # spikes (its input, a later node, has no scale yet when this is quantized)

    @staticmethod
    def quantize(op: SpikeDelay, ctx) -> QDelay:
        return QDelay(op.steps.copy())

    @staticmethod
    def int_width(q: QDelay):
        return q.n

    @staticmethod
    def int_initial_state(q: QDelay, batch):
        return np.zeros((batch, int(q.steps.max()), q.n), np.int64)

    @staticmethod
    def int_step(q: QDelay, inputs, state, tally):
        return state[:, 0], SpikeDelay._enter(state, inputs[0], q.steps)
