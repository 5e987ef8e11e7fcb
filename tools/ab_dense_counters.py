"""A/B of one change in one process: Dense.int_step counting NeuroBench's effective synaptic operations (new)
against the same step without that counter (old), on the zoo program, 200 tokens, 5 interleaved repeats.

    OMP_NUM_THREADS=2 .venv/bin/python tools/ab_dense_counters.py
"""
import statistics
import time

import numpy as np
import torch

from neurocompile import load_model
from neurocompile.models import zoo
from neurocompile.frontends import trace
from neurocompile.lower import lower
from neurocompile.quantize import calibrate, quantize
from neurocompile.targets.loihi2 import NUMERIC
from neurocompile.targets.cpu.simulator import ReferenceSimulator as Simulator  # the numpy Dense this A/B measured
from neurocompile import fixed
from neurocompile.targets.loihi2.arithmetic.synapses import DenseForm as Dense  # Dense's integer form on Loihi 2
torch.set_num_threads(2)
torch.manual_seed(0)
model = load_model(zoo.path())
g = lower(trace(model))
program = quantize(g, NUMERIC, calibrate(g, torch.randint(0, model.config.vocab_size, (4, 64))))
new = Dense.int_step
def old(q, inputs, state, tally):
    acc = None
    for w, e, binary, x in zip(q.blas_weights, q.exps, q.binary, inputs):
        active = np.count_nonzero(x)
        if binary:
            tally.binary_events += active * w.shape[0]
        else:
            tally.graded_events += active * w.shape[0]
            tally.graded_messages += active
        y = fixed.dense(w, e, x, graded=not binary)
        acc = y if acc is None else acc + y
    return Dense.accumulate(q, acc, tally), state
rng = np.random.default_rng(0)
for streams in (1, 16):
    toks = rng.integers(0, model.config.vocab_size, (200, streams))
    res = {"old": [], "new": []}
    for rep in range(5):
        for name, fn in (("old", old), ("new", new)):
            Dense.int_step = staticmethod(fn)
            sim = Simulator(program, streams)
            t0 = time.perf_counter()
            for t in range(200):
                sim.step(toks[t])
            res[name].append(200 * streams / (time.perf_counter() - t0))
    Dense.int_step = staticmethod(new)
    print(streams, {k: (round(max(v)), round(statistics.median(v))) for k, v in res.items()}, "tokens/s (max, median)")
