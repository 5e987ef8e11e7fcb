"""The command line's verbs.  A verb is a subcommand: its arguments and what it runs (``Verb``).  The verbs every
build has -- inspect, export, simulate, evaluate, report -- are modules here; a task's own verbs, and what it adds to
simulate and evaluate (its options, how it runs and prints them: ``TaskVerbs``), are in its folder (the module its
``Task.verbs`` names, ``tasks/<task>/cli.py``), so that adding a verb touches its task's folder only.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

from ..task import Task, tasks


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]
    order: int  # its place in `neurocompile --help`


@dataclass(frozen=True)
class TaskVerbs:
    """What a task brings to the command line: its options of simulate and evaluate, how it runs and prints them,
    how messages name its builds, and its own verbs."""

    task: Task
    builds: str  # its builds in a message, plural ("language models", "spike-train builds")
    build: str  # one of them, with its article ("a language model")
    hint: str  # what to give instead ("give --prompt")
    # (parser) -> the options it added (argparse's Actions): so the shared verb knows which are this task's
    simulate_options: Callable[[argparse.ArgumentParser], list]
    simulate: Callable[[argparse.Namespace, object], None]  # (args, build)
    evaluate_options: Callable[[argparse.ArgumentParser], list]
    evaluate: Callable[[argparse.Namespace, object], None]
    verbs: tuple[Verb, ...] = field(default=())


def task_verbs() -> dict[Task, TaskVerbs]:
    """Each task's ``TaskVerbs`` (the ``VERBS`` of the module its ``Task.verbs`` names), keyed by the task."""
    import importlib

    found = {}
    for task in tasks().values():
        if task.verbs:
            found[task] = importlib.import_module(task.verbs).VERBS
    return found


def add_task_options(p: argparse.ArgumentParser, verb: str) -> None:
    """Every task's options of a shared verb ("simulate", "evaluate"), each remembered with the task it belongs to."""
    owners = {}
    for verbs in task_verbs().values():
        for action in getattr(verbs, f"{verb}_options")(p):
            owners[action.dest] = (verbs.task, action.option_strings[0], action.default)
    p.set_defaults(task_options=owners)


def dispatch(args: argparse.Namespace, build, verb: str) -> None:
    """Run a shared verb as the build's task does, after refusing the options (and the engine) of other tasks."""
    from ..errors import UserError

    handlers = task_verbs()
    mine = handlers[build.task]
    given: dict[Task, list[str]] = {}
    for dest, (task, option, default) in args.task_options.items():
        if task is not build.task and getattr(args, dest) not in (default, None):
            given.setdefault(task, []).append(option)
    from ..target import task_engines

    engine = getattr(args, "engine", None)
    if engine is not None and engine not in task_engines(build.task):
        for task in handlers:
            if engine in task_engines(task):
                given.setdefault(task, []).insert(0, f"--engine {engine}")
    for task, options in given.items():
        raise UserError(f"{', '.join(options)}: for {handlers[task].builds}; {args.build} is {mine.build} "
                        f"({mine.hint})")
    getattr(mine, verb)(args, build)
