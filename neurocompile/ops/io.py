"""Graph inputs and outputs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np

from .base import MAX_NEURONS, OP_KEY, IntegerForm, _Width


@dataclass(frozen=True)
class QSpikeInput:
    n: int
    shape: tuple  # the input's map shape (C, H, W), or (n,)


@dataclass(frozen=True, eq=False)
class SpikeInput(_Width):
    """Graph input of a spike-train network: `n` spikes (0/1) per stream and step, a map of `shape` held flat
    (row-major) (NIR: Input of that shape)."""

    kind: ClassVar[str] = "SpikeInput"
    arity: ClassVar[int | None] = 0
    binary_output: ClassVar[bool] = True
    shape: tuple = ()

    def __post_init__(self) -> None:
        if not self.shape:
            object.__setattr__(self, "shape", (self.n,))

    def to_nir(self, input_names):
        return nir.Input(input_type={"input": np.array(self.shape)}, metadata={OP_KEY: self.kind})

    def out_shape(self, in_shape):
        return tuple(self.shape)

    @classmethod
    def from_nir(cls, node: nir.Input, ctx) -> "SpikeInput":
        """The Input's shape, less a leading batch of one where the exporter wrote its sample's batch (Rockpool:
        1 x n, Sinabs: 1 x C x H x W) and the nodes it feeds declare the shape without it."""
        shape = tuple(int(v) for v in np.asarray(node.input_type["input"]).reshape(-1))
        if len(shape) > 1 and shape[0] == 1 and (ctx.read_as == shape[1:] or len(shape) == 4):
            shape = shape[1:]
        if not shape or min(shape) < 1:
            raise ValueError(f"input shape {list(shape)}; every dimension must be at least 1")
        if int(np.prod(shape, dtype=object)) > MAX_NEURONS:
            raise ValueError(f"input shape {list(shape)} ({int(np.prod(shape, dtype=object)):,} values), over the "
                             f"{MAX_NEURONS:,} one node may have in this version")
        return cls(int(np.prod(shape)), shape)


@dataclass(frozen=True)
class QOutput:
    frac: int


@dataclass(frozen=True, eq=False)
class Output(_Width):
    """Graph output (NIR: Output)."""

    kind: ClassVar[str] = "Output"
    keeps_map: ClassVar[bool] = False  # what it reads, as a vector

    @classmethod
    def from_nir(cls, node: nir.Output, ctx) -> "Output":
        """As wide as what it reads (an import), or as its own declared width (our file)."""
        return cls(ctx.width if ctx.width is not None else int(np.asarray(node.output_type["output"])[0]))

    def float_step(self, inputs, state):
        return inputs[0], state

    def to_nir(self, input_names):
        return nir.Output(output_type={"output": np.array([self.n])})


# The interface's integer forms, the same on every target (exact: no arithmetic a chip chooses)


class SpikeInputForm(IntegerForm, op=SpikeInput):
    Q: ClassVar[type] = QSpikeInput

    @staticmethod
    def quantize(op: SpikeInput, ctx):
        return QSpikeInput(op.n, tuple(op.shape))

    @staticmethod
    def int_width(q: QSpikeInput) -> int:
        return q.n


class OutputForm(IntegerForm, op=Output):
    Q: ClassVar[type] = QOutput

    @staticmethod
    def output_frac(op: Output, in_frac):
        return in_frac[0]

    @staticmethod
    def quantize(op: Output, ctx):
        return QOutput(ctx.in_frac[0])

    @staticmethod
    def int_step(q, inputs, state, tally):
        return inputs[0], state
