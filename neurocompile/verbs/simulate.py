"""`neurocompile simulate`: run a build on an engine -- what a run is, and what is printed, is the build's task's."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import Verb, add_task_options, dispatch, task_verbs


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("build", type=Path, help="build directory made by `neurocompile export`")
    engines = list(dict.fromkeys(e for task in task_verbs() for e in task.engines))
    p.add_argument("--engine", default="cpu", choices=engines,
                   help="cpu: our bit-accurate simulator (default); lava: also run the inputs through the build's "
                        "Lava process graph (loihi2 builds) and check that spikes and outputs are identical; float: "
                        "the graph's float64 semantics, no quantization (spike-train builds)")
    add_task_options(p, "simulate")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> None:
    from ..build import read_build

    build = read_build(args.build, target="loihi2" if args.engine == "lava" else None)
    dispatch(args, build, "simulate")


VERB = Verb("simulate", "run a build on an engine (language models: generate text) and print its counters", arguments,
            run, order=4)
