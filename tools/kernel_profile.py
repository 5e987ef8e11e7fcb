"""Where one token's time goes on the cpu engine: the 45M-shaped SpikeGPT's compiled rows timed kind by kind (each
kind's rows run alone, back to back, on one stream's arrays as a step leaves them, split over the step's parts as a
step splits them), beside a whole step.

    python tools/kernel_profile.py [--repeats 200] [--threads N]

The Dense rows' bytes over their time is the bandwidth they reach; the rest is what one stream pays beyond
streaming its weights (BENCHMARKS.md, issue 26).  Kinds run alone are faster than inside a step (their data stays in
cache, where a step's weights push it out), so the parts sum to less than the step."""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from benchmark import program_of, random_45m  # noqa: E402

from neurocompile.ops import Dense  # noqa: E402
from neurocompile.targets.cpu import native  # noqa: E402
from neurocompile.targets.cpu.simulator import Simulator  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--threads", type=int, default=None, help="parts one stream's step is split into")
    args = ap.parse_args()
    program = program_of(random_45m())
    sim = Simulator(program, 1, threads=args.threads, split=True)
    rng = np.random.default_rng(0)
    for token in rng.integers(0, 4096, (5, 1)):
        sim.step(token)
    kinds = [sim.nodes[row[3]].kind for row in sim.rows]

    whole = sim.kernels

    def ms(rows: list[int]) -> float:
        sim.kernels = whole[rows].copy()  # these rows alone, with their flags (values from earlier steps are whole)
        start = time.perf_counter()
        for _ in range(args.repeats):
            sim._run(0, len(rows))
        sim.kernels = whole
        return (time.perf_counter() - start) / args.repeats * 1e3

    print(f"dot products: {native.ENGINE}; one stream's step in {sim.parts} parts; {args.repeats} repeats")
    weights = sum(n.q.halves.size for n in program.nodes.values() if n.op_class is Dense)
    dense = ms([i for i, k in enumerate(kinds) if k == "Dense"])
    print(f"| kind | rows | ms per token |\n|---|---|---|\n| Dense | {kinds.count('Dense')} | {dense:.3f} "
          f"({weights / 1e6:.1f} MB: {weights / dense / 1e6:.1f} GB/s) |")
    rest = 0.0
    for kind in sorted(set(kinds) - {"Dense"}, key=lambda k: -kinds.count(k)):
        t = ms([i for i, k in enumerate(kinds) if k == kind])
        rest += t
        print(f"| {kind} | {kinds.count(kind)} | {t:.3f} |")
    tokens = rng.integers(0, 4096, (args.repeats // 2, 1))
    start = time.perf_counter()
    for token in tokens:
        sim.step(token)
    step = (time.perf_counter() - start) / len(tokens) * 1e3
    print(f"| all but Dense | | {rest:.3f} |\n| a whole step | | {step:.3f} ({1e3 / step:.0f} tokens/s) |")


if __name__ == "__main__":
    main()
