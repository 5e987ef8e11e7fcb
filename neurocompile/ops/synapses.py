"""Synaptic ops: Linear, Scale, Embedding, and the lowered Dense (Linear with folded Scales) and SpikeEmbedding."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np
import torch

from .. import fixed
from .base import OP_KEY, NOTE_KEY, Op, Tally, _bits_max, _numpy, _Width, _saturated, _scaled_sum, _sum, _t


@dataclass(frozen=True, eq=False)
class Embedding(Op):
    """Row lookup of a [V, C] table: a Linear applied to a one-hot token (NIR: Linear of weight [C, V])."""

    kind: ClassVar[str] = "Embedding"
    weight: np.ndarray  # [V, C]

    @property
    def size(self) -> int:
        return self.weight.shape[1]

    def float_step(self, inputs, state):
        (tokens,) = inputs
        return torch.as_tensor(self.weight)[tokens[:, 0].long()], state  # the executor casts to its dtype

    def to_nir(self, input_names):
        return nir.Linear(weight=np.ascontiguousarray(self.weight.T), metadata={OP_KEY: self.kind})

    @classmethod
    def from_nir(cls, node: nir.Linear, ctx) -> "Embedding":
        return cls(np.ascontiguousarray(node.weight.T))


@dataclass(frozen=True, eq=False)
class Heaviside(_Width):
    """Binary spike ``x >= 0`` (upstream's Heaviside; NIR's Threshold fires on ``x > 0``, see note)."""

    kind: ClassVar[str] = "Heaviside"

    def float_step(self, inputs, state):
        (x,) = inputs
        return (x >= 0).to(x.dtype), state

    def to_nir(self, input_names):
        return nir.Threshold(threshold=np.zeros(self.n), metadata={
            OP_KEY: self.kind, NOTE_KEY: "fires on x >= threshold (NIR's Threshold: x > threshold)"})

    @classmethod
    def from_nir(cls, node: nir.Threshold, ctx) -> "Heaviside":
        return cls(int(node.threshold.shape[0]))


@dataclass(frozen=True, eq=False)
class Linear(Op):
    """``y = W x`` on the sum of its inputs (NIR: Linear; NIR sums incoming edges)."""

    kind: ClassVar[str] = "Linear"
    arity: ClassVar[int | None] = None
    weight: np.ndarray  # [out, in]

    @property
    def size(self) -> int:
        return self.weight.shape[0]

    def float_step(self, inputs, state):
        x = _sum(inputs)
        return torch.nn.functional.linear(x, _t(self.weight, x)), state

    def synapse_form(self):
        return self.weight, None

    def to_nir(self, input_names):
        return nir.Linear(weight=self.weight)

    @classmethod
    def from_nir(cls, node: nir.Linear, ctx) -> "Linear":
        return cls(_matrix(node, ctx))


def _matrix(node, ctx) -> np.ndarray:
    """A NIR node's weight, [out, in], checked against the width its input carries."""
    weight = _numpy(node.weight)
    if weight.ndim != 2:
        raise ValueError(f"weight of shape {weight.shape}, expected [out, in]")
    if ctx.width is not None and weight.shape[1] != ctx.width:
        raise ValueError(f"weight of shape {weight.shape} reads {weight.shape[1]} inputs, but its input carries "
                         f"{ctx.width} ({'x'.join(map(str, ctx.in_shape))})")
    return weight


BIAS_FROM_KEY = "neurocompile.bias_from"  # NIR metadata of an Affine whose bias enters late (a loop's weights)


def _bias_state(bias_from: int):
    """The state of a synapse whose bias enters at step `bias_from`: the steps run (None when it enters at once)."""
    return 0 if bias_from else None


def _bias_now(bias_from: int, step) -> bool:
    return not bias_from or step >= bias_from


def _next_step(step):
    return None if step is None else step + 1


@dataclass(frozen=True, eq=False)
class Affine(Op):
    """``y = W x + b`` on the sum of its inputs (NIR: Affine).  ``bias_from``: the bias enters from that step on
    (the weights of a NIR loop: the loop carries the previous step's *output* of its last node, zero at step 0, so
    its bias is absent then -- the semantics of Norse's and nirtorch's interpreters)."""

    kind: ClassVar[str] = "Affine"
    arity: ClassVar[int | None] = None
    weight: np.ndarray  # [out, in]
    bias: np.ndarray  # [out]
    bias_from: int = 0

    @property
    def size(self) -> int:
        return self.weight.shape[0]

    def initial_state(self, batch, dtype):
        return _bias_state(self.bias_from)

    def float_step(self, inputs, state):
        x = _sum(inputs)
        bias = _t(self.bias, x) if _bias_now(self.bias_from, state) else None
        return torch.nn.functional.linear(x, _t(self.weight, x), bias), _next_step(state)

    def synapse_form(self):
        return self.weight, self.bias

    def to_nir(self, input_names):
        return nir.Affine(weight=self.weight, bias=self.bias,
                          metadata={BIAS_FROM_KEY: self.bias_from} if self.bias_from else {})

    @classmethod
    def from_nir(cls, node: nir.Affine, ctx) -> "Affine":
        weight = _matrix(node, ctx)
        return cls(weight, np.broadcast_to(_numpy(node.bias).reshape(-1), weight.shape[:1]).copy(),
                   int(np.asarray((node.metadata or {}).get(BIAS_FROM_KEY, 0))))


@dataclass(frozen=True, eq=False)
class Scale(Op):
    """Elementwise ``x * s`` (NIR: Scale).  Token-shift mixing is two of these summed into a Linear; ``lower`` folds
    a Scale into the one weight matrix it feeds, and makes any other a diagonal matrix."""

    kind: ClassVar[str] = "Scale"
    keeps_map: ClassVar[bool] = True
    scale: np.ndarray  # [n]
    shape: tuple = ()  # the map it scales (C, H, W), when not a vector (its NIR form's type)

    @property
    def size(self) -> int:
        return self.scale.shape[0]

    def float_step(self, inputs, state):
        (x,) = inputs
        return x * _t(self.scale, x), state

    def to_nir(self, input_names):
        return nir.Scale(scale=self.scale.reshape(tuple(self.shape) or (self.size,)))

    @classmethod
    def from_nir(cls, node: nir.Scale, ctx) -> "Scale":
        scale = _numpy(node.scale).reshape(-1)
        shape = tuple(ctx.in_shape) if ctx.in_shape is not None and len(ctx.in_shape) > 1 else ()
        return cls(np.broadcast_to(scale, (ctx.width,)).copy() if ctx.width else scale, shape)





@dataclass(frozen=True)
class QSpikeEmbedding:
    table: np.ndarray  # [V, C] of 0/1, int8 (a V x C table of 64-bit integers would be 8 bytes a code bit)


@dataclass(frozen=True, eq=False)
class SpikeEmbedding(Op):
    """Embedding followed by Heaviside: a table of binary codes, exact in integers."""

    kind: ClassVar[str] = "SpikeEmbedding"
    binary_output: ClassVar[bool] = True
    lowered: ClassVar[bool] = True
    codes: np.ndarray  # [V, C] bool

    @property
    def size(self) -> int:
        return self.codes.shape[1]

    def float_step(self, inputs, state):
        return torch.as_tensor(self.codes)[inputs[0][:, 0].long()].to(torch.float64), state

    Q: ClassVar[type] = QSpikeEmbedding

    def quantize(self, ctx):
        return QSpikeEmbedding(self.codes.astype(np.int8))

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


@dataclass(frozen=True, eq=False)
class Dense(Op):
    """``y = W (sum_p s_p * x_p) + b``: a Linear or Affine whose inputs are scaled elementwise first (folded Scales).

    ``weight`` is the traced Linear's own array (not copied); ``scales[p]`` scales input ``p`` (token-shift
    mixing ratios, or ones).  Integer form: per port, a Lava Dense of ``W diag(s_p)`` (8-bit weights, one
    exponent per block of ``block_rows`` rows); the ports' outputs are summed at the receiving neuron, which
    adds the bias (a constant of the neuron program, at the output's scale).
    """

    kind: ClassVar[str] = "Dense"
    arity: ClassVar[int | None] = None
    lowered: ClassVar[bool] = True
    synapse: ClassVar[bool] = True
    # Lava's mixed-sign 8-bit weights, -256..254, are stored as halves (the quantizer keeps them symmetric, in
    # [-127, 127]; a netx file may use -256); exponents within the shifts the engines compute exactly; accumulators
    # of at most 63 bits
    int_limits: ClassVar[dict[str, tuple[int, int]]] = {"halves": (-128, 127), "exps": (-60, 60), "out_bits": (2, 63),
                                                        "bias_from": (0, 1 << 30)}
    weight: np.ndarray  # [out, in]
    scales: np.ndarray  # [ports, in]
    bias: np.ndarray | None = None  # [out]
    bias_from: int = 0  # the bias enters from this step on (Affine's)

    @property
    def size(self) -> int:
        return self.weight.shape[0]

    def initial_state(self, batch, dtype):
        return _bias_state(self.bias_from)

    def float_step(self, inputs, state):
        x = _scaled_sum(inputs, self.scales)
        bias = None if self.bias is None or not _bias_now(self.bias_from, state) else _t(self.bias, x)
        return torch.nn.functional.linear(x, _t(self.weight, x), bias), _next_step(state)

    Q: ClassVar[type] = QDense

    def value_bits(self, spec):
        return spec.state_bits  # a dendritic accumulator, read by the neuron program beside it

    QUANTIZE_CHUNK = 1 << 22  # floats per temporary: a large matrix is scaled a block of rows at a time

    def quantize(self, ctx):
        spec = ctx.spec
        rows, inputs = self.weight.shape
        step = max(1, self.QUANTIZE_CHUNK // max(inputs, 1))
        halves, exps = np.empty((len(self.scales), rows, inputs), np.int8), []
        for port, (scale, in_frac) in enumerate(zip(self.scales, ctx.in_frac)):  # one port's folded matrix at a time
            column = (scale * 2.0 ** (ctx.out_frac - in_frac)).astype(np.float32)[None, :]

            def real(start: int) -> np.ndarray:  # rows start.. of W diag(s_p) at the output's scale, float32
                return self.weight[start:start + step].astype(np.float32) * column

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
        bias = np.zeros(self.weight.shape[0], np.int64)
        if self.bias is not None:
            bias = np.rint(self.bias * 2.0**ctx.out_frac).astype(np.int64)
            if np.abs(bias).max(initial=0) > _bits_max(spec.state_bits):
                raise ValueError(f"a bias of {np.abs(self.bias).max():g} does not fit {spec.state_bits} bits at the "
                                 f"output's scale 2^-{ctx.out_frac}")
        return QDense(halves, np.stack(exps), np.array(ctx.binary_in), spec.state_bits, bias, self.bias_from)

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
        return Dense.accumulate(q, acc, tally, state), _next_step(state)

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
