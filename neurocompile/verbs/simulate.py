"""`neurocompile simulate`: run a build on an engine -- what a run is, and what is printed, is the build's task's."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import Verb, add_task_options, dispatch, task_verbs


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("build", type=Path, help="build directory made by `neurocompile export`")
    from ..target import targets, task_engines

    engines = list(dict.fromkeys(e for task in task_verbs() for e in task_engines(task)))
    own = "; ".join(f"{e.name}: {e.help}" for t in targets().values() for e in t.engines)
    p.add_argument("--engine", default="cpu", choices=engines,
                   help=f"cpu: our bit-accurate simulator (default); float: the graph's float64 semantics, no "
                        f"quantization (spike-train builds); {own}")
    add_task_options(p, "simulate")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> None:
    from ..build import read_build

    from ..target import engine_target

    owner = engine_target(args.engine)
    build = read_build(args.build, target=owner.name if owner is not None else None)
    dispatch(args, build, "simulate")


VERB = Verb("simulate", "run a build on an engine (language models: generate text) and print its counters", arguments,
            run, order=4)
