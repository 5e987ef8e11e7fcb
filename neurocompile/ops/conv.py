"""Convolution and pooling on C x H x W (or C x L) maps, stored flat (row-major, as ``torch.flatten`` orders them).

Float semantics: PyTorch's ``conv2d`` / a sum over each window (NIR's SumPool2d; AvgPool2d divides by the window
size).  Integer form: a weight matrix like any other (``synapse_form``, the operator unrolled onto the flat
vectors: the entries are the kernel's, placed where each output reads each input), so a conv or a pooling layer
becomes a ``Dense`` in ``lower`` -- folded into the next layer's weights when nothing spikes in between (pooling
then Affine), or carrying the next neuron's gain.  The unrolled matrix holds the zeros too: the partition counts
them as synaptic memory (named in the report's approximations), an over-estimate of what a conv-aware core stores.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np
import torch
import torch.nn.functional as F

from .. import fixed
from .base import OP_KEY, Op, Tally, _bits_max, _numpy, _saturated, _sum, _t


MAX_UNROLLED = 1 << 25  # entries of an unrolled conv/pool matrix this version builds (256 MB as float64)


def _pair(value) -> tuple[int, int]:
    a = np.asarray(value).reshape(-1)
    if a.size == 1:
        return int(a[0]), int(a[0])
    if a.size != 2:
        raise ValueError(f"expected one or two integers, got {a.tolist()}")
    return int(a[0]), int(a[1])


class _Map(Op):
    """An op on a C x H x W map held flat: its input shape is a field; ``shape`` is its output's."""

    arity: ClassVar[int | None] = None  # NIR sums incoming edges

    @property
    def shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def out_shape(self, in_shape):
        return tuple(self.shape)

    dims: ClassVar[str] = "C x H x W"  # the maps it reads

    @classmethod
    def _read_shape(cls, node, ctx) -> tuple[int, ...]:
        """The map a NIR node reads: what its input carries (an import), or our metadata's (our own file)."""
        if ctx.in_shape is None:
            return tuple(int(v) for v in np.asarray(node.metadata["neurocompile.in_shape"]))
        if len(ctx.in_shape) != cls.dims.count("x") + 1:
            raise ValueError(f"its input carries shape {ctx.in_shape}; it reads {cls.dims} maps")
        return tuple(ctx.in_shape)

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] -> [B, C', H', W']"""
        raise NotImplementedError

    def float_step(self, inputs, state):
        x = _sum(inputs)
        return self._apply(x.reshape(x.shape[0], *self.in_shape)).reshape(x.shape[0], -1), state

    def check_size(self) -> None:
        """Refuse a layer whose unrolled matrix would not fit memory (this version stores it dense)."""
        entries = int(np.prod(self.in_shape)) * self.size
        if entries > MAX_UNROLLED:
            raise ValueError(f"unrolls to a {self.size:,} x {int(np.prod(self.in_shape)):,} weight matrix "
                             f"({entries:,} entries, over the {MAX_UNROLLED:,} this version builds: convolutions are "
                             f"stored as dense matrices); use smaller maps")

    def _unrolled(self) -> np.ndarray:
        """The linear part as a matrix [out, in]: the op applied to every unit input."""
        n = int(np.prod(self.in_shape))
        with torch.no_grad():
            basis = torch.eye(n, dtype=torch.float64).reshape(n, *self.in_shape)
            return self._linear(basis).reshape(n, -1).T.contiguous().numpy()

    def _linear(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply(x)


class _Conv(_Map):
    """What Conv1d and Conv2d share: torch's convolution with the node's geometry, a bias per output channel."""

    nir_type: ClassVar[type]  # the NIR node it writes
    _dims: ClassVar[int]

    def _conv(self, x: torch.Tensor, bias: bool) -> torch.Tensor:
        conv = F.conv1d if self._dims == 1 else F.conv2d
        return conv(x, _t(self.weight, x), _t(self.bias, x) if bias else None, self.stride, self.padding,
                    self.dilation, self.groups)

    def _apply(self, x):
        return self._conv(x, True)

    def _linear(self, x):
        return self._conv(x, False)

    def synapse_form(self):
        return self._unrolled(), np.repeat(np.asarray(self.bias, np.float64), int(np.prod(self.shape[1:])))

    def to_nir(self, input_names):
        spatial = self.in_shape[1:] if self._dims == 2 else int(self.in_shape[1])
        return self.nir_type(input_shape=spatial, weight=self.weight, stride=self.stride, padding=self.padding,
                               dilation=self.dilation, groups=self.groups, bias=self.bias,
                               metadata={OP_KEY: self.kind, "neurocompile.in_shape": np.asarray(self.in_shape)})

    @classmethod
    def from_nir(cls, node, ctx) -> "_Conv":
        in_shape = cls._read_shape(node, ctx)
        weight = _numpy(node.weight)
        if weight.ndim != 2 + cls._dims:
            raise ValueError(f"weight of shape {weight.shape}, expected [C_out, C_in/groups, {'kh, kw' if cls._dims == 2 else 'k'}]")
        if isinstance(node.padding, str):
            raise ValueError(f"padding {node.padding!r}: give the padding as numbers")
        groups = int(node.groups)
        if len(in_shape) != 1 + cls._dims or in_shape[0] != weight.shape[1] * groups:
            raise ValueError(f"input of shape {in_shape}, but the kernel reads {weight.shape[1] * groups} channels")
        geometry = _pair if cls._dims == 2 else (lambda v: int(np.asarray(v).reshape(-1)[0]))
        bias = _numpy(node.bias).reshape(-1)
        op = cls(weight, np.broadcast_to(bias, (weight.shape[0],)).copy(), tuple(in_shape), geometry(node.stride),
                 geometry(node.padding), geometry(node.dilation), groups)
        op.check_size()
        return op


@dataclass(frozen=True, eq=False)
class Conv2d(_Conv):
    """NIR's Conv2d on a flat C x H x W input: ``torch.nn.functional.conv2d`` with the node's stride, padding,
    dilation and groups, plus the bias per output channel."""

    kind: ClassVar[str] = "Conv2d"
    nir_type: ClassVar[type] = nir.Conv2d
    _dims: ClassVar[int] = 2
    weight: np.ndarray  # [C_out, C_in / groups, kh, kw]
    bias: np.ndarray  # [C_out]
    in_shape: tuple  # (C_in, H, W)
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1

    @property
    def shape(self):
        return _conv_shape(self.in_shape, self.weight.shape, self.stride, self.padding, self.dilation)

    def kernel_form(self) -> "ConvSynapse":
        return ConvSynapse(np.asarray(self.weight, np.float64), np.asarray(self.bias, np.float64), tuple(self.in_shape),
                           tuple(self.stride), tuple(self.padding), tuple(self.dilation), int(self.groups))


@dataclass(frozen=True, eq=False)
class Conv1d(_Conv):
    """NIR's Conv1d on a flat C x L input: ``torch.nn.functional.conv1d``, bias per output channel."""

    kind: ClassVar[str] = "Conv1d"
    nir_type: ClassVar[type] = nir.Conv1d
    dims: ClassVar[str] = "C x L"
    _dims: ClassVar[int] = 1
    weight: np.ndarray  # [C_out, C_in / groups, k]
    bias: np.ndarray  # [C_out]
    in_shape: tuple  # (C_in, L)
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1

    @property
    def shape(self):
        _, length = self.in_shape
        k = self.weight.shape[2]
        return (self.weight.shape[0], (length + 2 * self.padding - self.dilation * (k - 1) - 1) // self.stride + 1)


@dataclass(frozen=True, eq=False)
class SumPool2d(_Map):
    """NIR's SumPool2d on a flat C x H x W input: the sum over each window."""

    kind: ClassVar[str] = "SumPool2d"
    nir_type: ClassVar[type] = nir.SumPool2d
    _divisor: ClassVar[int | None] = 1  # each window's sum divided by this (None: by the window's size)
    in_shape: tuple  # (C, H, W)
    kernel_size: tuple
    stride: tuple
    padding: tuple = (0, 0)

    @property
    def shape(self):
        c, h, w = self.in_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def _apply(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, count_include_pad=True,
                            divisor_override=self._divisor)

    def synapse_form(self):
        return self._unrolled(), None

    def divisor(self) -> int:
        return self._divisor or int(np.prod(self.kernel_size))

    def to_nir(self, input_names):
        return self.nir_type(kernel_size=np.array(self.kernel_size), stride=np.array(self.stride),
                         padding=np.array(self.padding),
                         metadata={OP_KEY: self.kind, "neurocompile.in_shape": np.asarray(self.in_shape)})

    @classmethod
    def from_nir(cls, node, ctx) -> "SumPool2d":
        if type(node) is not cls.nir_type:  # a graph.nir from before AvgPool2d was an op: its pools were SumPool2d
            raise ValueError(f"a NIR {type(node).__name__} marked {cls.kind}: a graph.nir of an older version; export "
                             f"the build again")
        op = cls(cls._read_shape(node, ctx), _pair(node.kernel_size), _pair(node.stride), _pair(node.padding))
        op.check_size()
        return op


@dataclass(frozen=True, eq=False)
class AvgPool2d(SumPool2d):
    """NIR's AvgPool2d on a flat C x H x W input: each window's sum divided by its size (padding included, as
    ``torch.nn.functional.avg_pool2d`` with ``count_include_pad``)."""

    kind: ClassVar[str] = "AvgPool2d"
    nir_type: ClassVar[type] = nir.AvgPool2d
    _divisor: ClassVar[int | None] = None


@dataclass(frozen=True, eq=False)
class Flatten(_Map):
    """NIR's Flatten: the identity on maps held flat (row-major, torch.flatten's order); ``lower`` removes it."""

    kind: ClassVar[str] = "Flatten"
    identity: ClassVar[bool] = True
    in_shape: tuple

    @property
    def shape(self):
        return (int(np.prod(self.in_shape)),)

    def float_step(self, inputs, state):
        return _sum(inputs), state

    def to_nir(self, input_names):
        return nir.Flatten(input_type={"input": np.array(self.in_shape)}, start_dim=0, end_dim=-1)

    @classmethod
    def from_nir(cls, node: nir.Flatten, ctx) -> "Flatten":
        """Maps are flat already: the identity on what its input carries (kept for NIR; ``lower`` removes it)."""
        if ctx.in_shape is None:
            return cls(tuple(int(v) for v in np.asarray(node.input_type["input"]).reshape(-1)))
        return cls(tuple(ctx.in_shape))


# --------------------------------------------------------------------------------------------------
# A convolution held as its kernel (the lowered form of a Conv2d on spikes)
# --------------------------------------------------------------------------------------------------

SUM_BITS = 24  # Lava's Conv process clamps its sums to 24 signed bits before they leave it (signed_clamp)


@dataclass(frozen=True)
class QConv:
    """A convolution's integers: its kernel as a Dense holds weights (8-bit, twice ``halves``), one weight exponent,
    the maps it reads and its geometry, and a bias per output channel added at the receiving neurons."""

    halves: np.ndarray  # [C_out, C_in / groups, kh, kw] int8: each weight over two (even 8-bit weights, as a Dense's)
    exp: int  # the sum shifted by it (floored): Lava's weight_exp
    geometry: np.ndarray  # int64 [C, H, W, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups]
    out_bits: int
    bias: np.ndarray  # [C_out] at the output's scale (zeros: none)

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.geometry[:3])

    @property
    def exps(self) -> np.ndarray:
        """[1, C_out]: the weight exponent per output channel, as a one-port Dense's per row."""
        return np.full((1, self.halves.shape[0]), self.exp, np.int64)

    @property
    def binary(self) -> np.ndarray:
        return np.array([True])  # it reads spikes, as a Dense's binary port

    @property
    def stride(self) -> tuple[int, int]:
        return int(self.geometry[3]), int(self.geometry[4])

    @property
    def padding(self) -> tuple[int, int]:
        return int(self.geometry[5]), int(self.geometry[6])

    @property
    def dilation(self) -> tuple[int, int]:
        return int(self.geometry[7]), int(self.geometry[8])

    @property
    def groups(self) -> int:
        return int(self.geometry[9])

    @property
    def shape(self) -> tuple[int, int, int]:
        return _conv_shape(self.in_shape, self.halves.shape, self.stride, self.padding, self.dilation)

    def correlate(self, x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """[B, C*H*W] of 0/1 -> [B, C_out*H'*W']: PyTorch's correlation with the integer `kernel` -- in float32 where
        every sum is exact there (at most 2^24 in magnitude: the kernel's absolute sum), else float64."""
        dtype = np.float32 if np.abs(kernel).reshape(kernel.shape[0], -1).sum(1).max(initial=0) <= 1 << 24 else np.float64
        with torch.no_grad():
            y = F.conv2d(torch.from_numpy(np.ascontiguousarray(x, dtype)).reshape(-1, *self.in_shape),
                         torch.from_numpy(np.ascontiguousarray(kernel, dtype)), None, self.stride, self.padding,
                         self.dilation, self.groups)
        return y.reshape(y.shape[0], -1).numpy().astype(np.float64)

    def _fanout(self, kernel: np.ndarray) -> np.ndarray:
        """[C*H*W]: the synapses each input reaches through `kernel`'s taps (the transposed convolution of ones)."""
        ones = torch.ones(1, *self.shape, dtype=torch.float64)
        with torch.no_grad():  # on the padded input, then cropped to the input
            reach = F.conv_transpose2d(ones, torch.from_numpy(np.ascontiguousarray(kernel, np.float64)), None,
                                       self.stride, 0, 0, self.groups, self.dilation)[0]
        (h, w), (ph, pw) = self.in_shape[1:], self.padding
        full = torch.zeros(self.in_shape[0], h + 2 * ph, w + 2 * pw, dtype=torch.float64)
        rows, cols = min(reach.shape[1], full.shape[1]), min(reach.shape[2], full.shape[2])
        full[:, :rows, :cols] = reach[:, :rows, :cols]  # padded rows no output reads (past the last window): none
        return np.rint(full[:, ph:ph + h, pw:pw + w].reshape(-1).numpy()).astype(np.int64)

    @property
    def fanout(self) -> np.ndarray:
        """[C*H*W]: each input's synapses (every tap of the kernel in reach, zero weights too), made on first use."""
        cached = self.__dict__.get("_fanout_all")
        if cached is None:
            cached = self._fanout(np.ones(self.halves.shape))
            object.__setattr__(self, "_fanout_all", cached)
        return cached

    @property
    def nonzero_fanout(self) -> np.ndarray:
        """[C*H*W]: each input's synapses with a non-zero weight (its effective fan-out), made on first use."""
        cached = self.__dict__.get("_fanout_nonzero")
        if cached is None:
            cached = self._fanout((self.halves != 0).astype(np.float64))
            object.__setattr__(self, "_fanout_nonzero", cached)
        return cached


def _conv_shape(in_shape, kernel_shape, stride, padding, dilation) -> tuple[int, int, int]:
    _, h, w = in_shape
    kh, kw = kernel_shape[2:]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    return int(kernel_shape[0]), (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1


@dataclass(frozen=True, eq=False)
class ConvSynapse(Op):
    """A Conv2d on spikes, held as its kernel (``lower``: a Conv2d reading a spiking population or the spike input):
    ``y = conv2d(x, weight) + bias`` on flat C x H x W maps.  Integer form: Lava's Conv process -- the kernel's 8-bit
    weights (twice ``halves``, as a Dense's), each step's sums over the input spikes, clamped to 24 bits as Lava's
    Conv clamps them -- then, at the receiving neurons, the sum shifted by the weight exponent (floor) and the
    channel's bias, within the state's width.  The same integers a Dense unrolled from the kernel gives, with a
    kernel's memory instead of a matrix's."""

    kind: ClassVar[str] = "ConvSynapse"
    lowered: ClassVar[bool] = True
    synapse: ClassVar[bool] = True
    int_limits: ClassVar[dict[str, tuple[int, int]]] = {"halves": (-128, 127), "exp": (-60, 60), "out_bits": (2, 63),
                                                        "geometry": (0, 1 << 24)}
    weight: np.ndarray  # [C_out, C_in / groups, kh, kw]
    bias: np.ndarray | None
    in_shape: tuple
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return _conv_shape(self.in_shape, self.weight.shape, self.stride, self.padding, self.dilation)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def float_step(self, inputs, state):
        x = _sum(inputs)
        y = F.conv2d(x.reshape(x.shape[0], *self.in_shape), _t(self.weight, x),
                     None if self.bias is None else _t(self.bias, x), self.stride, self.padding, self.dilation, self.groups)
        return y.reshape(x.shape[0], -1), state

    Q: ClassVar[type] = QConv

    def value_bits(self, spec):
        return spec.state_bits  # a dendritic accumulator, as a Dense's

    def quantize(self, ctx):
        if not ctx.binary_in[0]:
            raise ValueError("a convolution held as a kernel reads spikes (lower unrolls one on graded values)")
        real = self.weight * 2.0 ** (ctx.out_frac - ctx.in_frac[0])
        peak = float(np.abs(real).max(initial=0))
        e = int(np.ceil(np.log2(peak / 254))) if peak > 0 else 0
        if ctx.weight_exp is not None:
            if e > ctx.weight_exp:
                raise ValueError(f"weights up to {peak:g} at the output's scale exceed 8 bits at weight exponent "
                                 f"{ctx.weight_exp}")
            e = ctx.weight_exp
        halves = np.clip(np.round(real * 2.0 ** -(e + 1)), -127, 127).astype(np.int8)
        bias = np.zeros(self.weight.shape[0], np.int64)
        if self.bias is not None:
            bias = np.rint(self.bias * 2.0**ctx.out_frac).astype(np.int64)
            if np.abs(bias).max(initial=0) > _bits_max(ctx.spec.state_bits):
                raise ValueError(f"a bias of {np.abs(self.bias).max():g} does not fit {ctx.spec.state_bits} bits at "
                                 f"the output's scale 2^-{ctx.out_frac}")
        geometry = np.array([*self.in_shape, *self.stride, *self.padding, *self.dilation, self.groups], np.int64)
        return QConv(halves, e, geometry, ctx.spec.state_bits, bias)

    def after_pool(self, pool: SumPool2d) -> "ConvSynapse | None":
        """This convolution reading `pool`'s sums, as one convolution on the pool's input (exact; None where it is
        not): each kernel tap spread over the pool's window (divided by its divisor), the strides multiplied.  Needs
        windows that tile (kernel = stride, no padding) and, on an axis where this convolution pads, maps the windows
        cover whole (else the pool drops rows the padding would have replaced with zeros)."""
        if pool.kernel_size != pool.stride or any(pool.padding) or tuple(pool.shape) != tuple(self.in_shape):
            return None
        c, h, w = pool.in_shape
        (kh, kw), (ph, pw), (dh, dw) = self.weight.shape[2:], self.padding, self.dilation
        (sh, sw) = pool.stride
        if ph and h % sh or pw and w % sw:
            return None
        spread = np.zeros((*self.weight.shape[:2], sh * dh * (kh - 1) + sh, sw * dw * (kw - 1) + sw))
        for i in range(kh):
            for j in range(kw):
                spread[:, :, sh * dh * i:sh * dh * i + sh, sw * dw * j:sw * dw * j + sw] = \
                    self.weight[:, :, i, j, None, None] / pool.divisor()
        return ConvSynapse(spread, self.bias, tuple(pool.in_shape), (self.stride[0] * sh, self.stride[1] * sw),
                           (ph * sh, pw * sw), (1, 1), self.groups)

    @staticmethod
    def int_width(q: QConv):
        return int(np.prod(q.shape))

    @staticmethod
    def sums(q: QConv, x: np.ndarray) -> np.ndarray:
        """What Lava's Conv process sends for input spikes `x` [B, C*H*W]: the sums clamped to 24 signed bits."""
        top = (1 << (SUM_BITS - 1)) - 1
        return np.clip(np.rint(q.correlate(x != 0, 2 * q.halves.astype(np.float64))), -top - 1, top).astype(np.int64)

    @staticmethod
    def accumulate(q: QConv, acc: np.ndarray, tally: Tally, step: int | None = None) -> np.ndarray:
        """The receiving neurons' side: the sums shifted by the weight exponent (floor), the channel's bias added,
        within the state's width."""
        per_channel = int(np.prod(q.shape[1:]))
        return _saturated(fixed.shift(acc, q.exp) + np.repeat(q.bias, per_channel), q.out_bits, tally)

    @staticmethod
    def int_step(q: QConv, inputs, state, tally):
        x = inputs[0]
        mask = x != 0
        tally.binary_events += int((mask * q.fanout).sum())
        tally.effective_binary_events += int((mask * q.nonzero_fanout).sum())
        return ConvSynapse.accumulate(q, ConvSynapse.sums(q, x), tally), state

    @staticmethod
    def ann_macs(q: QConv, tokens: int) -> int:
        return int(np.prod(q.shape)) * int(np.prod(q.halves.shape[1:]))  # every output, every tap

    @staticmethod
    def stored_synapses(q: QConv) -> np.ndarray:
        return q.halves  # the kernel, once

    @staticmethod
    def dense_synops(q: QConv) -> int:
        return ConvSynapse.ann_macs(q, 1)
