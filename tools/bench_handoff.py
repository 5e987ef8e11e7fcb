"""One stream of the 45M-shaped SpikeGPT (or the zoo model), four ways, interleaved in one process (7 repeats of 60
tokens each; the zoo 600):
split with the hand-off through a Python thread pool (the engine before this change, emulated: ``pool_run``), split
with ``kernels.lead`` / ``serve`` (``split=True``), the default (``split=None``: timed as it runs, ``_Way``) and whole
(``split=False``).  The counters of all four must agree.

    python tools/bench_handoff.py [--model zoo]
    python3 -c "while True: pass" & python tools/bench_handoff.py; kill %1     # another process busy on one core

BENCHMARKS.md holds the figures (issue 26)."""
import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from benchmark import load_model, program_of, random_45m  # noqa: E402

from neurocompile.models import zoo  # noqa: E402
from neurocompile.targets.cpu import kernels, native  # noqa: E402
from neurocompile.targets.cpu.simulator import Simulator  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--model", choices=("45m", "zoo"), default="45m")
args = ap.parse_args()
model = random_45m() if args.model == "45m" else load_model(zoo.path())
tokens = 60 if args.model == "45m" else 600
print(f"{os.cpu_count()} cores; cpu engine dot products: {native.ENGINE}; {args.model}: tokens/s over 7 interleaved "
      f"repeats of {tokens}")
program = program_of(model)
pool = ThreadPoolExecutor(1)
def pool_run(self, first, end):
    """The split step as it was handed over before: part 1 submitted to a thread pool each step."""
    sync = np.zeros(kernels.SYNC_WORDS, np.int64)
    def part(p):
        return kernels.run(self.kernels, first, end, self.code, self.V, self.S, self.P, self.W, self._counters[p],
                           self.substeps, p, self.parts, sync.ctypes.data)
    other = pool.submit(part, 1)
    failed = [part(0), other.result()]
    assert max(failed) < 0
sims = {"pool": Simulator(program, 1, split=True), "lead/serve": Simulator(program, 1, split=True),
        "adaptive": Simulator(program, 1), "whole": Simulator(program, 1, split=False)}
sims["pool"]._run = pool_run.__get__(sims["pool"])
rng = np.random.default_rng(0)
toks = rng.integers(0, model.config.vocab_size, (tokens, 1))
for s in sims.values():
    for t in toks[:10]: s.step(t)
times = {k: [] for k in sims}
for rep in range(7):
    for name, sim in sims.items():
        t0 = time.perf_counter()
        for t in toks: sim.step(t)
        times[name].append(len(toks) / (time.perf_counter() - t0))
for name, v in times.items():
    print(f"{name:>10}: median {statistics.median(v):.0f}, best {max(v):.0f}")
ref = sims["whole"].totals
for name, sim in sims.items():
    assert np.array_equal(sim.totals, ref), name
print("same counters: True")
