"""The spike-train task on the command line: what it adds to simulate and evaluate (an input raster, the output
rasters; raster agreement with the float semantics) and how it prints them; its own verb, ``raster`` (input spikes
shaped for a build)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...errors import EngineMismatch, UserError
from ...interrupt import INTERRUPT
from ...options import RANGES
from ...verbs import TaskVerbs, Verb
from . import TASK

RASTER = "array 'input' shaped [T, n] or [T, B, n] of 0/1"


def _input_spikes(p: argparse.ArgumentParser) -> argparse.Action:
    return p.add_argument("--input-spikes", type=Path, default=None,
                          help=f"spike-train builds: input raster .npz, {RASTER}")


def _raster(args: argparse.Namespace, build):
    from .semantics import input_shape, read_raster

    if args.input_spikes is None:
        raise UserError(f"{args.build} is a spike-train build: give --input-spikes in.npz ({RASTER})")
    return read_raster(args.input_spikes, input_shape(build.program), "--input-spikes")


def _summary(values) -> dict:
    """An Output's raster in one figure: its spike count, or the mean of a graded output (a readout's voltage)."""
    return {"spikes": int(values.sum())} if values.dtype.kind == "i" else {"mean_value": float(values.mean())}


def simulate_options(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [_input_spikes(p), p.add_argument(
        "--output-spikes", type=Path, default=None,
        help="spike-train builds: write the output rasters here (.npz, one array per Output node)")]


def simulate(args: argparse.Namespace, build) -> None:
    from .semantics import simulate as run_raster

    raster = _raster(args, build)
    with INTERRUPT.deferred():
        run = run_raster(build, raster, args.engine, args.output_spikes, stop=lambda: INTERRUPT.requested)
    written = [str(p) for p in (run.run_file, run.outputs_file) if p is not None]
    if args.json:
        print(json.dumps({"engine": run.engine, "steps": run.steps, "streams": run.streams, "complete": run.complete,
                          "seconds": round(run.seconds, 3), "totals": run.totals, "per_step": run.per_step,
                          "units": run.UNITS, "outputs": {k: {"shape": list(v.shape), **_summary(v)}
                                                          for k, v in run.outputs.items()},
                          "nodes": run.table, "written": written, **({run.engine: run.check} if run.check else {})}, indent=2))
    else:
        outs = ", ".join(f"{k} " + (f"{v.sum():,} spikes" if v.dtype.kind == "i" else f"mean value {v.mean():.4g} (graded)")
                         for k, v in run.outputs.items())
        print(f"{run.steps} time steps x {run.streams} stream(s) on the {run.engine} engine in {run.seconds:.2f} s: {outs}")
        if run.totals:
            t, n = run.totals, max(run.steps * run.streams, 1)
            print(f"per time step and stream: {t['spikes'] / n:.2f} spikes, {t['binary_events'] / n:,.1f} binary and "
                  f"{t['graded_events'] / n:,.1f} graded synaptic ops; whole run: {t['saturations']:,} saturations, "
                  f"{t['wraps']:,} wraps")
        if run.check:
            verdict = "identical" if run.check["identical"] else "DIFFERENT"
            print(f"{run.engine}: outputs and {len(run.check['spikes_identical'])} spiking populations {verdict} to the "
                  f"cpu engine's")
            for line in run.lines:
                print(line)
        if written:
            print(f"[neurocompile] wrote {' and '.join(written)}", file=sys.stderr)
    if not run.complete:
        print(f"[neurocompile] {INTERRUPT.what} after {run.steps:,} time steps: kept {' and '.join(written)}", file=sys.stderr)
    if run.check and not run.check["identical"]:
        raise EngineMismatch(f"the {run.engine} engine and the cpu engine disagree ({json.dumps(run.check)}); please "
                             f"report this with the build directory")


def evaluate_options(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [_input_spikes(p)]


def evaluate(args: argparse.Namespace, build) -> None:
    from .semantics import evaluate as score

    result = score(build, _raster(args, build))
    if args.json:
        print(json.dumps({"input": str(args.input_spikes), "steps": result.steps, "streams": result.streams,
                          "outputs": result.outputs, "populations": result.populations,
                          "saturations": result.saturations, "wraps": result.wraps,
                          **({"accuracy": result.accuracy} if result.accuracy else {})}, indent=2))
        return
    print(f"{args.input_spikes}: {result.steps} time steps x {result.streams} stream(s); integer ({build.manifest['target']}) "
          f"against the float semantics")
    print(f"  {'population':<16}{'raster match':>14}{'count r':>10}{'argmax':>9}{'spikes int / float':>22}")
    for name, a in result.outputs.items():
        if "value_pearson_r" in a:  # a graded readout
            r = "-" if a["value_pearson_r"] is None else f"{a['value_pearson_r']:.6f}"
            print(f"  output {name} (graded): value r {r}, largest difference {a['max_abs_difference']:.4g} "
                  f"({a['max_abs_difference_over_range']:.2%} of its range), argmax agreement {a['argmax_agreement']:.0%}")
    for kind, table in (("output", {k: v for k, v in result.outputs.items() if "raster_match" in v}),
                        ("", result.populations)):
        for name, a in table.items():
            r = "-" if a["count_pearson_r"] is None else f"{a['count_pearson_r']:.4f}"
            label = f"{name} ({kind})" if kind else name
            print(f"  {label:<16}{a['raster_match']:>14.2%}{r:>10}{a['argmax_agreement']:>9.0%}"
                  f"{a['count_total_integer']:>12,.0f} / {a['count_total_float']:,.0f}")
    print(f"  saturations {result.saturations}, wraps {result.wraps}")
    if result.accuracy:
        print(f"  accuracy on the file's labels (argmax of output spike counts): float {result.accuracy['float']:.2%}, "
              f"integer {result.accuracy['integer']:.2%}")


MAX_RASTER_VALUES = 1 << 25  # steps x streams x inputs that `raster` makes in memory (about 0.5 GB while drawn)


def raster_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("build", type=Path, help="a spike-train build (made by `neurocompile export net.nir`)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the raster .npz to write")
    p.add_argument("--steps", type=RANGES["steps"].parser(), default=100, help="time steps (default %(default)s)")
    p.add_argument("--streams", type=RANGES["streams"].parser(), default=1,
                   help="independent streams, the B of [T, B, n] (default %(default)s)")
    p.add_argument("--rate", type=RANGES["rate"].parser(), default=0.2,
                   help="spikes per input neuron and step, in (0, 1] (default %(default)s)")
    p.add_argument("--seed", type=RANGES["seed"].parser(), default=0, help="(default %(default)s)")


def raster(args: argparse.Namespace) -> None:
    import numpy as np

    from ... import files
    from ...build import read_build
    from .semantics import INPUT_KEY, OUTPUT_FORMAT, input_shape, poisson

    build = read_build(args.build)
    if build.task is not TASK:
        raise UserError(f"{args.build}: raster makes input spikes for spike-train builds; this is a {build.task.name} "
                        f"build")
    shape = input_shape(build.program)
    width = int(np.prod(shape))
    if args.steps * args.streams * width > MAX_RASTER_VALUES:
        raise UserError(f"--steps {args.steps} x --streams {args.streams} x {width} inputs = "
                        f"{args.steps * args.streams * width:,} values, over the {MAX_RASTER_VALUES:,} raster makes; "
                        f"fewer steps or streams")
    made = poisson(width, args.steps, args.streams, args.rate, args.seed)
    spikes = made.spikes.astype(np.uint8)
    files.write_file(args.output, lambda tmp: np.savez_compressed(
        tmp, **{files.NPZ_MARK: np.array(OUTPUT_FORMAT), INPUT_KEY: spikes}), "-o")
    print(f"wrote {args.output}: array {INPUT_KEY!r} [T, B, n] = {list(spikes.shape)} of 0/1 for {args.build}'s input "
          f"({' x '.join(map(str, shape))}), {made.source}; {int(spikes.sum()):,} spikes")


VERBS = TaskVerbs(TASK, builds="spike-train builds", build="a spike-train build", hint="give --input-spikes",
                  simulate_options=simulate_options, simulate=simulate, evaluate_options=evaluate_options,
                  evaluate=evaluate,
                  verbs=(Verb("raster", "Poisson input spikes shaped for a spike-train build: the in.npz that simulate and "
                                        "evaluate read", raster_arguments, raster, order=6),))
