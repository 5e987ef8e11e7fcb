"""netx HDF5 (lava-dl) for the plain Dense -> LIF parts of a program.

netx describes feed-forward stacks of synapse + neuron layers; a Dense that feeds only a LIF is such a pair
(graded input: load with ``Network(net_config=..., input_message_bits=24)``).  netx stores no weight
exponent: it re-derives one from integer weights in [-256, 254] (larger ones it clips, fractional ones it
truncates to a few bits), which reproduces ours exactly only when our exponent is 0.  Pairs with another
exponent get no file: a negative one floors the accumulator, which netx cannot express.  The zoo model's
pairs all have negative exponents (without them their outputs would overflow the LIF's 18-bit input), so
its loihi2 build has no netx file; the Lava engine runs the whole program instead.

Layout (lava-dl ``netx/hdf5.py``): ``layer/0`` of type ``dense`` with ``shape`` (reversed), ``weight``
[out, in] (our 8-bit integers), and a ``neuron`` group of type CUBA (``iDecay`` = du + 1, ``vDecay`` = dv,
``vThMant`` = vth).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from neurocompile.quantize import Program

INPUT_MESSAGE_BITS = 24


def dense_lif_pairs(program: Program) -> list[tuple[str, str]]:
    """(Dense, LIF) where a single-port Dense with weight exponent 0 feeds a LIF and nothing else reads it."""
    readers: dict[str, list[str]] = {}
    for node in program.nodes.values():
        for src in node.inputs:
            readers.setdefault(src, []).append(node.name)
    pairs = []
    for name, node in program.nodes.items():
        if node.kind == "LIF":
            src = program.nodes[node.inputs[0]]
            if src.kind == "Dense" and src.q.halves.shape[0] == 1 and readers[src.name] == [name] \
                    and not src.q.exps[0].any() and not src.q.bias.any():
                pairs.append((src.name, name))
    return pairs


def write_dense_lif(path: Path, program: Program, dense: str, lif: str) -> None:
    d, n = program.nodes[dense].q, program.nodes[lif].q
    weight = 2 * d.halves[0].astype(np.int64)
    with h5py.File(path, "w") as f:
        layer = f.create_group("layer/0")
        layer["type"] = np.bytes_("dense")
        layer["shape"] = np.array([n.n])
        layer["weight"] = weight
        neuron = layer.create_group("neuron")
        neuron["type"] = np.bytes_("CUBA")
        neuron["iDecay"] = n.du + 1
        neuron["vDecay"] = n.dv
        neuron["vThMant"] = n.vth
        neuron["refDelay"] = 1
        neuron["gradedSpike"] = False


def netx_files(program: Program) -> dict[str, tuple[str, str]]:
    """File name in the build directory -> (Dense node, LIF node)."""
    return {f"netx-{lif}.h5": (dense, lif) for dense, lif in dense_lif_pairs(program)}
