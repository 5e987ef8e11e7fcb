"""Fixed-point primitives, shared by every executor so that they agree bit for bit.

``dense`` and ``lif_step`` are Lava 0.10's bit-accurate models (``lava/proc/dense/models.py``
``AbstractPyDenseModelBitAcc``, ``lava/utils/weightutils.py``, ``lava/proc/lif/models.py``
``AbstractPyLifModelFixed``), quirks included: mixed-sign 8-bit weights lose their LSB, the accumulator is
shifted by ``weight_exp`` with a floor, ``u`` wraps once at 24 bits, ``v`` saturates, a spike needs
``v > vth << 6`` (strict), and ``u`` is not reset.  ``tests/test_fixed.py`` runs Lava's own processes on
random networks and compares.  The Dense's one-step delay is not here: it is a property of the pipeline,
handled where the graph is scheduled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STATE_BITS = 24
UV_MAX = 2 ** (STATE_BITS - 1)
DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT
ACT_SHIFT = 6  # Lava LIF: a_in << 6
VTH_SHIFT = 6  # Lava LIF: vth << 6


# --------------------------------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------------------------------


def sign_mode(weights: np.ndarray) -> str:
    if weights.min() >= 0:
        return "excitatory"
    if weights.max() <= 0:
        return "inhibitory"
    return "mixed"


def effective_weights(weights: np.ndarray, num_weight_bits: int = 8) -> np.ndarray:
    """The integer weights Lava's bit-accurate Dense really uses (clipped to 8 bits, low bits dropped)."""
    w = np.asarray(weights, dtype=np.int64)
    mode = sign_mode(w)
    if mode == "mixed":
        w = np.clip(w, -256, 255)
    elif mode == "excitatory":
        w = np.clip(w, 0, 255)
    else:
        w = -np.clip(-w, 0, 255)
    drop = 8 - num_weight_bits + (1 if mode == "mixed" else 0)
    if mode == "inhibitory":  # Lava truncates the magnitude
        return -((-w >> drop) << drop)
    return (w >> drop) << drop


def shift(acc: np.ndarray, exponent: int | np.ndarray) -> np.ndarray:
    """``acc << e`` for e >= 0, ``acc >> -e`` (floor) for e < 0; `exponent` may be per output row."""
    e = np.asarray(exponent, dtype=np.int64)
    if e.ndim == 0 or (e == e.flat[0]).all():  # one exponent for the block: a plain shift
        e0 = int(e.flat[0])
        return acc << e0 if e0 >= 0 else acc >> -e0
    return np.where(e >= 0, acc << np.maximum(e, 0), acc >> np.maximum(-e, 0))


# Integer products are computed in float64 BLAS, which is exact while every partial sum stays below 2**53:
# |weight| <= 256, |input| < 2**24 (state width), so fan-in up to 2**21 is exact.  numpy has no integer BLAS.
MAX_EXACT_FAN_IN = 2**21


def dense(weights: np.ndarray, weight_exp: int | np.ndarray, s_in: np.ndarray, graded: bool) -> np.ndarray:
    """One Dense evaluation on [..., n_in] inputs -> [..., n_out] (weights already effective, int or float64)."""
    if weights.shape[-1] > MAX_EXACT_FAN_IN:
        raise ValueError(f"fan-in {weights.shape[-1]} exceeds the exact float64 range ({MAX_EXACT_FAN_IN})")
    x = s_in.astype(np.float64) if graded else (s_in != 0).astype(np.float64)
    acc = np.rint(x @ np.asarray(weights, dtype=np.float64).T).astype(np.int64)
    return shift(acc, weight_exp)


# --------------------------------------------------------------------------------------------------
# LIF
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LIFParams:
    du: int  # 12-bit current decay (4095: current = input, no memory)
    dv: int  # 12-bit voltage decay
    vth: int  # threshold mantissa: spike iff v > vth << 6
    bias_mant: int = 0
    bias_exp: int = 0


def _decay(x: np.ndarray, factor: int) -> np.ndarray:
    y = x.astype(np.int64) * factor
    return np.sign(y) * (np.abs(y) >> DECAY_SHIFT)


def lif_step(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, p: LIFParams,
             subtract: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One Lava LIF step on int64 arrays: returns (spikes bool, u, v, number of u wraps).  The parameters may be
    per-neuron arrays.  `subtract`: a spike removes ``vth << 6`` from v instead of resetting it to 0 (not Lava's
    LIF: a Loihi 2 neuron program with otherwise the same arithmetic)."""
    u = _decay(u, DECAY_UNITY - (p.du + 1)) + (a_in.astype(np.int64) << ACT_SHIFT)
    wraps = int(np.count_nonzero((u > UV_MAX) | (u <= -UV_MAX)))
    u = np.where(u > UV_MAX, u - 2 * UV_MAX, np.where(u <= -UV_MAX, u + 2 * UV_MAX, u))
    bias = (p.bias_mant << p.bias_exp) if p.bias_exp >= 0 else (p.bias_mant >> -p.bias_exp)
    v = np.clip(_decay(v, DECAY_UNITY - p.dv) + u + bias, -UV_MAX + 1, UV_MAX - 1)
    threshold = p.vth << VTH_SHIFT
    spikes = v > threshold
    return spikes, u, np.where(spikes, v - threshold if subtract else 0, v), wraps


# --------------------------------------------------------------------------------------------------
# Integer helpers for the extension ops
# --------------------------------------------------------------------------------------------------


def isqrt(n: np.ndarray) -> np.ndarray:
    """Exact floor(sqrt(n)) of non-negative int64 values (float estimate, then integer correction)."""
    n = np.asarray(n, dtype=np.int64)
    r = np.floor(np.sqrt(n.astype(np.float64))).astype(np.int64)
    for _ in range(2):
        r = np.where(r * r > n, r - 1, r)
        r = np.where((r + 1) * (r + 1) <= n, r + 1, r)
    return r


def round_shift(x: np.ndarray, s: int | np.ndarray) -> np.ndarray:
    """Round-half-up ``x / 2**s`` for s >= 0 (``x * 2**-s`` for s < 0); `s` may be an array of s >= 0."""
    x = np.asarray(x, dtype=np.int64)
    if isinstance(s, np.ndarray):
        half = np.where(s > 0, np.int64(1) << np.maximum(s - 1, 0), 0)
        return (x + half) >> s
    if s <= 0:
        return x << -s
    return (x + (1 << (s - 1))) >> s


def bit_length(x: np.ndarray) -> np.ndarray:
    """Bits of |x| (0 for 0), exact for |x| < 2**53."""
    return np.frexp(np.abs(x).astype(np.float64))[1].astype(np.int64)


def div_round(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Integer division rounding half away from zero, for den > 0."""
    num = np.asarray(num, dtype=np.int64)
    q = (np.abs(num) + den // 2) // den
    return np.sign(num) * q


def saturate(x: np.ndarray, bits: int) -> tuple[np.ndarray, int]:
    """Clip to a signed `bits`-bit range; returns (values, how many were clipped)."""
    hi = (1 << (bits - 1)) - 1
    if x.size == 0 or (x.max() <= hi and x.min() >= -hi - 1):
        return x, 0
    clipped = int(np.count_nonzero((x > hi) | (x < -hi - 1)))
    return np.clip(x, -hi - 1, hi), clipped
