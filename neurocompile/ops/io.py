"""Graph inputs and outputs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np

from .base import OP_KEY, _Width


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

    Q: ClassVar[type] = QSpikeInput

    def quantize(self, ctx):
        return QSpikeInput(self.n, tuple(self.shape))

    @staticmethod
    def int_width(q: QSpikeInput) -> int:
        return q.n

    def to_nir(self, input_names):
        return nir.Input(input_type={"input": np.array(self.shape)}, metadata={OP_KEY: self.kind})

    @classmethod
    def from_nir(cls, node: nir.Input) -> "SpikeInput":
        shape = tuple(int(v) for v in np.asarray(node.input_type["input"]).reshape(-1))
        return cls(int(np.prod(shape)), shape)


@dataclass(frozen=True)
class QOutput:
    frac: int


@dataclass(frozen=True, eq=False)
class Output(_Width):
    """Graph output (NIR: Output)."""

    kind: ClassVar[str] = "Output"
    nir_native: ClassVar[type] = nir.Output

    @classmethod
    def from_nir(cls, node: nir.Output) -> "Output":
        return cls(int(np.asarray(node.output_type["output"])[0]))

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
