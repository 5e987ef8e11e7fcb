"""Model families neurocompile understands, in PyTorch, equal to their upstream definitions."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpInfo:
    """One op of a network: what it is, its weight, and which tensor feeds it (what ``inspect`` lists)."""

    name: str
    op: str
    weight_shape: tuple[int, ...] | None
    input: str
    input_kind: str  # "spike", "real", "count" or "index" by construction; `inspect` also measures it on text
