"""netx HDF5 (lava-dl) for the plain Dense -> LIF parts of a program.

netx describes feed-forward stacks of synapse + neuron layers; a Dense that feeds only a LIF is such a pair
(graded input: load with ``Network(net_config=..., input_message_bits=24)``).  netx stores no weight
exponent: it re-derives one from integer weights in [-256, 254] (larger ones it clips, fractional ones it
truncates to a few bits), which reproduces ours exactly only for integer weights in that range.  A pair's
exponent is folded into its weights where that is exact (``W 2^e`` integers in range: a positive exponent that
stays in 8 bits, or a negative one over weights that are all multiples of 2^-e); otherwise the pair gets no file
and the build's manifest says why (``target_notes.netx``).  Folding it into the LIF instead is never exact: the Dense
floors its accumulator before the LIF, and the LIF's decays floor again.

So the target quantizes such pairs for netx (``align``): where a pair's Dense reads a calibrated graded value that
only such pairs read, that value is carried with -e fewer fractional bits, which gives its Dense the same 8-bit
weights at exponent 0 -- the input rounded where the accumulator was floored.  The zoo model's att.output -> lif1
pairs had exponent -6/-7 (their gated input at 9-10 fractional bits, now 3); aligned, they get netx files, at no
measurable cost (bits per character on the zoo's held-out text -0.0015 +- 0.0034, paired over 23,253 tokens).  A
pair fed by spikes keeps its exponent (a spike has no fractional bits to give) and its reason.

Layout (lava-dl ``netx/hdf5.py``): ``layer/0`` of type ``dense`` with ``shape`` (reversed), ``weight``
[out, in] (our 8-bit integers), and a ``neuron`` group of type CUBA (``iDecay`` = du + 1, ``vDecay`` = dv,
``vThMant`` = vth).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from neurocompile import fixed
from neurocompile.ops import CALIBRATE, LIF, Dense
from neurocompile.quantize import Program, requantize

INPUT_MESSAGE_BITS = 24


def _candidates(program: Program) -> list[tuple[str, str]]:
    """(Dense, LIF): a single-port Dense without bias feeding a LIF, nothing else reading it (a netx dense + CUBA layer)."""
    readers: dict[str, list[str]] = {}
    for node in program.nodes.values():
        for src in node.inputs:
            readers.setdefault(src, []).append(node.name)
    pairs = []
    for name, node in program.nodes.items():
        if node.op_class is LIF:
            src = program.nodes[node.inputs[0]]
            if src.op_class is Dense and src.q.halves.shape[0] == 1 and readers[src.name] == [name] and not src.q.bias.any():
                pairs.append((src.name, name))
    return pairs


def align(graph, program: Program) -> tuple[Program, list[str]]:
    """`program` with each graded value that only Dense -> LIF pairs read carried at the resolution that gives their
    Dense weight exponent 0 (``requantize``; `graph` is the lowered graph it was made from), and the approximation
    that names the values moved (none: `program` as it is)."""
    pairs = dict(_candidates(program))
    readers: dict[str, set[str]] = {}
    for node in program.nodes.values():
        for src in node.inputs:
            readers.setdefault(src, set()).add(node.name)
    fracs: dict[str, int] = {}
    for dense in pairs:
        node = program.nodes[dense]
        src = program.nodes[node.inputs[0]]
        top = int(node.q.exps.max())
        in_frac = tuple(program.nodes[i].frac for i in src.inputs)
        if top < 0 and not node.q.binary[0] and readers[src.name] <= pairs.keys() \
                and graph.nodes[src.name].op.output_frac(in_frac) == CALIBRATE:
            fracs[src.name] = min(fracs.get(src.name, src.frac), src.frac + top)
    if not fracs:
        return program, []
    moved = ", ".join(f"{name} {program.nodes[name].frac} -> {frac}" for name, frac in fracs.items())
    return requantize(graph, program, fracs), [
        f"netx: a graded value read only by Dense -> LIF pairs is carried with the fractional bits that give their "
        f"weights exponent 0, so that netx holds the pairs (the input rounded where the Dense floored its sum): {moved}"]


def folded_weights(program: Program, dense: str) -> np.ndarray | str:
    """The Dense's weights with each row's exponent folded in (``W 2^e``), when that is exact: integers netx stores as
    they are ([-256, 254]; even where signs are mixed, as Lava's 8-bit weights are) -- or the reason it is not."""
    q = program.nodes[dense].q
    weights = 2 * q.halves[0].astype(np.int64)
    exps = np.asarray(q.exps[0], np.int64)[:, None]
    down = np.maximum(-exps, 0)
    inexact = int(np.count_nonzero(weights % (np.int64(1) << down)))
    if inexact:
        k = int(down.max())
        return (f"weight exponent {int(exps.min())}: the Dense floors its accumulator (acc >> {k}) before the LIF, and "
                f"netx stores integer weights with no exponent; {inexact:,} of {weights.size:,} weights are not "
                f"multiples of 2^{k}, so no integer weights give the same floor, and the shift cannot move into the "
                f"LIF (its u and v decays floor again, and its threshold mantissa would need "
                f"{program.nodes[_reader(program, dense)].q.vth << k:,} > 2^17 - 1)")
    folded = np.where(exps >= 0, weights << np.maximum(exps, 0), weights >> down)
    if folded.min() < -256 or folded.max() > 254 or (fixed.effective_weights(folded) != folded).any():
        return (f"weight exponent {int(exps.min()) if exps.min() < 0 else int(exps.max())}: the weights times 2^e leave "
                f"netx's 8-bit range [-256, 254] (which netx clips) or lose their lowest bit (Lava's mixed-sign 8-bit "
                f"weights are even)")
    return folded


def _reader(program: Program, dense: str) -> str:
    return next(n.name for n in program.nodes.values() if dense in n.inputs)


def dense_lif_pairs(program: Program) -> list[tuple[str, str]]:
    """(Dense, LIF) pairs netx represents exactly (``folded_weights`` gives integers)."""
    return [(d, lif) for d, lif in _candidates(program) if not isinstance(folded_weights(program, d), str)]


def netx_status(program: Program) -> dict[str, str]:
    """Every Dense -> LIF pair: the netx file written for it, or why none is (for the build's manifest)."""
    status = {}
    for dense, lif in _candidates(program):
        folded = folded_weights(program, dense)
        status[f"{dense} -> {lif}"] = f"netx-{lif}.h5" if not isinstance(folded, str) else f"no file: {folded}"
    return status


def write_dense_lif(path: Path, program: Program, dense: str, lif: str) -> None:
    n = program.nodes[lif].q
    weight = folded_weights(program, dense)
    if isinstance(weight, str):
        raise ValueError(f"{dense} -> {lif}: {weight}")
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


def run_netx(path: Path, x: np.ndarray, graded: bool) -> np.ndarray:
    """lava-dl's netx running netx file `path` in Lava's simulator (fixed_pt) on inputs `x` [n_in, T] (graded values
    or spikes): its spikes [n_out, T], aligned with the input (netx's Dense delivers one step late)."""
    from neurocompile import lava_compat

    lava_compat.ensure_importable(netx=True)
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    net = netx.hdf5.Network(net_config=str(path), input_message_bits=INPUT_MESSAGE_BITS if graded else 0)
    steps = x.shape[1] + 1
    source = Source(data=np.concatenate([x, np.zeros((x.shape[0], 1), np.int64)], 1))
    sink = Sink(shape=net.out.shape, buffer=steps)
    source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return sink.data.get().astype(np.int64)[:, 1:]
    finally:
        net.stop()


def recorded_for_netx(program: Program) -> list[str]:
    """The nodes a run records so that ``compare_netx`` can check the build's netx files: each pair's input and LIF."""
    return [name for dense, lif in dense_lif_pairs(program) for name in (program.nodes[dense].inputs[0], lif)]


def compare_netx(folder: Path, program: Program, recorded: dict[str, list[np.ndarray]]) -> dict[str, bool]:
    """Each netx file of a build (in `folder`), run by netx on its Dense's input as the cpu engine computed it (stream 0
    of `recorded`), against the cpu engine's spikes of its LIF: {file: identical}."""
    result = {}
    for name, (dense, lif) in netx_files(program).items():
        source = program.nodes[dense].inputs[0]
        x, ours = (np.stack(recorded[n])[:, 0].T.astype(np.int64) for n in (source, lif))
        theirs = run_netx(folder / name, x, graded=not program.nodes[dense].q.binary[0])
        result[name] = bool(np.array_equal(theirs, ours))
    return result
