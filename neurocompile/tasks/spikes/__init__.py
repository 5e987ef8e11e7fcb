"""The spike-train task: what a run of a NIR graph (or any network fed spikes) *means*.

Input rasters in, output rasters out, one time step per step; the metric is agreement with the float semantics
(raster match, spike-count correlation, argmax, accuracy on labels), the report's unit the time step
(``semantics``); its command-line verbs are in ``cli``.  This package only names the task.
"""
from __future__ import annotations

from ...task import Task, lazy

_SEMANTICS = f"{__name__}.semantics"

def sample_steps(program) -> int | None:
    """A sample's steps: the interval every neuron's state is cleared at (a netx network exported with
    ``--reset-interval``: one frame), when all share one; else None (a spike train has no samples of its own)."""
    periods = {int(getattr(node.q, "period", 0)) for node in program.nodes.values() if node.op_class.binary_output
               and hasattr(node.q, "period")}
    return periods.pop() if len(periods) == 1 and 0 not in periods else None


TASK = Task("spikes", "time step", "per time step of the simulated run, summed over the run and divided by steps x "
            "streams", lazy(_SEMANTICS, "probe"), key="step", simulate=lazy(_SEMANTICS, "simulate_api"),
            evaluate=lazy(_SEMANTICS, "evaluate_api"), engines=("cpu", "float"), verbs=f"{__name__}.cli",
            sample_steps=sample_steps)
