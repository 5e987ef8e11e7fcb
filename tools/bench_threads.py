"""Threads of the compiled cpu engine: the streams split into 1 or 2 groups (this machine's cores), each group run by
the compiled kernels in its own thread; interleaved, 5 repeats, zoo and 45M-shaped, 16 streams (one stream is one
group whatever the setting).

    .venv/bin/python tools/bench_threads.py

Prints best and median tokens/s per thread count; run it on a quiet machine (another process on the 2 cores
makes the 2-thread runs look slow).
"""
import statistics
import sys
import time

import numpy as np
import torch

from neurocompile import load_model
from neurocompile.frontends import trace
from neurocompile.lower import lower
from neurocompile.models import zoo
from neurocompile.quantize import calibrate, quantize
from neurocompile.targets.cpu.simulator import Simulator
from neurocompile.targets.loihi2 import NUMERIC, TARGET

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from benchmark import random_45m  # noqa: E402

torch.manual_seed(0)
for name, make in (("zoo", lambda: load_model(zoo.path())), ("45m", random_45m)):
    m = make()
    g = lower(trace(m), TARGET.token_shift)
    V = m.config.vocab_size
    prog = quantize(g, NUMERIC, calibrate(g, torch.randint(0, V, (4, 32))))
    rng = np.random.default_rng(0)
    B = 16
    toks = rng.integers(0, V, (60 if name == "45m" else 200, B))
    res = {1: [], 2: []}
    for rep in range(5):
        for threads in (1, 2):
            sim = Simulator(prog, B, threads=threads)
            sim.step(toks[0])
            t0 = time.perf_counter()
            for t in toks[1:]:
                sim.step(t)
            res[threads].append((len(toks) - 1) * B / (time.perf_counter() - t0))
    print(name, B, "streams; threads -> (best, median) tokens/s:",
          {k: (round(max(v)), round(statistics.median(v))) for k, v in res.items()}, flush=True)
