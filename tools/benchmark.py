"""Benchmarks: our bit-accurate simulator against its peers, measured side by side in one run.

    python tools/benchmark.py [--tokens 200] [--repeats 5] [--only zoo|45m|lava|netx|spikedecoder|nir|export] [--json]

Every ratio is ours over a peer (higher is better) from measurements taken in turn -- A B A B ..., ``--repeats``
times -- and each peer's min and median are printed (as tokens or steps per second: the best and the median run).
Peers:
  * zoo, 45m: the integer simulator (targets/cpu, the compiled engine) against the float model's recurrent step
    (the same streaming work), one stream and 16 streams; beside them the reference engine (numpy, each op's
    int_step), the float model's parallel forward over 128 tokens (training-style), and the weight-streaming bound:
    bytes of 8-bit weights per token over the memory bandwidth, measured in the same run, interleaved with the
    peers, two ways: a one-thread numpy copy (read + write counted, the bound the issues set their goals against)
    and every core reading at once (what streaming weights on every core can reach: the stricter bound).
    Models: the zoo model, and a 45M-shaped SpikeGPT (L12 C512 V4096) with random weights made here (never saved).
  * lava: the zoo program on Lava's simulator (the loihi2 target's process graph) against ours per step after the
    first (identical spikes and logits checked), and Lava's own Dense(1000) -> LIF(1000) against ours per step (the
    same network as a program on our engine; identical spikes checked, one step earlier: Lava's Dense delays); and a
    SLAYER-made netx network (dense 700 -> 512 -> 256 -> 20) as netx runs it in Lava against its import on ours.
  * netx (also part of lava): SLAYER-made netx networks as netx runs them in Lava against their import on ours, per
    step after the first, identical spikes checked: the dense one above, and one of PilotNet LIF's shape (3 x 66 x 200
    maps, five conv layers, three dense layers; random weights and input spikes).
  * spikedecoder: the zoo SpikeDecoder on our engine against its float model's streaming step (a token's T synthetic
    steps, attention over the key/value cache), one and 16 streams, over its whole context (64 positions).
  * nir: an SHD-shaped recurrent snnTorch network (700 -> 1024 RLeaky -> 20 Leaky, random weights) exported by
    snnTorch to NIR and imported: our engine against snnTorch's own float run, batch 1 and 64, per step; and the
    loihi2 build on Lava against ours, one stream, per step after the first (identical outputs checked); and the NIR
    paper's CNN shape made in Sinabs (three convolutions, two sum poolings; exported by Sinabs to NIR, its
    convolutions held as kernels here) against Sinabs's own float run of the raster (time folded into the batch, as
    Sinabs runs it), batch 1 and 16.
  * export: ``neurocompile export`` of a 216M-shaped checkpoint (tools/bench_export.py): seconds and peak RSS.
``--json`` prints one JSON object (the keys BENCHMARKS.md and the issues use) on stdout; tables go to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from neurocompile import load_model
from neurocompile.lower import lower
from neurocompile.pipeline import resolve_extension_ops
from neurocompile.models import zoo
from neurocompile.models.spikegpt import SpikeGPT, SpikeGPTConfig
from neurocompile.ops import Dense
from neurocompile.quantize import calibrate
from neurocompile.targets.cpu import native
from neurocompile.targets.cpu.simulator import ReferenceSimulator, Simulator, cores
from neurocompile.targets.loihi2 import NUMERIC, TARGET
from neurocompile.frontends import trace
from neurocompile.graph import steps_per_token

THREADS = 2
OUT = sys.stderr  # tables; stdout carries the JSON object with --json


def say(text: str = "") -> None:
    print(text, file=OUT, flush=True)


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


def rate(fn: Callable[[], None], calls: int) -> float:
    """Calls per second of `fn` over `calls` calls (one untimed call first)."""
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls / (time.perf_counter() - start)


def interleaved(peers: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Each peer's measurement (a rate) taken in turn, A B A B ..., `repeats` times."""
    runs: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(repeats):
        for name, measure in peers.items():
            runs[name].append(measure())
    return runs


def summary(runs: list[float]) -> str:
    return f"{max(runs):,.0f} / {statistics.median(runs):,.0f}"


def ratio(ours: list[float], theirs: list[float]) -> float:
    """Median over median: how many times the peer's rate ours is."""
    return statistics.median(ours) / statistics.median(theirs)


_MEMORY = np.ones(64 * 2**20 // 8, np.uint64)  # 64 MB: twice this machine's last-level cache


def memory_bandwidth() -> float:
    """Bytes per second of a 64 MB numpy copy on one thread (read + write counted once each), the best of 5."""
    b = np.empty_like(_MEMORY)
    return max(rate(lambda: np.copyto(b, _MEMORY), 1) for _ in range(5)) * 2 * _MEMORY.nbytes


def read_bandwidth() -> float:
    """Bytes per second of every core reading its share of 64 MB at once (a bitwise-or reduction each: numpy releases
    the GIL), the best of 5."""
    shares = np.array_split(_MEMORY, cores())
    with ThreadPoolExecutor(len(shares)) as pool:
        return max(rate(lambda: list(pool.map(np.bitwise_or.reduce, shares)), 1) for _ in range(5)) * _MEMORY.nbytes


def program_of(model):
    """The model's integer program as the loihi2 target builds it by default (calibrated on random tokens)."""
    traced = trace(model)
    graph = lower(traced, TARGET.token_shift, resolve_extension_ops(TARGET, traced, None)[0])
    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(rng.integers(0, model.config.vocab_size, (4, 64)))
    return TARGET.quantize(graph, calibrate(graph, tokens))[0]


def bench_model(name: str, model: SpikeGPT, tokens: int, repeats: int) -> tuple[dict, int]:
    """Simulator vs float step (and the reference engine, float parallel) at 1 and 16 streams; ratios by stream
    count."""
    program = program_of(model)
    rng = np.random.default_rng(0)
    vocab = model.config.vocab_size
    weight_bytes = sum(n.q.halves.size for n in program.nodes.values() if n.op_class is Dense)  # 8-bit each
    results = {}
    for batch in (1, 16):
        stream = rng.integers(0, vocab, (tokens, batch))
        sim, ref = Simulator(program, batch), ReferenceSimulator(program, batch)
        state = [model.initial_state(batch)]
        x = torch.from_numpy(rng.integers(0, vocab, (batch, 128)))

        def simulator() -> float:
            it = iter(stream)
            return rate(lambda: sim.step(next(it)), tokens - 1) * batch

        def reference() -> float:
            it = iter(stream)
            return rate(lambda: ref.step(next(it)), tokens - 1) * batch

        def float_step() -> float:
            it = iter(torch.from_numpy(stream))

            def one():
                with torch.no_grad():
                    _, state[0] = model.step(next(it), state[0])

            return rate(one, tokens - 1) * batch

        def float_parallel() -> float:
            with torch.no_grad():
                return rate(lambda: model(x), 2) * batch * 128

        runs = interleaved({"simulator": simulator, "reference": reference, "float step": float_step,
                            "float parallel": float_parallel, "copy": memory_bandwidth, "read": read_bandwidth},
                           repeats)
        results[batch] = runs
        say(f"| {name} | {batch} | {summary(runs['simulator'])} | {summary(runs['reference'])} | "
            f"{summary(runs['float step'])} | {ratio(runs['simulator'], runs['float step']):.2f}× | "
            f"{summary(runs['float parallel'])} | {ratio(runs['simulator'], runs['float parallel']):.2f}× |")
    return results, weight_bytes


def bench_spikedecoder(repeats: int) -> dict[str, float]:
    """The zoo SpikeDecoder: our engine against its float model's streaming step (``SpikeDecoder.step``: one token,
    its T synthetic steps, attention over the key/value cache), at 1 and 16 streams, over its whole context.  A
    fresh state for each measurement (the cache grows with the position)."""
    model = load_model(zoo.path("spikedecoder-pydoc.pt"))
    program = program_of(model)
    per_token = steps_per_token(program.metadata)
    tokens = model.config.max_len  # the context: positions 0 .. max_len - 1
    rng = np.random.default_rng(0)
    out = {}
    say("| SpikeDecoder (zoo) | streams | ours tokens/s (best / median) | float step tokens/s | ours / float |")
    say("|---|---|---|---|---|")
    for batch in (1, 16):
        stream = rng.integers(0, model.config.vocab_size, (tokens, batch))

        def ours() -> float:
            sim, it = Simulator(program, batch), iter(stream)

            def one():
                token = next(it)
                for _ in range(per_token):
                    sim.step(token)

            return rate(one, tokens - 1) * batch

        def float_step() -> float:
            state, it = [model.initial_state(batch)], iter(torch.from_numpy(stream))

            def one():
                with torch.no_grad():
                    _, state[0] = model.step(next(it), state[0])

            return rate(one, tokens - 1) * batch

        runs = interleaved({"ours": ours, "float step": float_step}, repeats)
        out[f"spikedecoder.cpu_vs_float.streams{batch}"] = ratio(runs["ours"], runs["float step"])
        say(f"| L{model.config.blocks} E{model.config.embed_dim} T{per_token} | {batch} | {summary(runs['ours'])} | "
            f"{summary(runs['float step'])} | {out[f'spikedecoder.cpu_vs_float.streams{batch}']:.2f}× |")
    return out


def shd_network(seed: int = 0) -> torch.nn.Sequential:
    """A recurrent snnTorch network of the SHD benchmark's shape: 700 input channels -> 1024 RLeaky (all-to-all
    recurrent) -> 20 Leaky readouts, random weights scaled so that the hidden layer fires a few percent."""
    import snntorch as snn

    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(700, 1024),
        snn.RLeaky(beta=torch.full((1024,), 0.9), linear_features=1024, threshold=torch.ones(1024), init_hidden=True,
                   reset_mechanism="zero"),
        torch.nn.Linear(1024, 20),
        snn.Leaky(beta=torch.full((20,), 0.9), threshold=torch.ones(20), init_hidden=True, output=True,
                  reset_mechanism="zero"))
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[1].recurrent.weight.mul_(1.0)
        net[1].recurrent.bias.zero_()  # a loop's bias: NIR's reading and snnTorch's differ at step 0 (docs/nir.md)
        net[2].weight.mul_(4.0)
    return net.eval()


def firing(program, raster) -> str:
    """Spikes per neuron and step of each spiking population of `program` over `raster` (a silent network would
    be fast for nothing)."""
    from neurocompile.ops import Tally

    sim = Simulator(program, raster.streams)
    for x in raster.spikes:
        sim.step(x)
    spikes, updates = Tally.FIELDS.index("spikes"), Tally.FIELDS.index("neuron_updates")
    return ", ".join(f"{name} {row[spikes] / row[updates]:.1%}" for name, row in zip(program.nodes, sim.totals)
                     if row[updates] and program.nodes[name].op_class.binary_output)


def nir_paper_cnn(batch: int):
    """A Sinabs CNN of the NIR paper's shape (2 x 34 x 34 input; conv 16 5x5 stride 2, sum pool 2, conv 32 3x3, sum
    pool 2, conv 8 3x3 stride 2, dense 32 -> 10; IAF neurons), random weights scaled to fire."""
    import sinabs.layers as sl

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 16, 5, stride=2, padding=1), sl.IAFSqueeze(batch_size=batch), sl.SumPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), sl.IAFSqueeze(batch_size=batch), sl.SumPool2d(2),
        torch.nn.Conv2d(32, 8, 3, padding=1, stride=2), sl.IAFSqueeze(batch_size=batch), torch.nn.Flatten(),
        torch.nn.Linear(32, 10), sl.IAFSqueeze(batch_size=batch))
    with torch.no_grad():
        for i in (0, 3, 6, 9):
            model[i].weight.mul_(3.0)
    return model


def bench_cnn(repeats: int, steps: int = 100) -> dict[str, float]:
    """The NIR paper's CNN shape made in Sinabs and exported by Sinabs to NIR: our integer engine (its convolutions
    held as kernels) against Sinabs's own float run of the same module -- a whole raster of `steps` steps in one
    forward, as Sinabs runs it (time folded into the batch) -- in steps x streams per second, batch 1 and 16, 10 %
    input spikes."""
    import tempfile

    import sinabs

    import neurocompile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        graph = sinabs.to_nir(nir_paper_cnn(1), torch.zeros(1, 2, 34, 34))
        program = neurocompile.export(graph, target="cpu", output=f"{tmp}/cnn").program
        say("| NIR paper's CNN shape (Sinabs, 2x34x34, 3 conv, 2 pools) | batch | ours steps x streams/s (best / "
            "median) | Sinabs steps x streams/s | ours / Sinabs |\n|---|---|---|---|---|")
        for batch in (1, 16):
            x = (np.random.default_rng(batch).random((steps, batch, 2 * 34 * 34)) < 0.1).astype(np.int64)
            model = nir_paper_cnn(batch)
            frames = torch.from_numpy(x).float().permute(1, 0, 2).reshape(batch * steps, 2, 34, 34)

            def ours() -> float:
                sim = Simulator(program, batch)
                sim.step(x[0])
                start = time.perf_counter()
                for t in range(1, steps):
                    sim.step(x[t])
                return (steps - 1) * batch / (time.perf_counter() - start)

            def theirs() -> float:
                for layer in model:
                    if hasattr(layer, "reset_states"):
                        layer.reset_states()
                with torch.no_grad():
                    model(frames[:batch])  # sizes Sinabs's states (a first run, not timed)
                    for layer in model:
                        if hasattr(layer, "reset_states"):
                            layer.reset_states()
                    start = time.perf_counter()
                    model(frames)
                return steps * batch / (time.perf_counter() - start)

            runs = interleaved({"ours": ours, "sinabs": theirs}, repeats)
            out[f"nir.cnn.cpu_vs_sinabs.batch{batch}"] = ratio(runs["ours"], runs["sinabs"])
            say(f"| | {batch} | {summary(runs['ours'])} | {summary(runs['sinabs'])} | "
                f"{out[f'nir.cnn.cpu_vs_sinabs.batch{batch}']:.2f}× |")
    return out


def xylo_graph(n_in: int, hidden: int, out: int, seed: int = 0):
    """A NIR graph of one Xylo core's shape: n_in -> hidden recurrent CubaLIF -> out CubaLIF (random weights, dt 1 ms)."""
    import nir

    rng = np.random.default_rng(seed)

    def cell(k):
        return nir.CubaLIF(tau_syn=rng.uniform(2e-3, 1e-2, k), tau_mem=rng.uniform(5e-3, 4e-2, k), r=np.ones(k),
                           v_leak=np.zeros(k), v_threshold=np.ones(k), w_in=np.ones(k))

    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([n_in])}),
               "w_in": nir.Linear(rng.normal(0, 6 / np.sqrt(n_in), (hidden, n_in))), "hid": cell(hidden),
               "rec": nir.Linear(rng.normal(0, 1 / np.sqrt(hidden), (hidden, hidden))),
               "w_out": nir.Linear(rng.normal(0, 6 / np.sqrt(hidden), (out, hidden))), "out": cell(out),
               "output": nir.Output(output_type={"output": np.array([out])})},
        edges=[("input", "w_in"), ("w_in", "hid"), ("hid", "rec"), ("rec", "hid"), ("hid", "w_out"), ("w_out", "out"),
               ("out", "output")])


def bench_xylo(repeats: int, steps: int = 200) -> dict[str, float]:
    """Our integer engine on xylo builds against SynSense's own simulator (xylosim 0.1.3's C++ XyloLayer, which runs
    one stream per evolve call) on the same program, in steps x streams per second: the NIR paper's Braille shape
    (12 -> 38 recurrent -> 7) and a full Xylo Audio 2 core (16 -> 1000 recurrent -> 8); 20 % input spikes."""
    import tempfile

    import neurocompile
    from neurocompile.targets.xylo import xylosim_engine
    from neurocompile.targets.xylo.arithmetic import populations

    out = {}
    say("| Xylo core (NIR, CubaLIF) | streams | ours steps x streams/s (best / median) | xylosim steps x streams/s | "
        "ours / xylosim | hidden spikes per neuron and step |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, shape in (("braille", (12, 38, 7)), ("audio2", (16, 1000, 8))):
            program = neurocompile.export(xylo_graph(*shape), target="xylo", output=f"{tmp}/{label}", dt=1e-3).program
            hidden, readout = populations(program)
            for batch in (1, 16):
                x = (np.random.default_rng(batch).random((steps, batch, shape[0])) < 0.2).astype(np.int64)

                def ours() -> float:
                    sim = Simulator(program, batch)
                    start = time.perf_counter()
                    for t in range(steps):
                        sim.step(x[t])
                    return steps * batch / (time.perf_counter() - start)

                def theirs() -> float:
                    layers = [xylosim_engine.layer(hidden, readout) for _ in range(batch)]  # built untimed
                    inputs = [x[:, b].tolist() for b in range(batch)]
                    start = time.perf_counter()
                    for (layer, _), spikes in zip(layers, inputs):
                        layer.evolve(spikes)
                    return steps * batch / (time.perf_counter() - start)

                runs = interleaved({"ours": ours, "xylosim": theirs}, repeats)
                key = f"xylo.{label}.cpu_vs_xylosim.streams{batch}"
                out[key] = ratio(runs["ours"], runs["xylosim"])
                sim = Simulator(program, batch)
                for t in range(steps):
                    sim.step(x[t])
                rate_ = sim.totals[list(program.nodes).index(hidden.name), 0] / (steps * batch * shape[1])
                say(f"| {label} {shape[0]}-{shape[1]}-{shape[2]} | {batch} | {summary(runs['ours'])} | "
                    f"{summary(runs['xylosim'])} | {out[key]:.2f}× | {rate_:.2f} |")
    return out


def bench_nir(repeats: int, steps: int = 100) -> dict[str, float]:
    """An SHD-shaped snnTorch network exported to NIR by snnTorch and imported: our integer engine against
    snnTorch's own float run of the same network (per step, batch 1 and 64), and against Lava running the loihi2
    build (per step after the first, one stream, spike for spike against ours)."""
    import tempfile

    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    import neurocompile
    from neurocompile.targets.loihi2.lava_engine import core_slices, run_lava
    from neurocompile.tasks.spikes.semantics import poisson, run_cpu

    net = shd_network()
    graph = export_to_nir(net, torch.zeros(700))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        builds = {target: neurocompile.export(graph, target=target, output=f"{tmp}/{target}", rate=0.05)
                  for target in ("cpu", "loihi2")}
        program = builds["cpu"].program
        say(f"activity on Poisson input at 5 % per channel and step: {firing(program, poisson(700, steps, 1, 0.05))}")
        say("| SHD-shaped snnTorch network (700 -> 1024 rec -> 20) | batch | ours steps x streams/s (best / median) "
            "| snnTorch steps x streams/s | ours / snnTorch |")
        say("|---|---|---|---|---|")
        for batch in (1, 64):
            raster = poisson(700, steps, batch, 0.05, seed=batch)
            x = torch.from_numpy(raster.spikes).float()

            def ours() -> float:
                sim, it = Simulator(program, batch), iter(raster.spikes)
                return rate(lambda: sim.step(next(it)), steps - 1) * batch

            def snntorch() -> float:
                utils.reset(net)
                it = iter(x)

                def one():
                    with torch.no_grad():
                        net(next(it))

                return rate(one, steps - 1) * batch

            runs = interleaved({"ours": ours, "snnTorch": snntorch}, repeats)
            out[f"nir.cpu_vs_snntorch.batch{batch}"] = ratio(runs["ours"], runs["snnTorch"])
            say(f"| | {batch} | {summary(runs['ours'])} | {summary(runs['snnTorch'])} | "
                f"{out[f'nir.cpu_vs_snntorch.batch{batch}']:.2f}× |")
        loihi2, raster = builds["loihi2"], poisson(700, steps, 1, 0.05, seed=7)
        checks = []

        def lava() -> float:
            run = run_lava(loihi2.program, raster.spikes[:, 0], core_slices(loihi2))
            theirs = run_cpu(loihi2, raster)[0]
            checks.append(all(np.array_equal(run.outputs[k], theirs[k][:, 0]) for k in run.outputs))
            return 1 / run.seconds_per_step

        def ours_one() -> float:
            sim, it = Simulator(loihi2.program, 1), iter(raster.spikes)
            return rate(lambda: sim.step(next(it)), steps - 1)

        runs = interleaved({"lava": lava, "ours": ours_one}, max(1, repeats // 2))
        out["nir.cpu_vs_lava_step"] = ratio(runs["ours"], runs["lava"])
        say(f"\n| the same network, loihi2 build, one stream | Lava steps/s (best / median) | ours steps/s | ours / Lava "
            f"| identical |\n|---|---|---|---|---|\n| | {summary(runs['lava'])} | {summary(runs['ours'])} | "
            f"{out['nir.cpu_vs_lava_step']:,.1f}× | {all(checks)} |")
    return out


def _slayer_file(path: str, blocks, maps: tuple[int, ...] | None) -> None:
    """SLAYER blocks exported by SLAYER's own ``export_hdf5`` into one netx file (a shape-only input layer first
    where they start on maps, a flatten where a dense block follows a conv block)."""
    import h5py

    with h5py.File(path, "w") as f:
        groups = []
        if maps is not None:
            groups.append(("input", None))
        for i, block in enumerate(blocks):
            if i and type(block).__name__ == "Dense" and type(blocks[i - 1]).__name__ == "Conv":
                groups.append(("flatten", None))
            groups.append((None, block))
        for i, (kind, block) in enumerate(groups):
            g = f.create_group(f"layer/{i}")
            if block is not None:
                block.export_hdf5(g)
            else:
                g.create_dataset("type", (1,), "S10", [kind.encode()])
                if kind == "input":
                    g["shape"] = np.array(maps)


def bench_netx(repeats: int) -> dict[str, float]:
    """lava-dl netx networks made by SLAYER (random weights scaled to fire), imported into a cpu build: our engine
    against netx running the same file in Lava, per step after the first, one stream, spikes checked identical --
    dense CUBA layers 700 -> 512 -> 256 -> 20, and PilotNet LIF's shape (3 x 66 x 200 maps, five conv layers, four
    dense layers; random input spikes for its first conv layer, as ``tools/netx_check.py --skip-input`` feeds it)."""
    from neurocompile import lava_compat

    lava_compat.ensure_importable(netx=True)
    import lava.lib.dl.slayer as slayer

    torch.manual_seed(0)
    params = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03, "requires_grad": False}
    sizes = (700, 512, 256, 20)
    dense = [slayer.block.cuba.Dense(params, a, b, weight_norm=False) for a, b in zip(sizes[:-1], sizes[1:])]
    convs = [(3, 24, 3, 2, 0), (24, 36, 3, 2, 0), (36, 48, 3, 2, 0), (48, 64, 3, (2, 1), (1, 0)),
             (64, 64, 3, (2, 1), (1, 0))]  # PilotNet LIF's: in, out, kernel, stride, padding (H, W)
    pilotnet = [slayer.block.cuba.Conv(params, a, b, k, stride=s, padding=p, weight_norm=False) for a, b, k, s, p in convs]
    pilotnet += [slayer.block.cuba.Dense(params, a, b, weight_norm=False) for a, b in ((2560, 100), (100, 50), (50, 10))]
    out = {}
    for key, label, blocks, maps, rate, gain, steps in (
            ("netx.dense.cpu_vs_lava_step", "dense 700 -> 512 -> 256 -> 20", dense, None, 0.05, 6.0, 100),
            ("netx.cpu_vs_lava_step", "PilotNet LIF's shape, 3 x 66 x 200, 5 conv + 3 dense", pilotnet,
             (3, 66, 200), 0.2, 6.0, 16)):  # (16 steps: spikes reach the last of its 8 layers)
        n = int(np.prod(maps)) if maps else sizes[0]
        x = (np.random.default_rng(0).random((steps, n)) < rate).astype(np.int64)
        with torch.no_grad():
            h = torch.from_numpy(x.T.reshape(1, *(maps or (n,)), steps)).float()
            for block in blocks:  # (a dense block after convolutions reads fewer spikes: twice the gain)
                block.synapse.weight.mul_(gain if maps is None or type(block).__name__ == "Conv" else 2 * gain)
                h = block(h if type(block).__name__ == "Conv" or h.dim() == 3 else h.reshape(1, -1, steps))
        out[key] = _netx_peer(blocks, maps, x, label, repeats)
    return out


def _netx_peer(blocks, maps, x: np.ndarray, label: str, repeats: int) -> float:
    import tempfile

    from neurocompile.frontends.netx import import_netx
    from neurocompile.targets.loihi2.netx import run_network

    steps = x.shape[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/network.net"
        _slayer_file(path, blocks, maps)
        _, program, _ = import_netx(path)
        checks = []

        def lava() -> float:
            clock: list[float] = []
            checks.append(run_network(path, x, steps, clock)[-1])
            return (steps - 1) / clock[0]

        def ours() -> float:
            sim = Simulator(program, 1)
            last = np.zeros((steps, program.width(program.output.name)), np.int64)
            last[0] = sim.step(x[None, 0])[0]
            start = time.perf_counter()
            for t in range(1, steps):
                last[t] = sim.step(x[None, t])[0]
            seconds = time.perf_counter() - start
            checks.append(last)
            return (steps - 1) / seconds

        runs = interleaved({"lava": lava, "ours": ours}, max(1, repeats // 2))
    same = all(np.array_equal(checks[0], c) for c in checks) and checks[0].sum() > 0
    value = ratio(runs["ours"], runs["lava"])
    say(f"| netx network (SLAYER, {label}), one stream, per step after the first | {summary(runs['lava'])} | "
        f"{summary(runs['ours'])} | {value:,.1f}× | {same} |")
    return value


def bench_lava(tokens: int, repeats: int) -> dict[str, float]:
    """Lava against ours per step after the first: the whole zoo program, then Dense(1000) -> LIF(1000)."""
    from neurocompile.targets.loihi2.lava_engine import run_lava

    model = load_model(zoo.path())
    traced = trace(model)  # lowered as the loihi2 target builds it by default
    graph = lower(traced, TARGET.token_shift, resolve_extension_ops(TARGET, traced, None)[0])
    rng = np.random.default_rng(0)
    program, _ = TARGET.quantize(graph, calibrate(graph, torch.from_numpy(rng.integers(0, 103, (4, 64)))))
    seq = rng.integers(0, 103, tokens).tolist()
    checks = []

    def lava() -> float:
        run = run_lava(program, seq)
        sim = Simulator(program, 1, record=list(run.spikes))
        logits = np.stack([sim.step(np.array([t]))[0] for t in seq])
        checks.append(np.array_equal(logits, run.logits) and all(
            np.array_equal(np.stack(sim.recorded[k])[:, 0], v) for k, v in run.spikes.items()))
        return 1 / run.seconds_per_step

    def ours() -> float:
        sim = Simulator(program, 1)
        it = iter(seq)
        return rate(lambda: sim.step(np.array([next(it)])), tokens - 1)

    runs = interleaved({"lava": lava, "ours": ours}, repeats)
    zoo_ratio = ratio(runs["ours"], runs["lava"])
    say("| network | Lava steps/s (best / median) | ours steps/s (best / median) | ours / Lava | identical |")
    say("|---|---|---|---|---|")
    say(f"| zoo program, per step after the first | {summary(runs['lava'])} | {summary(runs['ours'])} | "
        f"{zoo_ratio:,.1f}× | {all(checks)} |")
    dense = bench_dense_lif(1000, repeats)
    return {"zoo.cpu_vs_lava_step": zoo_ratio, "dense1000.cpu_vs_lava_step": dense, **bench_netx(repeats)}


def bench_dense_lif(n: int, repeats: int, steps: int = 100) -> float:
    """Lava's own Dense(n) -> LIF(n) against ours (the same fixed-point arithmetic), per step after the first."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    from neurocompile import fixed

    from neurocompile.ops.io import QOutput, QSpikeInput
    from neurocompile.targets.loihi2.arithmetic import QLIF, QDense
    from neurocompile.quantize import Program, QNode

    rng = np.random.default_rng(0)
    w = 2 * rng.integers(-60, 61, (n, n))  # even: Lava's mixed-sign weights unchanged
    x = (rng.random((n, steps)) < 0.1).astype(np.int64)
    p = fixed.LIFParams(du=4095, dv=2048, vth=200)
    checks = []

    def lava() -> float:
        source, dense = Source(data=x), Dense(weights=w)
        lif = LIF(shape=(n,), du=p.du, dv=p.dv, vth=p.vth)
        sink = Sink(shape=(n,), buffer=steps)
        source.s_out.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        cfg = Loihi2SimCfg(select_tag="fixed_pt")
        lif.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
        start = time.perf_counter()
        lif.run(condition=RunSteps(num_steps=steps - 1), run_cfg=cfg)
        seconds = time.perf_counter() - start
        theirs = sink.data.get().astype(bool)
        lif.stop()
        checks.append(theirs)
        return (steps - 1) / seconds

    program = Program({node.name: node for node in [
        QNode("x", "SpikeInput", (), 0, QSpikeInput(n, (n,))),
        QNode("dense", "Dense", ("x",), 0, QDense((w[None] // 2).astype(np.int8), np.zeros((1, n), np.int64),
                                                  np.array([True]), fixed.STATE_BITS, np.zeros(n, np.int64))),
        QNode("lif", "LIF", ("dense",), 0, QLIF(n, p.du, p.dv, p.vth)),
        QNode("out", "Output", ("lif",), 0, QOutput(0))]}, NUMERIC)

    def ours() -> float:
        sim = Simulator(program, 1)
        spikes = np.zeros((n, steps), bool)
        spikes[:, 0] = sim.step(x[None, :, 0])[0]
        start = time.perf_counter()
        for t in range(1, steps):
            spikes[:, t] = sim.step(x[None, :, t])[0]
        seconds = time.perf_counter() - start
        spikes[:, 1:] = spikes[:, :-1].copy()  # Lava's Dense delays by one step
        spikes[:, 0] = False
        checks.append(spikes)
        return (steps - 1) / seconds

    runs = interleaved({"lava": lava, "ours": ours}, repeats)
    same = all(np.array_equal(checks[0], c) for c in checks)
    result = ratio(runs["ours"], runs["lava"])
    say(f"| Lava Dense({n}x{n}) -> LIF({n}), 10 % input spikes, per step after the first | {summary(runs['lava'])} | "
        f"{summary(runs['ours'])} | {result:,.1f}× | {same} |")
    return result


def main() -> None:
    global OUT
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", choices=["zoo", "45m", "lava", "netx", "spikedecoder", "nir", "xylo", "export"], default=None)
    ap.add_argument("--json", action="store_true", help="print one JSON object of ratios on stdout")
    args = ap.parse_args()
    OUT = sys.stderr if args.json else sys.stdout
    torch.set_num_threads(THREADS)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
               f"({torch.get_num_threads()} threads), numpy {np.__version__}, OMP_NUM_THREADS="
               f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; cpu engine dot products: {native.ENGINE}, one stream's "
               f"step split into {cores() if native.AVAILABLE else 1} parts where that runs faster (timed as it runs), "
               f"more streams split into {cores()} groups; {args.repeats} interleaved repeats, "
               f"{args.tokens} tokens each")
    say(f"machine: {machine}")
    out: dict[str, object] = {"machine": machine}
    if args.only in (None, "lava"):
        say()
        out.update(bench_lava(64, args.repeats))
    if args.only == "netx":
        say()
        out.update(bench_netx(args.repeats))
    if args.only in (None, "spikedecoder"):
        say()
        out.update(bench_spikedecoder(args.repeats))
    if args.only in (None, "nir"):
        say()
        out.update(bench_nir(args.repeats))
        say()
        out.update(bench_cnn(args.repeats))
    if args.only in (None, "xylo"):
        say()
        out.update(bench_xylo(args.repeats))
    models = {"zoo": ("zoo (L4 C128 V103)", lambda: load_model(zoo.path())),
              "45m": ("45M-shaped (L12 C512 V4096)", random_45m)}
    chosen = [k for k in models if args.only in (None, k)]
    if chosen:
        say("\n| model | streams | simulator tokens/s (best / median) | reference engine tokens/s | float step tokens/s | "
            "sim / step | float parallel tokens/s | sim / parallel |")
        say("|---|---|---|---|---|---|---|---|")
        for key in chosen:
            name, make = models[key]
            results, weight_bytes = bench_model(name, make(), args.tokens, args.repeats)
            for batch, runs in results.items():
                out[f"{key}.cpu_vs_float.streams{batch}"] = ratio(runs["simulator"], runs["float step"])
                out[f"{key}.compiled_vs_reference.streams{batch}"] = ratio(runs["simulator"], runs["reference"])
            one = results[1]
            copy, read = statistics.median(one["copy"]), statistics.median(one["read"])
            out[f"{key}.bound_fraction"] = statistics.median(one["simulator"]) / (copy / weight_bytes)
            out[f"{key}.read_bound_fraction"] = statistics.median(one["simulator"]) / (read / weight_bytes)
            say(f"  {name}: {weight_bytes / 1e6:.1f} MB of 8-bit weights per token; memory bandwidth (medians, "
                f"interleaved with the one-stream runs): numpy copy {copy / 1e9:.1f} GB/s -> at most "
                f"{copy / weight_bytes:,.0f} tokens/s, every core reading {read / 1e9:.1f} GB/s -> at most "
                f"{read / weight_bytes:,.0f}; one stream runs at {out[f'{key}.bound_fraction']:.1%} and "
                f"{out[f'{key}.read_bound_fraction']:.1%} of them")
    if args.only in (None, "export"):
        sys.path.insert(0, os.path.dirname(__file__))
        from bench_export import measure

        result = measure(18, 768, 50277, 1024)
        out["export216m.seconds"] = result["seconds"]
        out["export216m.peak_rss_over_checkpoint"] = result["peak_rss_over_checkpoint"]
        say(f"\nexport of a 216M-shaped checkpoint: {result['seconds']:.0f} s, peak RSS {result['peak_rss_bytes'] / 1e9:.2f} GB "
            f"= {result['peak_rss_over_checkpoint']:.2f}x the checkpoint ({result['checkpoint_bytes'] / 1e6:,.0f} MB)")
    if args.json:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
