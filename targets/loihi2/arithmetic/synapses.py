"""Loihi 2's integer forms of the lowered synapses: ``Dense`` (Lava's Dense, one per input port) and the binary code
table ``SpikeEmbedding``.

Lava 0.10's Dense (``../shared/reference/lava.md``): 8-bit mixed-sign weight mantissas, even integers in [-256, 254]
(stored here as halves), a weight exponent per row (per block of ``spec.block_rows`` rows: one synaptic memory's
shared exponent), the products summed and shifted by the exponent (floored), graded inputs as 24-bit payloads.  The
ports' outputs arrive summed at the receiving neurons, which add the bias (a constant of the neuron program, at the
output's scale) and keep the sum within the state's width."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from neurocompile import fixed
from neurocompile.ops import IntegerForm, Tally
from neurocompile.ops.base import _bits_max, _saturated
from neurocompile.ops.synapses import Dense, SpikeEmbedding, _bias_now, _bias_state, _next_step

from .numeric import ARITHMETIC


@dataclass(frozen=True)
class QSpikeEmbedding:
    table: np.ndarray  # [V, C] of 0/1, int8 (a V x C table of 64-bit integers would be 8 bytes a code bit)


class SpikeEmbeddingForm(IntegerForm, op=SpikeEmbedding, arithmetic=ARITHMETIC):
    """The token's binary code from a table: exact."""

    Q: ClassVar[type] = QSpikeEmbedding

    @staticmethod
    def quantize(op: SpikeEmbedding, ctx) -> QSpikeEmbedding:
        return QSpikeEmbedding(op.codes.astype(np.int8))

    @staticmethod
    def int_width(q: QSpikeEmbedding):
        return q.table.shape[1]

    @staticmethod
    def int_step(q: QSpikeEmbedding, inputs, state, tally):
        out = q.table[inputs[0][:, 0]].astype(np.int64)  # the token's code: the input's encoding, not a population's spikes
        tally.op_evals += len(inputs[0])  # one table look-up per stream
        return out, state


@dataclass(frozen=True)
class QDense:
    halves: np.ndarray  # [ports, out, in] int8: each weight over two (Lava keeps a mixed-sign 8-bit weight even)
    exps: np.ndarray  # [ports, out] weight exponents (Lava's weight_exp, per row block)
    binary: np.ndarray  # [ports] bool: the port carries spikes (else graded payloads)
    out_bits: int
    bias: np.ndarray  # [out] added at the receiving neurons, at the output's scale (zeros: none)
    bias_from: int = 0  # the bias is added from this step on (a NIR loop's weights: see Affine)

    @property
    def weights(self) -> np.ndarray:
        """[ports, out, in] int16: the weights Lava's Dense holds, even integers in [-256, 254] (made on each use)."""
        return 2 * self.halves.astype(np.int16)

    @property
    def nonzero_per_input(self) -> np.ndarray:
        """[ports, in]: the non-zero weights each input reaches (its effective fan-out), made on first use."""
        cached = self.__dict__.get("_nonzero")
        if cached is None:
            cached = np.count_nonzero(self.halves, axis=1).astype(np.int64)
            object.__setattr__(self, "_nonzero", cached)
        return cached

    @property
    def blas_weights(self) -> np.ndarray:
        """float64 copy for exact BLAS products (see fixed.dense), made on first use: export never needs it."""
        cached = self.__dict__.get("_blas")
        if cached is None:
            cached = 2 * self.halves.astype(np.float64)
            object.__setattr__(self, "_blas", cached)
        return cached


class DenseForm(IntegerForm, op=Dense, arithmetic=ARITHMETIC):
    """Per port, a Lava Dense of ``W diag(s_p)`` (module docstring)."""

    Q: ClassVar[type] = QDense
    # Lava's mixed-sign 8-bit weights, -256..254, are stored as halves (the quantizer keeps them symmetric, in
    # [-127, 127]; a netx file may use -256); exponents within the shifts the engines compute exactly; accumulators
    # of at most 63 bits
    int_limits: ClassVar[dict[str, tuple[int, int]]] = {"halves": (-128, 127), "exps": (-60, 60), "out_bits": (2, 63),
                                                        "bias_from": (0, 1 << 30)}
    QUANTIZE_CHUNK = 1 << 22  # floats per temporary: a large matrix is scaled a block of rows at a time

    @staticmethod
    def value_bits(op: Dense, spec):
        return spec.state_bits  # a dendritic accumulator, read by the neuron program beside it

    @staticmethod
    def quantize(op: Dense, ctx) -> QDense:
        spec = ctx.spec
        rows, inputs = op.weight.shape
        step = max(1, DenseForm.QUANTIZE_CHUNK // max(inputs, 1))
        halves, exps = np.empty((len(op.scales), rows, inputs), np.int8), []
        for port, (scale, in_frac) in enumerate(zip(op.scales, ctx.in_frac)):  # one port's folded matrix at a time
            column = (scale * 2.0 ** (ctx.out_frac - in_frac)).astype(np.float32)[None, :]

            def real(start: int) -> np.ndarray:  # rows start.. of W diag(s_p) at the output's scale, float32
                return op.weight[start:start + step].astype(np.float32) * column

            row_peak = np.concatenate([np.abs(real(start)).max(1, initial=0) for start in range(0, rows, step)])
            e = np.zeros(rows, np.int64)
            for start in range(0, rows, spec.block_rows or rows):
                block = slice(start, start + (spec.block_rows or rows))
                peak = row_peak[block].max()
                e[block] = int(np.ceil(np.log2(peak / 254))) if peak > 0 else 0
            if ctx.weight_exp is not None:  # one exponent the target fixes: weights within 8 bits there, or refused
                if e.max(initial=ctx.weight_exp) > ctx.weight_exp:
                    raise ValueError(f"weights up to {row_peak.max():g} at the output's scale 2^-{ctx.out_frac} "
                                     f"exceed 8 bits at weight exponent {ctx.weight_exp}")
                e[:] = ctx.weight_exp
            for start in range(0, rows, step):  # 8-bit weights 2 * round(W 2^-(e+1)): the halves within [-127, 127]
                scaled = real(start) * (2.0 ** -(e[start:start + step, None] + 1)).astype(np.float32)
                halves[port, start:start + step] = np.round(scaled)
            exps.append(e)
        bias = np.zeros(op.weight.shape[0], np.int64)
        if op.bias is not None:
            bias = np.rint(op.bias * 2.0**ctx.out_frac).astype(np.int64)
            if np.abs(bias).max(initial=0) > _bits_max(spec.state_bits):
                raise ValueError(f"a bias of {np.abs(op.bias).max():g} does not fit {spec.state_bits} bits at the "
                                 f"output's scale 2^-{ctx.out_frac}")
        return QDense(halves, np.stack(exps), np.array(ctx.binary_in), spec.state_bits, bias, op.bias_from)

    @staticmethod
    def int_width(q: QDense):
        return q.halves.shape[1]

    @staticmethod
    def int_initial_state(q: QDense, batch):
        return _bias_state(q.bias_from)

    @staticmethod
    def int_step(q: QDense, inputs, state, tally):
        acc = None
        for w, e, binary, x, nonzero in zip(q.blas_weights, q.exps, q.binary, inputs, q.nonzero_per_input):
            mask = x != 0
            active = np.count_nonzero(mask)
            effective = int(np.dot(nonzero, mask.sum(0)))  # active inputs x their non-zero weights
            if binary:
                tally.binary_events += active * w.shape[0]
                tally.effective_binary_events += effective
            else:
                tally.graded_events += active * w.shape[0]
                tally.graded_messages += active
                tally.effective_graded_events += effective
            y = fixed.dense(w, e, x, graded=not binary)
            acc = y if acc is None else acc + y
        return DenseForm.accumulate(q, acc, tally, state), _next_step(state)

    @staticmethod
    def ann_macs(q: QDense, tokens: int) -> int:
        out, inp = q.halves.shape[1:]
        return out * inp  # the unfolded Linear (token-shift ports share one matrix in the ANN)

    @staticmethod
    def stored_synapses(q: QDense) -> np.ndarray:
        return q.halves  # one matrix per input port

    @staticmethod
    def dense_synops(q: QDense) -> int:
        return int(q.halves.size)

    @staticmethod
    def accumulate(q: QDense, acc: np.ndarray, tally: Tally, step: int | None = None) -> np.ndarray:
        """The receiving neurons' side: the ports' Dense outputs arrive summed, the bias is added (from step
        ``q.bias_from`` on; `step`: the stream's step); the state width bounds them."""
        return _saturated(acc + q.bias if _bias_now(q.bias_from, step) else acc, q.out_bits, tally)
