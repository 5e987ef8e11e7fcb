"""Loihi 2's integer forms of the neurons NIR's cells lower to: ``CUBA`` (spiking), ``CUBAVoltage`` (a readout sending
its voltage) and ``Threshold``.

Lava's LIF arithmetic (``fixed.lif_step``; Lava 0.10 ``PyLifModelBitAcc``): ``u' = (4095 - du) u / 4096 + (x << 6)``
and ``v' = (4096 - dv) v / 4096 + u' + bias`` on 24-bit u and v, 12-bit decays, a spike where ``v' > vth << 6``, then
v reset to 0 (Lava's LIF) or the threshold subtracted (a neuron program).  The input enters at ``f`` fractional
bits as ``a_in << 6``, so ``v_int = v 2^(f+6)``, the threshold mantissa (17 bits) is ``v_threshold 2^f`` and the
bias ``bias 2^(f+6)``, a 13-bit signed mantissa times ``2^bias_exp`` (3-bit exponent).  A periodically cleared
neuron is Lava's ``LIFReset`` (``reset_interval = period``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurocompile import fixed
from neurocompile.ops import HEADROOM, IntegerForm, Tally
from neurocompile.ops.cells import CUBA, CUBAVoltage, Threshold, _cleared, _with_step

from .numeric import ARITHMETIC
from .neurons import LIF_VTH_MAX

CUBA_DECAY_MAX = fixed.DECAY_UNITY - 1  # 12-bit decays
BIAS_MANT_MAX = (1 << 12) - 1  # 13-bit signed mantissa
BIAS_EXP_MAX = 7


@dataclass(frozen=True)
class QThreshold:
    threshold: np.ndarray  # [n] floor(v_threshold 2^f): x_int > floor(t) exactly when x_int > t


class ThresholdForm(IntegerForm, op=Threshold, arithmetic=ARITHMETIC):
    """A neuron program comparing the summed input, at its ``f`` fractional bits, with ``floor(threshold 2^f)``
    (exact: the input is an integer)."""

    Q: ClassVar[type] = QThreshold

    @staticmethod
    def quantize(op: Threshold, ctx) -> QThreshold:
        return QThreshold(np.floor(op.threshold * 2.0**_one_input_frac(ctx)).astype(np.int64))

    @staticmethod
    def int_width(q: QThreshold):
        return int(q.threshold.shape[0])

    @staticmethod
    def int_step(q: QThreshold, inputs, state, tally: Tally):
        x = inputs[0]
        for more in inputs[1:]:
            x = x + more
        spikes = (x > q.threshold).astype(np.int64)
        tally.neuron_updates += spikes.size
        tally.spikes += int(spikes.sum())
        return spikes, state


@dataclass(frozen=True)
class QCUBA:
    du: np.ndarray  # [n] Lava's current decay (factor (4095 - du) / 4096)
    dv: np.ndarray  # [n] Lava's voltage decay (factor (4096 - dv) / 4096)
    vth: np.ndarray  # [n] threshold mantissa: spike iff v > vth << 6
    bias_mant: np.ndarray  # [n] voltage bias, 13-bit signed mantissa ...
    bias_exp: np.ndarray  # [n] ... times 2**bias_exp (0..7)
    subtract: bool  # reset by subtracting the threshold (a neuron program) instead of to zero (Lava's LIF)
    period: int = 0  # u and v cleared before every step s with s = phase (mod period): Lava's LIFReset (0: never)
    phase: int = 0

    @property
    def n(self) -> int:
        return int(self.vth.shape[0])

    @property
    def bias(self) -> np.ndarray:
        return self.bias_mant << self.bias_exp

    @property
    def lava_lif(self) -> bool:
        """Lava's own LIF process computes exactly this neuron: one du, dv and vth for the population, reset to
        zero, and no voltage bias (Lava's LIF adds its bias from step 0, before a pipelined input arrives)."""
        return (not self.subtract and not self.bias.any()
                and all(np.all(a == a[0]) for a in (self.du, self.dv, self.vth)))


@dataclass(frozen=True)
class QCUBAVoltage:
    du: np.ndarray
    dv: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray

    @property
    def n(self) -> int:
        return int(self.du.shape[0])


_DECAY_LIMITS = {"du": (0, fixed.DECAY_UNITY - 1), "dv": (0, fixed.DECAY_UNITY),
                 "bias_mant": (-BIAS_MANT_MAX, BIAS_MANT_MAX), "bias_exp": (0, BIAS_EXP_MAX)}


class _CompartmentForm(IntegerForm):
    """What both compartments share: inputs summed as they arrive (one scale), 12-bit decays, the bias as a 13-bit
    mantissa and exponent, 24-bit u and v."""

    @staticmethod
    def input_bits(op, port, spec):
        """Lava adds ``a_in << 6`` to a 24-bit current, which sums inputs over about ``1 / du`` steps: the input
        gets ``lif_input_bits`` less the bits of that sum (a current at rest under the largest input stays inside)."""
        return spec.lif_input_bits - int(np.ceil(np.log2(1 / float(np.min(op.du)))))

    @staticmethod
    def _integers(op, ctx) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(input frac f, du, dv, bias mantissa, bias exponent): the bias at v's scale 2^(f+6)."""
        f = _one_input_frac(ctx)
        du, dv = _decays(op.du, op.dv)
        mant, exp = _mantissa_exponent(np.rint(op.bias * 2.0 ** (f + fixed.ACT_SHIFT)).astype(np.int64))
        return f, du, dv, mant, exp

    @staticmethod
    def int_width(q):
        return q.n

    @staticmethod
    def int_initial_state(q, batch):
        return np.zeros((batch, q.n), np.int64), np.zeros((batch, q.n), np.int64)

    @staticmethod
    def _lava_step(q, inputs, state, vth, tally: Tally, subtract: bool = False):
        x = inputs[0]
        for more in inputs[1:]:
            x = x + more
        spikes, u, v, wraps = fixed.lif_step(*state, x, fixed.LIFParams(q.du, q.dv, vth, q.bias_mant << q.bias_exp, 0),
                                             subtract)
        tally.wraps += wraps
        tally.neuron_updates += v.size
        return spikes, u, v


class CUBAForm(_CompartmentForm, op=CUBA, arithmetic=ARITHMETIC):
    """Lava's LIF arithmetic; the threshold mantissa ``v_threshold 2^f`` in 17 bits."""

    Q: ClassVar[type] = QCUBA
    int_limits: ClassVar[dict[str, tuple[int, int]]] = {**_DECAY_LIMITS, "vth": (1, LIF_VTH_MAX)}
    coarsenable: ClassVar[dict[str, tuple[str, int, int]]] = {
        "du": ("current decay", fixed.DECAY_SHIFT, fixed.DECAY_UNITY), "dv": ("decay", fixed.DECAY_SHIFT, fixed.DECAY_UNITY),
        "vth": ("threshold", 17, LIF_VTH_MAX)}

    @staticmethod
    def input_frac_limit(op: CUBA, port, own_peak=0.0):
        """The threshold mantissa v_threshold 2^f must fit Lava's 17 bits."""
        peak = float(np.max(np.abs(op.v_threshold)))
        return int(np.floor(np.log2(LIF_VTH_MAX / peak))) if peak > 0 else None

    @staticmethod
    def quantize(op: CUBA, ctx) -> QCUBA:
        f, du, dv, mant, exp = CUBAForm._integers(op, ctx)
        vth = np.rint(op.v_threshold * 2.0**f).astype(np.int64)
        if np.any(vth < 1) or np.any(vth > LIF_VTH_MAX):
            raise ValueError(f"threshold mantissa outside 1..{LIF_VTH_MAX} at input scale 2^-{f}; thresholds must be > 0")
        return QCUBA(du, dv, vth, mant, exp, op.reset == "subtract", op.period, op.phase)

    @staticmethod
    def int_initial_state(q: QCUBA, batch):
        return _with_step(_CompartmentForm.int_initial_state(q, batch), q.period)

    @staticmethod
    def int_step(q: QCUBA, inputs, state, tally: Tally):
        state, step = _cleared(state, q.period, q.phase)
        spikes, u, v = CUBAForm._lava_step(q, inputs, state, q.vth, tally, q.subtract)
        tally.spikes += int(spikes.sum())
        return spikes.astype(np.int64), _with_step((u, v), q.period, step)


class CUBAVoltageForm(_CompartmentForm, op=CUBAVoltage, arithmetic=ARITHMETIC):
    """The same Lava arithmetic as ``CUBA`` without a threshold (24-bit saturating v), the voltage sent each step as a
    graded spike at ``f + 6`` fractional bits: a Loihi 2 neuron program (Lava's LIF sends spikes only)."""

    Q: ClassVar[type] = QCUBAVoltage
    int_limits: ClassVar[dict[str, tuple[int, int]]] = _DECAY_LIMITS

    @staticmethod
    def input_frac_limit(op: CUBAVoltage, port, own_peak=0.0):
        """The voltage -- this op's output, at f + 6 fractional bits -- must fit 24 bits at its calibrated peak
        (with the quantizer's headroom)."""
        if own_peak <= 0:
            return None
        return int(np.floor(np.log2((fixed.UV_MAX - 1) / (own_peak * HEADROOM)))) - fixed.ACT_SHIFT

    @staticmethod
    def output_frac(op: CUBAVoltage, in_frac):
        return None if in_frac[0] is None else in_frac[0] + fixed.ACT_SHIFT  # v_int = v 2^(f+6)

    @staticmethod
    def value_bits(op: CUBAVoltage, spec):
        return spec.state_bits

    @staticmethod
    def quantize(op: CUBAVoltage, ctx) -> QCUBAVoltage:
        _, du, dv, mant, exp = CUBAVoltageForm._integers(op, ctx)
        return QCUBAVoltage(du, dv, mant, exp)

    @staticmethod
    def int_step(q: QCUBAVoltage, inputs, state, tally: Tally):
        never = np.full(q.n, 1 << 17, np.int64)  # a threshold above every 24-bit voltage: no spike, no reset
        _, u, v = CUBAVoltageForm._lava_step(q, inputs, state, never, tally)
        tally.saturations += int(np.count_nonzero(np.abs(v) >= fixed.UV_MAX - 1))  # at the rail (v saturates there)
        return v, (u, v)


def _one_input_frac(ctx) -> int:
    if len(set(ctx.in_frac)) != 1:
        raise ValueError(f"its inputs arrive at different scales {ctx.in_frac} (they are summed as they arrive)")
    return ctx.in_frac[0]


def _decays(du_real: np.ndarray, dv_real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lava's 12-bit decays: factor (4095 - du) / 4096 on u, (4096 - dv) / 4096 on v."""
    if np.any(du_real <= 0) or np.any(dv_real < 0) or np.any(du_real > 1) or np.any(dv_real >= 1):
        raise ValueError("a decay outside what 12 bits hold: needs dt < tau (the membrane) and dt <= tau_syn")
    du = np.rint(du_real * fixed.DECAY_UNITY).astype(np.int64) - 1
    dv = np.rint(dv_real * fixed.DECAY_UNITY).astype(np.int64)
    if np.any(du < 0) or np.any((dv < 1) & (dv_real > 0)) or np.any(dv > CUBA_DECAY_MAX):
        raise ValueError("dt / tau outside [1/4096, 4095/4096]: Loihi's 12-bit decays cannot hold it; choose another dt")
    return du, dv


def _mantissa_exponent(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loihi's bias: a 13-bit signed mantissa shifted left by a 3-bit exponent (rounded to the nearest)."""
    exp = np.maximum(fixed.bit_length(b) - 12, 0)
    if np.any(exp > BIAS_EXP_MAX):
        raise ValueError("a bias beyond Loihi's 13-bit mantissa << 7")
    mant = fixed.div_round(b, np.int64(1) << exp)
    over = np.abs(mant) > BIAS_MANT_MAX  # rounding up to 2^12: one more exponent step
    return np.where(over, fixed.div_round(b, np.int64(1) << (exp + 1)), mant), np.where(over, exp + 1, exp)
