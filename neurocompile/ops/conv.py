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

from .base import OP_KEY, Op, _numpy, _sum, _t


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

def _conv_shape(in_shape, kernel_shape, stride, padding, dilation) -> tuple[int, int, int]:
    _, h, w = in_shape
    kh, kw = kernel_shape[2:]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    return int(kernel_shape[0]), (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1


@dataclass(frozen=True, eq=False)
class ConvSynapse(Op):
    """A Conv2d on spikes, held as its kernel (``lower``: a Conv2d reading a spiking population or the spike input):
    ``y = conv2d(x, weight) + bias`` on flat C x H x W maps: the same values a Dense unrolled from the kernel gives,
    with a kernel's memory instead of a matrix's."""

    kind: ClassVar[str] = "ConvSynapse"
    lowered: ClassVar[bool] = True
    synapse: ClassVar[bool] = True
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
