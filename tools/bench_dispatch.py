"""The cpu engine's dispatch, A/B in one process: the kernel table (``kernels.run``: numba's ``literal_unroll`` over
``KERNELS``) against the if/elif chain it replaced (rebuilt here over the same kernels), on the same program, the same
streams and the same simulator, measured in turn (A B A B ...).

    OMP_NUM_THREADS=2 python tools/bench_dispatch.py [--tokens 200] [--repeats 7]

Models: the zoo SpikeGPT, and the 45M-shaped SpikeGPT of tools/benchmark.py (random weights, never saved); 1 and 16
streams.  The two dispatchers must give the same counters (checked).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics

import numpy as np
import torch
from numba import njit

from benchmark import random_45m, rate
from neurocompile import load_model
from neurocompile.frontends import trace
from neurocompile.lower import lower
from neurocompile.models import zoo
from neurocompile.pipeline import resolve_extension_ops
from neurocompile.quantize import calibrate
from neurocompile.targets.cpu import kernels as k
from neurocompile.targets.cpu.simulator import Simulator
from neurocompile.targets.loihi2 import TARGET


@njit(**k.JIT)
def chain(table, start, stop, code, V, S, P, W, C, t, part, parts, sync):
    """The dispatch before the table: one branch per kernel number, in KERNELS' order (the meetings of a split step
    as ``kernels.run`` has them)."""
    for r in range(start, stop):
        flags = table[r, 3]
        if parts > 1 and flags & k.SYNC and k.native.barrier(sync, parts):
            return -2
        if flags & k.WHOLE and part != 0:
            continue
        kernel, a = table[r, 0], code[table[r, 1]: table[r, 2]]
        mine, of = (0, 1) if flags & k.WHOLE else (part, parts)
        if kernel == 0:
            ok = k.dense(a, V, S, P, W, C, t, mine, of)
        elif kernel == 1:
            ok = k.neuron(a, V, S, P, W, C, t, mine, of)
        elif kernel == 2:
            ok = k.token_shift(a, V, S, P, W, C, t, mine, of)
        elif kernel == 3:
            ok = k.layer_norm(a, V, S, P, W, C, t, mine, of)
        elif kernel == 4:
            ok = k.wkv(a, V, S, P, W, C, t, mine, of)
        elif kernel == 5:
            ok = k.table_lookup(a, V, S, P, W, C, t, mine, of)
        elif kernel == 6:
            ok = k.product(a, V, S, P, W, C, t, mine, of)
        elif kernel == 7:
            ok = k.add(a, V, S, P, W, C, t, mine, of)
        elif kernel == 8:
            ok = k.copy(a, V, S, P, W, C, t, mine, of)
        elif kernel == 9:
            ok = k.embedding(a, V, S, P, W, C, t, mine, of)
        elif kernel == 10:
            ok = k.attention(a, V, S, P, W, C, t, mine, of)
        elif kernel == 11:
            ok = k.time_sum(a, V, S, P, W, C, t, mine, of)
        elif kernel == 12:
            ok = k.token_code(a, V, S, P, W, C, t, mine, of)
        elif kernel == 14:
            ok = k.mix(a, V, S, P, W, C, t, mine, of)
        elif kernel == 15:
            ok = k.neuron_wkv(a, V, S, P, W, C, t, mine, of)
        elif kernel == 16:
            ok = k.neuron_layer_norm(a, V, S, P, W, C, t, mine, of)
        elif kernel == 17:
            ok = k.conv(a, V, S, P, W, C, t, mine, of)
        else:
            ok = k.threshold(a, V, S, P, W, C, t, mine, of)
        if not ok:
            if parts > 1:
                k.native.abort(sync)
            return r
    return -1


def program_of(model, seed: int = 0):
    traced = trace(model)
    graph = lower(traced, TARGET.token_shift, resolve_extension_ops(TARGET, traced, None)[0])
    rng = np.random.default_rng(seed)
    vocab = model.config.vocab_size
    return TARGET.quantize(graph, calibrate(graph, torch.from_numpy(rng.integers(0, vocab, (4, 64)))))[0], vocab


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(2)
    assert [f.__name__ for f in k.KERNELS].index("threshold") == 13 and len(k.KERNELS) == 18
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
          f"{args.repeats} interleaved repeats, {args.tokens} tokens each")
    print("| model | streams | table tokens/s (best / median) | if/elif chain tokens/s (best / median) | table / chain |")
    print("|---|---|---|---|---|")
    table = k.run
    for name, model in (("zoo (L4 C128 V103)", load_model(zoo.path())), ("45M-shaped (L12 C512 V4096)", random_45m())):
        program, vocab = program_of(model)
        for batch in (1, 16):
            stream = np.random.default_rng(1).integers(0, vocab, (args.tokens, batch))
            runs: dict[str, list[float]] = {"table": [], "chain": []}
            totals = {}
            for _ in range(args.repeats):
                for label, dispatch in (("table", table), ("chain", chain)):
                    k.run = dispatch  # the simulator calls kernels.run (a split step's threads call the table's)
                    sim = Simulator(program, batch, split=False)
                    it = iter(stream)
                    runs[label].append(rate(lambda: sim.step(next(it)), args.tokens - 1) * batch)
                    totals[label] = sim.totals.copy()
            k.run = table
            assert np.array_equal(totals["table"], totals["chain"]), "the two dispatchers counted differently"
            med = {label: statistics.median(v) for label, v in runs.items()}
            print(f"| {name} | {batch} | {max(runs['table']):,.0f} / {med['table']:,.0f} | "
                  f"{max(runs['chain']):,.0f} / {med['chain']:,.0f} | {med['table'] / med['chain']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
