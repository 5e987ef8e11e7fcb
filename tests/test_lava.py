"""Lava is really installed and runs: Dense -> LIF under Loihi2SimCfg(select_tag='fixed_pt').

The expected spikes come from Lava's documented fixed-point equations (../shared/reference/lava.md),
written out here in numpy, not from neurocompile.
"""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.lava


def _lava_dense_lif(weights, spikes_in, du, dv, vth, bias_mant, bias_exp):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    n_out, n_in = weights.shape
    steps = spikes_in.shape[1]
    source = Source(data=spikes_in)
    dense = Dense(weights=weights)
    lif = LIF(shape=(n_out,), du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp)
    sink = Sink(shape=(n_out,), buffer=steps)
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    try:
        lif.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return sink.data.get().astype(np.int64)
    finally:
        lif.stop()


def _documented_dense_lif(weights, spikes_in, du, dv, vth, bias_mant, bias_exp):
    n_out, _ = weights.shape
    # Dense with mixed-sign weights and the default 8 weight bits keeps 7 bits of magnitude: the LSB is dropped
    assert weights.min() < 0 < weights.max()
    weights = (np.clip(weights, -256, 255) >> 1) << 1
    steps = spikes_in.shape[1]
    u = np.zeros(n_out, np.int64)
    v = np.zeros(n_out, np.int64)
    dense_buffer = np.zeros(n_out, np.int64)
    out = np.zeros((n_out, steps), np.int64)
    for t in range(1, steps + 1):
        s = spikes_in[:, (t - 1) % steps]  # source RingBuffer sends data[..., (t-1) % T]
        a_in, dense_buffer = dense_buffer, weights[:, s != 0].sum(1)  # Dense: one step of delay
        x = u * (4096 - (du + 1))
        u = np.sign(x) * (np.abs(x) >> 12) + (a_in << 6)
        u = np.where(u > 2**23, u - 2**24, np.where(u <= -(2**23), u + 2**24, u))
        y = v * (4096 - dv)
        v = np.clip(np.sign(y) * (np.abs(y) >> 12) + u + (bias_mant << bias_exp), -(2**23) + 1, 2**23 - 1)
        fired = v > (vth << 6)
        v = np.where(fired, 0, v)
        out[:, t - 1] = fired
    return out


def test_dense_lif_runs_in_lava_with_documented_fixed_point_semantics():
    rng = np.random.default_rng(7)
    n_in, n_out, steps = 12, 6, 24
    weights = rng.integers(-60, 120, size=(n_out, n_in))
    spikes_in = (rng.random((n_in, steps)) < 0.4).astype(np.int64)
    params = dict(du=1024, dv=512, vth=300, bias_mant=3, bias_exp=4)
    expected = _documented_dense_lif(weights, spikes_in, **params)
    got = _lava_dense_lif(weights, spikes_in, **params)
    assert 0 < expected.sum() < expected.size  # some, not all, neurons fire
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("method, ok", [("fork", True), ("spawn", False)])
def test_lava_imports_after_the_start_method_was_set(method, ok):
    """Lava sets multiprocessing's start method on import and fails if something set it first: an earlier 'fork'
    is handed over, anything else is one clear error."""
    import subprocess
    import sys

    code = (f"import multiprocessing as mp; mp.set_start_method({method!r})\n"
            "from neurocompile import lava_compat\nfrom neurocompile.errors import UserError\n"
            "try:\n    lava_compat.ensure_importable(); print('imported', mp.get_start_method())\n"
            "except UserError as e:\n    print('refused:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    expected = "imported fork" if ok else "refused: Lava's simulator needs multiprocessing's 'fork' start method"
    assert expected in out.stdout and "Traceback" not in out.stderr, out.stdout + out.stderr
