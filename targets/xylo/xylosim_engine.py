"""``simulate --engine xylosim``: a xylo build run in SynSense's own bit-accurate simulator (``xylosim.v2.XyloLayer``,
the Xylo Audio 2 core model Rockpool's ``XyloSim`` wraps), one run per stream, checked against the cpu engine: every
spike of both populations and every recorded state (currents and voltages of hidden and readout neurons, each step).
"""
from __future__ import annotations

import numpy as np

from neurocompile.errors import UserError
from neurocompile.ops import Tally

from .arithmetic import XyloHidden, XyloReadout, populations


def layer(hidden, readout):
    """A ``xylosim.v2.XyloLayer`` holding the program's two populations, and the synapse objects it points to (the
    layer keeps raw pointers to them: they must outlive it)."""
    try:
        from xylosim.v2 import XyloLayer, XyloSynapse
    except ImportError:
        raise UserError("--engine xylosim needs SynSense's simulator: pip install pybind11 && pip install "
                        "--no-build-isolation xylosim==0.1.3 (make install does it)") from None

    def synapses(w):  # [pre, post, current] -> per source, its (target, current, weight) events
        return [[XyloSynapse(int(j), int(s), int(w[p, j, s])) for s in range(w.shape[2]) for j in np.flatnonzero(w[p, :, s])]
                for p in range(w.shape[0])]

    h, r = hidden.q, readout.q
    keep = (synapses(h.w_in), synapses(h.w_rec), synapses(np.asarray(r.w_out)[:, :, None]))
    aliases = [h.alias_target[h.alias_start[j]:h.alias_start[j + 1]].tolist() for j in range(len(h.threshold))]
    return XyloLayer(
        synapses_in=keep[0], synapses_rec=keep[1], synapses_out=keep[2], aliases=aliases,
        threshold=h.threshold.tolist(), threshold_out=r.threshold.tolist(), has_bias=True, bias=h.bias.tolist(),
        bias_out=r.bias.tolist(), weight_shift_inp=int(h.shift_in), weight_shift_rec=int(h.shift_rec),
        weight_shift_out=int(r.shift_out), dash_mem=h.dash_mem.tolist(), dash_mem_out=r.dash_mem.tolist(),
        dash_syns=h.dash_syn.tolist(), dash_syns_out=[[int(d)] for d in r.dash_syn], name="neurocompile"), keep


def run(hidden, readout, spikes: np.ndarray) -> dict[str, np.ndarray]:
    """One stream, spikes [T, inputs] -> xylosim's recordings: hidden and readout spikes [T, n], and the states
    (``i_syn`` per current, ``v_mem``) of both populations after each step."""
    xylo, keep = layer(hidden, readout)
    out = np.array(xylo.evolve(np.asarray(spikes, np.int64).tolist()), np.int64).reshape(len(spikes), -1)
    currents = [np.array(xylo.rec_i_syn, np.int64).T]
    if hidden.q.dash_syn.shape[1] > 1:
        currents.append(np.array(xylo.rec_i_syn2, np.int64).T)
    del keep
    return {"hidden": np.array(xylo.rec_recurrent_spikes, np.int64).reshape(len(spikes), -1), "readout": out,
            "hidden_i": np.stack(currents, -1), "hidden_v": np.array(xylo.rec_v_mem, np.int64).T,
            "readout_i": np.array(xylo.rec_i_syn_out, np.int64).T, "readout_v": np.array(xylo.rec_v_mem_out, np.int64).T}


def ours(hidden, readout, spikes: np.ndarray) -> dict[str, np.ndarray]:
    """The same recordings from the program's own integer steps (the cpu engine's)."""
    hs, rs = XyloHidden.int_initial_state(hidden.q, 1), XyloReadout.int_initial_state(readout.q, 1)
    rec: dict[str, list] = {k: [] for k in ("hidden", "readout", "hidden_i", "hidden_v", "readout_i", "readout_v")}
    for x in np.asarray(spikes, np.int64):
        h, hs = XyloHidden.int_step(hidden.q, [x[None]], hs, Tally())
        o, rs = XyloReadout.int_step(readout.q, [h], rs, Tally())
        for key, value in (("hidden", h[0]), ("readout", o[0]), ("hidden_i", hs[0][0]), ("hidden_v", hs[1][0]),
                           ("readout_i", rs[0][0, :, 0]), ("readout_v", rs[1][0])):
            rec[key].append(value)
    return {k: np.array(v, np.int64).reshape(len(spikes), *np.shape(v[0])) if v else np.zeros((0,), np.int64)
            for k, v in rec.items()}


def run_spikes(build, raster, recorded: dict) -> tuple[dict, dict, dict, list[str]]:
    """The ``xylosim`` engine of a xylo build (``Target.engines``)."""
    hidden, readout = populations(build.program)
    output = build.program.outputs[0].name
    runs = [run(hidden, readout, raster.spikes[:, b]) for b in range(raster.streams)]
    states = ("hidden_i", "hidden_v", "readout_i", "readout_v")
    same_states = {}
    for b in range(raster.streams):
        mine = ours(hidden, readout, raster.spikes[:, b])
        for key in states:
            same_states[key] = same_states.get(key, True) and bool(np.array_equal(runs[b][key], mine[key]))
    stack = {k: np.stack([r[k] for r in runs], 1) for k in ("hidden", "readout", "readout_v")}
    spiking = readout.op_class.binary_output  # else read by its voltage (Xylo's Vmem output)
    info = {"simulator": "xylosim 0.1.3 (xylosim.v2.XyloLayer)", "streams": raster.streams,
            "states_identical": same_states, "agrees": all(same_states.values())}
    lines = [f"xylosim (SynSense's Xylo core simulator, one run per stream): currents and voltages of both "
             f"populations at every step {'identical' if info['agrees'] else 'DIFFERENT'}; the output file holds "
             f"xylosim's"]
    spikes = {hidden.name: stack["hidden"], **({readout.name: stack["readout"]} if spiking else {})}
    return {output: stack["readout" if spiking else "readout_v"]}, spikes, info, lines
