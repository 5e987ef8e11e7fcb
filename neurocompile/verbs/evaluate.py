"""`neurocompile evaluate`: the integer engine against the float semantics, by the build's task's metric."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import Verb, add_task_options, dispatch


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("build", type=Path)
    add_task_options(p, "evaluate")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> None:
    from ..build import read_build

    dispatch(args, read_build(args.build), "evaluate")


VERB = Verb("evaluate", "the integer engine against the float semantics: bits per character (language models) or "
                        "raster agreement (spike-train builds)", arguments, run, order=5)
