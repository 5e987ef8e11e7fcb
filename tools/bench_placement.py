"""Messages per token of the loihi2 partition: neuron programs beside what feeds them and x86 ops on the chip of
their input (now), against the same partitioner knowing no producers (neuron programs packed from core 0 on,
every x86 op on chip 0), same programs, same counting.

    .venv/bin/python tools/bench_placement.py

Programs: the zoo model on oheo-gulch, and the 45M-shaped SpikeGPT of tools/benchmark.py (random weights) on
kapoho-point, each calibrated on seeded random tokens.
"""
from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).parent))
from benchmark import random_45m  # noqa: E402

from neurocompile import load_model  # noqa: E402
from neurocompile.frontends import trace  # noqa: E402
from neurocompile.lower import lower  # noqa: E402
from neurocompile.models import zoo  # noqa: E402
from neurocompile.pipeline import resolve_extension_ops  # noqa: E402
from neurocompile.quantize import calibrate  # noqa: E402
from neurocompile.targets.loihi2 import RESOURCES, TARGET  # noqa: E402
from neurocompile.targets.loihi2 import partition as P  # noqa: E402


def main() -> None:
    keys = ("same_core", "across_cores", "across_chips", "to_cpu_or_host", "from_cpu_or_host")
    print("| model | placement | cores | chips | " + " | ".join(keys) + " |")
    print("|---|---|---|---|" + "---|" * len(keys))
    for name, make, system in (("zoo", lambda: load_model(zoo.path()), "oheo-gulch"),
                               ("45M-shaped", random_45m, "kapoho-point")):
        model = make()
        traced = trace(model)
        graph = lower(traced, TARGET.token_shift, resolve_extension_ops(TARGET, traced, None)[0])
        tokens = torch.randint(0, model.config.vocab_size, (4, 32), generator=torch.Generator().manual_seed(0))
        program, _ = TARGET.quantize(graph, calibrate(graph, tokens))
        for label, producers in (("no producers known", lambda p, n: []), ("beside its producer (now)", None)):
            with mock.patch.object(P, "_producers", producers or P._producers):
                placed = P.partition(program, RESOURCES, system)
            print(f"| {name} | {label} | {len(placed.cores)} | {placed.chips} | "
                  + " | ".join(f"{placed.traffic[k]:,}" for k in keys) + " |", flush=True)


if __name__ == "__main__":
    main()
