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

import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from neurocompile import fixed
from neurocompile.ops import CALIBRATE, LIF, Dense, integer_form
from neurocompile.ops.cells import CUBA
from neurocompile.ops.conv import ConvSynapse
from neurocompile.ops.io import Output, SpikeInput
from neurocompile.ops.neurons import SpikeDelay
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
                and program.form(src).output_frac(graph.nodes[src.name].op, in_frac) == CALIBRATE:
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
    weights = 2 * (q.halves if program.nodes[dense].op_class is ConvSynapse else q.halves[0]).astype(np.int64)
    exps = np.asarray(q.exps[0], np.int64).reshape(-1, *[1] * (weights.ndim - 1))
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


# --------------------------------------------------------------------------------------------------
# The whole network as one netx file: a stack of dense / dense_rec layers of CUBA neurons
# --------------------------------------------------------------------------------------------------

NETWORK_FILE = "network.net"
BIAS_EXP = 6  # netx gives every layer's bias Lava's bias_exp 6


@dataclass(frozen=True)
class NetxLayer:
    """One netx layer of a program: its CUBA neurons; the synapses from the layer before (``dense``: one Dense, or
    one per delay); netx's delay of each synapse (``delays`` [out, in], None: none beyond its Dense's one step); the
    synapse from its own spikes one step late (``dense_rec``); and how many steps later than ours netx fires the
    layer (``lag``: netx's Dense delivers one step late, so a layer whose input the program does not delay at all
    fires a step later in netx than in the program, and every layer after it too)."""

    neuron: str
    dense: tuple[str, ...]
    delays: np.ndarray | None
    recurrent: str | None
    lag: int
    conv: bool = False  # its synapse is a convolution held as its kernel: a netx conv layer

    @property
    def kind(self) -> str:
        return "conv" if self.conv else "dense_rec" if self.recurrent else "dense"


def network_layers(program: Program, weights: bool = True) -> list[NetxLayer] | dict[str, str]:
    """The program as netx's stack of layers -- spike input, then per layer Dense synapses on spikes, each reading
    the layer before directly or through a delay (netx's DelayDense), an optional recurrent Dense on its own spikes
    through a one-step delay, CUBA neurons that reset to zero; one Output reading the last -- or, per node netx cannot
    hold, why (`weights`: also that each synapse's weights are integers netx stores as they are)."""
    why: dict[str, str] = {}
    outputs = [n for n in program.nodes.values() if n.op_class is Output]
    if len(outputs) != 1:
        return {n.name: "netx networks have one output (the last layer's spikes)" for n in outputs}
    chain: list[tuple[str, list[str], list[np.ndarray], str | None]] = []  # neuron, parts, their steps, recurrent
    used = {outputs[0].name}
    neuron = outputs[0].inputs[0]
    while program.nodes[neuron].op_class is not SpikeInput:
        node = program.nodes[neuron]
        if node.op_class is not CUBA:
            why[neuron] = f"a {node.kind} node: netx layers here are dense / dense_rec synapses into CUBA neurons"
            break
        if node.q.subtract:
            why[neuron] = "resets by subtracting the threshold; netx's CUBA neuron (Lava's LIF) resets to zero"
        parts, steps, loop, sources = [], [], None, set()
        for name in node.inputs:
            syn = program.nodes[name]
            src = program.nodes[syn.inputs[0]] if syn.op_class.synapse else None
            if src is not None and src.op_class is SpikeDelay and src.inputs[0] == neuron and loop is None \
                    and syn.op_class is Dense:
                loop = name
                if np.any(src.q.steps != 1):
                    why[src.name] = "a recurrent delay of more than one step (netx's recurrent Dense has one)"
            elif src is not None:
                parts.append(name)
                steps.append(src.q.steps if src.op_class is SpikeDelay else np.zeros(syn.q.halves.shape[2], np.int64))
                sources.add(src.inputs[0] if src.op_class is SpikeDelay else src.name)
            else:
                why[name] = f"a {syn.kind} into {neuron}: a netx layer's synapses are Dense or a convolution"
        if not parts or len(sources) != 1:
            why[neuron] = ("no synapse from the layer before" if not parts else
                           f"synapses from {len(sources)} layers; a netx layer reads one")
            break
        for name in parts + [loop] * bool(loop):
            q = program.nodes[name].q
            if len(q.binary) != 1 or not q.binary[0] or q.bias.any():
                why[name] = ("a synapse with a bias (netx adds a layer's bias to the voltage; this one enters the "
                             "current)" if q.bias.any() else "a synapse on graded values or several inputs")
            used.update({name, *program.nodes[name].inputs})
        if loop and len(parts) > 1:
            why[neuron] = "a recurrent layer with synaptic delays (netx's dense_rec here takes none)"
        convs = [name for name in parts if program.nodes[name].op_class is ConvSynapse]
        if convs and (len(parts) > 1 or loop):
            why[convs[0]] = "a convolution beside other synapses (netx's conv layer has one, and no delays)"
        used.add(neuron)
        chain.append((neuron, parts, steps, loop))
        neuron = sources.pop()
    used.add(neuron)
    for name in program.nodes if not why else ():  # (past a node that breaks the chain, the rest is not listed)
        if name not in used:
            why[name] = "not on the chain of layers from the input to the output netx holds"
    if why:
        return why
    layers, lag = [], 0
    for neuron, parts, steps, loop in reversed(chain):
        extra = 1 if any(not s.all() for s in steps) else 0  # a part read directly: netx one step later, all parts
        lag += extra
        if lag and program.nodes[neuron].q.bias_mant.any():
            why[neuron] = (f"a biased neuron {lag} step(s) later in netx than here: netx integrates its bias from step "
                           f"0, before the input reaches it")
        conv = program.nodes[parts[0]].op_class is ConvSynapse
        delays = None if conv else _delay_matrix(program, parts, [s - 1 + extra for s in steps], why)
        if conv and any((s - 1 + extra).any() for s in steps):
            why[parts[0]] = "a convolution reading delayed spikes (netx's conv layer has no delays)"
        layers.append(NetxLayer(neuron, tuple(parts), delays, loop, lag, conv))
    _check_resets(program, layers, why)
    for layer in layers:
        if weights:
            _check_weights(program, layer, why)
        q = program.nodes[layer.neuron].q
        for field in ("du", "dv", "vth"):
            if np.unique(getattr(q, field)).size > 1:
                why[layer.neuron] = f"its neurons differ in {field}; Lava's LIF (netx's CUBA) takes one per layer"
        netx_bias = (q.bias_mant << q.bias_exp) >> BIAS_EXP
        if np.any(netx_bias << BIAS_EXP != q.bias_mant << q.bias_exp) or np.abs(netx_bias).max(initial=0) >= 1 << 12:
            why[layer.neuron] = "a bias netx's mantissa at exponent 6 does not hold"
        per_channel = netx_bias.reshape(program.nodes[layer.dense[0]].q.shape[0], -1) if layer.conv else None
        if per_channel is not None and np.any(per_channel != per_channel[:, :1]):
            why[layer.neuron] = "a bias that differs within a channel (netx gives a conv layer's bias per channel)"
    return why or layers


def reset_arguments(program: Program, layers: list[NetxLayer]) -> dict[str, int]:
    """netx's ``reset_interval`` and ``reset_offset`` that clear the layers as the program does ({}: never)."""
    q = program.nodes[layers[0].neuron].q
    return {"reset_interval": q.period, "reset_offset": q.phase} if q.period else {}


def _check_resets(program: Program, layers: list[NetxLayer], why: dict) -> None:
    """Periodically cleared neurons as netx clears them: one interval for all, layer k's phase the first's + k
    (netx's reset_offset, one step more per layer), and no lag (netx would clear a lagging layer too early)."""
    first = program.nodes[layers[0].neuron].q
    for k, layer in enumerate(layers):
        q = program.nodes[layer.neuron].q
        if q.period != first.period or q.period and (q.phase != (first.phase + k) % q.period or layer.lag):
            why[layer.neuron] = (f"cleared every {q.period} steps from step {q.phase}: netx clears every layer with one "
                                 f"reset_interval, each layer one step after the one before, without lag")


def _delay_matrix(program: Program, parts: list[str], delays: list[np.ndarray], why: dict) -> np.ndarray | None:
    """netx's delay per synapse [out, in] from the parts' delays per input (each synapse in one part), or None."""
    if not any(d.any() for d in delays):
        return None
    matrix, taken = None, None
    for name, d in zip(parts, delays):
        nonzero = program.nodes[name].q.halves[0] != 0
        matrix = np.zeros(nonzero.shape, np.int64) if matrix is None else matrix
        taken = np.zeros(nonzero.shape, bool) if taken is None else taken
        if (taken & nonzero).any():
            why[name] = "a synapse that another delay of the same layer also holds (netx has one delay per synapse)"
        matrix[nonzero] = np.broadcast_to(d[None, :], nonzero.shape)[nonzero]
        taken |= nonzero
    if matrix.max() > 62:
        why[parts[0]] = f"a synaptic delay of {int(matrix.max())} steps beyond the first; netx clamps them to 62"
    return matrix


def _check_weights(program: Program, layer: NetxLayer, why: dict) -> None:
    """Each synapse's weights folded into integers netx stores as they are; the layer's matrices together too (netx
    rescales them as one)."""
    folded = {name: folded_weights(program, name) for name in (*layer.dense, *[layer.recurrent] * bool(layer.recurrent))}
    why.update({name: w for name, w in folded.items() if isinstance(w, str)})
    if not any(isinstance(w, str) for w in folded.values()):
        joint = np.hstack([sum(folded[name] for name in layer.dense),
                           *([folded[layer.recurrent]] if layer.recurrent else [])])
        if (fixed.effective_weights(joint) != joint).any():
            why[layer.dense[0]] = ("netx rescales a layer's matrices as one, and together they lose their lowest bit "
                                   "(Lava's mixed-sign 8-bit weights are even)")


def align_network(graph, program: Program) -> tuple[Program, list[str]]:
    """`program` with every layer of a network netx can hold quantized as netx holds it: its synapses' weights at one
    exponent, 0 (netx stores integer weights and no exponent), the neuron's input scale lowered until the largest
    weights fit 8 bits there (``requantize``).  A program whose structure netx cannot hold is returned as it is."""
    layers = network_layers(program, weights=False)
    if isinstance(layers, dict):
        return program, []
    fracs, moved = {}, []
    for layer in layers:
        synapses = [*layer.dense, *[layer.recurrent] * bool(layer.recurrent)]
        if not any(program.nodes[name].q.exps.any() for name in synapses):
            continue
        frac = program.nodes[layer.dense[0]].frac
        top = max(int(program.nodes[name].q.exps.max()) for name in synapses)
        neuron = graph.nodes[layer.neuron].op
        limit = integer_form(type(neuron), program.spec.name).input_frac_limit(neuron, 0)
        new = frac - top if limit is None else min(frac - top, limit)
        fracs.update({name: new for name in synapses})
        moved.append(f"{layer.neuron} {frac} -> {new}")
    if not fracs:
        return program, []
    return requantize(graph, program, fracs, dict.fromkeys(fracs, 0)), [
        f"netx: every layer's weights at exponent 0, as a netx file holds them (one scale per matrix; the neuron's "
        f"input carried with the fractional bits that fit its largest weights in 8 bits there): {', '.join(moved)}"]


def write_network(path: Path, program: Program) -> None:
    """The whole program as one netx network (``network_layers``): per layer ``dense``, ``dense_rec`` or ``conv``
    (kernel [out, in / groups, kh, kw], stride, padding and dilation as (y, x), groups; a ``flatten`` before a dense
    layer that reads maps, an ``input`` layer of the maps' shape before a first conv) with the folded integer weights,
    the layer's bias at netx's exponent 6, and a CUBA neuron (``iDecay`` = du + 1)."""
    layers = network_layers(program)
    if isinstance(layers, dict):
        raise ValueError("; ".join(f"{name}: {why}" for name, why in layers.items()))
    groups: list[dict] = []
    if layers[0].conv:
        groups.append({"type": "input", "shape": np.array(program.nodes[layers[0].dense[0]].q.in_shape)})
    for before, layer in zip([None, *layers], layers):
        q = program.nodes[layer.neuron].q
        if before is not None and before.conv and not layer.conv:
            groups.append({"type": "flatten"})
        group = {"type": layer.kind, "weight": sum(folded_weights(program, name) for name in layer.dense)}
        if layer.conv:
            k = program.nodes[layer.dense[0]].q
            group.update(shape=np.array(k.shape), stride=np.array(k.stride), padding=np.array(k.padding),
                         dilation=np.array(k.dilation), groups=k.groups)
        else:
            group["shape"] = np.array([q.n])
        if layer.recurrent:
            group["weight_rec"] = folded_weights(program, layer.recurrent)
        if layer.delays is not None:
            group["delay"] = layer.delays
        bias = (q.bias_mant << q.bias_exp) >> BIAS_EXP
        if bias.any():  # a conv layer's per channel (netx broadcasts it over its (x, y, c) neurons)
            group["bias"] = bias.reshape(group["shape"][0], -1)[:, 0] if layer.conv else bias
        group["neuron"] = {"type": "CUBA", "iDecay": int(q.du[0]) + 1, "vDecay": int(q.dv[0]),
                           "vThMant": int(q.vth[0]), "refDelay": 1, "gradedSpike": False}
        groups.append(group)
    with h5py.File(path, "w") as f:
        for i, group in enumerate(groups):
            g = f.create_group(f"layer/{i}")
            for key, value in group.items():
                if key == "neuron":
                    for k, v in value.items():
                        g[f"neuron/{k}"] = np.bytes_(v) if isinstance(v, str) else v
                else:
                    g[key] = np.bytes_(value) if isinstance(value, str) else value


def network_status(program: Program) -> dict:
    """For the manifest: the file and its layers (each with its lag), or per node why netx cannot hold the network."""
    layers = network_layers(program)
    if isinstance(layers, dict):
        name, why = next(iter(layers.items()))
        return {"file": None, "why_not": layers,
                "summary": f"netx: no {NETWORK_FILE} (node {name}: {why}{'; more' if len(layers) > 1 else ''} in the "
                           f"manifest's target_notes.netx_network)"}
    kinds = ", ".join(layer.kind for layer in layers)
    load = ", ".join(f"{k}={v}" for k, v in reset_arguments(program, layers).items())
    return {"file": NETWORK_FILE, "layers": [{"neuron": layer.neuron, "type": layer.kind, "lag": layer.lag,
                                              **({"delays": f"{int(layer.delays.min())}..{int(layer.delays.max())}"}
                                                 if layer.delays is not None else {})} for layer in layers],
            **({"load_with": load} if load else {}),
            "summary": f"netx: {NETWORK_FILE}, the whole network as lava-dl's netx loads it ({kinds}"
                       f"{'; load it with ' + load if load else ''}; simulate --engine lava runs it in netx against "
                       f"the cpu engine)"}


def run_network(path: Path, spikes: np.ndarray, steps: int, clock: list[float] | None = None,
                reset: dict[str, int] | None = None) -> list[np.ndarray]:
    """lava-dl's netx loading `path` (``netx.hdf5.Network``) and running it in Lava's simulator (fixed_pt) on input
    spikes [T, n] for `steps` >= T steps (the input then silent): every layer's spikes [steps, n].  `clock`: the
    seconds of the steps after the first are appended to it (the first, which starts Lava, run on its own)."""
    from neurocompile import lava_compat

    lava_compat.ensure_importable(netx=True)
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    net = netx.hdf5.Network(net_config=str(path), **(reset or {}))
    data = np.zeros((spikes.shape[1], steps), np.int64)
    data[:, :spikes.shape[0]] = spikes.T
    source = Source(data=data)
    _flat_to(source.s_out, net.inp.shape).connect(net.inp)  # netx's maps are (x, y, c); ours C x H x W, flat
    sinks = []
    for block in net.layers:
        sinks.append(Sink(shape=(int(np.prod(block.out.shape)),), buffer=steps))
        _flat_from(block.out).connect(sinks[-1].a_in)
    try:
        cfg = Loihi2SimCfg(select_tag="fixed_pt")
        if clock is None:
            net.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
        else:
            net.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
            start = time.perf_counter()
            net.run(condition=RunSteps(num_steps=steps - 1), run_cfg=cfg)
            clock.append(time.perf_counter() - start)
        return [sink.data.get().astype(np.int64).T for sink in sinks]
    finally:
        net.stop()


def _flat_to(port, shape: tuple[int, ...]):
    """A flat C x H x W port as netx's (x, y, c) maps (or as it is, for a flat shape)."""
    return port if len(shape) == 1 else port.reshape(tuple(shape[::-1])).transpose([2, 1, 0])


def _flat_from(port):
    """netx's (x, y, c) maps as our flat C x H x W order (a flat port as it is)."""
    return port if len(port.shape) == 1 else port.transpose([2, 1, 0]).reshape((int(np.prod(port.shape)),))


def compare_network(path: Path, program: Program, spikes: np.ndarray, recorded: dict[str, list[np.ndarray]]) -> dict:
    """The build's ``network.net`` run by netx on input spikes [T, n] against the cpu engine's spikes of every layer
    (``recorded``: stream 0's), each netx layer read `lag` steps later: {neuron: identical}."""
    layers = network_layers(program)
    theirs = run_network(path, spikes, spikes.shape[0] + layers[-1].lag, reset=reset_arguments(program, layers))
    return {layer.neuron: bool(np.array_equal(np.stack(recorded[layer.neuron])[:, 0],
                                              out[layer.lag:layer.lag + spikes.shape[0]]))
            for layer, out in zip(layers, theirs)}
