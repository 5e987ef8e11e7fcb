"""Train the zoo's small recurrent spiking classifier in snnTorch and export it to NIR with snnTorch's exporter.

The task is synthetic and generated here (nothing downloaded): 12 input channels in 3 groups of 4; a sample of
class c has group c firing (rate 0.3) in the first half of its 40 steps and group (c + 1) mod 3 in the second
half, over a background of rate 0.15 everywhere -- so the order of the two bursts, not only which groups fire,
tells the classes apart (c -> c+1 and c+1 -> c+2 share a group).  The network: Linear 12->24, RLeaky (24,
recurrent), Linear 24->3, Leaky (3), classes by spike count.  Both cells use ``reset_delay=False``: NIR has no
delayed reset; and the recurrent weights have no bias (held at zero): snnTorch's RLeaky adds that bias from the first
step, while NIR's interpreters read a loop as zero at the first step -- so the trained network is the exported
graph's semantics exactly.

    python tools/train_zoo_nir.py --out models/zoo/rleaky-patterns

writes ``<out>.nir`` (snnTorch's export), ``<out>.test.npz`` (a held-out raster ``input`` [T, B, 12] and its
``labels`` [B]), ``<out>.sample.npz`` (its first four streams) and ``<out>.card.json`` (task, accuracy of the snnTorch network on the held-out raster, command).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

STEPS, GROUPS, PER_GROUP, HIDDEN = 40, 3, 4, 24


def samples(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """[T, n, 12] spikes and [n] labels."""
    labels = torch.randint(0, GROUPS, (n,), generator=gen)
    rate = torch.full((STEPS, n, GROUPS * PER_GROUP), 0.15)
    for i, c in enumerate(labels.tolist()):
        first, second = c, (c + 1) % GROUPS
        rate[: STEPS // 2, i, first * PER_GROUP:(first + 1) * PER_GROUP] = 0.3
        rate[STEPS // 2:, i, second * PER_GROUP:(second + 1) * PER_GROUP] = 0.3
    return (torch.rand(rate.shape, generator=gen) < rate).float(), labels


def network() -> torch.nn.Sequential:
    import snntorch as snn

    net = torch.nn.Sequential(
        torch.nn.Linear(GROUPS * PER_GROUP, HIDDEN),
        snn.RLeaky(beta=torch.full((HIDDEN,), 0.9), linear_features=HIDDEN, threshold=torch.ones(HIDDEN),
                   init_hidden=True, reset_mechanism="zero", reset_delay=False),
        torch.nn.Linear(HIDDEN, GROUPS),
        snn.Leaky(beta=torch.full((GROUPS,), 0.9), threshold=torch.ones(GROUPS), init_hidden=True, output=True,
                  reset_mechanism="zero", reset_delay=False))
    with torch.no_grad():  # no recurrent bias (see the docstring): zero, and not trained
        net[1].recurrent.bias.zero_()
    net[1].recurrent.bias.requires_grad_(False)
    return net


def run(net: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Spike counts [B, classes] over the T steps of x [T, B, n]."""
    from snntorch import utils

    utils.reset(net)
    return torch.stack([net(x[t])[0] for t in range(len(x))]).sum(0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("models/zoo/rleaky-patterns"))
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import nir
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    net = network()
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    start = time.perf_counter()
    for it in range(args.iterations):
        x, y = samples(64, gen)
        loss = torch.nn.functional.cross_entropy(run(net, x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 50 == 0:
            print(f"iteration {it}: loss {loss.item():.3f}", file=sys.stderr)
    x_test, y_test = samples(96, torch.Generator().manual_seed(args.seed + 1))
    with torch.no_grad():
        accuracy = float((run(net, x_test).argmax(1) == y_test).float().mean())
    graph = export_to_nir(net, torch.zeros(GROUPS * PER_GROUP))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(args.out.with_suffix(".nir")), graph)
    np.savez_compressed(args.out.with_suffix(".test.npz"), input=x_test.numpy().astype(np.uint8),
                        labels=y_test.numpy().astype(np.int64))
    np.savez_compressed(args.out.with_suffix(".sample.npz"), input=x_test[:, :4].numpy().astype(np.uint8),
                        labels=y_test[:4].numpy().astype(np.int64))  # four streams: a quick run through Lava
    card = {"framework": "snnTorch", "exported_with": "snntorch.export_nir.export_to_nir",
            "network": "Linear 12->24, RLeaky 24 (recurrent without bias, reset to zero, reset_delay=False), Linear 24->3, "
                       "Leaky 3",
            "task": __doc__.split("\n\n")[1].replace("\n", " "),
            "test_samples": len(y_test), "steps_per_sample": STEPS, "test_accuracy_snntorch": round(accuracy, 4),
            "iterations": args.iterations, "seed": args.seed, "train_seconds": round(time.perf_counter() - start, 1),
            "versions": {"python": platform.python_version(), "torch": torch.__version__},
            "command": f"python tools/train_zoo_nir.py --out {args.out} --iterations {args.iterations}"}
    args.out.with_suffix(".card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"test accuracy {accuracy:.3f}; wrote {args.out}.nir, .test.npz, .sample.npz, .card.json", file=sys.stderr)


if __name__ == "__main__":
    main()
