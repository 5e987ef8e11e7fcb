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

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import nir
import numpy as np
import torch

from . import fixed

OP_KEY = "neurocompile.op"
INPUTS_KEY = "neurocompile.inputs"
NOTE_KEY = "neurocompile.note"
PARAM_PREFIX = "neurocompile.param."
CALIBRATE = "calibrate"  # Op.output_frac: the output's scale comes from the calibrated range


@dataclass
class Tally:
    """What one node did, summed over streams (and over steps, when accumulated)."""

    spikes: int = 0  # binary outputs equal to 1
    binary_events: int = 0  # synaptic operations triggered by binary input spikes (active input x fan-out)
    graded_events: int = 0  # synaptic operations triggered by graded (real-valued, non-zero) inputs
    graded_messages: int = 0  # graded spike messages sent into this node (each carries payload bits)
    neuron_updates: int = 0  # LIF state updates
    op_evals: int = 0  # extension-op evaluations, per output element
    saturations: int = 0  # values clipped to their bit width
    wraps: int = 0  # 24-bit current wraps (Lava LIF)

    FIELDS: ClassVar[tuple[str, ...]] = ("spikes", "binary_events", "graded_events", "graded_messages",
                                         "neuron_updates", "op_evals", "saturations", "wraps")

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in self.FIELDS], dtype=np.int64)


@dataclass(frozen=True)
class QuantContext:
    """What quantizing one node may use: its inputs' fractional bits, its own, the numeric spec."""

    in_frac: tuple[int, ...]
    binary_in: tuple[bool, ...]  # which inputs carry spikes (0/1) rather than graded values
    out_frac: int
    spec: Any  # NumericSpec


class Op:
    """Base of all ops.  Subclasses are frozen dataclasses whose fields are the op's parameters.

    Integer semantics: ``quantize`` turns the float parameters into the op's ``Q`` (integers only), and
    the static ``int_step(q, inputs, state, tally)`` runs one step on int64 arrays.  A value with ``frac``
    fractional bits stands for ``int / 2**frac``.
    """

    kind: ClassVar[str]
    arity: ClassVar[int | None] = 1  # None: any number of inputs, summed (NIR's edge semantics)
    registry: ClassVar[dict[str, type["Op"]]] = {}
    binary_output: ClassVar[bool] = False  # spikes (0/1, frac 0)
    lowered: ClassVar[bool] = False  # exists only after `lower`; stored in program.h5, never in NIR files

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

    # -- quantization rules: what this op fixes about its own and its inputs' fixed point -------------
    Q: ClassVar[type | None] = None  # the dataclass of the op's quantized parameters

    def output_frac(self, in_frac: tuple[int | None, ...]) -> int | None | str:
        """The output's fractional bits when the op fixes them (spikes: 0), else ``CALIBRATE``."""
        return 0 if self.binary_output else CALIBRATE

    def value_bits(self, spec: Any) -> int:
        """Width of the output when no consumer asks for another: a graded message's payload."""
        return spec.payload_bits

    def input_bits(self, port: int, spec: Any) -> int | None:
        """Width this op needs input `port` to fit (None: whatever its producer chooses)."""
        return None

    def input_frac_limit(self, port: int) -> int | None:
        """The most fractional bits input `port` may carry (None: no limit)."""
        return None

    # -- integer semantics ----------------------------------------------------------------------------
    def quantize(self, ctx: QuantContext) -> Any:
        raise NotImplementedError(f"{self.kind} has no integer semantics; lower the graph first")

    @staticmethod
    def int_width(q: Any) -> int | None:
        """Width of the integer output, when the parameters say it (None: the first input's width)."""
        return None

    @staticmethod
    def int_initial_state(q: Any, batch: int) -> Any:
        return None

    @staticmethod
    def int_step(q: Any, inputs: list[np.ndarray], state: Any, tally: Tally) -> tuple[np.ndarray, Any]:
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
        if self.lowered:
            raise TypeError(f"{self.kind} is a lowered op: NIR files hold the traced graph, not the lowered one")
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
    """A parameter as a tensor of `like`'s dtype: shared with numpy when the dtypes agree (no copy per step)."""
    if array.dtype == np.float32 and like.dtype == torch.float32 and array.flags.c_contiguous:
        return torch.from_numpy(array)
    return torch.as_tensor(array, dtype=like.dtype, device=like.device)


def _sum(inputs: list[torch.Tensor]) -> torch.Tensor:
    total = inputs[0]
    for x in inputs[1:]:
        total = total + x
    return total


def _bits_max(bits: int) -> int:
    return (1 << (bits - 1)) - 1


def _shift_to(x: np.ndarray, from_frac: int, to_frac: int) -> np.ndarray:
    """Re-express a value of `from_frac` fractional bits with `to_frac` (round half up when dropping bits)."""
    return fixed.round_shift(x, from_frac - to_frac)


def _saturated(x: np.ndarray, bits: int, tally: Tally) -> np.ndarray:
    y, clipped = fixed.saturate(x, bits)
    tally.saturations += clipped
    return y


def _nonzero_per_row(x: np.ndarray) -> int:
    return int(np.count_nonzero(x))


@dataclass(frozen=True, eq=False)
class _Width(Op):
    """Base of the ops whose only shape parameter is their width."""

    n: int

    @property
    def size(self) -> int:
        return self.n


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

    def output_frac(self, in_frac):
        return None  # token ids: integers without a scale

    def quantize(self, ctx):
        return None


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


@dataclass(frozen=True)
class QShift:
    n: int


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
    def from_nir(cls, node: nir.Delay) -> "TokenShift":
        if not np.all(np.asarray(node.delay) == 1):
            raise ValueError("only one-step delays (token shift) are supported")
        return cls(int(node.delay.shape[0]))

    Q: ClassVar[type] = QShift

    def output_frac(self, in_frac):
        return in_frac[0]  # a delay keeps its input's scale

    def quantize(self, ctx):
        if ctx.out_frac != ctx.in_frac[0]:
            raise ValueError("a token shift keeps its input's scale")
        return QShift(self.n)

    @staticmethod
    def int_width(q: QShift):
        return q.n

    @staticmethod
    def int_initial_state(q: QShift, batch):
        return np.zeros((batch, q.n), np.int64)

    @staticmethod
    def int_step(q, inputs, state, tally):
        return state, inputs[0]


LIF_VTH_MAX = 2**17 - 1  # Lava LIF threshold mantissa (vth << 6 must stay inside the 24-bit voltage)


@dataclass(frozen=True)
class QLIF:
    n: int
    du: int
    dv: int
    vth: int


@dataclass(frozen=True, eq=False)
class LIF(_Width):
    """spikingjelly LIF, one step per token: ``v += (x - v) / tau``; spike iff ``v >= v_threshold``; reset to 0.

    NIR: LIF with ``r = 1``, ``v_leak = 0``, ``v_reset = 0`` and a time step of one token (Euler); NIR fires
    on ``v > v_threshold``, ours on ``>=`` (see note).

    Integer form: Lava's LIF with ``du = 4095`` (the current is this step's input, no memory), ``dv = 4096/tau``
    and the input at ``frac`` bits: then ``v_lava = 64 tau 2^frac v``, so the threshold mantissa is
    ``tau v_threshold 2^frac``.  Lava fires on ``v > vth << 6``, spikingjelly on ``>=``: they differ only when
    the integer membrane lands exactly on the threshold (named approximation "strict threshold").
    """

    kind: ClassVar[str] = "LIF"
    binary_output: ClassVar[bool] = True
    tau: float
    v_threshold: float

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

    Q: ClassVar[type] = QLIF

    def input_bits(self, port, spec):
        return spec.lif_input_bits  # Lava adds a_in << 6 to a 24-bit current

    def input_frac_limit(self, port):
        """The threshold mantissa tau * vth * 2**frac must fit Lava's 17 bits."""
        return int(math.floor(math.log2(LIF_VTH_MAX / (self.tau * self.v_threshold))))

    def quantize(self, ctx):
        vth = round(self.tau * self.v_threshold * 2 ** ctx.in_frac[0])
        if not 1 <= vth < 2 ** 17:
            raise ValueError(f"threshold mantissa {vth} outside Lava's 17-bit range (input frac {ctx.in_frac[0]}); "
                             f"check --v-threshold ({self.v_threshold})")
        return QLIF(self.n, du=4095, dv=round(fixed.DECAY_UNITY / self.tau), vth=vth)

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


# ---------------------------------------------------------------------------------------------------
# Extension ops (NIR lacks them)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QLayerNorm:
    n: int
    budget: int  # bits n*x - sum(x) may keep so that the sum of squares stays inside int64
    eps: int  # eps in the units of (n x)^2: eps * n^2 * 4^in_frac
    gamma: np.ndarray  # gamma * 2**gamma_frac
    gamma_frac: int
    beta: np.ndarray  # beta * 2**out_frac
    out_frac: int
    out_bits: int


# extra bits of the integer standard deviation (keeps the division precise; bounded by int64 headroom)
LN_STD_BITS = 8


@dataclass(frozen=True, eq=False)
class LayerNorm(Op):
    """LayerNorm.  Integer form (an embedded-CPU op): deviations ``n x - sum(x)`` computed exactly (no
    rounded mean), a sum of squares (low bits dropped per row only if int64 needs it), an integer square
    root and one rounded division per element."""

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

    Q: ClassVar[type] = QLayerNorm

    def quantize(self, ctx):
        n = self.size
        budget = (62 - 2 * LN_STD_BITS - math.ceil(math.log2(n))) // 2  # n * (2**budget)**2 << 2 LN_STD_BITS < 2**62
        gamma_frac = int(np.floor(np.log2(_bits_max(16) / max(np.abs(self.weight).max(), 1e-12))))
        return QLayerNorm(
            n=n, budget=budget, eps=round(self.eps * n * n * 4.0 ** ctx.in_frac[0]),
            gamma=np.round(self.weight * 2.0**gamma_frac).astype(np.int64), gamma_frac=gamma_frac,
            beta=np.round(self.bias * 2.0**ctx.out_frac).astype(np.int64), out_frac=ctx.out_frac,
            out_bits=ctx.spec.payload_bits)

    @staticmethod
    def int_width(q: QLayerNorm):
        return q.n

    @staticmethod
    def int_step(q: QLayerNorm, inputs, state, tally):
        (x,) = inputs
        d = q.n * x - x.sum(-1, keepdims=True)  # n (x - mean), exact
        # like a block floating point: drop low bits only when a row's deviations need more than the budget
        down = np.maximum(fixed.bit_length(np.abs(d).max(-1, keepdims=True)) - q.budget, 0)
        d = fixed.round_shift(d, down)
        var = (d * d).sum(-1, keepdims=True) // q.n + fixed.round_shift(np.int64(q.eps), 2 * down)
        std = fixed.isqrt(var << (2 * LN_STD_BITS))  # n std, times 2**LN_STD_BITS, in d's units
        num = d * q.gamma
        up = q.out_frac + LN_STD_BITS - q.gamma_frac
        num = num << up if up >= 0 else fixed.round_shift(num, -up)
        y = fixed.div_round(num, std) + q.beta
        tally.op_evals += y.size
        return _saturated(y, q.out_bits, tally), state


@dataclass(frozen=True)
class QAdd:
    shifts: tuple[int, ...]  # per input: in_frac - out_frac
    out_bits: int


@dataclass(frozen=True, eq=False)
class Add(_Width):
    """Residual add: the sum of the inputs (NIR's own edge semantics)."""

    kind: ClassVar[str] = "Add"
    arity: ClassVar[int | None] = None

    def float_step(self, inputs, state):
        return _sum(inputs), state

    Q: ClassVar[type] = QAdd

    def quantize(self, ctx):
        return QAdd(tuple(f - ctx.out_frac for f in ctx.in_frac), ctx.spec.payload_bits)

    @staticmethod
    def int_step(q: QAdd, inputs, state, tally):
        total = sum(fixed.round_shift(x, s) for x, s in zip(inputs, q.shifts))
        tally.op_evals += total.size
        return _saturated(total, q.out_bits, tally), state


SIGMOID_FRAC = 15  # sigmoid output in Q0.15
SIGMOID_STEP_FRAC = 8  # table step 2**-8 over [-8, 8): 4096 entries


@dataclass(frozen=True)
class QTable:
    """A look-up table indexed by ``round(x * 2**step_frac) + offset``, clipped to the table."""

    in_frac: int
    step_frac: int
    offset: int
    table: np.ndarray


def _lookup(q: QTable, x: np.ndarray) -> np.ndarray:
    index = fixed.round_shift(x, q.in_frac - q.step_frac) + q.offset
    return q.table[np.clip(index, 0, len(q.table) - 1)]


@dataclass(frozen=True, eq=False)
class Sigmoid(_Width):
    """Integer form: a 4096-entry table over [-8, 8) in steps of 1/256, output Q0.15."""

    kind: ClassVar[str] = "Sigmoid"

    def float_step(self, inputs, state):
        return torch.sigmoid(inputs[0]), state

    Q: ClassVar[type] = QTable

    def output_frac(self, in_frac):
        return SIGMOID_FRAC

    def quantize(self, ctx):
        if ctx.out_frac != SIGMOID_FRAC:
            raise ValueError(f"sigmoid outputs Q0.{SIGMOID_FRAC}")
        half = 8 << SIGMOID_STEP_FRAC
        grid = (np.arange(2 * half) - half) / 2.0**SIGMOID_STEP_FRAC
        table = np.round(2.0**SIGMOID_FRAC / (1 + np.exp(-grid))).astype(np.int64)
        return QTable(ctx.in_frac[0], SIGMOID_STEP_FRAC, half, table)

    @staticmethod
    def int_step(q: QTable, inputs, state, tally):
        tally.op_evals += inputs[0].size
        return _lookup(q, inputs[0]), state


@dataclass(frozen=True)
class QProduct:
    shift: int  # sum of input fracs - output frac
    out_bits: int


@dataclass(frozen=True, eq=False)
class SquaredReLU(_Width):
    kind: ClassVar[str] = "SquaredReLU"

    def float_step(self, inputs, state):
        return torch.square(torch.relu(inputs[0])), state

    Q: ClassVar[type] = QProduct

    def quantize(self, ctx):
        return QProduct(2 * ctx.in_frac[0] - ctx.out_frac, ctx.spec.payload_bits)

    @staticmethod
    def int_step(q: QProduct, inputs, state, tally):
        x = np.maximum(inputs[0], 0)
        tally.op_evals += x.size
        return _saturated(fixed.round_shift(x * x, q.shift), q.out_bits, tally), state


@dataclass(frozen=True, eq=False)
class Mul(_Width):
    """Elementwise product of two inputs (gating)."""

    kind: ClassVar[str] = "Mul"
    arity: ClassVar[int | None] = 2

    def float_step(self, inputs, state):
        a, b = inputs
        return a * b, state

    Q: ClassVar[type] = QProduct

    def quantize(self, ctx):
        return QProduct(ctx.in_frac[0] + ctx.in_frac[1] - ctx.out_frac, ctx.spec.payload_bits)

    @staticmethod
    def int_step(q: QProduct, inputs, state, tally):
        a, b = inputs
        tally.op_evals += a.size
        return _saturated(fixed.round_shift(a * b, q.shift), q.out_bits, tally), state


EXP_FRAC = 15  # exp table output Q0.15
EXP_STEP_FRAC = 10  # exp table step 2**-10 over [0, 16): 16384 entries
WKV_EMPTY = -(1 << 40)  # the "no history" exponent (far below the table's range)


@dataclass(frozen=True)
class QWKV:
    n: int
    k_frac: int
    v_frac: int
    w: np.ndarray  # -exp(time_decay) * 2**k_frac
    u: np.ndarray  # time_first * 2**k_frac
    exp: QTable  # exp(-x) for x >= 0, Q0.15


@dataclass(frozen=True, eq=False)
class WKV(Op):
    """RWKV-4 WKV recurrence; inputs (k, v); ``w = -exp(time_decay)``, ``u = time_first`` (see models/wkv.py).

    Integer form (an embedded-CPU op, 64-bit state): the CUDA kernel's stabilised recurrence with the
    exponent ``o`` kept at k's scale, ``exp`` of non-positive arguments from a 16384-entry Q0.15 table
    (step 2^-10, zero below -16), ``p`` at v's scale times 2^15, ``q`` in Q.15, one rounded division per
    channel; the output has v's scale.
    """

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

    Q: ClassVar[type] = QWKV

    def output_frac(self, in_frac):
        return in_frac[1]  # at v's scale

    def input_bits(self, port, spec):
        return spec.payload_bits if port == 1 else None  # v arrives as a graded message

    def quantize(self, ctx):
        k_frac, v_frac = ctx.in_frac
        if ctx.out_frac != v_frac:
            raise ValueError("WKV outputs at v's scale")
        steps = np.arange(16 << EXP_STEP_FRAC) / 2.0**EXP_STEP_FRAC
        table = np.round(2.0**EXP_FRAC * np.exp(-steps)).astype(np.int64)
        return QWKV(self.size, k_frac, v_frac,
                    w=np.round(-np.exp(self.time_decay.astype(np.float64)) * 2.0**k_frac).astype(np.int64),
                    u=np.round(self.time_first.astype(np.float64) * 2.0**k_frac).astype(np.int64),
                    exp=QTable(k_frac, EXP_STEP_FRAC, 0, table))

    @staticmethod
    def int_width(q: QWKV):
        return q.n

    @staticmethod
    def int_initial_state(q: QWKV, batch):
        zero = np.zeros((batch, q.n), np.int64)
        return zero, zero.copy(), np.full((batch, q.n), WKV_EMPTY, np.int64)

    @staticmethod
    def int_step(q: QWKV, inputs, state, tally):
        k, v = inputs
        p, qq, o = state
        one = np.int64(1 << EXP_FRAC)

        def exp_neg(x):  # exp(x) for x <= 0, Q0.15
            return _lookup(q.exp, -x)

        uk = q.u + k
        no = np.maximum(o, uk)
        a, b = exp_neg(o - no), exp_neg(uk - no)
        num = a * p + b * v * one
        den = a * qq + b * one
        y = fixed.div_round(num, den)
        no = np.maximum(q.w + o, k)
        a, b = exp_neg(q.w + o - no), exp_neg(k - no)
        p = fixed.round_shift(a * p + b * v * one, EXP_FRAC)
        qq = fixed.round_shift(a * qq + b * one, EXP_FRAC)
        tally.op_evals += y.size
        return y, (p, qq, no)


@dataclass(frozen=True)
class QOutput:
    frac: int


@dataclass(frozen=True, eq=False)
class Output(_Width):
    """Graph output (NIR: Output)."""

    kind: ClassVar[str] = "Output"

    def float_step(self, inputs, state):
        return inputs[0], state

    def to_nir(self, input_names):
        return nir.Output(output_type={"output": np.array([self.n])})

    Q: ClassVar[type] = QOutput

    def output_frac(self, in_frac):
        return in_frac[0]

    def quantize(self, ctx):
        return QOutput(ctx.in_frac[0])

    @staticmethod
    def int_step(q, inputs, state, tally):
        return inputs[0], state


# ---------------------------------------------------------------------------------------------------
# Lowered ops: what `lower` folds traced ops into before quantization (float semantics unchanged)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QSpikeEmbedding:
    table: np.ndarray  # [V, C] of 0/1


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
        return torch.as_tensor(self.codes)[inputs[0].long()].to(torch.float64), state

    Q: ClassVar[type] = QSpikeEmbedding

    def quantize(self, ctx):
        return QSpikeEmbedding(self.codes.astype(np.int64))

    @staticmethod
    def int_width(q: QSpikeEmbedding):
        return q.table.shape[1]

    @staticmethod
    def int_step(q: QSpikeEmbedding, inputs, state, tally):
        out = q.table[inputs[0]]
        tally.spikes += int(out.sum())
        tally.op_evals += len(inputs[0])  # one table look-up per stream
        return out, state


@dataclass(frozen=True)
class QDense:
    weights: np.ndarray  # [ports, out, in] int16, even integers in [-254, 254] (invariant under Lava's Dense)
    exps: np.ndarray  # [ports, out] weight exponents (Lava's weight_exp, per row block)
    binary: np.ndarray  # [ports] bool: the port carries spikes (else graded payloads)
    out_bits: int

    @property
    def blas_weights(self) -> np.ndarray:
        """float64 copy for exact BLAS products (see fixed.dense), made on first use: export never needs it."""
        cached = self.__dict__.get("_blas")
        if cached is None:
            cached = self.weights.astype(np.float64)
            object.__setattr__(self, "_blas", cached)
        return cached


@dataclass(frozen=True, eq=False)
class Dense(Op):
    """``y = W (sum_p s_p * x_p)``: a Linear whose inputs are scaled elementwise first (folded Scales).

    ``weight`` is the traced Linear's own array (not copied); ``scales[p]`` scales input ``p`` (token-shift
    mixing ratios, or ones).  Integer form: per port, a Lava Dense of ``W diag(s_p)`` (8-bit weights, one
    exponent per block of ``block_rows`` rows); the ports' outputs are summed at the receiving neuron.
    """

    kind: ClassVar[str] = "Dense"
    arity: ClassVar[int | None] = None
    lowered: ClassVar[bool] = True
    weight: np.ndarray  # [out, in]
    scales: np.ndarray  # [ports, in]

    @property
    def size(self) -> int:
        return self.weight.shape[0]

    def float_step(self, inputs, state):
        x = inputs[0] * _t(self.scales[0], inputs[0])
        for s, x_p in zip(self.scales[1:], inputs[1:]):
            x = x + x_p * _t(s, x_p)
        return torch.nn.functional.linear(x, _t(self.weight, x)), state

    Q: ClassVar[type] = QDense

    def value_bits(self, spec):
        return spec.state_bits  # a dendritic accumulator, read by the neuron program beside it

    def quantize(self, ctx):
        spec = ctx.spec
        weights, exps = [], []
        for scale, in_frac in zip(self.scales, ctx.in_frac):  # one port's folded matrix at a time
            real = self.weight.astype(np.float32) * (scale * 2.0 ** (ctx.out_frac - in_frac)).astype(np.float32)[None, :]
            rows = real.shape[0]
            e = np.zeros(rows, np.int64)
            for start in range(0, rows, spec.block_rows or rows):
                block = slice(start, start + (spec.block_rows or rows))
                peak = np.abs(real[block]).max()
                e[block] = int(np.ceil(np.log2(peak / 254))) if peak > 0 else 0
            real *= (2.0 ** -(e[:, None] + 1)).astype(np.float32)
            weights.append(2 * np.round(real).astype(np.int16))  # even, within [-254, 254]
            del real
            exps.append(e)
        return QDense(np.stack(weights), np.stack(exps), np.array(ctx.binary_in), spec.state_bits)

    @staticmethod
    def int_width(q: QDense):
        return q.weights.shape[1]

    @staticmethod
    def int_step(q: QDense, inputs, state, tally):
        acc = None
        for w, e, binary, x in zip(q.blas_weights, q.exps, q.binary, inputs):
            active = np.count_nonzero(x)
            if binary:
                tally.binary_events += active * w.shape[0]
            else:
                tally.graded_events += active * w.shape[0]
                tally.graded_messages += active
            y = fixed.dense(w, e, x, graded=not binary)
            acc = y if acc is None else acc + y
        return Dense.accumulate(q, acc, tally), state

    @staticmethod
    def accumulate(q: QDense, acc: np.ndarray, tally: Tally) -> np.ndarray:
        """The receiving neurons' side: the ports' Dense outputs arrive summed; the state width bounds them."""
        return _saturated(acc, q.out_bits, tally)


# NIR node type -> our op, for NIR nodes without neurocompile metadata (or with it, on native types).
NATIVE: dict[type, type[Op]] = {nir.Linear: Linear, nir.Scale: Scale, nir.Delay: TokenShift, nir.LIF: LIF,
                                nir.Threshold: Heaviside}
