"""How much of a Rockpool network survives on Xylo: our path (Rockpool's own NIR export -> neurocompile export
--target xylo -> our integer engine, = xylosim) beside Rockpool's own (``mapper`` + ``global_quantize`` ->
``XyloSim.from_specification``, SynSense's deployment path), both against Rockpool's float run of the same network.

    python tools/xylo_fidelity.py [--networks 8] [--first-seed 0] [--samples 64] [--steps 100] [--json]

Networks: Rockpool ``LIFTorch`` 12 -> hidden -> 4, per-neuron time constants, random weights (seeded), at most one
spike per step (what NIR's CubaLIF holds), dt 1 ms (Rockpool's NIR file does not hold it: given to the export).
Feed-forward: Rockpool 3.1's ``to_nir`` drops a LIFTorch's recurrent weights (``w_rec``) without a word, so a
recurrent Rockpool network cannot reach any NIR reader whole (the recurrent path is checked on snnTorch's networks).  Inputs: Poisson spikes, 20 % per channel and step.
Our path reads the file Rockpool writes with one correction, stated in ``rockpool_nir`` (``--as-written`` skips it).
Metrics, per network, summed over samples: the Pearson r of output spike counts per (sample, neuron), the fraction
of samples whose most active output is the float run's (``argmax``), and the raster match with Xylo's one-step
readout lag removed.  The zoo's snnTorch classifier is not in the table: Rockpool 3.1's NIR reader takes CubaLIF
only (``rockpool.nn.modules.torch.nir``: "'LIF' object has no attribute 'tau_mem'").
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch


def _rockpool_xylo():
    """Rockpool 3.1.0's ``rockpool.devices.xylo`` imports samna in ``syns65302`` outside its try block: an empty
    placeholder for that one subpackage, at import time (Rockpool's files are not touched; samna is never installed)."""
    name = "rockpool.devices.xylo.syns65302"
    if name not in sys.modules:
        placeholder = types.ModuleType(name)
        placeholder.__path__ = []
        sys.modules[name] = placeholder
    import rockpool.devices.xylo.syns61201 as xa2
    from rockpool.transform import quantize_methods

    return xa2, quantize_methods


def network(seed: int, hidden: int, dt: float = 1e-3):
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch

    torch.manual_seed(seed)

    def lif(n):
        return LIFTorch(n, tau_mem=torch.rand(n) * 0.03 + 0.01, tau_syn=torch.rand(n) * 0.01 + 0.004, dt=dt,
                        max_spikes_per_dt=1.0)

    net = Sequential(LinearTorch((12, hidden), has_bias=False), lif(hidden), LinearTorch((hidden, 4), has_bias=False),
                     lif(4))
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[2].weight.mul_(5.0)
    return net


def rockpool_float(net, raster: np.ndarray) -> np.ndarray:
    """raster [T, B, 12] -> Rockpool's float output spikes [T, B, 4]."""
    out, _, _ = net(torch.tensor(raster.transpose(1, 0, 2), dtype=torch.float32))
    return out.detach().numpy().transpose(1, 0, 2)


def rockpool_xylo(net, raster: np.ndarray) -> np.ndarray:
    """SynSense's own path: mapper + global_quantize -> XyloSim, one stream at a time."""
    xa2, q = _rockpool_xylo()
    spec = xa2.mapper(net.as_graph(), weight_dtype="float", threshold_dtype="float", dash_dtype="float")
    spec.update(q.global_quantize(**spec))
    spec.pop("mapped_graph", None)
    sim = xa2.XyloSim.from_specification(**spec)
    outs = []
    for b in range(raster.shape[1]):
        sim.reset_state()
        out, _, _ = sim(raster[:, b])
        outs.append(np.asarray(out))
    return np.stack(outs, 1)


def rockpool_nir(net, dt: float = 1e-3, as_written: bool = False):
    """Rockpool's own NIR export of `net`, with the input gain its CubaLIF nodes lack put back (``w_in = tau_syn /
    dt``): Rockpool 3.1's ``to_nir`` writes ``r`` for the voltage but leaves ``w_in`` at 1, so NIR's ``tau_syn dI/dt =
    -I + w_in x`` receives ``dt / tau_syn`` of the input Rockpool's LIFTorch adds to its current (``isyn += x``).
    With the gain the file's float semantics match Rockpool's run (count r 0.997-1.000 on the networks here); as
    written, 0.62-0.99.  `as_written`: the file as Rockpool writes it."""
    import nir
    from rockpool.nn.modules.torch.nir import to_nir

    graph = to_nir(net, torch.zeros(1, 12))
    if not as_written:
        for node in graph.nodes.values():
            if isinstance(node, nir.CubaLIF):
                node.w_in = np.asarray(node.tau_syn, np.float64) / dt
    return graph


def ours(net, raster: np.ndarray, folder: Path, as_written: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(our integer engine's outputs, the NIR file's float semantics as we read it), both [T, B, 4]."""
    import nir

    import neurocompile
    from neurocompile.frontends.nir import read_nir_file

    path = folder / "net.nir"
    nir.write(str(path), rockpool_nir(net, as_written=as_written))
    build = neurocompile.export(read_nir_file(path), target="xylo", output=folder / "build", reset="subtract",
                                dt=1e-3)
    ints = build.simulate(input_spikes=raster, engine="cpu").outputs["output"]
    floats = build.simulate(input_spikes=raster, engine="float").outputs["output"]
    return ints, floats


def metrics(xylo: np.ndarray, floats: np.ndarray) -> dict:
    a, b = xylo.sum(0).ravel().astype(float), floats.sum(0).ravel().astype(float)
    r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    argmax = float((xylo.sum(0).argmax(-1) == floats.sum(0).argmax(-1)).mean())
    match = float(((xylo[1:] > 0) == (floats[:-1] > 0)).mean())  # Xylo's readout lags a step
    return {"count_r": r, "argmax": argmax, "raster_match": match, "spikes": int(xylo.sum()), "float_spikes": int(floats.sum())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", type=int, default=8)
    p.add_argument("--first-seed", type=int, default=0, help="networks seeded first-seed .. first-seed + networks - 1")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--as-written", action="store_true",
                   help="Rockpool's NIR file as it writes it (without the input gain rockpool_nir puts back)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.networks):
        net = network(seed, args.hidden)
        raster = (np.random.default_rng(seed).random((args.steps, args.samples, 12)) < 0.2).astype(np.int64)
        floats = rockpool_float(net, raster)
        with tempfile.TemporaryDirectory() as tmp:
            mine, nir_floats = ours(net, raster, Path(tmp), args.as_written)
        theirs = rockpool_xylo(net, raster)
        rows.append({"seed": seed, "neurocompile": metrics(mine, floats), "rockpool": metrics(theirs, floats),
                     "nir_file": metrics(nir_floats, floats)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{args.networks} Rockpool LIFTorch networks 12-{args.hidden}-4, {args.samples} Poisson samples x "
          f"{args.steps} steps each; against Rockpool's float run")
    print(f"{'seed':>4}  {'ours: count r':>13} {'argmax':>7} {'raster':>7}   {'Rockpool: count r':>17} {'argmax':>7} "
          f"{'raster':>7}   {'NIR file: count r':>17}   spikes float / ours / Rockpool")
    for row in rows:
        m, t, f = row["neurocompile"], row["rockpool"], row["nir_file"]
        print(f"{row['seed']:>4}  {m['count_r']:>13.3f} {m['argmax']:>7.1%} {m['raster_match']:>7.1%}   "
              f"{t['count_r']:>17.3f} {t['argmax']:>7.1%} {t['raster_match']:>7.1%}   {f['count_r']:>17.3f}   "
              f"{m['float_spikes']:,} / {m['spikes']:,} / {t['spikes']:,}")
    print(f"(NIR file: the float semantics of the file Rockpool wrote{' as written' if args.as_written else ', its input gain put back'}, "
          f"as NIR defines them, against Rockpool's own run; its raster is not lagged, so only its count r is shown)")
    for who in ("neurocompile", "rockpool", "nir_file"):
        med = {k: float(np.nanmedian([r[who][k] for r in rows])) for k in ("count_r", "argmax", "raster_match")}
        print(f"median {who}: count r {med['count_r']:.3f}, argmax {med['argmax']:.1%}, raster {med['raster_match']:.1%}")


if __name__ == "__main__":
    main()
