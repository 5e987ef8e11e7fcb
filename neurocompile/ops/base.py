"""The base of every op (float semantics, NIR encoding, lowering) and of every integer form (``IntegerForm``: how a
target computes an op in integers, registered by the target).

Every op works on one time step (one token) of a batch of independent streams: inputs are [B, n]
tensors, ``float_step`` returns the output and the op's next state.  Float semantics equal upstream
PyTorch (checked by running a traced graph against the model).

NIR encoding.  Each op writes its NIR node (``to_nir``) and reads it back (``from_nir``); which op a NIR node
type *means* is one table, ``neurocompile.nir_codec.TABLE``.  An op whose NIR node means another op there (our
``LIF``, ``Heaviside``, ``TokenShift``, ``Embedding``, ...) writes its kind in the node's metadata
(``neurocompile.op``) and is read back by it.  NIR sums the edges that enter a node; ``Linear`` and ``Add``
rely on exactly that.  The ops NIR lacks (WKV, LayerNorm, sigmoid, squared ReLU, elementwise product,
residual add) are written as a NIR subgraph ``Input -> Output`` (an identity placeholder that every NIR
reader accepts) whose metadata carries ``neurocompile.op``, the op's parameters and, for ops whose inputs
play different roles, their order (``neurocompile.inputs``).  Deviations of our semantics from NIR's
definition of a native node are also written in its metadata (``neurocompile.note``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any, ClassVar

import nir
import numpy as np
import torch

from .. import fixed

OP_KEY = "neurocompile.op"
INPUTS_KEY = "neurocompile.inputs"
NOTE_KEY = "neurocompile.note"
PARAM_PREFIX = "neurocompile.param."
CALIBRATE = "calibrate"  # Op.output_frac: the output's scale comes from the calibrated range
HEADROOM = 2.0  # calibration max x 2: one bit of headroom for text the calibration did not see
MAX_NEURONS = 1 << 24  # neurons in one node (16.8 M; the float and integer engines hold a few values per neuron)


@dataclass(frozen=True)
class NirContext:
    """What reading a NIR node needs beside the node (``Op.from_nir``).  A foreign file's import gives the time step,
    the reset mode (NIR has no field for it) and the shape the node's input carries; reading our own file gives
    nothing, and each op reads its own metadata."""

    dt: float | None = None
    reset: str | None = None
    in_shape: tuple[int, ...] | None = None  # the shape the node's input carries (None: a source, or our own file)
    read_as: tuple[int, ...] | None = None  # a source's output shape as the nodes it feeds declare their input

    @property
    def width(self) -> int | None:
        return None if self.in_shape is None else int(np.prod(self.in_shape))


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
    wraps: int = 0  # neuron currents that wrapped around their width instead of saturating
    # NeuroBench's "effective" synaptic operations: the events above whose weight is not zero
    effective_binary_events: int = 0
    effective_graded_events: int = 0

    FIELDS: ClassVar[tuple[str, ...]] = ("spikes", "binary_events", "graded_events", "graded_messages",
                                         "neuron_updates", "op_evals", "saturations", "wraps",
                                         "effective_binary_events", "effective_graded_events")

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in self.FIELDS], dtype=np.int64)


class _Registry(dict):
    """kind -> Op class, filled as each op class is defined (``Op.__init_subclass__``); a kind nobody defined is an
    error naming the kinds that exist, never a default."""

    def __missing__(self, kind: str):
        raise KeyError(f"no op kind {kind!r}; the ops are {', '.join(sorted(self))}")


@dataclass(frozen=True)
class QuantContext:
    """What quantizing one node may use: its inputs' fractional bits, its own, the numeric spec."""

    in_frac: tuple[int, ...]
    binary_in: tuple[bool, ...]  # which inputs carry spikes (0/1) rather than graded values
    out_frac: int
    spec: Any  # NumericSpec
    weight_exp: int | None = None  # a weight exponent the target fixes for every row (a netx file holds none)


class IntegerForm:
    """How a chip computes an op in integers: the op's quantized parameters ``Q``, the rules that fix its own and its
    inputs' scales, ``quantize`` (float parameters -> ``Q``), and the static ``int_step(q, inputs, state, tally)`` on
    int64 arrays.  A value with ``frac`` fractional bits stands for ``int / 2**frac``.

    The ops own their float semantics; a target owns their integer forms (``targets/<chip>/arithmetic``), each a
    subclass named for its op and the arithmetic it is
    (``class CUBAForm(IntegerForm, op=CUBA, arithmetic=NUMERIC.name)``:
    the target's ``NumericSpec.name``, which every program carries), found through ``integer_form(op_class,
    arithmetic)`` -- as JAX registers one lowering per op per platform: two chips may compute one op two ways.  The
    methods that take the op (``quantize``, ``output_frac``, ``input_bits``, ...) take it as their first argument:
    ``form.quantize(op, ctx)``.  Two kinds of op carry their form themselves: a program's interface (inputs,
    outputs, token codes: exact, the same on every target, registered beside the op in the core for every
    arithmetic), and an op that exists on one target only (a core of a chip that maps whole networks: the class
    derives from both ``Op`` and ``IntegerForm``, in the target's folder)."""

    # (op class, arithmetic) -> form; arithmetic None: the same form in every arithmetic (the program's interface)
    forms: ClassVar[dict[tuple[type, str | None], type["IntegerForm"]]] = {}
    op: ClassVar[type]  # the op class a registered form computes
    arithmetic: ClassVar[str | None] = None  # the NumericSpec.name of the programs it belongs to (None: every one)

    def __init_subclass__(cls, op: type | None = None, arithmetic: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if op is not None:
            key = (op, arithmetic)
            if key in IntegerForm.forms or (op, None) in IntegerForm.forms or \
                    arithmetic is None and any(o is op for o, _ in IntegerForm.forms):
                raise TypeError(f"{op.__name__} has two integer forms in arithmetic {arithmetic}: {cls.__name__} and "
                                f"{next(f for (o, _), f in IntegerForm.forms.items() if o is op).__name__}")
            cls.op, cls.arithmetic = op, arithmetic
            IntegerForm.forms[key] = cls

    # integer parameters of the op's Q that quantization sensitivity may round coarser: field -> (what it is, its
    # width in bits, its largest value); e.g. a LIF's decay and threshold mantissas
    coarsenable: ClassVar[dict[str, tuple[str, int, int]]] = {}
    # where the integer form departs from the float semantics beyond rounding to its scales, named in the manifest
    # of every build whose program has the op
    approximation: ClassVar[str | None] = None
    # the range of each integer parameter of the op's Q (field -> (lowest, highest)): checked whenever a program is
    # read (``int_check``), so an edited program.h5 whose hash was updated is refused, not run
    int_limits: ClassVar[dict[str, tuple[int, int]]] = {}

    # -- quantization rules: what the op fixes about its own and its inputs' fixed point --------------
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

    def input_frac_limit(self, port: int, own_peak: float = 0.0) -> int | None:
        """The most fractional bits input `port` may carry (None: no limit); `own_peak`: the largest |output| this op
        gave on the calibration input."""
        return None

    @staticmethod
    def slice_q(q: Any, start: int, end: int) -> Any:
        """The parameters of channels start..end alone, for an op whose channels are independent (an elementwise
        neuron program: ``int_step`` on those channels of every input gives those channels of the output), so that
        each core slice of it can be its own process (a target's mapping); None: the op is not split."""
        return None

    # -- integer semantics ----------------------------------------------------------------------------
    def quantize(self, ctx: QuantContext) -> Any:
        raise NotImplementedError(f"{self.kind} has no integer semantics in {ctx.spec.name}; lower the graph first")

    @staticmethod
    def int_width(q: Any) -> int | None:
        """Width of the integer output, when the parameters say it (None: the first input's width)."""
        return None

    @staticmethod
    def int_initial_state(q: Any, batch: int) -> Any:
        return None

    @staticmethod
    def ann_macs(q: Any, tokens: int) -> int:
        """Multiply-accumulates per step the same op costs in a dense ANN (the energy report's baselines), for a run
        of `tokens` tokens per stream; 0 for ops that are not matrix products."""
        return 0

    @staticmethod
    def stored_synapses(q: Any) -> np.ndarray | None:
        """A synapse op's stored 8-bit weights (a matrix; a convolution's kernel once); None for other ops."""
        return None

    @staticmethod
    def dense_synops(q: Any) -> int:
        """A synapse op's synaptic operations per step if every synapse fired (NeuroBench's dense synops)."""
        return 0

    @staticmethod
    def int_step(q: Any, inputs: list[np.ndarray], state: Any, tally: Tally) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    @classmethod
    def int_check(cls, q: Any) -> None:
        """The integer invariants of `q` as read from a program file; a ValueError names the field.  Every array holds
        integers (or booleans), every number is an integer, and each field in ``int_limits`` is in its range."""
        _integers_only(q)
        for name, (lo, hi) in cls.int_limits.items():
            value = np.asarray(getattr(q, name))
            if value.size and (value.min() < lo or value.max() > hi):
                bad = value.min() if value.min() < lo else value.max()
                raise ValueError(f"{name} holds {bad}, outside {lo}..{hi}")


_TARGETS_LOADED: list[bool] = []


def integer_forms() -> dict[tuple[type, str | None], type[IntegerForm]]:
    """Every registered form, every target package loaded first (a form is found, not named)."""
    if not _TARGETS_LOADED:
        _TARGETS_LOADED.append(True)
        from ..plugins import find

        find("neurocompile.targets", "TARGET", object)
    return IntegerForm.forms


def integer_form(op_class: type, arithmetic: str) -> type[IntegerForm]:
    """How `op_class` is computed in `arithmetic` (a program's ``spec.name``): the form registered for the two, or for
    every arithmetic; the class itself for an op that is its own form; else ``IntegerForm`` -- whose ``quantize``
    says the op has no integer semantics there (a graph not lowered yet, or an op this target does not compute)."""
    forms = integer_forms()
    found = forms.get((op_class, arithmetic)) or forms.get((op_class, None))
    if found is not None:
        return found
    return op_class if issubclass(op_class, IntegerForm) else IntegerForm


class Op:
    """Base of all ops.  Subclasses are frozen dataclasses whose fields are the op's parameters: the float
    semantics (``float_step``), the NIR form and the lowering; the integer form is a target's (``IntegerForm``)."""

    kind: ClassVar[str]
    arity: ClassVar[int | None] = 1  # None: any number of inputs, summed (NIR's edge semantics)
    registry: ClassVar[dict[str, type["Op"]]] = _Registry()
    binary_output: ClassVar[bool] = False  # spikes (0/1, frac 0)
    lowered: ClassVar[bool] = False  # exists only after `lower`; stored in program.h5, never in NIR files
    synapse: ClassVar[bool] = False  # a weight-holding synapse (Dense, a kernel-held convolution): ``stored_synapses``
    same_input_frac: ClassVar[bool] = False  # the inputs are summed as they arrive: quantization gives them one scale
    # False: the output depends on the state alone (a delay).  Such a node may read nodes later in the order;
    # executors take its output first and run ``float_step`` / ``int_step`` at the end of the step.
    feedthrough: ClassVar[bool] = True
    keeps_map: ClassVar[bool] = False  # one output per input value, in place: the output carries the input's map
    identity: ClassVar[bool] = False  # the output is the input (a reshape of a flat map): ``lower`` removes it

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

    @staticmethod
    def emit(state: Any) -> Any:
        """The output of an op without feedthrough, from its state alone (float and integer state alike)."""
        raise NotImplementedError

    # -- lowering: what the op becomes before quantization (``neurocompile.lower``) ---------------------
    def synapse_form(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(weight [out, in], bias [out] or None) for an op that is a weight matrix on the sum of its inputs."""
        return None

    def neuron_program(self) -> "Op | None":
        """The same float semantics as an integer program a programmable neuron can run, where the default integer
        form needs an embedded CPU (``lower``'s ``neuron_ops``); None: no such form."""
        return None

    def neuron_form(self) -> tuple[np.ndarray, Op] | None:
        """(gain [n] on the summed input, the lowered neuron) for a neuron model with an integer form."""
        return None

    def kernel_form(self) -> Any:
        """A convolution's form held as its kernel (a ``ConvSynapse``), for ``lower`` to keep where it reads spikes;
        None for other ops."""
        return None

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
    def from_nir(cls, node: nir.NIRNode, ctx: NirContext) -> "Op":
        """The op a NIR node of ours (or, for the types of ``nir_codec.TABLE``, any exporter's) stands for."""
        raise ValueError(f"a NIR {type(node).__name__} cannot be read as {cls.kind}")

    def out_shape(self, in_shape: tuple[int, ...] | None) -> tuple[int, ...]:
        """The shape of the map this op's output carries, given its input's (maps are held flat; a convolution
        needs to know what it reads): the input's map for an op with one output per input value (``keeps_map``),
        a flat vector otherwise, unless the op says more."""
        return (in_shape or (self.size,)) if self.keeps_map else (self.size,)

    @classmethod
    def from_extension(cls, meta: dict[str, Any]) -> "Op":
        kwargs = {}
        for f in fields(cls):  # type: ignore[arg-type]
            value = meta[PARAM_PREFIX + f.name]
            kwargs[f.name] = np.asarray(value).item() if np.ndim(value) == 0 else np.asarray(value)
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


def _integers_only(q: Any) -> None:
    for f in fields(q):
        value = getattr(q, f.name)
        if is_dataclass(value):
            _integers_only(value)
        elif isinstance(value, np.ndarray) and value.dtype.kind not in "iub":
            raise ValueError(f"{f.name} holds {value.dtype} values; a program holds integers only")
        elif isinstance(value, (float, np.floating)):
            raise ValueError(f"{f.name} is {value!r}; a program holds integers only")


def _numpy(value) -> np.ndarray:
    """A NIR parameter as float64 (exporters leave torch tensors in some nodes; None, NIR's optional v_reset, is 0)."""
    value = 0.0 if value is None else value.detach().cpu().numpy() if hasattr(value, "detach") else value
    return np.asarray(value, np.float64)


def _scaled_sum(inputs: list[torch.Tensor], scales: np.ndarray) -> torch.Tensor:
    """``sum_p scales[p] * inputs[p]``, elementwise (folded or mixed token-shift ratios)."""
    total = inputs[0] * _t(scales[0], inputs[0])
    for s, x in zip(scales[1:], inputs[1:]):
        total = total + x * _t(s, x)
    return total


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

    keeps_map: ClassVar[bool] = True
    n: int

    @property
    def size(self) -> int:
        return self.n

