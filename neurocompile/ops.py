"""Ops of the neurocompile graph: each defined once, with its float semantics and its NIR encoding.

Every op works on one time step (one token) of a batch of independent streams: inputs are [B, n]
tensors, ``float_step`` returns the output and the op's next state.  Float semantics equal upstream
PyTorch (checked by running a traced graph against the model).

NIR encoding.  Where NIR has the op it is used as it is: ``Linear``, ``Scale``, ``Delay`` (token shift),
``LIF``, ``Threshold``, ``Input``, ``Output``.  NIR sums the edges that enter a node; ``Linear`` and ``Add``
rely on exactly that.  The ops NIR lacks (WKV, LayerNorm, sigmoid, squared ReLU, elementwise product,
residual add) are written as a NIR subgraph ``Input -> Output`` (an identity placeholder that every NIR
reader accepts) whose metadata carries ``neurocompile.op``, the op's parameters and, for ops whose inputs
play different roles, their order (``neurocompile.inputs``).  Deviations of our semantics from NIR's
definition of a native node are also written in its metadata (``neurocompile.note``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import nir
import numpy as np
import torch

OP_KEY = "neurocompile.op"
INPUTS_KEY = "neurocompile.inputs"
NOTE_KEY = "neurocompile.note"
PARAM_PREFIX = "neurocompile.param."


class Op:
    """Base of all ops.  Subclasses are frozen dataclasses whose fields are the op's parameters."""

    kind: ClassVar[str]
    arity: ClassVar[int | None] = 1  # None: any number of inputs, summed (NIR's edge semantics)
    registry: ClassVar[dict[str, type["Op"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            Op.registry[cls.kind] = cls

    # -- shapes and state ---------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Width of the op's output."""
        raise NotImplementedError

    def initial_state(self, batch: int, dtype: torch.dtype) -> Any:
        return None

    def float_step(self, inputs: list[torch.Tensor], state: Any) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    # -- parameters, equality -----------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return False
        mine, theirs = self.params(), other.params()  # type: ignore[attr-defined]
        return mine.keys() == theirs.keys() and all(_same(mine[k], theirs[k]) for k in mine)

    __hash__ = None  # type: ignore[assignment]

    # -- NIR ----------------------------------------------------------------------------------------
    def to_nir(self, input_names: tuple[str, ...]) -> nir.NIRNode:
        """Default: an extension node (identity placeholder subgraph with our metadata)."""
        meta: dict[str, Any] = {OP_KEY: self.kind}
        for name, value in self.params().items():
            meta[PARAM_PREFIX + name] = value  # arrays or Python scalars (NIR cannot compress 0-d arrays)
        if self.arity is not None and self.arity > 1:
            meta[INPUTS_KEY] = ",".join(input_names)
        shape = np.array([self.size])
        return nir.NIRGraph(
            nodes={"input": nir.Input(input_type={"input": shape}), "output": nir.Output(output_type={"output": shape})},
            edges=[("input", "output")],
            metadata=meta,
        )

    @classmethod
    def from_extension(cls, meta: dict[str, Any]) -> "Op":
        kwargs = {}
        for f in fields(cls):  # type: ignore[arg-type]
            value = meta[PARAM_PREFIX + f.name]
            kwargs[f.name] = value.item() if np.ndim(value) == 0 else np.asarray(value)
        return cls(**kwargs)  # type: ignore[call-arg]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b)) and np.asarray(a).dtype == np.asarray(b).dtype
    return a == b


def _t(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(array, dtype=like.dtype, device=like.device)


def _sum(inputs: list[torch.Tensor]) -> torch.Tensor:
    total = inputs[0]
    for x in inputs[1:]:
        total = total + x
    return total


# ---------------------------------------------------------------------------------------------------
# Ops NIR has
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TokenInput(Op):
    """Graph input: one token id per stream and step (NIR: Input of a one-hot vector of `vocab`)."""

    kind: ClassVar[str] = "TokenInput"
    arity: ClassVar[int | None] = 0
    vocab: int

    @property
    def size(self) -> int:
        return self.vocab

    def to_nir(self, input_names):
        return nir.Input(input_type={"input": np.array([self.vocab])}, metadata={NOTE_KEY: "one-hot token id, one token per time step"})


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
        return torch.as_tensor(self.weight)[tokens.long()], state  # the executor casts to its dtype

    def to_nir(self, input_names):
        return nir.Linear(weight=np.ascontiguousarray(self.weight.T), metadata={OP_KEY: self.kind})

    @classmethod
    def from_nir(cls, node: nir.Linear) -> "Embedding":
        return cls(np.ascontiguousarray(node.weight.T))


@dataclass(frozen=True, eq=False)
class Heaviside(Op):
    """Binary spike ``x >= 0`` (upstream's Heaviside; NIR's Threshold fires on ``x > 0``, see note)."""

    kind: ClassVar[str] = "Heaviside"
    n: int

    @property
    def size(self) -> int:
        return self.n

    def float_step(self, inputs, state):
        (x,) = inputs
        return (x >= 0).to(x.dtype), state

    def to_nir(self, input_names):
        return nir.Threshold(threshold=np.zeros(self.n), metadata={
            OP_KEY: self.kind, NOTE_KEY: "fires on x >= threshold (NIR's Threshold: x > threshold)"})

    @classmethod
    def from_nir(cls, node: nir.Threshold) -> "Heaviside":
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

    def to_nir(self, input_names):
        return nir.Linear(weight=self.weight)

    @classmethod
    def from_nir(cls, node: nir.Linear) -> "Linear":
        return cls(np.asarray(node.weight))


@dataclass(frozen=True, eq=False)
class Scale(Op):
    """Elementwise ``x * s`` (NIR: Scale).  Token-shift mixing is two of these summed into a Linear."""

    kind: ClassVar[str] = "Scale"
    scale: np.ndarray  # [n]

    @property
    def size(self) -> int:
        return self.scale.shape[0]

    def float_step(self, inputs, state):
        (x,) = inputs
        return x * _t(self.scale, x), state

    def to_nir(self, input_names):
        return nir.Scale(scale=self.scale)

    @classmethod
    def from_nir(cls, node: nir.Scale) -> "Scale":
        return cls(np.asarray(node.scale))


@dataclass(frozen=True, eq=False)
class TokenShift(Op):
    """The previous token's input (zero at the first token): a one-step delay (NIR: Delay of 1 step)."""

    kind: ClassVar[str] = "TokenShift"
    n: int

    @property
    def size(self) -> int:
        return self.n

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.n, dtype=dtype)

    def float_step(self, inputs, state):
        (x,) = inputs
        return state, x

    def to_nir(self, input_names):
        return nir.Delay(delay=np.ones(self.n), metadata={OP_KEY: self.kind, NOTE_KEY: "time unit: one token"})

    @classmethod
    def from_nir(cls, node: nir.Delay) -> "TokenShift":
        if not np.all(np.asarray(node.delay) == 1):
            raise ValueError("only one-step delays (token shift) are supported")
        return cls(int(node.delay.shape[0]))


@dataclass(frozen=True, eq=False)
class LIF(Op):
    """spikingjelly LIF, one step per token: ``v += (x - v) / tau``; spike iff ``v >= v_threshold``; reset to 0.

    NIR: LIF with ``r = 1``, ``v_leak = 0``, ``v_reset = 0`` and a time step of one token (Euler); NIR fires
    on ``v > v_threshold``, ours on ``>=`` (see note).
    """

    kind: ClassVar[str] = "LIF"
    n: int
    tau: float
    v_threshold: float

    @property
    def size(self) -> int:
        return self.n

    def initial_state(self, batch, dtype):
        return torch.zeros(batch, self.n, dtype=dtype)

    def float_step(self, inputs, state):
        from .models.neurons import lif_step

        return lif_step(inputs[0], state, self.tau, self.v_threshold)

    def to_nir(self, input_names):
        ones = np.ones(self.n)
        return nir.LIF(tau=self.tau * ones, r=ones, v_leak=0 * ones, v_threshold=self.v_threshold * ones,
                       v_reset=0 * ones, metadata={OP_KEY: self.kind,
                       NOTE_KEY: "Euler step of one token (dt = 1); fires on v >= v_threshold; hard reset"})

    @classmethod
    def from_nir(cls, node: nir.LIF) -> "LIF":
        return cls(int(node.tau.shape[0]), float(node.tau[0]), float(node.v_threshold[0]))


# ---------------------------------------------------------------------------------------------------
# Extension ops (NIR lacks them)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LayerNorm(Op):
    kind: ClassVar[str] = "LayerNorm"
    weight: np.ndarray
    bias: np.ndarray
    eps: float = 1e-5

    @property
    def size(self) -> int:
        return self.weight.shape[0]

    def float_step(self, inputs, state):
        (x,) = inputs
        return torch.nn.functional.layer_norm(x, (self.size,), _t(self.weight, x), _t(self.bias, x), self.eps), state


@dataclass(frozen=True, eq=False)
class Add(Op):
    """Residual add: the sum of the inputs (NIR's own edge semantics)."""

    kind: ClassVar[str] = "Add"
    arity: ClassVar[int | None] = None
    n: int

    @property
    def size(self) -> int:
        return self.n

    def float_step(self, inputs, state):
        return _sum(inputs), state


@dataclass(frozen=True, eq=False)
class Sigmoid(Op):
    kind: ClassVar[str] = "Sigmoid"
    n: int

    @property
    def size(self) -> int:
        return self.n

    def float_step(self, inputs, state):
        return torch.sigmoid(inputs[0]), state


@dataclass(frozen=True, eq=False)
class SquaredReLU(Op):
    kind: ClassVar[str] = "SquaredReLU"
    n: int

    @property
    def size(self) -> int:
        return self.n

    def float_step(self, inputs, state):
        return torch.square(torch.relu(inputs[0])), state


@dataclass(frozen=True, eq=False)
class Mul(Op):
    """Elementwise product of two inputs (gating)."""

    kind: ClassVar[str] = "Mul"
    arity: ClassVar[int | None] = 2
    n: int

    @property
    def size(self) -> int:
        return self.n

    def float_step(self, inputs, state):
        a, b = inputs
        return a * b, state


@dataclass(frozen=True, eq=False)
class WKV(Op):
    """RWKV-4 WKV recurrence; inputs (k, v); ``w = -exp(time_decay)``, ``u = time_first`` (see models/wkv.py)."""

    kind: ClassVar[str] = "WKV"
    arity: ClassVar[int | None] = 2
    time_decay: np.ndarray
    time_first: np.ndarray

    @property
    def size(self) -> int:
        return self.time_decay.shape[0]

    def initial_state(self, batch, dtype):
        from .models.wkv import WKVState

        return WKVState.zeros(batch, self.size, dtype)

    def float_step(self, inputs, state):
        from .models.wkv import wkv_step

        k, v = inputs
        return wkv_step(-torch.exp(_t(self.time_decay, k)), _t(self.time_first, k), k, v, state)


@dataclass(frozen=True, eq=False)
class Output(Op):
    """Graph output (NIR: Output)."""

    kind: ClassVar[str] = "Output"
    n: int

    @property
    def size(self) -> int:
        return self.n

    def float_step(self, inputs, state):
        return inputs[0], state

    def to_nir(self, input_names):
        return nir.Output(output_type={"output": np.array([self.n])})


# NIR node type -> our op, for NIR nodes without neurocompile metadata (or with it, on native types).
NATIVE: dict[type, type[Op]] = {nir.Linear: Linear, nir.Scale: Scale, nir.Delay: TokenShift, nir.LIF: LIF,
                                nir.Threshold: Heaviside}
