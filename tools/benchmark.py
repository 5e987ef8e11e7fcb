"""Benchmarks: the bit-accurate simulator against the float PyTorch model, measured in the same run.

    python tools/benchmark.py [--tokens 200] [--only zoo|45m|lava]

Models: the zoo model, and a 45M-shaped SpikeGPT (L12 C512 V4096, 45 M parameters) with random weights
made here (never saved).  For each: tokens per second of
  * the integer simulator (targets/cpu), one stream and 16 streams;
  * the float model's recurrent step (the same streaming work), same batch;
  * the float model's parallel forward over 128 tokens (training-style, not streaming);
and the weight-streaming bound: bytes of integer weights read per token / memory bandwidth measured here.
``lava``: the same integer program on Lava's simulator (the loihi2 target's process graph) against our
simulator, identical spikes and logits checked, and Lava's own Dense -> LIF network against ours.
Prints Markdown tables for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from neurocompile import load_model
from neurocompile.lower import lower
from neurocompile.models import zoo
from neurocompile.models.spikegpt import SpikeGPT, SpikeGPTConfig
from neurocompile.quantize import calibrate, quantize
from neurocompile.targets.cpu.simulator import Simulator
from neurocompile.targets.loihi2 import NUMERIC
from neurocompile.frontends import trace


def random_45m(seed: int = 0) -> SpikeGPT:
    torch.manual_seed(seed)
    model = SpikeGPT(SpikeGPTConfig(n_layer=12, n_embd=512, vocab_size=4096))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("att.output.weight", "ffn.value.weight")):
                p.mul_(8)  # default init gives outputs too small to cross the threshold: make the LIFs fire
            elif "time_mix" in name:
                p.uniform_(0, 1)
            elif name.endswith("time_decay"):
                p.uniform_(-6, 1)
    return model.eval()


def per_second(fn, repeats: int) -> float:
    fn()  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return repeats / (time.perf_counter() - start)


def memory_bandwidth() -> float:
    """Bytes per second of a large numpy copy (read + write counted once each)."""
    a = np.ones(64 * 2**20 // 8)
    b = np.empty_like(a)
    rate = per_second(lambda: np.copyto(b, a), 20)
    return rate * 2 * a.nbytes


def bench(name: str, model: SpikeGPT, tokens: int) -> list[str]:
    torch.set_num_threads(2)
    graph = lower(trace(model))
    rng = np.random.default_rng(0)
    vocab = model.config.vocab_size
    program = quantize(graph, NUMERIC, calibrate(graph, torch.from_numpy(rng.integers(0, vocab, (4, 64)))))
    weight_bytes = sum(n.q.weights.size for n in program.nodes.values() if n.kind == "Dense")  # 8-bit each
    rows = []
    for batch in (1, 16):
        sim = Simulator(program, batch)
        stream = rng.integers(0, vocab, (tokens, batch))
        it = iter(stream)
        sim_rate = per_second(lambda: sim.step(next(it)), tokens - 1) * batch
        state = model.initial_state(batch)
        ft = iter(torch.from_numpy(stream))

        def float_step():
            nonlocal state
            with torch.no_grad():
                _, state = model.step(next(ft), state)

        step_rate = per_second(float_step, tokens - 1) * batch
        x = torch.from_numpy(rng.integers(0, vocab, (batch, 128)))
        with torch.no_grad():
            par_rate = per_second(lambda: model(x), 3) * batch * 128
        rows.append(f"| {name} | {batch} | {sim_rate:,.0f} | {step_rate:,.0f} | {sim_rate / step_rate:.2f}× | "
                    f"{par_rate:,.0f} | {sim_rate / par_rate:.2f}× |")
    return rows, weight_bytes


def bench_lava(tokens: int) -> list[str]:
    """Whole zoo program: Lava (build, compile, run) vs our simulator on the same tokens; then Dense -> LIF."""
    from neurocompile.targets.loihi2.lava_engine import run_lava

    model = load_model(zoo.path())
    graph = lower(trace(model))
    rng = np.random.default_rng(0)
    program = quantize(graph, NUMERIC, calibrate(graph, torch.from_numpy(rng.integers(0, 103, (4, 64)))))
    seq = rng.integers(0, 103, tokens).tolist()
    rows = ["| network | steps | Lava s | ours s | ours faster | identical |", "|---|---|---|---|---|---|"]
    start = time.perf_counter()
    run = run_lava(program, seq)
    total = time.perf_counter() - start
    sim = Simulator(program, 1, record=list(run.spikes))
    start = time.perf_counter()
    logits = np.stack([sim.step(np.array([t]))[0] for t in seq])
    ours = time.perf_counter() - start
    same = np.array_equal(logits, run.logits) and all(
        np.array_equal(np.stack(sim.recorded[k])[:, 0], v) for k, v in run.spikes.items())
    steps = tokens + run.latency
    rows.append(f"| zoo program, {run.processes} Lava processes, whole run (build, compile, {steps} steps) | {steps} | "
                f"{total:.1f} | {ours:.3f} | {total / ours:,.0f}× | {same} |")
    rows.append(f"| same, per step after the first (Lava: {run.seconds_first_step:.1f} s to compile and take step 1) | 1 | "
                f"{run.seconds_per_step:.4f} | {ours / tokens:.4f} | {run.seconds_per_step / (ours / tokens):,.0f}× | |")
    rows += bench_dense_lif()
    return rows


def bench_dense_lif() -> list[str]:
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    from neurocompile import fixed

    rows = []
    rng = np.random.default_rng(0)
    for n in (1000, 4096):
        steps = 100
        w = 2 * rng.integers(-60, 61, (n, n))
        x = (rng.random((n, steps)) < 0.1).astype(np.int64)
        p = fixed.LIFParams(du=4095, dv=2048, vth=200)
        source, dense = Source(data=x), Dense(weights=w)
        lif = LIF(shape=(n,), du=p.du, dv=p.dv, vth=p.vth)
        sink = Sink(shape=(n,), buffer=steps)
        source.s_out.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        start = time.perf_counter()
        lif.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        theirs = sink.data.get().astype(bool)
        lava_s = time.perf_counter() - start
        lif.stop()
        start = time.perf_counter()
        u = v = pending = np.zeros(n, np.int64)
        weff = fixed.effective_weights(w).astype(np.float64)
        ours = np.zeros((n, steps), bool)
        for t in range(steps):
            a, pending = pending, fixed.dense(weff, 0, x[:, t], graded=False)
            ours[:, t], u, v, _ = fixed.lif_step(u, v, a, p)
        ours_s = time.perf_counter() - start
        rows.append(f"| Lava Dense({n}x{n}) -> LIF({n}), 10 % input spikes (incl. compile) | {steps} | {lava_s:.2f} | "
                    f"{ours_s:.3f} | {lava_s / ours_s:,.0f}× | {bool(np.array_equal(ours, theirs))} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--only", choices=["zoo", "45m", "lava"], default=None)
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"numpy {np.__version__}, 2 threads")
    if args.only in (None, "lava"):
        print("\n".join(bench_lava(64)) + "\n", flush=True)
        if args.only == "lava":
            return
    bandwidth = memory_bandwidth()
    print(f"memory bandwidth (numpy copy): {bandwidth / 1e9:.1f} GB/s\n")
    print("| model | streams | simulator tokens/s | float step tokens/s | sim / step | float parallel tokens/s | sim / parallel |")
    print("|---|---|---|---|---|---|---|")
    bounds = []
    models = {"zoo (L4 C128 V103)": lambda: load_model(zoo.path()), "45M-shaped (L12 C512 V4096)": random_45m}
    for name, make in models.items():
        if args.only and args.only not in name:
            continue
        model = make()
        rows, weight_bytes = bench(name, model, args.tokens)
        print("\n".join(rows), flush=True)
        bounds.append(f"{name}: {weight_bytes / 1e6:.1f} MB of 8-bit weights per token -> at most "
                      f"{bandwidth / weight_bytes:,.0f} tokens/s for one stream if weights stream from memory")
    print("\nweight-streaming bound:\n" + "\n".join(bounds))


if __name__ == "__main__":
    main()
