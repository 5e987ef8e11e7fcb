"""Run an integer Program as a Lava process graph under ``Loihi2SimCfg(select_tag='fixed_pt')``.

Mapping, node by node:

* a ``Dense`` node: one Lava synapse process per input port and per core slice of the partition (a
  ``Sparse`` holding just that slice's rows, 8-bit weights, the rows' ``weight_exp``; graded ports with
  24-bit messages), so the synapses in Lava mirror the core map; all feed one ``NodeProcess``, the receiving
  neurons' side (Lava sums the slices at its input port).  Without a partition: one ``Dense`` per port;
* a ``LIF`` node: Lava's ``LIF`` (``du``, ``dv``, ``vth`` from quantization; no bias); a Lava sink records its
  spikes;
* every other node: a ``NodeProcess`` running that op's ``int_step``;
* the token stream: Lava's ``RingBuffer`` source.

Delay balancing: Lava's Dense delivers one step late, so token ``t`` reaches node ``n`` at step
``t + 1 + depth(n)``, with ``depth`` the number of Dense stages on the longest path from the tokens.  A node
whose inputs arrive at different depths holds the early ones back; the ports of one Dense must already agree
(they do for every graph ``lower`` produces; otherwise the build is refused).  Logits of token ``t`` leave at
step ``t + 1 + depth(output)``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from neurocompile import lava_compat
from neurocompile.errors import UserError
from neurocompile.quantize import Program


@dataclass(frozen=True)
class LavaRun:
    logits: np.ndarray  # [T, V] integers, token by token
    spikes: dict[str, np.ndarray]  # LIF node -> [T, n] 0/1
    latency: int  # pipeline depth in steps: token t's logits leave at step t + 1 + latency
    processes: int
    seconds_first_step: float  # compiling, starting the OS processes and the first step
    seconds_per_step: float  # every later step


def depths(program: Program) -> dict[str, int]:
    depth: dict[str, int] = {}
    for name, node in program.nodes.items():
        if not node.inputs:
            depth[name] = 0
            continue
        through_dense = 1 if node.kind == "Dense" else 0
        ins = [depth[i] for i in node.inputs]
        if node.kind == "Dense" and len(set(ins)) > 1:
            raise UserError(f"layer {name}: its inputs arrive at different pipeline depths {ins}; "
                            f"the Lava engine cannot balance delays in front of a Dense yet")
        depth[name] = max(ins) + through_dense
    return depth


MAX_SYNAPSE_PROCESSES_PER_NODE = 64


def core_slices(build) -> dict[str, list[tuple[int, int]]] | None:
    """node -> row ranges per core, from a loihi2 build's partition (None for builds without one)."""
    if build.partition is None:
        return None
    slices: dict[str, list[tuple[int, int]]] = {}
    for core in build.partition["cores"]:
        for s in core["slices"]:
            slices.setdefault(s["node"], []).append(tuple(s["rows"]))
    return slices


def row_groups(q, port: int, slices: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(start, end, weight_exp): the core slices, cut further wherever the rows' weight exponent changes."""
    groups = []
    exps = q.exps[port]
    for start, end in slices:
        begin = start
        for row in range(start + 1, end + 1):
            if row == end or exps[row] != exps[begin]:
                groups.append((begin, row, int(exps[begin])))
                begin = row
    return groups


def run_lava(program: Program, tokens: list[int], slices: dict[str, list[tuple[int, int]]] | None = None) -> LavaRun:
    """Run `tokens` through the program in Lava.  `slices`: node -> core slices (row ranges) from the
    partition; the synapses of each slice become their own Lava process."""
    lava_compat.ensure_importable()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense as LavaDense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF as LavaLIF
    from lava.proc.sparse.process import Sparse as LavaSparse
    from scipy.sparse import csr_matrix

    from .processes.node import NodeProcess

    depth = depths(program)
    out_node = program.output
    steps = len(tokens) + depth[out_node.name]
    procs: dict[str, object] = {}  # node -> the process whose output port carries the node's value
    sinks: dict[str, object] = {}
    count = 0

    def out_port(name):
        proc = procs[name]
        return proc.s_out if isinstance(proc, (Source, LavaLIF)) else proc.out

    for name, node in program.nodes.items():
        if node.kind == "TokenInput":
            procs[name] = Source(data=np.asarray(tokens, dtype=np.int64)[None, :])
            count += 1
            continue
        if node.kind == "LIF":
            q = node.q
            lif = LavaLIF(shape=(q.n,), du=q.du, dv=q.dv, vth=q.vth, bias_mant=0, bias_exp=0, name=name)
            out_port(node.inputs[0]).connect(lif.a_in)
            sink = Sink(shape=(q.n,), buffer=steps)
            lif.s_out.connect(sink.a_in)
            procs[name], sinks[name] = lif, sink
            count += 2
            continue
        width = program.width(name)
        if node.kind == "Dense":
            q = node.q
            receiver = NodeProcess(kind="Dense", q=q, in_shapes=[(width,)], out_shape=(width,), depth=depth[name],
                                   input_delays=[0], steps=steps, accumulate_only=True, name=name)
            node_slices = sorted(slices[name]) if slices and name in slices else [(0, width)]
            groups = [(port, g) for port in range(len(node.inputs)) for g in row_groups(q, port, node_slices)]
            if len(groups) > MAX_SYNAPSE_PROCESSES_PER_NODE:
                raise UserError(f"layer {name}: {len(groups)} synapse processes (core slices x weight-exponent blocks), "
                                f"over {MAX_SYNAPSE_PROCESSES_PER_NODE}; export with --block-rows 0 (or larger blocks)")
            for port, (start, end, exp) in groups:
                bits = 0 if q.binary[port] else 24
                if (start, end) == (0, width):
                    synapses = LavaDense(weights=q.weights[port].astype(np.int32), weight_exp=exp, num_message_bits=bits,
                                         name=f"{name}.port{port}")
                else:  # this core slice's rows only; the other rows are empty
                    rows = np.zeros_like(q.weights[port], dtype=np.int32)
                    rows[start:end] = q.weights[port][start:end]
                    synapses = LavaSparse(weights=csr_matrix(rows), weight_exp=exp, num_message_bits=bits,
                                          name=f"{name}.port{port}.rows{start}-{end}")
                out_port(node.inputs[port]).connect(synapses.s_in)
                synapses.a_out.connect(receiver.in0)
                count += 1
            procs[name] = receiver
            count += 1
            continue
        in_shapes = [(1,)] if node.kind == "SpikeEmbedding" else [(program.width(i),) for i in node.inputs]
        delays = [depth[name] - depth[i] for i in node.inputs]
        proc = NodeProcess(kind=node.kind, q=node.q, in_shapes=in_shapes, out_shape=(width,), depth=depth[name],
                           input_delays=delays, steps=steps, token_input=node.kind == "SpikeEmbedding", name=name)
        for port, src in enumerate(node.inputs):
            out_port(src).connect(getattr(proc, f"in{port}"))
        procs[name] = proc
        count += 1

    head = procs[out_node.name]
    try:
        start = time.perf_counter()
        head.run(condition=RunSteps(num_steps=1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        first = time.perf_counter()
        if steps > 1:
            head.run(condition=RunSteps(num_steps=steps - 1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        rest = (time.perf_counter() - first) / max(steps - 1, 1)
        lat = depth[out_node.name]
        logits = head.history.get().astype(np.int64)[lat : lat + len(tokens)]
        spikes = {}
        for name, sink in sinks.items():
            d = depth[name]
            spikes[name] = sink.data.get().T.astype(np.int64)[d : d + len(tokens)]
    finally:
        head.stop()
    return LavaRun(logits, spikes, depth[out_node.name], count, first - start, rest)
