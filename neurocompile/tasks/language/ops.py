"""The language task's op: token ids into a graph.  Registered with the core's ops when the registry is first read
(``ops.base.EXTENSION_MODULES``); the SpikeGPT frontend imports it to trace."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np

from ...ops.base import NOTE_KEY, OP_KEY, Op


@dataclass(frozen=True, eq=False)
class TokenInput(Op):
    """Graph input: one token id per stream and step, as a [B, 1] value (NIR: Input of a one-hot vector of `vocab`)."""

    kind: ClassVar[str] = "TokenInput"
    arity: ClassVar[int | None] = 0
    vocab: int

    @property
    def size(self) -> int:
        return self.vocab

    def to_nir(self, input_names):
        return nir.Input(input_type={"input": np.array([self.vocab])},
                         metadata={OP_KEY: self.kind, NOTE_KEY: "one-hot token id, one token per time step"})

    @classmethod
    def from_nir(cls, node: nir.Input) -> "TokenInput":
        return cls(int(np.asarray(node.input_type["input"])[0]))

    @staticmethod
    def int_width(q) -> int:
        return 1  # one id per stream and step

    def output_frac(self, in_frac):
        return None  # token ids: integers without a scale

    def quantize(self, ctx):
        return None
