"""NIR as one codec table: what each NIR node type means, in one place.

``TABLE`` maps each NIR node type to exactly one op class: the op a node of that type means when it carries no
metadata of ours -- in a file snnTorch, Norse, Sinabs or Rockpool wrote, and in our own ``graph.nir`` for the ops NIR
expresses as they are.  Each op writes its NIR node (``Op.to_nir``) and reads it back (``Op.from_nir``, given a
``NirContext``: the import's dt, reset and input shape, or nothing for our own file).  An op whose NIR node means
another op in the table -- our ``LIF`` (one token per step, fires on v >= threshold) is a ``nir.LIF`` whose NIR
meaning is ``EulerLIF``; ``Heaviside`` (x >= 0) a ``nir.Threshold`` (x > t); ``TokenShift`` a ``nir.Delay`` of one
token -- carries its kind in the node's metadata (``neurocompile.op``), and ``encode`` refuses one that does not.
The ops NIR lacks are extension subgraphs (``Op.to_nir``'s default).

Adding a NIR node type: its op (``to_nir``, ``from_nir``) in its family's module under ``neurocompile/ops``, and its
row here.
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np

from .ops import OP_KEY, Op, cells, conv, io, neurons, synapses
from .ops.base import NirContext

# NIR node type -> the op it means (each in its family's module)
TABLE: dict[type[nir.NIRNode], type[Op]] = {
    nir.Input: io.SpikeInput,
    nir.Output: io.Output,
    nir.Linear: synapses.Linear,
    nir.Affine: synapses.Affine,
    nir.Scale: synapses.Scale,
    nir.LIF: cells.EulerLIF,
    nir.CubaLIF: cells.EulerCubaLIF,
    nir.IF: cells.EulerIF,
    nir.LI: cells.EulerLI,
    nir.CubaLI: cells.EulerCubaLI,
    nir.I: cells.EulerI,
    nir.Threshold: cells.Threshold,
    nir.Delay: neurons.SpikeDelay,
    nir.Conv1d: conv.Conv1d,
    nir.Conv2d: conv.Conv2d,
    nir.SumPool2d: conv.SumPool2d,
    nir.AvgPool2d: conv.AvgPool2d,
    nir.Flatten: conv.Flatten,
}

__all__ = ["TABLE", "NirContext", "decode", "encode", "kind_of", "supported", "text"]


def text(value: Any) -> str:
    value = value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def kind_of(node: nir.NIRNode) -> type[Op] | None:
    """The op class a NIR node stands for: the kind our metadata names, else the table's; None: neither."""
    meta = node.metadata or {}
    if OP_KEY in meta:
        return Op.registry[text(meta[OP_KEY])]
    return TABLE.get(type(node))


def decode(node: nir.NIRNode, ctx: NirContext = NirContext()) -> tuple[Op, tuple[int, ...]]:
    """The op a NIR node means and the shape of the map its output carries."""
    cls = kind_of(node)
    if cls is None:
        raise KeyError(f"NIR {type(node).__name__} has no op (supported: {supported()})")
    op = cls.from_extension(node.metadata) if isinstance(node, nir.NIRGraph) else cls.from_nir(node, ctx)
    return op, op.out_shape(ctx.in_shape)


def encode(op: Op, input_names: tuple[str, ...]) -> nir.NIRNode:
    """The op's NIR node; one whose type means another op carries our kind (checked: a node that would read back as
    another op is a bug, refused here, not written)."""
    node = op.to_nir(input_names)
    if not isinstance(node, nir.NIRGraph) and TABLE.get(type(node)) is not type(op) \
            and text((node.metadata or {}).get(OP_KEY, "")) != op.kind:
        raise TypeError(f"{op.kind} writes a NIR {type(node).__name__}, which reads back as "
                        f"{TABLE[type(node)].kind if type(node) in TABLE else 'nothing'}: its to_nir must name its kind "
                        f"({OP_KEY})")
    return node


def supported() -> str:
    return ", ".join(sorted(t.__name__ for t in TABLE))
