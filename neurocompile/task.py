"""What a task is -- what a run *means*: its input, its output, its metric and its unit -- and where the tasks are.

A task is a folder under ``neurocompile/tasks`` whose package defines ``TASK``, an instance of ``Task`` (the
language model; the spike train); ``tasks()`` finds them, so nothing here names one.  A build records its task's
name in ``manifest.json``; readers get the task from it with ``get_task`` and call its methods -- never compare
names.  The Program below knows nothing of tasks: a task decides what goes into the input node and what the
output node means.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from .errors import UserError


@dataclass(frozen=True)
class Task:
    name: str
    unit: str  # what one step of a run is, for the report ("token", "time step")
    units: str  # how the report's figures are normalised, in words
    probe: Callable[..., Any]  # Program -> the extreme inputs a build's program is checked on when read (an array)
    key: str  # the unit in the report's field names: energy_pj_per_<key> ("token"; "step" for a time step)
    # (build folder, manifest, program) -> what the task keeps beside the program (the language task: its tokenizer,
    # checked against the program's vocabulary), or None
    read_extra: Callable[[Path, dict, Any], Any] = lambda path, manifest, program: None
    generates: bool = False  # runs may generate (each generated unit waits for the one before: priced apart)
    # Program -> the steps one sample of the task takes (a spike train's reset interval), or None: the report then
    # also prices a sample (``totals.sample``)
    sample_steps: Callable[[Any], int | None] = lambda program: None
    # the API's verbs, (build, ...) -> the task's result: ``Build.simulate`` and ``Build.evaluate`` call these
    simulate: Callable[..., Any] | None = None
    evaluate: Callable[..., Any] | None = None
    engines: tuple[str, ...] = ("cpu",)  # the engines its simulate takes
    # the module of its package that holds its command-line verbs (loaded by the command line when it starts: an
    # entry point, so the task's package stays light and this contract names no implementation)
    verbs: str | None = None


def lazy(module: str, name: str) -> Callable[..., Any]:
    """A function of a task's module, imported when first called: a task's package names its task with these and
    stays light (the command line starts without torch)."""
    import importlib

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


# the run's counters every task's simulate summarises (summed over the run; Tally.FIELDS has the rest)
TOTALS = ("spikes", "binary_events", "graded_events", "neuron_updates", "op_evals", "saturations", "wraps")


def totals(table: list[dict]) -> dict[str, int]:
    """A simulation's per-node counter table summed into the run's totals."""
    return {f: int(sum(r[f] for r in table)) for f in TOTALS}


def tasks() -> dict[str, Task]:
    """Every task, found rather than named: each package under ``neurocompile.tasks`` that defines ``TASK``."""
    from .plugins import find

    return {task.name: task for task in find("neurocompile.tasks", "TASK", Task)}


def get_task(name: str) -> Task:
    known = tasks()
    if name not in known:
        raise UserError(f"unknown task {name!r}; known: {', '.join(known)}")
    return known[name]
