"""Tasks: what a run means (its inputs, outputs, metrics and units).  One folder per task, one line below.

A build names its task in ``manifest.json``; the commands dispatch on it.  The Program below knows nothing of
tasks: a task only decides what goes into the input node and what comes out of the output node means.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class Task:
    name: str
    unit: str  # what one step of a run is, for the report ("token", "time step")
    units: str  # how the report's figures are normalised, in words
    probe: Callable[..., np.ndarray]  # Program -> the extreme inputs a build's program is checked on when read
    tokenizer: bool  # whether a build of this task carries a tokenizer
    key: str  # the unit in the report's field names: energy_pj_per_<key> ("token"; "step" for a time step)


# the run's counters every task's simulate summarises (summed over the run; Tally.FIELDS has the rest)
TOTALS = ("spikes", "binary_events", "graded_events", "neuron_updates", "op_evals", "saturations", "wraps")


def totals(table: list[dict]) -> dict[str, int]:
    """A simulation's per-node counter table summed into the run's totals."""
    return {f: int(sum(r[f] for r in table)) for f in TOTALS}


def get_task(name: str) -> Task:
    from . import language, spikes

    tasks = {task.name: task for task in (language.TASK, spikes.TASK)}
    if name not in tasks:
        raise UserError(f"unknown task {name!r}; known: {', '.join(tasks)}")
    return tasks[name]
