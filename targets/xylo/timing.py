"""Time per step on a Xylo core: SynSense's own cycle-count model of the SNN core, at the run's activity.

The model (Rockpool 3.1.0, ``rockpool/devices/xylo/syns61201/power_cycles_model.py``, ``cycles_model``: SynSense's
estimate of the master-clock cycles the Xylo Audio 2 core takes per time step; read, re-derived here, not copied):

* input spikes: per input channel, 1 cycle plus 3.5 per hidden neuron when the channel spikes;
* hidden currents: per hidden neuron, 3 cycles plus 7 per recurrent target when it spiked;
* readout currents: per hidden neuron that spiked, 1 cycle plus 8 per readout neuron;
* hidden neurons: 19 cycles each, plus 2 + 1 (spike) and the alias terms (2, 3, 1 weighted by alias sources and
  targets) at the spiking probability;
* readout neurons: 12 cycles each.

Probabilities are per neuron and step, a neuron that spiked counting once however many spikes it sent (as the model
counts them).  They are recovered from the run's synaptic operations (one per source that spiked and nonzero weight):
the readout's, over the readout weights, give the hidden probability; the hidden population's, less the recurrent
ones that gives, over the input weights, the input's -- exact where every neuron of a bank has the same fan-out, a
mean otherwise.

Clock: 50 MHz, Rockpool's default main clock for Xylo IMU (``syns63300/imu_monitor.py``, ``Default_Main_Clock_Rate``);
Audio 2's is taken the same [unverified].  Xylo runs in real time: a step lasts the network's dt whatever the core
takes, as long as it takes less (SynSense sizes the clock for the worst case plus 20 %, ``est_clock_freq``); the
report gives the core's busy time per step, and the worst case (every neuron spiking) as the slow end of the range.
Static power: no figure for the SNN core alone is published here; not priced (named).
"""
from __future__ import annotations

import numpy as np

from .mapping import DT_KEY
from .arithmetic import populations

CLOCK_HZ = 50e6
INPUT_LOOP, HIDDEN_UPDATE, OUTPUT_ISYN, FIXED_HIDDEN, FIXED_OUTPUT = 3.5, 7.0, 8.0, 19.0, 12.0
MARGIN = 0.2  # est_clock_freq's safety margin on the worst case


def cycles(program, p_in: float, p_hidden: float) -> float:
    """Master-clock cycles per step at input and hidden spiking probabilities (the model above)."""
    hidden, readout = populations(program)
    h = hidden.q
    n_in, n, n_out = h.w_in.shape[0], h.w_in.shape[1], readout.q.w_out.shape[1]
    fanout = float(np.mean(np.count_nonzero(np.any(h.w_rec != 0, axis=2), axis=1))) if n else 0.0
    targets = np.bincount(h.alias_target, minlength=n) if len(h.alias_target) else np.zeros(n)
    a_target, a_source = float(np.mean(targets)), float(np.mean(np.diff(h.alias_start)))
    var = (max(p_hidden, a_target * a_source) * 2 + max(p_hidden * a_target, a_target * a_source) * 3 + p_hidden
           + max(p_hidden, a_target) * a_source)
    return (n_in * (p_in * n * INPUT_LOOP + 1) + n * (fanout * HIDDEN_UPDATE * p_hidden + 3)
            + n * p_hidden * (1 + n_out * OUTPUT_ISYN) + n * (FIXED_HIDDEN + var) + n_out * FIXED_OUTPUT)


def activity(program, per_step: dict) -> tuple[float, float]:
    """(input, hidden) spiking probabilities per neuron and step from the run's counters (module doc)."""
    hidden, readout = populations(program)
    h = hidden.q
    readout_synapses = np.count_nonzero(readout.q.w_out)
    p_hidden = (min(per_step[readout.name]["binary_events"] / readout_synapses, 1.0) if readout_synapses
                else min(per_step[hidden.name]["spikes"] / max(h.w_in.shape[1], 1), 1.0))  # spike counts: a bound
    input_events = max(per_step[hidden.name]["binary_events"] - p_hidden * np.count_nonzero(h.w_rec), 0.0)
    input_synapses = np.count_nonzero(h.w_in)
    return (min(input_events / input_synapses, 1.0) if input_synapses else 0.0), p_hidden


def _figure(value: float, unit: str, status: str, source: str, high: float | None = None) -> dict:
    return {"value": value, "low": value, "high": value if high is None else high, "unit": unit, "status": status,
            "source": source}


def timing(program, placement, per_step: dict) -> dict:
    p_in, p_hidden = activity(program, per_step)
    busy = cycles(program, p_in, p_hidden) / CLOCK_HZ
    worst = cycles(program, 1.0, 1.0) * (1 + MARGIN) / CLOCK_HZ
    dt = float(program.metadata[DT_KEY])
    keeps = ("keeps real time" if worst <= dt else "keeps real time at this activity, not in the worst case"
             if busy <= dt else "does NOT keep real time: a faster clock, a longer dt or fewer spikes would")
    return {"seconds_per_step": busy, "step_seconds": busy, "seconds_per_step_range": [busy, worst],
            "pipeline_depth_steps": 1, "generate_seconds_per_step": 2 * busy,
            "generate_seconds_per_step_range": [2 * busy, 2 * worst], "bottleneck": "the core's clock cycles",
            "chips_powered": 1, "static_pj_per_step": 0.0, "static_pj_per_step_range": [0.0, 0.0],
            "figures": {
                "clock": _figure(CLOCK_HZ / 1e6, "MHz", "unverified",
                                 "Rockpool's default main clock for Xylo IMU (syns63300/imu_monitor.py); Audio 2's taken "
                                 "the same"),
                "cycles_per_step": _figure(busy * CLOCK_HZ, "cycles", "secondary",
                                           f"SynSense's cycle model (Rockpool 3.1.0 syns61201 power_cycles_model) at "
                                           f"input / hidden spiking probabilities {p_in:.3f} / {p_hidden:.3f} (the "
                                           f"run's)", high=worst * CLOCK_HZ)},
            "approximations": [
                "xylo time: SynSense's cycle-count model of the Audio 2 core at the run's spiking probabilities (from "
                "its synaptic operations: a mean where fan-outs differ), 50 MHz clock [unverified for Audio 2]; the "
                "slow end is the worst case with SynSense's 20 % margin; Xylo steps in real time "
                "(a step lasts dt), this is the core's busy time within it",
                "xylo static power: not priced (no published figure for the SNN core alone)",
                f"xylo real time: the step lasts dt = {dt * 1e6:.4g} us; the core is busy {busy * 1e6:.4g} us at the "
                f"run's activity ({worst * 1e6:.4g} us in the worst case with SynSense's margin): it {keeps}"]}
