"""Agreement of the integer engine with the float semantics on networks that snnTorch exports itself.

    .venv/bin/python tools/nir_agreement.py [--seeds 5] [--steps 200] [--streams 8]

For each network family and seed: snnTorch (or Sinabs, for the CNN; Rockpool, for its LIFTorch MLP) builds a
network (random weights, scaled so that every layer fires) and exports it with its own NIR exporter; neurocompile
exports it to loihi2 (calibrated on Poisson input, rate 0.2, seed 0) and evaluates it on a *different* Poisson raster
(rate 0.3).  Prints per family the min / median over seeds of the output's raster match, spike-count Pearson r,
argmax agreement and relative count difference: the figures docs/nir.md quotes, and the tolerances the tests hold.

Then, for Rockpool, the graph's float semantics against Rockpool's own simulation of the network it exported (a
different discretisation: docs/nir.md says how), on the same rasters.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
warnings.filterwarnings("ignore")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--streams", type=int, default=8)
    args = ap.parse_args()
    from snntorch.export_nir import export_to_nir
    from test_nir_import import _recurrent_net, _rockpool_file, _rockpool_net, _sinabs_cnn, _snntorch_mlp

    import neurocompile

    def snntorch(make, width):
        return lambda seed: export_to_nir(make(seed), torch.zeros(width))

    families = {
        "Leaky MLP 12-32-5 (NIR LIF)": (snntorch(lambda s: _snntorch_mlp(s, sizes=(12, 32, 5), cell="Leaky"), 12), 12),
        "Synaptic MLP 12-32-5 (NIR CubaLIF)":
            (snntorch(lambda s: _snntorch_mlp(s, sizes=(12, 32, 5), cell="Synaptic"), 12), 12),
        "RLeaky 6-10(rec)-3 (NIR LIF + loop)": (snntorch(lambda s: _recurrent_net("RLeaky", s), 6), 6),
        "RSynaptic 6-10(rec)-3 (NIR CubaLIF + loop)": (snntorch(lambda s: _recurrent_net("RSynaptic", s), 6), 6),
        "Sinabs CNN 2x8x8-c4-pool-5 (NIR IF)": (_sinabs_cnn, 128),
        "Rockpool LIFTorch 16-24-6 (NIR CubaLIF)": (lambda seed: _rockpool_graph(_rockpool_file, seed), 16),
    }
    options = {"Rockpool LIFTorch 16-24-6 (NIR CubaLIF)": {"dt": 1e-3, "reset": "subtract"}}
    print(f"steps {args.steps}, streams {args.streams}, seeds 0..{args.seeds - 1}; input Poisson rate 0.3")
    print(f"{'network':<44}{'raster match':>22}{'count r':>20}{'argmax':>16}{'count diff':>22}")
    for title, (make, width) in families.items():
        rows = []
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                build = neurocompile.export(make(seed), target="loihi2", output=Path(tmp) / "b", **options.get(title, {}))
                raster = (np.random.default_rng(100 + seed).random((args.steps, args.streams, width)) < 0.3)
                out = build.evaluate(input_spikes=raster.astype(np.int64)).outputs["output"]
            if out["count_total_float"] > 0:  # a silent output agrees trivially: left out, and counted
                rows.append(out)

        def cell(key: str, fmt: str) -> str:
            values = [r[key] for r in rows if r[key] is not None]
            if not values:
                return "-"
            return f"{format(min(values), fmt)} / {format(statistics.median(values), fmt)}"

        print(f"{title:<44}{cell('raster_match', '.4f'):>22}{cell('count_pearson_r', '.4f'):>20}"
              f"{cell('argmax_agreement', '.3f'):>16}{cell('count_difference_relative', '+.4f'):>22}"
              f"{f'  ({args.seeds - len(rows)} silent seed(s) left out)' if len(rows) < args.seeds else ''}")
    print("(min / median over seeds)")
    _rockpool_against_its_simulation(args, _rockpool_file, _rockpool_net)


def _rockpool_graph(write, seed: int):
    from neurocompile.frontends.nir import read_nir_file

    with tempfile.TemporaryDirectory() as tmp:
        path, _ = write(Path(tmp) / "rockpool.nir", seed)
        return read_nir_file(path)


def _rockpool_against_its_simulation(args, write, make_net) -> None:
    """Our float engine (NIR's equations at dt = 1 ms, reset by subtraction) against Rockpool's own evolve()."""
    from neurocompile.frontends.nir import import_graph, read_nir_file
    from neurocompile.graph import FloatRun
    from neurocompile.tasks.spikes.semantics import agreement

    rows = []
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            path, net = write(Path(tmp) / "rockpool.nir", seed)
            graph = import_graph(read_nir_file(path), dt=1e-3, reset="subtract")
        raster = (np.random.default_rng(100 + seed).random((args.steps, args.streams, 16)) < 0.3)
        x = torch.from_numpy(raster.astype(np.float32))
        with torch.no_grad():
            theirs, _, _ = net(x.transpose(0, 1))
        run = FloatRun(graph, args.streams)
        ours = np.stack([run.step(x[t].double()).numpy() for t in range(args.steps)])
        rows.append(agreement(ours.astype(np.int64), theirs.numpy().transpose(1, 0, 2).astype(np.int64)))
    print(f"\nRockpool's own simulation against the graph's float semantics (ours), {args.seeds} seeds:")
    for key in ("raster_match", "count_pearson_r", "argmax_agreement", "count_difference_relative"):
        values = [r[key] for r in rows if r[key] is not None]
        print(f"  {key:<28} min {min(values):+.4f}  median {statistics.median(values):+.4f}")


if __name__ == "__main__":
    main()
