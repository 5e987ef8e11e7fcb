"""Loihi 2's integer form of a convolution held as its kernel (``ConvSynapse``): Lava's Conv process.

Lava 0.10's Conv (``../shared/reference/lava.md``): the kernel's 8-bit weights (twice ``halves``, even, as a Dense's),
each step's sums over the input spikes, clamped to 24 signed bits before they leave the process (``signed_clamp``);
then, at the receiving neurons, the sum shifted by the weight exponent (floor) and the channel's bias added, within
the state's width.  The same integers a Dense unrolled from the kernel gives (``tests/test_conv_kernels.py``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from neurocompile import fixed
from neurocompile.ops import IntegerForm, Tally
from neurocompile.ops.base import _bits_max, _saturated
from neurocompile.ops.conv import ConvSynapse, _conv_shape

from .numeric import ARITHMETIC

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


class ConvSynapseForm(IntegerForm, op=ConvSynapse, arithmetic=ARITHMETIC):
    """Lava's Conv process, then the receiving neurons' shift and bias (module docstring)."""

    Q: ClassVar[type] = QConv
    int_limits: ClassVar[dict[str, tuple[int, int]]] = {"halves": (-128, 127), "exp": (-60, 60), "out_bits": (2, 63),
                                                        "geometry": (0, 1 << 24)}

    @staticmethod
    def value_bits(op: ConvSynapse, spec):
        return spec.state_bits  # a dendritic accumulator, as a Dense's

    @staticmethod
    def quantize(op: ConvSynapse, ctx) -> QConv:
        if not ctx.binary_in[0]:
            raise ValueError("a convolution held as a kernel reads spikes (lower unrolls one on graded values)")
        real = op.weight * 2.0 ** (ctx.out_frac - ctx.in_frac[0])
        peak = float(np.abs(real).max(initial=0))
        e = int(np.ceil(np.log2(peak / 254))) if peak > 0 else 0
        if ctx.weight_exp is not None:
            if e > ctx.weight_exp:
                raise ValueError(f"weights up to {peak:g} at the output's scale exceed 8 bits at weight exponent "
                                 f"{ctx.weight_exp}")
            e = ctx.weight_exp
        halves = np.clip(np.round(real * 2.0 ** -(e + 1)), -127, 127).astype(np.int8)
        bias = np.zeros(op.weight.shape[0], np.int64)
        if op.bias is not None:
            bias = np.rint(op.bias * 2.0**ctx.out_frac).astype(np.int64)
            if np.abs(bias).max(initial=0) > _bits_max(ctx.spec.state_bits):
                raise ValueError(f"a bias of {np.abs(op.bias).max():g} does not fit {ctx.spec.state_bits} bits at "
                                 f"the output's scale 2^-{ctx.out_frac}")
        geometry = np.array([*op.in_shape, *op.stride, *op.padding, *op.dilation, op.groups], np.int64)
        return QConv(halves, e, geometry, ctx.spec.state_bits, bias)

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
        return ConvSynapseForm.accumulate(q, ConvSynapseForm.sums(q, x), tally), state

    @staticmethod
    def ann_macs(q: QConv, tokens: int) -> int:
        return int(np.prod(q.shape)) * int(np.prod(q.halves.shape[1:]))  # every output, every tap

    @staticmethod
    def stored_synapses(q: QConv) -> np.ndarray:
        return q.halves  # the kernel, once

    @staticmethod
    def dense_synops(q: QConv) -> int:
        return ConvSynapseForm.ann_macs(q, 1)
