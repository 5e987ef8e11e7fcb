"""`neurocompile report`: a build's last run x an energy model -> tables and figures."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import Verb


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("build", type=Path)
    p.add_argument("--format", default="md", choices=["json", "csv", "md", "tex"], help="(default %(default)s)")
    p.add_argument("--energy", default=None,
                   help="energy model: a shipped name (hw-45nm, snn-paper-45nm, loihi1-proxy) or a TOML file (default: the "
                        "build's target's own, else hw-45nm)")
    p.add_argument("--plots", type=Path, default=None, help="write PNG and PDF figures into this folder")
    p.add_argument("-o", "--output", type=Path, default=None, help="write the report to this file (default: stdout)")


def run(args: argparse.Namespace) -> None:
    from .. import files
    from ..build import read_build
    from ..energy import load_energy_model
    from ..report import FORMATS, check_plots, make_report, write_plots

    if args.output is not None:
        files.check_file_target(args.output, "-o")
        files.check_parent(args.output, "-o")
    if args.plots is not None:
        check_plots(args.plots)
    model = load_energy_model(args.energy) if args.energy else None  # a bad model file is named before the build
    build = read_build(args.build)
    model = model or load_energy_model(build.target.energy_model)
    report = make_report(build.program, build.manifest, build.run(), model, placement=build.partition,
                         tokenizer=build.tokenizer)
    text = FORMATS[args.format](report)
    if args.plots is not None:
        for path in write_plots(report, args.plots):
            print(f"[neurocompile] wrote {path}", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(text)
    else:
        files.write_text(args.output, text, "-o")
        print(f"[neurocompile] wrote {args.output}", file=sys.stderr)


VERB = Verb("report", "spikes, synaptic ops and energy per layer and token, from the last simulate run", arguments, run, order=8)
