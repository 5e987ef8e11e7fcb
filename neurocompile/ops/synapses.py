"""Synaptic ops: Linear, Scale, Embedding, and the lowered Dense (Linear with folded Scales) and SpikeEmbedding."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np
import torch

from .base import OP_KEY, NOTE_KEY, Op, _numpy, _Width, _scaled_sum, _sum, _t


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

@dataclass(frozen=True, eq=False)
class Dense(Op):
    """``y = W (sum_p s_p * x_p) + b``: a Linear or Affine whose inputs are scaled elementwise first (folded Scales).

    ``weight`` is the traced Linear's own array (not copied); ``scales[p]`` scales input ``p`` (token-shift
    mixing ratios, or ones).
    """

    kind: ClassVar[str] = "Dense"
    arity: ClassVar[int | None] = None
    lowered: ClassVar[bool] = True
    synapse: ClassVar[bool] = True
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
