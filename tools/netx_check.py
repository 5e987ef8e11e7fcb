"""A lava-dl netx network on our engine against netx itself running the same file in Lava: every layer, every step.

    python tools/netx_check.py NETWORK.net [--steps 12] [--input-spikes FILE.npy] [--rate 0.2] [--skip-input] [--json]

The network is imported as ``neurocompile export`` imports it (``frontends/netx``) and run on the cpu engine; the
same file is loaded by ``netx.hdf5.Network`` and run in Lava's simulator (``Loihi2SimCfg``, fixed_pt).  Input: a
spike file -- ``[T, n]`` in our C x H x W order, or netx's ``(x, y, c, T)`` maps (lava-dl's ground-truth layout, e.g.
``tests/lava/lib/dl/netx/gts/pilotnet_lif/input.npy``) -- or Poisson spikes at ``--rate``.  ``--skip-input``: the
file's input layer (a neuron netx's Input block runs, which does not compile in lava-nc 0.10) replaced by its shape,
so the spikes are that layer's output.  Prints per layer: identical or not, spikes, and both engines' times.
Measured on lava-dl's PilotNet LIF (docs/netx.md).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np


def _without_input_neuron(path: Path, out: Path) -> Path:
    shutil.copy(path, out)
    with h5py.File(out, "a") as f:
        first = f["layer/0"]
        for key in [k for k in first if k not in ("type", "shape")]:
            del first[key]
    return out


def _spikes(args, n: int, maps: tuple[int, ...]) -> np.ndarray:
    if args.input_spikes is None:
        return (np.random.default_rng(args.seed).random((args.steps, n)) < args.rate).astype(np.int64)
    a = np.load(args.input_spikes)
    if a.ndim == 4:  # netx's (x, y, c, T) -> [T, C*H*W]
        a = a.transpose(3, 2, 1, 0).reshape(a.shape[-1], -1)
    if a.shape[1] != n:
        sys.exit(f"{args.input_spikes}: {a.shape[1]} inputs per step, the network reads {n} ({maps})")
    return (a[:args.steps] != 0).astype(np.int64)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("network", type=Path)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--input-spikes", type=Path)
    p.add_argument("--rate", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-input", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    from neurocompile.frontends.netx import import_netx
    from neurocompile.targets.cpu.simulator import Simulator
    from neurocompile.targets.loihi2.netx import run_network

    with tempfile.TemporaryDirectory() as tmp:
        path = _without_input_neuron(args.network, Path(tmp) / "skip.net") if args.skip_input else args.network
        _, program, _ = import_netx(path)
        q = program.nodes["input"].q
        x = _spikes(args, q.n, q.shape)
        neurons = [name for name, node in program.nodes.items() if node.kind == "CUBA"]
        start = time.perf_counter()
        sim = Simulator(program, 1, record=neurons)
        for t in range(len(x)):
            sim.step(x[t][None])
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        theirs = run_network(path, x, len(x))
        netx_s = time.perf_counter() - start
    layers = []
    for name, out in zip(neurons, theirs):
        ours = np.stack(sim.recorded[name])[:, 0]
        layers.append({"layer": name, "neurons": int(ours.shape[1]), "identical": bool(np.array_equal(ours, out)),
                       "spikes_ours": int(ours.sum()), "spikes_netx": int(out.sum())})
    result = {"network": str(args.network), "steps": int(len(x)), "input_spikes": int(x.sum()), "layers": layers,
              "identical": all(layer["identical"] for layer in layers), "seconds": {"ours": round(ours_s, 2),
                                                                                   "netx_in_lava": round(netx_s, 2)}}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.network}: {len(x)} steps, {int(x.sum()):,} input spikes; our engine {ours_s:.2f} s, netx in "
              f"Lava {netx_s:.2f} s")
        for layer in layers:
            print(f"  {layer['layer']:10s} {layer['neurons']:7,d} neurons  {layer['spikes_ours']:8,d} spikes  "
                  f"{'identical' if layer['identical'] else 'DIFFERENT (netx: %d spikes)' % layer['spikes_netx']}")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
