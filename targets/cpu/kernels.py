"""The cpu engine's compiled integer step: each op's integer semantics (``neurocompile.ops``) as a numba kernel, and
one compiled loop that runs a program's kernels in order -- no Python per node per step.

This is the cpu target's lowering of the ops, one per op kind (``LOWERINGS``), the way a compiler registers one
lowering per op per platform; the numpy ``int_step`` of each op stays the readable reference, and
``tests/test_compiled.py`` keeps the two identical on random programs, random inputs and every saturation corner.
An op without a lowering here still runs: the engine calls its reference step between compiled stretches.

Data layout (batched integer arrays, nothing Python-shaped, so another backend can take them as they are):

* ``V`` int64 [streams, values]: every node's output this step, in columns (``Layout.values``);
* ``S`` int64 [streams, state]: the per-stream state of every compiled node, in columns;
* ``P`` int64 [params]: parameters (biases, exponents, thresholds, tables, ...), flat;
* ``W`` int8 [weights]: the Dense weights, halved (Lava's 8-bit weights of a mixed-sign matrix are even), each
  port's matrix transposed (in-major) so that one input's fan-out is one contiguous row -- or, for a graded port
  where the native library is built, as it is (output-major: one output's fan-in a row, for ``native.c``'s integer
  dot products split over the cores); and the spike embedding's
  0/1 table (a vocabulary of 50,277 x 768 as int64 parameters was 309 MB);
* ``C`` int64 [nodes, counters]: the counters of ``Tally``, summed over steps and streams;
* ``code`` int64: each node's arguments (offsets into the arrays above, widths, constants), and ``table`` int64
  [nodes, 3]: (kernel, first argument, end of arguments) per compiled node, in execution order.

Dense products accumulate in int64 (exact for any fan-in); a binary input adds its weight row and inputs equal to
zero cost nothing (the event-driven order: input-major); a graded port runs the CPU's integer dot-product
instructions over its output rows (``native``), or, without the native library, adds each input's row times its
value as a binary one does.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import warnings

import numpy as np
from numba import literal_unroll, njit
from numba.core.errors import NumbaExperimentalFeatureWarning
from numba.cpython.unsafe.numbers import leading_zeros

from neurocompile import fixed, ops
from neurocompile.ops import Op, Tally
from neurocompile.targets.loihi2.arithmetic.norm import R_FRAC, RSQRT_HALF, RSQRT_STEPS
from neurocompile.targets.loihi2.arithmetic.rwkv import LOG2E, LOG2E_FRAC, POW2_FRAC, POW2_STEPS, Q_FRAC, RECIP_FRAC

from . import native  # links the dot-product symbol before any kernel is compiled or loaded from the cache

# counter columns (Tally.FIELDS)
SPIKES, BINARY, GRADED, MESSAGES, UPDATES, EVALS, SATURATIONS, WRAPS, EFF_BINARY, EFF_GRADED = (
    Tally.FIELDS.index(f) for f in ("spikes", "binary_events", "graded_events", "graded_messages", "neuron_updates",
                                    "op_evals", "saturations", "wraps", "effective_binary_events",
                                    "effective_graded_events"))
UV_MAX = fixed.UV_MAX
DECAY_SHIFT, DECAY_UNITY, ACT_SHIFT, VTH_SHIFT = fixed.DECAY_SHIFT, fixed.DECAY_UNITY, fixed.ACT_SHIFT, fixed.VTH_SHIFT
MAX_SHIFT = 62  # shifts beyond this are not the reference's arithmetic (numpy's and LLVM's differ): refused

# numba types the tuple of kernels ``run`` unrolls over with its first-class function types and warns that they are
# experimental, once per compilation (on a user's first run); tests/test_compiled.py checks every kernel against its
# op's reference step, and BENCHMARKS.md measures the table against the if/elif chain it replaced
warnings.filterwarnings("ignore", "First-class function type", NumbaExperimentalFeatureWarning)

JIT = dict(cache=True, nogil=True, error_model="numpy")  # numpy's integer division by zero (0), not Python's error


# --------------------------------------------------------------------------------------------------
# Scalar helpers (fixed.py's arithmetic, one element at a time)
# --------------------------------------------------------------------------------------------------


@njit(**JIT)
def _round_shift(x, s):
    if s <= 0:
        return x << -s
    return (x + (np.int64(1) << (s - 1))) >> s


@njit(**JIT)
def _shift(x, e):
    return x << e if e >= 0 else x >> -e


@njit(**JIT)
def _clip(x, bits):
    """(value clipped to a signed `bits`-bit range, 1 if it was clipped)."""
    hi = (np.int64(1) << (bits - 1)) - 1
    if x > hi:
        return hi, 1
    if x < -hi - 1:
        return -hi - 1, 1
    return x, 0


@njit(**JIT)
def _put(V, b, j, x, bits):
    """V[b, j] = x clipped to `bits`; 1 if it was clipped."""
    y, c = _clip(x, bits)
    V[b, j] = y
    return c


@njit(**JIT)
def _evaluated(C, node, evals, clipped):
    """An extension op's counters: its evaluations and its clipped outputs."""
    C[node, EVALS] += evals
    C[node, SATURATIONS] += clipped
    return True


@njit(**JIT)
def _summed(V, a, first, inputs, b, i):
    """Element i of stream b summed over the inputs whose columns are a[first], a[first + 1], ... (NIR's edges)."""
    x = 0
    for k in range(inputs):
        x += V[b, a[first + k] + i]
    return x


@njit(**JIT)
def _lookup(P, tab, length, in_frac, step_frac, offset, x):
    i = _round_shift(x, in_frac - step_frac) + offset
    return P[tab + min(max(i, 0), length - 1)]


@njit(**JIT)
def _decay(x, factor):
    y = x * factor
    return -((-y) >> DECAY_SHIFT) if y < 0 else y >> DECAY_SHIFT


@njit(**JIT)
def _div_round(num, den):
    q = (abs(num) + den // 2) // den
    return -q if num < 0 else q


@njit(**JIT)
def _bit_length(x):
    """int.bit_length of |x| (|x| < 2^63), by the CPU's leading-zero count."""
    x = abs(x)
    return 64 - leading_zeros(np.uint64(x)) if x else 0


@njit(**JIT)
def _span(n, part, parts):
    """Elements [lo, hi) of n that part `part` of `parts` computes: the same rule for every kernel that splits, so
    that a row reading element i of a value as wide as its own reads what its own part wrote."""
    return n * part // parts, n * (part + 1) // parts


@njit(**JIT)
def _isqrt(n):
    r = np.int64(np.floor(np.sqrt(np.float64(n))))
    for _ in range(2):
        if r * r > n:
            r -= 1
        if (r + 1) * (r + 1) <= n:
            r += 1
    return r


# --------------------------------------------------------------------------------------------------
# Kernels: a = this node's arguments; each returns True, or False when its input is out of range
# --------------------------------------------------------------------------------------------------


INT32_MAX = 2**31 - 1


@njit(**JIT)
def _accumulate(acc, W, w0, n_out, lo, hi, V, x0, j0, j1, binary):
    """acc[b] += columns lo..hi-1 of row j of W (rows n_out wide) times input j of stream b, for the inputs
    j0 <= j < j1 that are not zero (a binary input counts as 1); `acc` is int32 or int64, the caller's choice of what
    cannot overflow."""
    for j in range(j0, j1):
        row = W[w0 + j * n_out + lo: w0 + j * n_out + hi]
        for b in range(V.shape[0]):
            xv = V[b, x0 + j]
            if xv != 0:
                acc_b = acc[b]
                if binary:
                    for o in range(hi - lo):
                        acc_b[o] += row[o]
                else:
                    xt = acc_b.dtype.type(xv)
                    for o in range(hi - lo):
                        acc_b[o] += acc_b.dtype.type(row[o]) * xt


DIGIT_MAX = 2**native.DIGIT - 1  # |x| a 15-bit digit holds (native.c's int16 inputs, -32768 never used)


@njit(**JIT)
def _dot(acc, W, w0, n_out, V, x0, n_in, xmax):
    """acc[b, o] = sum_j W[w0 + o n_in + j] V[b, x0 + j] (weights output-major): native.c's dot products on the
    inputs as 15-bit digits (one digit while |x| <= 32767, as a graded spike of up to 16 bits is), each digit's sums
    shifted into place -- exact while the sums fit int64, as the event-driven path's."""
    B = V.shape[0]
    digits = 1
    while (xmax >> (native.DIGIT * (digits - 1))) > DIGIT_MAX:  # at most 5: int64 >> 60 is at most 7
        digits += 1
    X = np.empty((B, n_in), np.int16)
    for b in range(B):  # the top digit (the only one while |x| <= 32767) straight into acc
        Vb, Xb = V[b, x0:x0 + n_in], X[b]
        for j in range(n_in):
            Xb[j] = Vb[j] >> (native.DIGIT * (digits - 1))
    native.dot(W.ctypes.data + w0, n_in, n_out, X.ctypes.data, B, acc.ctypes.data)
    if digits > 1:
        part = np.empty((B, n_out), np.int64)
        for k in range(digits - 2, -1, -1):
            for b in range(B):
                Vb, Xb = V[b, x0:x0 + n_in], X[b]
                for j in range(n_in):
                    Xb[j] = (Vb[j] >> (native.DIGIT * k)) & DIGIT_MAX
            native.dot(W.ctypes.data + w0, n_in, n_out, X.ctypes.data, B, part.ctypes.data)
            for b in range(B):
                for o in range(n_out):
                    acc[b, o] = (acc[b, o] << native.DIGIT) + part[b, o]


@njit(**JIT)
def dense(a, V, S, P, W, C, t, part, parts):
    """a: node, out, n_out, out_bits, bias, bias_from (the step the bias enters at), ports, then per port (in, n_in,
    binary, weights, exponents, nonzero, largest |weight|, output-major).  An output-major port (graded input, the
    native library present) runs native.c's dot products (``_dot``); an input-major one adds each nonzero input's row,
    in int32 over as many inputs as cannot overflow it (the port's largest |weight| times this step's largest |input|),
    then in int64.  Both exact for any fan-in and any input.  A part computes its span of the outputs from all of every
    input, and counts the events of its span of the inputs."""
    node, out, n_out, out_bits, bias, bias_from, ports = a[0], a[1], a[2], a[3], a[4], a[5], a[6]
    lo, hi = _span(n_out, part, parts)
    B, n = V.shape[0], hi - lo
    total = np.zeros((B, n), np.int64)
    acc = np.empty((B, n), np.int64)
    for p in range(ports):
        x0, n_in, binary, w0, e0, nz0, wmax, dot = a[7 + 8 * p: 15 + 8 * p]
        active, events, effective, xmax = 0, 0, 0, 0
        j0, j1 = _span(n_in, part, parts)  # the inputs whose events this part counts
        for b in range(B):  # without branches: passes the compiler vectorises
            Vb = V[b, x0:x0 + n_in]
            for j in range(n_in):
                active += Vb[j] != 0
                xmax = max(xmax, abs(Vb[j]))
            Vs, Pnz = V[b, x0 + j0:x0 + j1], P[nz0 + j0:nz0 + j1]
            for j in range(j1 - j0):
                events += Vs[j] != 0
                effective += Pnz[j] if Vs[j] != 0 else 0
        if binary:
            xmax = min(xmax, 1)
        chunk = n_in if wmax * xmax == 0 else INT32_MAX // (wmax * xmax) if xmax <= INT32_MAX else 0
        if dot:
            _dot(acc, W, w0 + lo * n_in, n, V, x0, n_in, xmax)
        elif chunk >= 16:  # int32 lanes (twice the width of int64 ones) pay for the flushes
            acc[:] = 0
            acc32 = np.empty((B, n), np.int32)
            for j0 in range(0, n_in, chunk):
                acc32[:] = 0
                _accumulate(acc32, W, w0, n_out, lo, hi, V, x0, j0, min(j0 + chunk, n_in), binary)
                acc += acc32
        else:
            acc[:] = 0
            _accumulate(acc, W, w0, n_out, lo, hi, V, x0, 0, n_in, binary)
        Pe = P[e0 + lo:e0 + hi]
        for b in range(B):
            for o in range(n):
                total[b, o] += _shift(acc[b, o], Pe[o])
        C[node, EFF_BINARY if binary else EFF_GRADED] += effective
        C[node, MESSAGES] += 0 if binary else events
        C[node, BINARY if binary else GRADED] += active * n
    clipped = 0
    with_bias = 1 if t >= bias_from else 0
    Pb = P[bias + lo:bias + hi]
    for b in range(B):
        Vo = V[b, out + lo:out + hi]
        for o in range(n):
            y, c = _clip(total[b, o] + with_bias * Pb[o], out_bits)
            Vo[o] = y
            clipped += c
    C[node, SATURATIONS] += clipped
    return True


@njit(**JIT)
def conv(a, V, S, P, W, C, t, part, parts):
    """A convolution held as its kernel, on spikes (``ConvSynapse``), event by event: each input spike adds the kernel
    taps it reaches (PyTorch's correlation: output (oy, ox) reads input (oy sh + i dh - ph, ox sw + k dw - pw)).
    a: node, out, in, C, H, W, C_out, H', W', kh, kw, sh, sw, ph, pw, dh, dw, groups, weights (halves [C_out,
    C_in / groups, kh, kw]), exponent, bias (per channel), out_bits, fan-out, non-zero fan-out (per input).  The sums
    of Lava's weights (twice the halves) clamp to 24 bits as Lava's Conv clamps them, then shift, then the bias."""
    node, out, x0, c_in, h, w, c_out, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw, groups = a[:18]
    w0, exp, bias, out_bits, fan, nonzero = a[18:24]
    B = V.shape[0]
    per_in, per_out = c_in // groups, c_out // groups
    acc = np.zeros((B, ho, wo, c_out), np.int64)  # channels last: the innermost loop runs along the weights' rows
    reached, effective = 0, 0
    for b in range(B):
        for c in range(c_in):
            g, cl = c // per_in, c % per_in
            for y in range(h):
                for x in range(w):
                    j = (c * h + y) * w + x
                    if V[b, x0 + j] == 0:
                        continue
                    reached += P[fan + j]
                    effective += P[nonzero + j]
                    for i in range(kh):
                        ny = y + ph - i * dh
                        if ny < 0 or ny % sh != 0 or ny // sh >= ho:
                            continue
                        oy = ny // sh
                        for k in range(kw):
                            nx = x + pw - k * dw
                            if nx < 0 or nx % sw != 0 or nx // sw >= wo:
                                continue
                            ox = nx // sw
                            row = acc[b, oy, ox]
                            base = w0 + ((i * kw + k) * per_in + cl) * c_out  # weights [kh, kw, C_in / groups, C_out]
                            for o in range(g * per_out, (g + 1) * per_out):
                                row[o] += W[base + o]
    top = (np.int64(1) << 23) - 1
    clipped = 0
    for b in range(B):
        for o in range(c_out):
            for oy in range(ho):
                for ox in range(wo):
                    s = min(max(2 * acc[b, oy, ox, o], -top - 1), top)
                    clipped += _put(V, b, out + (o * ho + oy) * wo + ox, _shift(s, exp) + P[bias + o], out_bits)
    C[node, BINARY] += reached
    C[node, EFF_BINARY] += effective
    C[node, SATURATIONS] += clipped
    return True


@njit(**JIT)
def neuron(a, V, S, P, W, C, t, part, parts):
    """Lava's LIF arithmetic per neuron (``fixed.lif_step``): LIF, PeriodicLIF, CUBA and CUBAVoltage.
    a: node, out, n, state (u then v), du, dv, vth, bias (per-neuron arrays in P), subtract (reset by subtracting the
    threshold), period and phase (u and v cleared before every step t = phase mod period; period 0: never), voltage
    (1: output v, no spikes), inputs (summed), then each input."""
    node, out, n, s, du, dv, vth, bias, subtract, period, phase, voltage, inputs = a[:13]
    B = V.shape[0]
    lo, hi = _span(n, part, parts)
    clear = period > 0 and (t - phase) % period == 0
    spikes, wraps, rails = 0, 0, 0
    # views of this part's span of each row: indexed from range(m), numba knows the index is not negative (no
    # wraparound test per access)
    m = hi - lo
    Pdu, Pdv, Pvth, Pbias = P[du + lo:du + hi], P[dv + lo:dv + hi], P[vth + lo:vth + hi], P[bias + lo:bias + hi]
    keep = 0 if clear else 1
    x = np.empty(m, np.int64)
    for b in range(B):
        x[:] = 0
        for k in range(inputs):  # the inputs summed first, each a stride-1 pass
            Vin = V[b, a[13 + k] + lo:a[13 + k] + hi]
            for i in range(m):
                x[i] += Vin[i]
        Vo, Su, Sv = V[b, out + lo:out + hi], S[b, s + lo:s + hi], S[b, s + n + lo:s + n + hi]
        for i in range(m):  # no branches but selects: the spikes of a layer are no pattern a predictor learns
            u = _decay(Su[i] * keep, DECAY_UNITY - (Pdu[i] + 1)) + (x[i] << ACT_SHIFT)
            over, under = np.int64(u > UV_MAX), np.int64(u <= -UV_MAX)
            u += 2 * UV_MAX * (under - over)
            wraps += over + under
            v = min(max(_decay(Sv[i] * keep, DECAY_UNITY - Pdv[i]) + u + Pbias[i], -UV_MAX + 1), UV_MAX - 1)
            threshold = Pvth[i] << VTH_SHIFT
            fire = np.int64(v > threshold) * (1 - voltage)
            Vo[i] = v if voltage else fire
            rails += np.int64(abs(v) >= UV_MAX - 1) * voltage
            spikes += fire
            reset = v - threshold if subtract else 0
            Su[i], Sv[i] = u, reset if fire else v
    C[node, WRAPS] += wraps
    C[node, UPDATES] += B * (hi - lo)
    C[node, SPIKES] += spikes
    C[node, SATURATIONS] += rails
    return True


@njit(**JIT)
def token_shift(a, V, S, P, W, C, t, part, parts):
    """a: node, in, out, n, state."""
    x0, out, n, s = a[1], a[2], a[3], a[4]
    lo, hi = _span(n, part, parts)
    for b in range(V.shape[0]):
        for i in range(lo, hi):
            V[b, out + i] = S[b, s + i]
            S[b, s + i] = V[b, x0 + i]
    return True


@njit(**JIT)
def layer_norm(a, V, S, P, W, C, t, part, parts):
    """a: node, in, out, n, budget, eps, gamma, gamma_frac, beta, out_frac, out_bits, std_bits."""
    node, x0, out, n, budget, eps, gamma, gamma_frac, beta, out_frac, out_bits, std_bits = a[:12]
    B = V.shape[0]
    d = np.empty(n, np.int64)
    up = out_frac + std_bits - gamma_frac
    clipped = 0
    for b in range(B):
        total = 0
        for i in range(n):
            total += V[b, x0 + i]
        peak = 0
        for i in range(n):
            d[i] = n * V[b, x0 + i] - total
            peak = max(peak, abs(d[i]))
        down = max(_bit_length(peak) - budget, 0)
        squares = 0
        for i in range(n):
            d[i] = _round_shift(d[i], down)
            squares += d[i] * d[i]
        var = squares // n + _round_shift(eps, 2 * down)
        std = _isqrt(var << (2 * std_bits))
        for i in range(n):
            num = d[i] * P[gamma + i]
            num = num << up if up >= 0 else _round_shift(num, -up)
            clipped += _put(V, b, out + i, _div_round(num, std) + P[beta + i], out_bits)
    return _evaluated(C, node, B * n, clipped)


@njit(**JIT)
def wkv(a, V, S, P, W, C, t, part, parts):
    """a: node, k, v, out, n, state (p, q, o), w, u, exp table, its length, in_frac, step_frac, offset, exp_frac."""
    node, k0, v0, out, n, s, w, u, tab, length, in_frac, step_frac, offset, exp_frac = a[:14]
    B = V.shape[0]
    one = np.int64(1) << exp_frac
    lo, hi = _span(n, part, parts)
    for b in range(B):
        for i in range(lo, hi):
            k, v = V[b, k0 + i], V[b, v0 + i]
            p, q, o = S[b, s + i], S[b, s + n + i], S[b, s + 2 * n + i]
            uk = P[u + i] + k
            no = max(o, uk)
            ea = _lookup(P, tab, length, in_frac, step_frac, offset, no - o)
            eb = _lookup(P, tab, length, in_frac, step_frac, offset, no - uk)
            V[b, out + i] = _div_round(ea * p + eb * v * one, ea * q + eb * one)
            wo = P[w + i] + o
            no = max(wo, k)
            ea = _lookup(P, tab, length, in_frac, step_frac, offset, no - wo)
            eb = _lookup(P, tab, length, in_frac, step_frac, offset, no - k)
            S[b, s + i] = _round_shift(ea * p + eb * v * one, exp_frac)
            S[b, s + n + i] = _round_shift(ea * q + eb * one, exp_frac)
            S[b, s + 2 * n + i] = no
    C[node, EVALS] += B * (hi - lo)
    return True


@njit(**JIT)
def table_lookup(a, V, S, P, W, C, t, part, parts):
    """a: node, in, out, n, table, its length, in_frac, step_frac, offset."""
    node, x0, out, n, tab, length, in_frac, step_frac, offset = a[:9]
    lo, hi = _span(n, part, parts)
    for b in range(V.shape[0]):
        for i in range(lo, hi):
            V[b, out + i] = _lookup(P, tab, length, in_frac, step_frac, offset, V[b, x0 + i])
    C[node, EVALS] += V.shape[0] * (hi - lo)
    return True


@njit(**JIT)
def product(a, V, S, P, W, C, t, part, parts):
    """a: node, first input, second input, out, n, shift, bits, relu (1: the first input's positive part squared)."""
    node, x0, y0, out, n, shift, bits, square = a[:8]
    lo, hi = _span(n, part, parts)
    clipped = 0
    for b in range(V.shape[0]):
        for i in range(lo, hi):
            x = V[b, x0 + i]
            if square:
                x = max(x, 0)
                y = x
            else:
                y = V[b, y0 + i]
            clipped += _put(V, b, out + i, _round_shift(x * y, shift), bits)
    return _evaluated(C, node, V.shape[0] * (hi - lo), clipped)


@njit(**JIT)
def add(a, V, S, P, W, C, t, part, parts):
    """a: node, out, n, bits, inputs, then per input (in, shift)."""
    node, out, n, bits, inputs = a[:5]
    lo, hi = _span(n, part, parts)
    clipped = 0
    for b in range(V.shape[0]):
        for i in range(lo, hi):
            total = 0
            for k in range(inputs):
                total += _round_shift(V[b, a[5 + 2 * k] + i], a[6 + 2 * k])
            clipped += _put(V, b, out + i, total, bits)
    return _evaluated(C, node, V.shape[0] * (hi - lo), clipped)


@njit(**JIT)
def _sat24(x):
    return min(max(x, -(1 << 23)), (1 << 23) - 1)


@njit(**JIT)
def _mac24(a, x, b, y):
    """(a x + b y) / 2^15 rounded, saturated to 24 bits: (the value, 1 if it was clipped)."""
    raw = _round_shift(a * x + b * y, POW2_FRAC)
    value = _sat24(raw)
    return value, int(value != raw)


@njit(**JIT)
def _pow2_neg(P, tab, x, k_frac):
    """exp(-x), x >= 0 at k's scale, Q0.15, as ops/rwkv.py's ``_exp_neg``; the clipped counts in x are not saturations."""
    t = (x * LOG2E) >> LOG2E_FRAC
    if t > (1 << 23) - 1:
        t = (1 << 23) - 1
    whole = t >> k_frac
    if whole >= POW2_FRAC + 1:
        return 0
    index = _round_shift(t & ((np.int64(1) << k_frac) - 1), k_frac - POW2_STEPS)
    return _round_shift(P[tab + index], whole)


@njit(**JIT)
def neuron_wkv(a, V, S, P, W, C, t, part, parts):
    """a: node, k, v, out, n, state, w, u, k_frac, pow2 table, reciprocal seeds (the op's 24-bit neuron program)."""
    node, k0, v0, out, n, st, w0, u0, k_frac, tab, seeds = a[:11]
    top, empty = (1 << 23) - 1, -(1 << 23)
    lo, hi = _span(n, part, parts)
    clipped = 0
    Pw, Pu = P[w0 + lo:w0 + hi], P[u0 + lo:u0 + hi]  # views of the span: no wraparound test per access (see neuron)
    for b in range(V.shape[0]):
        Vk, Vv, Vo = V[b, k0 + lo:k0 + hi], V[b, v0 + lo:v0 + hi], V[b, out + lo:out + hi]
        Sp, Sq, So = S[b, st + lo:st + hi], S[b, st + n + lo:st + n + hi], S[b, st + 2 * n + lo:st + 2 * n + hi]
        for i in range(hi - lo):
            k, v = Vk[i], Vv[i]
            p, q, o = Sp[i], Sq[i], So[i]
            uk = _sat24(Pu[i] + k)
            clipped += uk != Pu[i] + k
            no = max(o, uk)
            ea, eb = _pow2_neg(P, tab, min(no - o, top), k_frac), _pow2_neg(P, tab, no - uk, k_frac)
            num, c1 = _mac24(ea, p, eb, v)
            den, c2 = _mac24(ea, q, eb, np.int64(1) << Q_FRAC)
            clipped += c1 + c2
            den = max(den, 1)
            high = _bit_length(den) - 1
            d = min(_round_shift(den, high - 22), top)  # [2^22, 2^23)
            r = P[seeds + (d >> 18) - 16]
            for _ in range(2):
                raw = (r * ((np.int64(2) << RECIP_FRAC) - ((d * r) >> 23))) >> RECIP_FRAC
                r = _sat24(raw)
                clipped += r != raw
            raw = _round_shift(num * r, RECIP_FRAC + high + 1 - Q_FRAC)
            y = _sat24(raw)
            clipped += y != raw
            wo = max(Pw[i] + o, empty)
            no = max(wo, k)
            ea, eb = _pow2_neg(P, tab, no - wo, k_frac), _pow2_neg(P, tab, no - k, k_frac)
            p, c1 = _mac24(ea, p, eb, v)
            q, c2 = _mac24(ea, q, eb, np.int64(1) << Q_FRAC)
            clipped += c1 + c2
            Sp[i], Sq[i], So[i] = p, q, no
            Vo[i] = y
    return _evaluated(C, node, V.shape[0] * (hi - lo), clipped)


@njit(**JIT)
def _sat24c(C, node, x):
    """x saturated to the neuron's 24 bits, the clip counted."""
    y = _sat24(x)
    if y != x:
        C[node, SATURATIONS] += 1
    return y


@njit(**JIT)
def neuron_layer_norm(a, V, S, P, W, C, t, part, parts):
    """a: node, in, out, n, up, sum shift, mean mul, mean shift, square shift, var shift, eps, product shift, gain,
    gain frac, beta, out frac, out bits, rsqrt seeds (the op's 24-bit neuron programs, ops/norm.py)."""
    node, x0, out, n, up, s1, mul, ms, s2, vs, eps, ps, gain, gf, beta, of, bits, seeds = a[:18]
    d = np.empty(n, np.int64)
    clipped = 0
    events = 0
    for b in range(V.shape[0]):
        total = 0
        for i in range(n):
            total += V[b, x0 + i]
            events += V[b, x0 + i] != 0
        mean = _sat24c(C, node, _round_shift(_sat24c(C, node, total >> s1) * mul, ms))
        squares = 0
        rails = 0  # counted here, not in C, inside the loop: the loop stays free of stores LLVM cannot reorder
        for i in range(n):
            dev = (V[b, x0 + i] << up) - mean
            di = _sat24(dev)
            d[i] = di
            raw = _round_shift(di * di, s2)
            sq = _sat24(raw)
            rails += (di != dev) + (sq != raw)
            events += sq != 0
            squares += sq
        C[node, SATURATIONS] += rails
        var = max(_sat24c(C, node, _sat24c(C, node, squares >> vs) + eps), 1)
        h = (_bit_length(var) - 22) // 2
        m = var >> (2 * h) if h >= 0 else var << (-2 * h)
        r = P[seeds + (m >> 19) - 4]
        for _ in range(RSQRT_STEPS):
            r = _sat24c(C, node, (r * ((np.int64(3) << R_FRAC) - ((m * ((r * r) >> R_FRAC)) >> 23))) >> (R_FRAC + 1))
        shift = R_FRAC + RSQRT_HALF + h + gf - of - ps
        for i in range(n):
            raw = _round_shift(d[i] * r, ps)
            t = _sat24(raw)
            clipped += t != raw
            t *= P[gain + i]
            y = _round_shift(t, shift) if shift >= 0 else t << min(-shift, 24)
            clipped += _put(V, b, out + i, y + P[beta + i], bits)
    C[node, GRADED] += events + 3 * V.shape[0] * n
    C[node, EFF_GRADED] += events + 3 * V.shape[0] * n
    C[node, MESSAGES] += events + 3 * V.shape[0]
    return _evaluated(C, node, V.shape[0] * n, clipped)


@njit(**JIT)
def mix(a, V, S, P, W, C, t, part, parts):
    """a: node, out, n, bits, shift, inputs, then per input (in, left shift, first ratio in P)."""
    node, out, n, bits, shift, inputs = a[:6]
    lo, hi = _span(n, part, parts)
    clipped = 0
    total = np.empty(hi - lo, np.int64)
    for b in range(V.shape[0]):
        total[:] = 0
        for k in range(inputs):  # input by input: each inner loop one stride-1 pass the compiler vectorises
            x0, left, ratio = a[6 + 3 * k] + lo, a[7 + 3 * k], a[8 + 3 * k] + lo
            for i in range(hi - lo):
                total[i] += (V[b, x0 + i] << left) * P[ratio + i]
        for i in range(hi - lo):
            clipped += _put(V, b, out + lo + i, _round_shift(total[i], shift), bits)
    return _evaluated(C, node, V.shape[0] * (hi - lo), clipped)


@njit(**JIT)
def copy(a, V, S, P, W, C, t, part, parts):
    """a: node, in, out, n (a graph output)."""
    x0, out, n = a[1], a[2], a[3]
    lo, hi = _span(n, part, parts)
    for b in range(V.shape[0]):
        for i in range(lo, hi):
            V[b, out + i] = V[b, x0 + i]
    return True


@njit(**JIT)
def embedding(a, V, S, P, W, C, t, part, parts):
    """a: node, in (token ids), out, n, table [rows, n] (0/1, in W), rows.  False for an id outside the table."""
    node, x0, out, n, tab, rows = a[:6]
    lo, hi = _span(n, part, parts)
    for b in range(V.shape[0]):
        token = V[b, x0]
        if token < 0:
            token += rows  # numpy's negative index, as the reference reads it
        if token < 0 or token >= rows:
            return False
        for i in range(lo, hi):
            V[b, out + i] = W[tab + token * n + i]
    if part == 0:
        C[node, EVALS] += V.shape[0]
    return True


@njit(**JIT)
def attention(a, V, S, P, W, C, t, part, parts):
    """SpikingAttention: a: node, q, k, v, out, heads, head_dim, period, state_bits, out_bits, state (period x heads x
    d x d counts per stream)."""
    node, q0, k0, v0, out, H, d, period, state_bits, out_bits, s = a[:11]
    B = V.shape[0]
    slot = t % period
    events, messages, clipped = 0, 0, 0
    for b in range(B):
        for h in range(H):
            base = s + (slot * H + h) * d * d
            for i in range(d):
                events += V[b, q0 + h * d + i] + V[b, k0 + h * d + i] + V[b, v0 + h * d + i]
                ki = V[b, k0 + h * d + i]
                for j in range(d):
                    count, c = _clip(S[b, base + i * d + j] + ki * V[b, v0 + h * d + j], state_bits)
                    S[b, base + i * d + j] = count
                    clipped += c
            for j in range(d):
                y = 0
                for i in range(d):
                    r = V[b, q0 + h * d + i] * S[b, base + i * d + j]
                    if r != 0:
                        messages += 1
                        y += r
                y, c = _clip(y, out_bits)
                V[b, out + h * d + j] = y
                clipped += c
    C[node, BINARY] += events * d
    C[node, EFF_BINARY] += events * d
    C[node, MESSAGES] += messages
    C[node, GRADED] += messages
    C[node, EFF_GRADED] += messages
    C[node, UPDATES] += B * period * H * d * d
    C[node, SATURATIONS] += clipped
    return True


@njit(**JIT)
def time_sum(a, V, S, P, W, C, t, part, parts):
    """TimeSum: a: node, in, out, n, state, period, bits (the sum cleared when a period starts)."""
    node, x0, out, n, s, period, bits = a[:7]
    lo, hi = _span(n, part, parts)
    clear = t % period == 0
    clipped = 0
    for b in range(V.shape[0]):
        for i in range(lo, hi):
            total, c = _clip(V[b, x0 + i] + (0 if clear else S[b, s + i]), bits)
            S[b, s + i] = total
            V[b, out + i] = total
            clipped += c
    C[node, UPDATES] += V.shape[0] * (hi - lo)
    C[node, SATURATIONS] += clipped
    return True


@njit(**JIT)
def token_code(a, V, S, P, W, C, t, part, parts):
    """TokenCode: a: node, in (token ids), out, table [rows, width], rows, width, positions [places, pwidth], places,
    pwidth, outer (1: one-hot of (position, token)), period.  False for an id outside the table."""
    node, x0, out, tab, rows, width, pos, places, pwidth, outer, period = a[:11]
    position = t // period
    n = places * rows if outer else width + pwidth
    for b in range(V.shape[0]):
        for i in range(n):
            V[b, out + i] = 0
        if position >= places:  # past the context: all zeros (the reference reads no id there)
            continue
        token = V[b, x0]
        if token < 0:
            token += rows
        if token < 0 or token >= rows:
            return False
        if outer:
            V[b, out + position * rows + token] = 1
        else:
            for i in range(width):
                V[b, out + i] = P[tab + token * width + i]
            for i in range(pwidth):
                V[b, out + width + i] = P[pos + position * pwidth + i]
    C[node, EVALS] += V.shape[0]
    return True


@njit(**JIT)
def threshold(a, V, S, P, W, C, t, part, parts):
    """Threshold: a: node, out, n, thresholds (per neuron, in P), inputs (summed), then each input."""
    node, out, n, thr, inputs = a[:5]
    lo, hi = _span(n, part, parts)
    spikes = 0
    for b in range(V.shape[0]):
        for i in range(lo, hi):
            fire = _summed(V, a, 5, inputs, b, i) > P[thr + i]
            V[b, out + i] = fire
            spikes += fire
    C[node, UPDATES] += V.shape[0] * (hi - lo)
    C[node, SPIKES] += spikes
    return True


# Every kernel, in the order of its number in a program's ``table``.  One signature for all -- (arguments, V, S, P,
# W, C, t, part, parts) -> whether the input was in range -- so that ``run`` can unroll over them (a kernel ignores
# what it does not read).  A kernel that splits computes its ``_span`` of its outputs; one that does not (see
# ``Lowering.split``) runs on part 0 alone, with parts == 1.
KERNELS = (dense, neuron, token_shift, layer_norm, wkv, table_lookup, product, add, copy, embedding, attention,
           time_sum, token_code, threshold, mix, neuron_wkv, neuron_layer_norm, conv)


SYNC, WHOLE = 1, 2  # a row's flags (``table[r, 3]``): the parts meet before it; it runs on part 0 alone

# The int64 words one split step's threads share: native.c's barrier (arrivals, generation, abort), then the
# hand-off (``lead`` / ``serve``): the step's number (-1: stop), the parts done, the rows and the step, each part's
# ``run`` result.
ARRIVALS, GENERATION, ABORT, GO, DONE, FIRST, END, STEP, RESULTS = range(9)
SYNC_WORDS = RESULTS + native.MAX_THREADS


@njit(**JIT)
def run(table, start, stop, code, V, S, P, W, C, t, part, parts, sync):
    """Run compiled nodes ``table[start:stop]`` for step `t`: -1, or the row whose kernel refused its input (or whose
    kernel number is none of ``KERNELS``'), or -2 when another part's did.

    One stream's step may be split into `parts` threads (else part 0 of 1, sync 0), each running this with its
    `part`: a kernel that splits computes its span of its outputs, one that does not runs on part 0, and the parts
    meet at native.c's barrier (`sync`: the address of ``SYNC_WORDS``' array, zeroed) before a row flagged SYNC -- one that
    reads what another part wrote since they last met (``Simulator._schedule``)."""
    for r in range(start, stop):
        flags = table[r, 3]
        if parts > 1 and flags & SYNC and native.barrier(sync, parts):
            return -2
        if flags & WHOLE and part != 0:
            continue
        kernel, a = table[r, 0], code[table[r, 1]: table[r, 2]]
        mine, of = (0, 1) if flags & WHOLE else (part, parts)
        ok = False
        number = 0
        for step in literal_unroll(KERNELS):  # unrolled at compile time: one comparison and a direct call per kernel
            if number == kernel:
                ok = step(a, V, S, P, W, C, t, mine, of)
            number += 1
        if not ok:
            if parts > 1:
                native.abort(sync)
            return r
    return -1


@njit(**JIT)
def lead(table, start, stop, code, V, S, P, W, C, t, parts, sync):
    """Part 0 of a split step (the caller's thread): hand rows start..stop-1 of step `t` to the threads ``serve``
    runs, run part 0, wait for the others.  Each part's ``run`` result lands in ``sync[RESULTS + part]``."""
    address = sync.ctypes.data
    same = np.int64(address)  # ``run`` typed as the whole step calls it: its compiled code is reused, not compiled again
    sync[ARRIVALS] = sync[ABORT] = sync[DONE] = 0  # the other parts wait for GO: none reads these now
    sync[FIRST], sync[END], sync[STEP] = start, stop, t
    native.post(address + 8 * GO, sync[GO] + 1)  # after the words above: the others see them
    sync[RESULTS] = run(table, start, stop, code, V, S, P, W, C, t, np.int64(0), parts, same)
    done = 0
    while done != parts - 1:
        done = native.wait(address + 8 * DONE, done)


@njit(**JIT)
def serve(table, code, V, S, P, W, C, part, parts, sync, seen):
    """Part `part`'s thread: runs its part of every step ``lead`` posts after step number `seen`, until the step
    number is -1 (``stop``).  It stays in compiled code between steps (waiting in native.c), so a step's hand-off
    costs microseconds, not a Python thread pool's wake-up."""
    address = sync.ctypes.data
    same = np.int64(address)  # as in ``lead``
    while True:
        seen = native.wait(address + 8 * GO, seen)
        if seen < 0:
            return
        sync[RESULTS + part] = run(table, sync[FIRST], sync[END], code, V, S, P, W, C, sync[STEP], part, parts, same)
        native.arrive(address + 8 * DONE)


@njit(**JIT)
def stop(sync):
    """Ends the ``serve`` threads of `sync` (each returns at its next look)."""
    native.post(sync.ctypes.data + 8 * GO, -1)


# --------------------------------------------------------------------------------------------------
# Packing: each op kind's quantized parameters into the arrays (Python, once per program)
# --------------------------------------------------------------------------------------------------


@dataclass
class Layout:
    """Where everything of one program lives in the engine's arrays; filled by the lowerings, node by node."""

    values: dict[str, tuple[int, int]] = field(default_factory=dict)  # node -> (first column of V, width)
    state_init: list[np.ndarray] = field(default_factory=list)  # each compiled node's initial state row
    params: list[np.ndarray] = field(default_factory=list)
    # the weights, written in place (``Simulator`` packs twice: once to size this array, then to fill it, so that the
    # largest thing it builds exists once -- not as a list of pieces beside their concatenation); None: sizing only
    W: np.ndarray | None = None
    # graded Dense ports as output-major rows for native.c's dot products (else input-major, event-driven)
    dot: bool = native.AVAILABLE
    n_state = n_params = n_weights = 0

    def value(self, name: str, width: int | None = None) -> int:
        """The first column of node `name`'s value, checking its width when the op needs one."""
        first, have = self.values[name]
        if width is not None and have != width:
            raise ValueError(f"input {name} is {have} wide, the op needs {width}")
        return first

    def state(self, init: np.ndarray) -> int:
        self.state_init.append(np.asarray(init, np.int64).reshape(-1))
        self.n_state += self.state_init[-1].size
        return self.n_state - self.state_init[-1].size

    def param(self, array) -> int:
        self.params.append(np.asarray(array, np.int64).reshape(-1))
        self.n_params += self.params[-1].size
        return self.n_params - self.params[-1].size

    def weight(self, array: np.ndarray) -> int:
        first, size = self.n_weights, array.size
        if self.W is not None:
            self.W[first:first + size].reshape(array.shape)[...] = array  # a transposed view is copied as it is read
        self.n_weights += size
        return first


@dataclass(frozen=True)
class Lowering:
    kernel: int  # its number: the kernel's place in KERNELS
    pack: Callable  # (node, q, inputs, out, layout) -> the node's arguments after its counter row
    # how its work splits over the parts of one stream's step (``run``): CHANNELS -- output i from element i of each
    # input as wide as its output (narrower inputs whole); OUTPUTS -- its span of outputs from all of every input;
    # WHOLE -- not split (part 0 runs it)
    split: str


CHANNELS, OUTPUTS, WHOLE_OP = "channels", "outputs", "whole"
LOWERINGS: dict[type[Op], Lowering] = {}  # keyed by the op's class: a misspelt op fails at import, not at run time


def lowering(*ops: type[Op], kernel: Callable, split: str = CHANNELS):
    def register(pack: Callable) -> Callable:
        for op in ops:
            LOWERINGS[op] = Lowering(KERNELS.index(kernel), pack, split)
        return pack
    return register


def _shift_ok(*shifts: int) -> None:
    if any(abs(int(s)) > MAX_SHIFT for s in shifts):
        raise ValueError(f"a shift of {max(abs(int(s)) for s in shifts)} bits is beyond the {MAX_SHIFT}-bit range")


@lowering(ops.Dense, kernel=dense, split=OUTPUTS)
def _dense(node, q, inputs, out, lay):
    ports, n_out, n_in = q.halves.shape
    if len(inputs) != ports or q.exps.shape != (ports, n_out) or q.bias.shape != (n_out,) or len(q.binary) != ports:
        raise ValueError(f"{ports} weight ports for {len(inputs)} inputs, or exponents/bias of the wrong shape")
    if n_in > fixed.MAX_EXACT_FAN_IN:  # the reference's own limit
        raise ValueError(f"fan-in {n_in} exceeds the exact float64 range ({fixed.MAX_EXACT_FAN_IN})")
    halves = np.asarray(q.halves)
    if halves.dtype != np.int8:
        raise ValueError(f"Dense weights stored as {halves.dtype}, not int8 halves of Lava's 8-bit weights")
    _shift_ok(*np.asarray(q.exps).reshape(-1) + 1)
    args = [out, n_out, q.out_bits, lay.param(q.bias), int(q.bias_from), ports]
    for p, src in enumerate(inputs):
        dot = lay.dot and not q.binary[p]
        args += [lay.value(src, n_in), n_in, int(bool(q.binary[p])), lay.weight(halves[p] if dot else halves[p].T),
                 lay.param(np.asarray(q.exps[p]) + 1),  # halved weights: one more left shift
                 lay.param(q.nonzero_per_input[p]),
                 max(-int(halves[p].min(initial=0)), int(halves[p].max(initial=0))),  # |half| at most: no int64 copy
                 int(dot)]
    return args


def _kernel_rows(halves: np.ndarray, groups: int) -> np.ndarray:
    """[C_out, C_in / groups, kh, kw] -> [kh, kw, C_in / groups, C_out]: a tap's weights for every output channel
    side by side (a group's channels read their own slice of C_out)."""
    return np.ascontiguousarray(halves.transpose(2, 3, 1, 0))


@lowering(ops.ConvSynapse, kernel=conv, split=WHOLE_OP)
def _conv(node, q, inputs, out, lay):
    halves = np.asarray(q.halves)
    if halves.dtype != np.int8 or halves.ndim != 4 or len(inputs) != 1:
        raise ValueError("a kernel of int8 halves [C_out, C_in / groups, kh, kw] on one input")
    _shift_ok(q.exp)
    (c, h, w), (co, ho, wo) = q.in_shape, q.shape
    return [out, lay.value(inputs[0], c * h * w), c, h, w, co, ho, wo, *halves.shape[2:], *q.stride, *q.padding,
            *q.dilation, q.groups, lay.weight(_kernel_rows(halves, q.groups)), int(q.exp), lay.param(q.bias), q.out_bits, lay.param(q.fanout),
            lay.param(q.nonzero_fanout)]


def _neuron(lay, out, n, inputs, du, dv, vth, bias=0, subtract=False, period=0, phase=0, voltage=False) -> list[int]:
    """A neuron kernel's arguments; the parameters scalars or per-neuron arrays."""
    per_neuron = [lay.param(np.broadcast_to(np.asarray(p, np.int64), (n,))) for p in (du, dv, vth, bias)]
    return [out, n, lay.state(np.zeros(2 * n)), *per_neuron, int(subtract), int(period), int(phase), int(voltage),
            len(inputs), *[lay.value(src, n) for src in inputs]]


@lowering(ops.LIF, ops.PeriodicLIF, kernel=neuron)
def _lif(node, q, inputs, out, lay):
    return _neuron(lay, out, q.n, inputs[:1], q.du, q.dv, q.vth, period=getattr(q, "period", 0))


@lowering(ops.CUBA, kernel=neuron)
def _cuba(node, q, inputs, out, lay):
    _shift_ok(*np.asarray(q.bias_exp).reshape(-1))
    return _neuron(lay, out, q.n, inputs, q.du, q.dv, q.vth, np.asarray(q.bias_mant) << np.asarray(q.bias_exp),
                   subtract=q.subtract, period=q.period, phase=q.phase)


@lowering(ops.CUBAVoltage, kernel=neuron)
def _cuba_voltage(node, q, inputs, out, lay):
    _shift_ok(*np.asarray(q.bias_exp).reshape(-1))
    return _neuron(lay, out, q.n, inputs, q.du, q.dv, 1 << 17, np.asarray(q.bias_mant) << np.asarray(q.bias_exp),
                   voltage=True)


@lowering(ops.TokenShift, kernel=token_shift)
def _token_shift(node, q, inputs, out, lay):
    return [lay.value(inputs[0], q.n), out, q.n, lay.state(np.zeros(q.n))]


@lowering(ops.LayerNorm, kernel=layer_norm, split=WHOLE_OP)
def _layer_norm(node, q, inputs, out, lay):
    from neurocompile.targets.loihi2.arithmetic.norm import LN_STD_BITS

    _shift_ok(q.out_frac + LN_STD_BITS - q.gamma_frac, 2 * q.budget)
    return [lay.value(inputs[0], q.n), out, q.n, q.budget, q.eps, lay.param(_sized(q.gamma, q.n)), q.gamma_frac,
            lay.param(_sized(q.beta, q.n)), q.out_frac, q.out_bits, LN_STD_BITS]


def _sized(array, n: int) -> np.ndarray:
    array = np.asarray(array)
    if array.shape != (n,):
        raise ValueError(f"a parameter of shape {array.shape} where ({n},) is needed")
    return array


@lowering(ops.WKV, kernel=wkv)
def _wkv(node, q, inputs, out, lay):
    from neurocompile.targets.loihi2.arithmetic.rwkv import EXP_FRAC, WKV_EMPTY

    init = np.concatenate([np.zeros(2 * q.n), np.full(q.n, WKV_EMPTY)])
    return [lay.value(inputs[0], q.n), lay.value(inputs[1], q.n), out, q.n, lay.state(init),
            lay.param(_sized(q.w, q.n)), lay.param(_sized(q.u, q.n)), *_lookup_args(q.exp, lay), EXP_FRAC]


def _lookup_args(t, lay) -> list[int]:
    if len(t.table) == 0:
        raise ValueError("an empty look-up table")
    _shift_ok(t.in_frac - t.step_frac)
    return [lay.param(t.table), len(t.table), t.in_frac, t.step_frac, t.offset]


@lowering(ops.Sigmoid, kernel=table_lookup)
def _sigmoid(node, q, inputs, out, lay):
    return [lay.value(inputs[0]), out, lay.values[inputs[0]][1], *_lookup_args(q, lay)]


@lowering(ops.SquaredReLU, kernel=product)
def _square(node, q, inputs, out, lay):
    _shift_ok(q.shift)
    x = lay.value(inputs[0])
    return [x, x, out, lay.values[inputs[0]][1], q.shift, q.out_bits, 1]


@lowering(ops.Mul, kernel=product)
def _mul(node, q, inputs, out, lay):
    _shift_ok(q.shift)
    n = lay.values[inputs[0]][1]
    return [lay.value(inputs[0]), lay.value(inputs[1], n), out, n, q.shift, q.out_bits, 0]


@lowering(ops.Add, kernel=add)
def _add(node, q, inputs, out, lay):
    if len(q.shifts) != len(inputs):
        raise ValueError(f"{len(q.shifts)} input scales for {len(inputs)} inputs")
    _shift_ok(*q.shifts)
    n = lay.values[inputs[0]][1]
    args = [out, n, q.out_bits, len(inputs)]
    for src, s in zip(inputs, q.shifts):
        args += [lay.value(src, n), s]
    return args


@lowering(ops.NeuronWKV, kernel=neuron_wkv)
def _neuron_wkv(node, q, inputs, out, lay):
    from neurocompile.targets.loihi2.arithmetic.rwkv import EMPTY, POW2_TABLE, RECIP_SEED

    if not 0 <= q.k_frac <= MAX_SHIFT - 24:
        raise ValueError(f"k carried with {q.k_frac} fractional bits, beyond the kernel's shifts")
    init = np.concatenate([np.zeros(2 * q.n), np.full(q.n, EMPTY)])
    return [lay.value(inputs[0], q.n), lay.value(inputs[1], q.n), out, q.n, lay.state(init),
            lay.param(_sized(q.w, q.n)), lay.param(_sized(q.u, q.n)), q.k_frac, lay.param(POW2_TABLE),
            lay.param(RECIP_SEED)]


@lowering(ops.NeuronLayerNorm, kernel=neuron_layer_norm, split=WHOLE_OP)
def _neuron_layer_norm(node, q, inputs, out, lay):
    from neurocompile.targets.loihi2.arithmetic.norm import RSQRT_SEED

    _shift_ok(q.up, q.sum_shift, q.mean_shift, q.square_shift, q.var_shift, q.product_shift,
              R_FRAC + RSQRT_HALF + q.gain_frac - q.out_frac - q.product_shift,
              R_FRAC + RSQRT_HALF - 11 + q.gain_frac - q.out_frac - q.product_shift)  # the row's shift, h in [-11, 0]
    return [lay.value(inputs[0], q.n), out, q.n, q.up, q.sum_shift, q.mean_mul, q.mean_shift, q.square_shift, q.var_shift,
            q.eps, q.product_shift, lay.param(_sized(q.gain, q.n)), q.gain_frac, lay.param(_sized(q.beta, q.n)),
            q.out_frac, q.out_bits, lay.param(RSQRT_SEED)]


@lowering(ops.Mix, kernel=mix)
def _mix(node, q, inputs, out, lay):
    ports, n = np.asarray(q.ratios).shape
    if len(inputs) != ports or len(q.lefts) != ports:
        raise ValueError(f"{ports} ratio rows and {len(q.lefts)} alignments for {len(inputs)} inputs")
    _shift_ok(q.shift, *q.lefts)
    args = [out, n, q.out_bits, q.shift, ports]
    for src, left, ratios in zip(inputs, q.lefts, q.ratios):
        args += [lay.value(src, n), left, lay.param(ratios)]
    return args


@lowering(ops.Output, kernel=copy)
def _output(node, q, inputs, out, lay):
    return [lay.value(inputs[0]), out, lay.values[inputs[0]][1]]


@lowering(ops.SpikeEmbedding, kernel=embedding)
def _embedding(node, q, inputs, out, lay):
    rows, n = q.table.shape
    return [lay.value(inputs[0], 1), out, n, lay.weight(q.table), rows]  # int8: a V x C table of int64 was 8x


@lowering(ops.SpikingAttention, kernel=attention, split=WHOLE_OP)
def _attention(node, q, inputs, out, lay):
    n = q.heads * q.head_dim
    if q.period < 1:
        raise ValueError(f"period {q.period} < 1")
    return [*[lay.value(src, n) for src in inputs], out, q.heads, q.head_dim, q.period, q.state_bits, q.out_bits,
            lay.state(np.zeros(q.period * n * q.head_dim))]


@lowering(ops.TimeSum, kernel=time_sum)
def _time_sum(node, q, inputs, out, lay):
    if q.period < 1:
        raise ValueError(f"period {q.period} < 1")
    return [lay.value(inputs[0], q.n), out, q.n, lay.state(np.zeros(q.n)), q.period, q.out_bits]


@lowering(ops.TokenCode, kernel=token_code, split=WHOLE_OP)
def _token_code(node, q, inputs, out, lay):
    (rows, width), (places, pwidth) = q.table.shape, q.positions.shape
    if q.period < 1:
        raise ValueError(f"period {q.period} < 1")
    return [lay.value(inputs[0], 1), out, lay.param(q.table), rows, width, lay.param(q.positions), places, pwidth,
            int(q.outer), q.period]


@lowering(ops.Threshold, kernel=threshold)
def _threshold(node, q, inputs, out, lay):
    n = int(np.asarray(q.threshold).shape[0])
    return [out, n, lay.param(q.threshold), len(inputs), *[lay.value(src, n) for src in inputs]]
