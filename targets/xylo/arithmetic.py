"""Xylo's integer arithmetic, as SynSense's bit-accurate simulator computes it (``xylosim`` 0.1.3, ``src/v2/cpp``:
``XyloIAFNeuron.cpp``, ``XyloLayer.cpp``; read, not copied; checked event for event by ``tests/test_xylo.py``).

One Xylo core is a hidden population (integrate-and-fire neurons with one or two synaptic currents, recurrent weights
among them) and a readout population (one current).  Per time step, in this order:

1. input spikes (at most 15 per channel) are delivered through the input weights, channel by channel in ascending
   order, then the hidden neurons' spikes of the *previous* step (at most 31 each) through the recurrent weights, and
   the same previous spikes through the readout weights.  One event adds ``int16(w << shift)`` (one shift per weight
   bank) to the target current with a 16-bit saturating add, so saturation happens per event, in that order: a sum
   clipped once at the end is not the same number.  n spikes of one source are n such adds of one weight (the same
   as one add of ``n w`` clipped once, the adds having one sign);
2. each hidden neuron, in index order: every current decays, ``i -= decay(i, dash_syn)``; ``dv = sat16(int16(-decay(
   v, dash_mem)) + sum i)``, ``dv = sat16(dv + bias)``, ``v = sat16(v + dv)``; then, starting from the spikes its
   aliases already gave it, it spikes while ``v >= threshold`` (``v -= threshold`` each, at most 31 in all); its
   count is then added to each alias target's (clipped at 31);
3. each readout neuron the same, with one current, at most one spike, no aliases.

``decay(x, d) = x >> d`` (arithmetic shift), or ``sign(x)`` where that gives 0.  ``int16(-decay(v, 0))`` wraps at
v = -32768 (the simulator's ``int16_t`` negation), kept here.

Both populations are ops of the program (``XyloHidden``, ``XyloReadout``): each integer step is a numba kernel over a
batch of independent streams, its state the simulator's (currents, voltages, and the spikes the next step delivers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numba import njit

from neurocompile.ops import IntegerForm, Op, Tally

STATE_BITS = 16  # BITS_STATE: currents, voltages, thresholds, biases
WEIGHT_BITS = 8  # BITS_WEIGHT: signed weights
STATE_MIN, STATE_MAX = -(1 << (STATE_BITS - 1)), (1 << (STATE_BITS - 1)) - 1
MAX_INPUT_SPIKES = 15  # MAX_NUM_INP_SPIKES: input events per channel and step
MAX_HIDDEN_SPIKES = 31  # MAX_NUM_SPIKES: spikes a hidden neuron sends per step (and recurrent / readout events)
MAX_READOUT_SPIKES = 1  # MAX_NUM_OUT_SPIKES
DASH_MAX = 15  # decays are 4-bit shifts
SHIFT_MAX = 15  # weight shifts the 16-bit event value can hold (a larger one leaves nothing of an 8-bit weight)

JIT = dict(cache=True, nogil=True)


@njit(**JIT)
def _wrap16(x):
    """``int16_t`` conversion of an int (two's complement)."""
    return ((x + 32768) & 0xFFFF) - 32768


@njit(**JIT)
def _decay(x, dash):
    d = x >> dash
    if d == 0:
        if x > 0:
            d = 1
        elif x < 0:
            d = -1
    return d


@njit(**JIT)
def _clip(x):
    return min(max(x, STATE_MIN), STATE_MAX)


@njit(**JIT)
def deliver(acc, counts, weights, shift, limit):
    """Events of `counts` [B, P] (each clipped at `limit`) through `weights` [P, N, S] (int8 values) into the currents
    `acc` [B, N, S], source by source in ascending order, each event a 16-bit saturating add of ``int16(w << shift)``.
    Returns (synaptic operations, adds that saturated).  A source's k spikes in one step through one weight count as
    one synaptic operation, as SynSense's cycle model counts them ("multiple events per bin cost the same as a single
    event", Rockpool's power_cycles_model) and as an ANN that skips zero inputs does one MAC for an input of k."""
    B, P = counts.shape
    N, S = weights.shape[1], weights.shape[2]
    events = 0
    clipped = 0
    for b in range(B):
        for p in range(P):
            k = min(counts[b, p], limit)
            if k <= 0:
                continue
            for j in range(N):
                for s in range(S):
                    w = np.int64(weights[p, j, s])
                    if w == 0:
                        continue
                    x = acc[b, j, s] + k * _wrap16(w << shift)
                    if x > STATE_MAX or x < STATE_MIN:
                        clipped += 1
                    acc[b, j, s] = _clip(x)
                    events += 1
    return events, clipped


@njit(**JIT)
def evolve(acc, v, counts, dash_syn, dash_mem, threshold, bias, max_spikes, alias_start, alias_target):
    """One step of a population's neurons in index order (currents `acc` [B, N, S], voltages `v` [B, N]); writes the
    spikes into `counts` [B, N] (aliases included).  Returns the saturations (dv and v clipped)."""
    B, N, S = acc.shape
    clipped = 0
    for b in range(B):
        for j in range(N):
            counts[b, j] = 0
        for j in range(N):
            total = 0
            for s in range(S):
                x = acc[b, j, s]
                x -= _decay(x, dash_syn[j, s])
                acc[b, j, s] = x
                total += x
            dv = _wrap16(-_decay(v[b, j], dash_mem[j]))
            x = dv + total
            if x > STATE_MAX or x < STATE_MIN:
                clipped += 1
            dv = _clip(x)
            x = dv + bias[j]
            if x > STATE_MAX or x < STATE_MIN:
                clipped += 1
            dv = _clip(x)
            x = v[b, j] + dv
            if x > STATE_MAX or x < STATE_MIN:
                clipped += 1
            vv = _clip(x)
            c = counts[b, j]
            th = threshold[j]
            if vv >= th and c < max_spikes:
                k = min(max_spikes - c, (vv - th) // th + 1)
                c += k
                vv -= k * th
            v[b, j] = vv
            counts[b, j] = c
            for a in range(alias_start[j], alias_start[j + 1]):
                t = alias_target[a]
                counts[b, t] = min(counts[b, t] + c, max_spikes)
    return clipped


# --------------------------------------------------------------------------------------------------
# The program's ops
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QXyloHidden:
    w_in: np.ndarray  # int8 [inputs, N, S]: input weights, per synaptic current S (1 on Xylo IMU, 2 on Audio 2 and 3)
    w_rec: np.ndarray  # int8 [N, N, S]: recurrent weights (pre, post, current)
    shift_in: int  # input weight shift
    shift_rec: int  # recurrent weight shift
    dash_syn: np.ndarray  # [N, S] current decays
    dash_mem: np.ndarray  # [N] voltage decays
    threshold: np.ndarray  # [N]
    bias: np.ndarray  # [N]
    alias_start: np.ndarray  # [N + 1]: neuron j's alias targets are alias_target[alias_start[j]:alias_start[j + 1]]
    alias_target: np.ndarray  # [aliases]


@dataclass(frozen=True)
class QXyloReadout:
    w_out: np.ndarray  # int8 [hidden, M]: readout weights (one current)
    shift_out: int
    dash_syn: np.ndarray  # [M]
    dash_mem: np.ndarray  # [M]
    threshold: np.ndarray  # [M]
    bias: np.ndarray  # [M]


_NEURON_LIMITS = {"dash_syn": (0, DASH_MAX), "dash_mem": (0, DASH_MAX), "threshold": (1, STATE_MAX),
                  "bias": (STATE_MIN, STATE_MAX)}
_W = (-(1 << (WEIGHT_BITS - 1)), (1 << (WEIGHT_BITS - 1)) - 1)


def populations(program) -> tuple:
    """A xylo program's hidden and readout nodes (``QNode``s)."""
    hidden = next(n for n in program.nodes.values() if n.op_class is XyloHidden)
    readout = next(n for n in program.nodes.values() if issubclass(n.op_class, XyloReadout))
    return hidden, readout


def _neurons(q) -> tuple[np.ndarray, ...]:
    """A population's neuron parameters as the kernels take them (int64; no copy when they are already)."""
    return tuple(np.asarray(a, np.int64) for a in (q.dash_syn, q.dash_mem, q.threshold, q.bias))


def _fits(counts: np.ndarray, weights: np.ndarray) -> None:
    """The compiled kernels index without bounds checks: a source count vector must match the bank's rows."""
    if counts.ndim != 2 or counts.shape[1] != weights.shape[0]:
        raise ValueError(f"{counts.shape[-1]} sources into a weight bank of {weights.shape[0]} rows")


class _XyloPopulation(Op, IntegerForm):
    lowered: ClassVar[bool] = True
    synapse: ClassVar[bool] = True
    binary_output: ClassVar[bool] = True  # spike counts (0..31 per step on the hidden population)

    @staticmethod
    def banks(q) -> tuple[np.ndarray, ...]:
        """The population's weight banks, as stored."""
        raise NotImplementedError

    @classmethod
    def stored_synapses(cls, q) -> np.ndarray:
        """Every weight of the population's banks, one row (the report counts them and their nonzeros)."""
        return np.concatenate([np.asarray(w).reshape(-1) for w in cls.banks(q)])[None, :]

    @classmethod
    def dense_synops(cls, q) -> int:
        return int(sum(np.asarray(w).size for w in cls.banks(q)))

    @staticmethod
    def _tally(tally: Tally, counts: np.ndarray, events: int, clipped: int) -> None:
        tally.spikes += int(counts.sum())
        tally.binary_events += events
        tally.effective_binary_events += events  # only nonzero weights are synapses on Xylo
        tally.neuron_updates += counts.size
        tally.saturations += clipped


class XyloHidden(_XyloPopulation):
    """Xylo's hidden population: input and recurrent weight banks into integrate-and-fire neurons (module doc)."""

    kind: ClassVar[str] = "XyloHidden"
    Q: ClassVar[type] = QXyloHidden
    int_limits: ClassVar[dict[str, tuple[int, int]]] = {
        "w_in": _W, "w_rec": _W, "shift_in": (0, SHIFT_MAX), "shift_rec": (0, SHIFT_MAX), **_NEURON_LIMITS}

    @staticmethod
    def int_width(q: QXyloHidden) -> int:
        return q.w_in.shape[1]

    @classmethod
    def int_check(cls, q: QXyloHidden) -> None:
        """Besides the ranges: one shape for the population in every field, and aliases that name its neurons."""
        super().int_check(q)
        n, s = q.dash_syn.shape
        if q.w_in.ndim != 3 or q.w_in.shape[1:] != (n, s) or q.w_rec.shape != (n, n, s):
            raise ValueError(f"weights {q.w_in.shape} and {q.w_rec.shape} do not fit {n} neurons of {s} current(s)")
        if any(np.shape(a) != (n,) for a in (q.dash_mem, q.threshold, q.bias)) or q.alias_start.shape != (n + 1,):
            raise ValueError(f"a neuron field is not one value per neuron ({n})")
        if q.alias_start[0] != 0 or np.any(np.diff(q.alias_start) < 0) or q.alias_start[-1] != len(q.alias_target) \
                or np.any((q.alias_target < 0) | (q.alias_target >= n)):
            raise ValueError(f"aliases do not name neurons 0..{n - 1}")

    @staticmethod
    def int_initial_state(q: QXyloHidden, batch: int):
        n, s = q.dash_syn.shape
        return np.zeros((batch, n, s), np.int64), np.zeros((batch, n), np.int64), np.zeros((batch, n), np.int64)

    @staticmethod
    def int_step(q: QXyloHidden, inputs, state, tally: Tally):
        acc, v, last = (x.copy() for x in state)
        counts = np.ascontiguousarray(inputs[0], np.int64)
        _fits(counts, q.w_in)
        e1, c1 = deliver(acc, counts, q.w_in, q.shift_in, MAX_INPUT_SPIKES)  # the int8 banks as stored
        e2, c2 = deliver(acc, last, q.w_rec, q.shift_rec, MAX_HIDDEN_SPIKES)
        spikes = np.zeros_like(v)
        c3 = evolve(acc, v, spikes, *_neurons(q), MAX_HIDDEN_SPIKES, np.asarray(q.alias_start, np.int64),
                    np.asarray(q.alias_target, np.int64))
        XyloHidden._tally(tally, spikes, e1 + e2, c1 + c2 + c3)
        return spikes, (acc, v, spikes.copy())

    @staticmethod
    def banks(q: QXyloHidden) -> tuple[np.ndarray, ...]:
        return q.w_in, q.w_rec


class XyloReadout(_XyloPopulation):
    """Xylo's readout: the hidden population's spikes of the previous step through the readout weights into
    integrate-and-fire neurons sending at most one spike per step (module doc)."""

    kind: ClassVar[str] = "XyloReadout"
    Q: ClassVar[type] = QXyloReadout
    int_limits: ClassVar[dict[str, tuple[int, int]]] = {"w_out": _W, "shift_out": (0, SHIFT_MAX), **_NEURON_LIMITS}

    @staticmethod
    def int_width(q: QXyloReadout) -> int:
        return q.w_out.shape[1]

    @classmethod
    def int_check(cls, q: QXyloReadout) -> None:
        super().int_check(q)
        m = q.w_out.shape[1] if q.w_out.ndim == 2 else -1
        if any(np.shape(a) != (m,) for a in (q.dash_syn, q.dash_mem, q.threshold, q.bias)):
            raise ValueError(f"a readout field is not one value per readout neuron ({m})")

    @staticmethod
    def int_initial_state(q: QXyloReadout, batch: int):
        n, m = q.w_out.shape
        return np.zeros((batch, m, 1), np.int64), np.zeros((batch, m), np.int64), np.zeros((batch, n), np.int64)

    @staticmethod
    def int_step(q: QXyloReadout, inputs, state, tally: Tally):
        acc, v, last = (x.copy() for x in state)
        _fits(inputs[0], q.w_out)
        events, c1 = deliver(acc, last, q.w_out[:, :, None], q.shift_out, MAX_HIDDEN_SPIKES)
        spikes = np.zeros_like(v)
        none = np.zeros(v.shape[1] + 1, np.int64)
        dash_syn, dash_mem, threshold, bias = _neurons(q)
        c2 = evolve(acc, v, spikes, dash_syn.reshape(-1, 1), dash_mem, threshold, bias, MAX_READOUT_SPIKES, none,
                    none[:0])
        XyloReadout._tally(tally, spikes, events, c1 + c2)
        return spikes, (acc, v, np.ascontiguousarray(inputs[0], np.int64).copy())

    @staticmethod
    def banks(q: QXyloReadout) -> tuple[np.ndarray, ...]:
        return (q.w_out,)


class XyloVoltageReadout(XyloReadout):
    """Xylo's readout read by its voltage (the chip's ``Vmem`` output mode): the same neurons, their threshold at the
    top of the 16-bit range, each step's ``v_mem`` as the output (a graded value, for a graph whose readout is a
    leaky integrator: NIR LI, CubaLI)."""

    kind: ClassVar[str] = "XyloVoltageReadout"
    binary_output: ClassVar[bool] = False

    @staticmethod
    def int_step(q: QXyloReadout, inputs, state, tally: Tally):
        _, state = XyloReadout.int_step(q, inputs, state, tally)
        return state[1].copy(), state
