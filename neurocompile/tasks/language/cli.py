"""The language task on the command line: what it adds to simulate and evaluate (sampling options, printing the
generated text and the counters; bits per character), and its own verbs: generate, sensitivity, sweep."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ...errors import EngineMismatch, UserError
from ...interrupt import INTERRUPT
from ...models import zoo
from ...options import RANGES, Range
from ...verbs import TaskVerbs, Verb
from ...verbs.common import encode, load, model_arg, progress, prompt, read_text, sampling_args
from . import TASK


def simulate_options(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return sampling_args(p) + [p.add_argument(
        "--spikes-out", type=Path, default=None,
        help="write every LIF's spikes (stream 0, one row per step) to this .npz, streamed as the run goes")]


def simulate(args: argparse.Namespace, build) -> None:
    from ...graph import context
    from ...runs import RUN_FILE
    from .semantics import Simulation, check_context
    from .semantics import simulate as run

    args.prompt = prompt(args)
    prompt_ids = encode(build.tokenizer, args.prompt, "--prompt")
    check_context(context(build.program.metadata), len(prompt_ids or [0]) + args.tokens,
                  f"--prompt ({len(prompt_ids)} tokens) and --tokens {args.tokens}")
    bar = progress(args.tokens, not args.json and sys.stderr.isatty() and not sys.stdout.isatty())

    def show(token: int) -> None:
        if not args.json:
            print(build.tokenizer.decode([token]), end="", flush=True)
        bar.update(1)

    if not args.json:
        print(args.prompt, end="", flush=True)
    with INTERRUPT.deferred():
        result: Simulation = run(build, prompt_ids, args.tokens, args.temperature, args.top_p, args.seed,
                                   engine=args.engine, spikes_out=args.spikes_out, on_token=show,
                                   stop=lambda: INTERRUPT.requested, collect=args.json)
    bar.close()
    if result.check is not None and not args.json:
        print(f"[neurocompile] ran {result.steps} tokens through {args.engine}", file=sys.stderr)
    written = [str(result.run_file)] + ([str(result.spikes_file)] if result.spikes_file else [])
    check = result.check
    if args.json:
        print(json.dumps({"prompt": args.prompt, "completion": result.completion, "tokens": result.generated,
                          "steps": result.steps, "complete": result.complete, "seconds": round(result.seconds, 3),
                          "engine": args.engine, "seed": args.seed, "totals": result.totals, "per_step": result.per_step,
                          "units": result.UNITS, "nodes": result.table, "written": written,
                          **({args.engine: check} if check else {})}, indent=2))
    else:
        t, steps = result.totals, result.steps
        print(f"\n\n[{result.generated} tokens generated ({steps} steps with the prompt) in {result.seconds:.2f} s, "
              f"{steps / max(result.seconds, 1e-9):.0f} steps/s, bit-accurate cpu engine, seed {args.seed}]", file=sys.stderr)
        print(f"per step (prompt included): {t['spikes'] / steps:.1f} spikes, {t['graded_events'] / steps:,.0f} graded "
              f"synaptic ops, {t['binary_events'] / steps:,.0f} binary synaptic ops, {t['op_evals'] / steps:,.0f} "
              f"extension-op evaluations", file=sys.stderr)
        print(f"whole run ({steps} steps): {t['saturations']:,} saturations, {t['wraps']:,} wraps", file=sys.stderr)
        rates = ", ".join(f"{r['node'].replace('blocks.', 'b')} {r['firing_rate']:.0%}" for r in result.table if "firing_rate" in r)
        print(f"firing rates: {rates}", file=sys.stderr)
        for line in result.lines:
            print(line, file=sys.stderr)
        print(f"[neurocompile] wrote {' and '.join(written)} ({RUN_FILE} is what `neurocompile report` reads)",
              file=sys.stderr)
    if not result.complete:
        print(f"[neurocompile] {INTERRUPT.what} after {result.generated:,} of {args.tokens:,} tokens: kept {' and '.join(written)}, "
              f"with the counters of the {result.steps:,} steps run"
              f"{f'; the {args.engine} check was skipped' if args.engine != 'cpu' else ''}",
              file=sys.stderr)
    if check and not check["identical"]:
        raise EngineMismatch(f"the {args.engine} engine and the cpu engine disagree ({json.dumps(check)}); please report "
                             f"this with the build directory")


def evaluate_options(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [p.add_argument("--text", type=Path, default=None, help="UTF-8 text (default: the zoo corpus's held-out part)"),
            p.add_argument("--max-tokens", type=RANGES["max_tokens"].parser(), default=0,
                           help="score at most this many tokens (0: all)"),
            p.add_argument("--streams", type=RANGES["streams"].parser(), default=16,
                           help="consecutive windows the text is split into, run side by side (default 16)"),
            p.add_argument("--warmup", type=RANGES["warmup"].parser(), default=0,
                           help="tokens each window reads before it is scored (default 0: each from a fresh state)"),
            p.add_argument("--workers", type=RANGES["workers"].parser(), default=1,
                           help="score the windows in this many local processes (default 1); with --ray, in this "
                                "many Ray tasks (default: one per window)"),
            p.add_argument("--ray", default=None, metavar="ADDRESS",
                           help="score the windows as Ray tasks on this cluster (the build at the same path on every "
                                "node); the parts are kept in the build, so a stopped evaluation resumes")]


def evaluate(args: argparse.Namespace, build) -> None:
    from .semantics import evaluate as score
    from .semantics import evaluation_ids

    text = read_text(args.text, "--text") if args.text is not None else None
    try:
        ids, source = evaluation_ids(build.tokenizer, text, args.max_tokens)
    except UserError as exc:
        raise UserError(f"--text: {exc}" if text is not None else str(exc)) from None
    source = str(args.text) if args.text is not None else source
    result = score(build, ids, args.streams, quiet=args.json, warmup=args.warmup, workers=args.workers,
                   ray_address=args.ray)
    if args.json:
        print(json.dumps({"text": source, "tokens": result.tokens, "float_bpc": result.float_bpc,
                          "int_bpc": result.int_bpc, "ratio": result.ratio, "unit": build.tokenizer.unit,
                          "window": result.window, "streams": result.streams, "warmup": result.warmup,
                          "parts": result.parts, "spike_agreement": result.spike_agreement,
                          "saturations": result.saturations, "wraps": result.wraps}, indent=2))
        return
    unit = f"bits per {build.tokenizer.unit}"
    windows = f", windows of {result.window} from position 0 (the model's context)" if result.window else ""
    warm = f", each after a warm-up of {result.warmup} tokens" if result.warmup else ""
    parts = f", scored in {result.parts} parts" if result.parts > 1 else ""
    print(f"{source}: {result.tokens} tokens in {result.streams} streams{windows}{warm}{parts} ({unit})")
    label = f"integer ({build.manifest['target']})"
    print(f"  {'float reference':<18}{result.float_bpc:.4f}")
    print(f"  {label:<18}{result.int_bpc:.4f}   ratio {result.ratio:.4f} ({(result.ratio - 1) * 100:+.2f} %)")
    agreement = ", ".join(f"{k.replace('blocks.', 'b')} {v:.1%}" for k, v in result.spike_agreement.items())
    print(f"  spike agreement with the float model: {agreement}")
    print(f"  saturations {result.saturations}, wraps {result.wraps}")


def generate(args: argparse.Namespace) -> None:
    from .semantics import check_context, generate

    _, model, tokenizer = load(args)
    args.prompt = prompt(args)
    prompt_ids = encode(tokenizer, args.prompt, "--prompt")
    check_context(model.config.context, max(len(prompt_ids), 1) + args.tokens - 1,
                  f"--prompt ({len(prompt_ids)} tokens) and --tokens {args.tokens}")
    start = time.perf_counter()
    out: list[int] = []
    if not args.json:
        print(args.prompt, end="", flush=True)
    for token in generate(model, prompt_ids, args.tokens, args.temperature, args.top_p, args.seed):
        out.append(token)
        if not args.json:
            print(tokenizer.decode([token]), end="", flush=True)
    seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps({"prompt": args.prompt, "completion": tokenizer.decode(out), "tokens": len(out),
                          "seconds": round(seconds, 3), "tokens_per_second": round(len(out) / max(seconds, 1e-9), 1),
                          "engine": "float (PyTorch reference)", "seed": args.seed}, indent=2))
    else:
        print(f"\n\n[{len(out)} tokens in {seconds:.2f} s, {len(out) / max(seconds, 1e-9):.0f} tokens/s, "
              f"float reference, seed {args.seed}]", file=sys.stderr)


def sensitivity(args: argparse.Namespace) -> None:
    from ...build import read_build
    from ...report import check_plots
    from .semantics import evaluation_ids
    from .sensitivity import PLOT, markdown, write_plot
    from .sensitivity import sensitivity as score

    build = read_build(args.build)
    if build.task is not TASK:
        raise UserError(f"{args.build}: sensitivity scores bits per token: it needs a language build, not a "
                        f"{build.task.name} one")
    if args.plots is not None:
        check_plots(args.plots, (PLOT,))
    text = read_text(args.text, "--text") if args.text is not None else None
    ids, _ = evaluation_ids(build.tokenizer, text, args.max_tokens)
    result = score(build, ids, args.drop, quiet=args.json)
    if args.plots is not None:
        write_plot(result, args.plots)
    print(json.dumps(result.to_dict(), indent=2) if args.json else markdown(result), end="" if not args.json else "\n")


def _drops(text: str) -> tuple[int, ...]:
    try:
        drops = tuple(sorted({int(v) for v in text.split(",")}))
    except ValueError:
        raise UserError(f"--drop {text!r}: give bit counts such as 2,4") from None
    if not drops or any(not 1 <= k <= 7 for k in drops):
        raise UserError(f"--drop {text!r}: each count must be 1 to 7 bits")
    return drops


def sweep(args: argparse.Namespace) -> None:
    from ... import files
    from ...checkpoint import read_checkpoint
    from ...targets.cpu.simulator import cores
    from .sweep import read_grid, write_outputs
    from .sweep import sweep as run_sweep

    model = args.model if args.model is not None else zoo.path()
    grid = read_grid(args.grid)
    read_checkpoint(model)  # refused here, before any point runs, if it is not a checkpoint
    files.check_parent(args.output / "sweep.csv", "-o")
    for name in ("sweep.csv", "sweep.json", "pareto.png", "pareto.pdf"):
        files.check_file_target(args.output / name, "-o")
    rows = run_sweep(str(model), files.sha256(Path(model)), grid, args.output, args.max_tokens, args.calibration_tokens,
                 args.workers or cores(), args.ray,
                 progress=lambda message: None if args.json else print(message, file=sys.stderr, flush=True))
    paths = write_outputs(rows, grid, args.output)
    if args.json:
        print(json.dumps({"rows": rows, "files": [str(p) for p in paths]}, indent=2))
        return
    unit = rows[0]["unit"]
    print(f"| payload bits | block rows | system | token shift | energy model | bits per {unit} | nJ per {unit} (low–high) "
          f"| Pareto |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['payload_bits']} | {r['block_rows']} | {r['system']} | {r['token_shift']} | {r['energy_model']} | "
              f"{r['bpc']:.4f} | "
              f"{r['pj_per_token'] / 1e3:,.0f} ({r['pj_per_token_low'] / 1e3:,.0f}–{r['pj_per_token_high'] / 1e3:,.0f}) | "
              f"{'yes' if r['pareto'] else ''} |")
    print(f"wrote {', '.join(str(p) for p in paths)}")


def generate_arguments(p: argparse.ArgumentParser) -> None:
    model_arg(p)
    sampling_args(p)


def sensitivity_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("build", type=Path)
    p.add_argument("--text", type=Path, default=None, help="UTF-8 text (default: the zoo corpus's held-out part)")
    p.add_argument("--max-tokens", type=Range(int, 16, 10**10).parser(), default=2000,
                   help="score at most this many tokens per variant (default %(default)s)")
    p.add_argument("--drop", type=_drops, default=(2, 4), help="bits each quantity loses, comma-separated (default 2,4)")
    p.add_argument("--plots", type=Path, default=None, help="write sensitivity.png and .pdf into this folder")
    p.add_argument("--json", action="store_true")


def sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, nargs="?", default=None, help="checkpoint (default: the zoo model)")
    p.add_argument("--grid", type=Path, required=True,
                   help="TOML: payload_bits, block_rows, system, token_shift, extension_ops, energy (lists)")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for sweep.csv, sweep.json, pareto.png/.pdf "
                                                                  "and the cache of points (points/)")
    p.add_argument("--max-tokens", type=Range(int, 16, 10**10).parser(), default=2000,
                   help="tokens scored per point (default %(default)s)")
    p.add_argument("--calibration-tokens", type=RANGES["calibration_tokens"].parser(), default=1024,
                   help="(default %(default)s)")
    p.add_argument("--workers", type=RANGES["workers"].parser(), default=None, help="local worker processes (default: the cores)")
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="run the points as Ray tasks on this cluster")
    p.add_argument("--json", action="store_true")


VERBS = TaskVerbs(
    TASK, builds="language models", build="a language model", hint="give --prompt",
    simulate_options=simulate_options, simulate=simulate, evaluate_options=evaluate_options, evaluate=evaluate,
    verbs=(Verb("generate", "generate text with the float reference model (streaming, recurrent form)",
                generate_arguments, generate, order=2),
           Verb("sensitivity", "per-layer quantization sensitivity (language builds): the bits per token each layer's "
                               "weights and values cost when they lose bits", sensitivity_arguments, sensitivity, order=6),
           Verb("sweep", "design-space sweep (language models): every combination of a grid's numeric choices, systems "
                         "and energy models -> energy per token against bits per token", sweep_arguments, sweep,
                order=7)))
