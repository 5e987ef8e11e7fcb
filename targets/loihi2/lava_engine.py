"""Run an integer Program as a Lava process graph under ``Loihi2SimCfg(select_tag='fixed_pt')``.

Each node is lowered by its op's rule in ``rules.py`` (Dense -> Lava synapse processes per core slice and a
receiving NodeProcess; LIF -> Lava's LIF; the token stream -> a RingBuffer source; every other op -> a
``NodeProcess`` running that op's ``int_step``, one per core slice where the op's channels are independent).
Still one process per node: Lava's LIF and a Dense's receiving side (a LIF slice would need its slice of the
receiver's vector, and Lava 0.10 can neither slice a port nor concatenate ports: ``ConcatPort`` raises "not yet
supported"), and neuron programs whose channels are not independent (``NeuronLayerNorm``'s reductions).

Delay balancing: Lava's Dense delivers one step late, so token ``t`` reaches node ``n`` at step
``t + 1 + depth(n)``, with ``depth`` the number of Dense stages on the longest path from the tokens.  A node
whose inputs arrive at different depths holds the early ones back; the ports of one Dense must already agree
(they do for every graph ``lower`` produces; otherwise the build is refused).  Logits of token ``t`` leave at
step ``t + 1 + depth(output)``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from neurocompile import lava_compat
from neurocompile.errors import EngineMismatch, UserError
from neurocompile.graph import steps_per_token
from neurocompile.quantize import Program

from . import rules
from .netx import compare_netx


@dataclass(frozen=True)
class LavaRun:
    outputs: dict[str, np.ndarray]  # Output node -> [T, n] integers, input step by input step
    spikes: dict[str, np.ndarray]  # spiking population -> [T, n] 0/1, as Lava recorded it (its sink or its process)
    latency: int  # pipeline depth in steps: input t's (first) output leaves at step t + 1 + latency
    processes: int
    seconds_first_step: float  # compiling, starting the OS processes and the first step
    seconds_per_step: float  # every later step

    @property
    def logits(self) -> np.ndarray:
        """The first Output's values (a language model's logits)."""
        return next(iter(self.outputs.values()))


def depths(program: Program) -> dict[str, int]:
    """Steps between the input and each node: the delays of the rules on the longest path.

    A loop (a node without feedthrough reading a later node) is solved as a fixpoint: the delay node sits at its
    source's depth plus its rule's delay (-1: Lava's Dense already delivers the previous step).  A loop that holds
    more pipeline stages than that cannot run one graph step per Lava step, and is refused."""
    depth: dict[str, int] = {}
    for _ in range(3):
        previous = dict(depth)
        for name, node in program.nodes.items():
            if not node.inputs:
                depth[name] = 0
                continue
            delay = rules.rule(node.op_class).delay
            ins = [depth[i] for i in node.inputs if i in depth]
            if not ins:  # a delay whose source comes later: placed once the source is
                continue
            if delay and node.op_class.feedthrough and len(set(ins)) > 1:
                raise UserError(f"layer {name}: its inputs arrive at different pipeline depths {ins}; "
                                f"the Lava engine cannot balance delays in front of a {node.kind} yet")
            depth[name] = max(ins) + delay
        if depth == previous:
            return depth
    loops = sorted(n for n in depth if depth[n] != previous.get(n))
    raise UserError(f"a recurrent loop through {', '.join(loops)} holds more than one synapse stage; Lava's Dense "
                    f"delivers one step late, so the deployed loop would take longer than one time step (keep one "
                    f"weight matrix between a population and its own input)")


def core_slices(build) -> dict[str, list[tuple[int, int]]] | None:
    """node -> row ranges per core, from a loihi2 build's partition (None for builds without one)."""
    if build.partition is None:
        return None
    slices: dict[str, list[tuple[int, int]]] = {}
    for core in build.partition.cores:
        for s in core.slices:
            slices.setdefault(s.node, []).append(s.rows)
    return slices


def compare_with_cpu(build, sim, tokens: list[int]) -> dict:
    """Run `tokens` through the build's Lava process graph and compare with the cpu engine's recorded run
    (`sim` must have recorded the LIF populations, the output and ``recorded_for_netx``): logits and every spike,
    exactly; and each netx file of the build run by lava-dl's netx against the same run."""
    start = time.perf_counter()
    per_token = steps_per_token(build.program.metadata)  # each token held for its synthetic steps
    run = run_lava(build.program, np.repeat(np.asarray(tokens, np.int64), per_token), core_slices(build))
    seconds = time.perf_counter() - start
    ours = np.stack(sim.recorded[build.program.output.name])[:, 0]
    spikes = {name: bool(np.array_equal(np.stack(sim.recorded[name])[:, 0], run.spikes[name])) for name in run.spikes
              if name in sim.recorded}
    logits_same = bool(np.array_equal(ours, run.logits))
    netx = compare_netx(build.path, build.program, sim.recorded)  # the build's netx files, run by lava-dl's netx
    return {"tokens": len(tokens), "processes": run.processes, "latency": run.latency, "seconds": round(seconds, 2),
            "logits_identical": logits_same, "spikes_identical": spikes, "netx_identical": netx,
            "identical": logits_same and all(spikes.values()) and all(netx.values())}


def run_language(build, sim, tokens: list[int]) -> tuple[dict, list[str]]:
    """The ``lava`` engine of a language build (``Target.engines``): ``compare_with_cpu``, and what to print of it."""
    check = compare_with_cpu(build, sim, tokens)
    verdict = "identical" if check["identical"] else "DIFFERENT"
    lines = [f"Lava engine ({check['processes']} Lava processes, Loihi2SimCfg fixed_pt, pipeline latency "
             f"{check['latency']} steps, {check['seconds']:.1f} s): logits and spikes of {len(check['spikes_identical'])} "
             f"LIF populations over {check['tokens']} tokens are {verdict} to the cpu engine's"]
    if check["netx_identical"]:
        lines.append(f"netx: {sum(check['netx_identical'].values())} of {len(check['netx_identical'])} netx files of "
                     f"the build, run by lava-dl's netx on the cpu engine's inputs, fire as the cpu engine")
    return check, lines


def _lava_classes() -> SimpleNamespace:
    lava_compat.ensure_importable()
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense, DelayDense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF, LIFReset
    from lava.proc.sparse.process import Sparse
    from scipy.sparse import csr_matrix

    from .processes.node import NodeProcess

    return SimpleNamespace(Conv=Conv, Dense=Dense, DelayDense=DelayDense, Sparse=Sparse, LIF=LIF, LIFReset=LIFReset, Source=Source,
                           Sink=Sink, NodeProcess=NodeProcess,
                           csr_matrix=csr_matrix)


def run_lava(program: Program, inputs, slices: dict[str, list[tuple[int, int]]] | None = None) -> LavaRun:
    """Run `inputs` (one input value per step: token ids, or spike rows [T, n]) through the program in Lava, each
    node lowered by its rule (``rules.py``).  `slices`: node -> core slices (row ranges) from the partition; the
    synapses of each slice become their own Lava process.  Outputs are aligned to the input steps (the pipeline
    latency removed)."""
    lava = _lava_classes()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    depth = depths(program)
    outs = [node.name for node in program.outputs]
    inputs = np.asarray(inputs, dtype=np.int64)
    steps = len(inputs)
    graph = rules.LavaGraph(program, inputs, depth, steps + max(depth[o] for o in outs), slices, lava)
    for name, node in program.nodes.items():
        rules.rule(node.op_class).lava(graph, name, node)
    graph.connect_later()
    head = graph.heads[outs[0]]  # running one process runs the whole connected graph
    try:
        start = time.perf_counter()
        head.run(condition=RunSteps(num_steps=1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        first = time.perf_counter()
        if graph.steps > 1:
            head.run(condition=RunSteps(num_steps=graph.steps - 1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        rest = (time.perf_counter() - first) / max(graph.steps - 1, 1)
        failed = {name: min((int(p.failed.get()[0]) for p in procs if p.failed.get()[0]), default=0)
                  for name, procs in graph.node_processes.items()}
        failed = {name: step for name, step in failed.items() if step}
        if failed:
            culprit = min(failed, key=failed.get)
            raise EngineMismatch(f"in Lava, node {culprit} ({program.nodes[culprit].kind}) raised at Lava step {failed[culprit]} "
                                 f"(stream step {failed[culprit] - 1 - depth[culprit]}); the cpu engine runs the same integer "
                                 f"step and shows the error" + (f"; {len(failed) - 1} other node(s) failed too" if len(failed) > 1 else ""))
        outputs = {o: graph.history(o)[depth[o] : depth[o] + steps] for o in outs}
        spikes = {}
        for name, node in program.nodes.items():  # every spiking population, from Lava's sink or its own process
            d = depth[name]
            if name in graph.sinks:
                spikes[name] = graph.sinks[name].data.get().T.astype(np.int64)[d : d + steps]
            elif node.inputs and node.op_class.binary_output and name in graph.node_processes:
                spikes[name] = graph.history(name)[d : d + steps]
    finally:
        head.stop()
    return LavaRun(outputs, spikes, depth[outs[0]], graph.processes, first - start, rest)


def run_spikes(build, raster, recorded: dict) -> tuple[dict, dict, dict, list[str]]:
    """The ``lava`` engine of a spike-train build (``Target.engines``): Lava's own run of the build's process graph,
    one Lava run per stream, and the build's whole-network netx file (when it has one) loaded by lava-dl's netx and
    run in Lava on stream 0 against the cpu engine's spikes of every layer (`recorded`)."""
    from .netx import NETWORK_FILE, compare_network

    outs, spikes, runs = {}, {}, []
    for b in range(raster.streams):
        run = run_lava(build.program, raster.spikes[:, b], core_slices(build))
        for name, o in run.outputs.items():
            outs.setdefault(name, []).append(o)
        for name, s in run.spikes.items():
            spikes.setdefault(name, []).append(s)
        runs.append(run)
    path = build.path / NETWORK_FILE
    netx = compare_network(path, build.program, raster.spikes[:, 0], recorded) if path.is_file() else {}
    info = {"processes": runs[0].processes, "latency": runs[0].latency, "streams": raster.streams,
            "seconds_per_step": round(float(np.mean([r.seconds_per_step for r in runs])), 4), "netx_identical": netx,
            "agrees": all(netx.values())}
    lines = [f"Lava ({info['processes']} processes per stream, Loihi2SimCfg fixed_pt, pipeline latency "
             f"{info['latency']} steps removed); the output file holds Lava's"]
    if netx:
        lines.append(f"netx: network.net, loaded by lava-dl's netx and run in Lava on stream 0: {sum(netx.values())} of "
                     f"{len(netx)} layers fire as the cpu engine's (each read as many steps later as netx's one-step "
                     f"Dense delays it; target_notes.netx_network gives the lags)")
    return ({name: np.stack(v, 1) for name, v in outs.items()},
            {k: np.stack(v, 1) for k, v in spikes.items()}, info, lines)
