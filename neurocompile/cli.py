"""The ``neurocompile`` command.  User mistakes end with one message on stderr and exit code 2."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import EngineMismatch, UserError
from .models import zoo
from .options import RANGES, Range

# A short English sample for measuring activations when the user gives no text.
SAMPLE_TEXT = (
    "The interpreter reads a statement, evaluates the expression and binds the result to a name. "
    "If the object is not found, an exception is raised and the stack is unwound."
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line on stderr (exit 2), like every other error of ours."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


def _sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt", default=None, help="text to continue (default 'The ')")
    p.add_argument("--prompt-file", type=Path, default=None, metavar="FILE",
                   help="read the prompt from this UTF-8 file instead (a long prompt: memory stays flat in its length)")
    p.add_argument("--tokens", type=RANGES["tokens"].parser(), default=200, help="how many tokens to generate (default %(default)s)")
    p.add_argument("--temperature", type=RANGES["temperature"].parser(), default=0.8, help="0 for greedy (default %(default)s)")
    p.add_argument("--top-p", type=RANGES["top_p"].parser(), default=0.9,
                   help="nucleus sampling mass, in (0, 1] (default %(default)s)")
    p.add_argument("--seed", type=RANGES["seed"].parser(), default=0, help="sampling seed (default %(default)s)")


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", type=Path, default=None,
                   help=f"checkpoint (.pt/.pth, upstream state_dict); default: the zoo model {zoo.DEFAULT}")
    p.add_argument("--tokenizer", type=Path, default=None,
                   help="character vocabulary JSON or Hugging Face tokenizer.json (default: found beside the checkpoint)")
    p.add_argument("--v-threshold", type=RANGES["v_threshold"].parser(), default=None,
                   help="SpikeGPT: the LIF threshold it was trained with (not stored in upstream checkpoints; default 1.0)")
    p.add_argument("--config", type=Path, default=None,
                   help="SpikeDecoder: its hyper-parameters, JSON or TOML with upstream's SDconfig keys plus dim_hid "
                        "(default: <checkpoint stem>.json or .toml beside the checkpoint)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="neurocompile",
        description="Deploy spiking networks (SpikeGPT, SpikeDecoder, NIR graphs) to neuromorphic hardware.",
    )
    ap.add_argument("--version", action="version", version=f"neurocompile {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", help="family, config, parameters, ops and what feeds them (measured on text); for a "
                                       ".nir graph: its nodes as imported, loops, and what they lower to")
    _model_arg(p)
    p.add_argument("--text", type=Path, default=None, help="UTF-8 text to measure activations on (default: a built-in sentence)")
    p.set_defaults(run=cmd_inspect)

    p = sub.add_parser("generate", help="generate text with the float reference model (streaming, recurrent form)")
    _model_arg(p)
    _sampling_args(p)
    p.set_defaults(run=cmd_generate)

    p = sub.add_parser("export", help="trace (a checkpoint) or import (a .nir graph), quantize and write a build "
                                      "directory for a target")
    _model_arg(p)
    p.add_argument("--dt", type=RANGES["dt"].parser(), default=None,
                   help="NIR graphs: the forward-Euler time step in seconds (default: the graph's metadata, else 1e-4)")
    p.add_argument("--reset", choices=["zero", "subtract"], default="zero",
                   help="NIR graphs: what a spike does to the voltage (NIR does not say; default %(default)s)")
    p.add_argument("--calibration-rate", type=RANGES["rate"].parser(), default=None,
                   help="NIR graphs without --calibration: Poisson input spikes per neuron and step (default 0.2)")
    p.add_argument("--calibration-steps", type=RANGES["steps"].parser(), default=None,
                   help="NIR graphs without --calibration: time steps per calibration stream (default 256)")
    p.add_argument("--target", default="cpu",
                   help="cpu (bit-accurate simulator of Loihi 2 arithmetic) or loihi2 (the same, plus the core and chip map) "
                        "(default %(default)s)")
    p.add_argument("--system", default=None,
                   help="loihi2 system: oheo-gulch (1 chip), kapoho-point (8), loihi2-32 (32), hala-point (1152); default: the smallest that fits")
    p.add_argument("-o", "--output", type=Path, default=Path("build"), help="build directory (default %(default)s)")
    p.add_argument("--calibration", type=Path, default=None,
                   help="what to calibrate fixed-point ranges on: UTF-8 text for language models (default: the zoo "
                        "corpus, training part); an input raster .npz for NIR graphs (default: Poisson input)")
    p.add_argument("--calibration-tokens", type=RANGES["calibration_tokens"].parser(), default=4096, help="tokens of it to use (default %(default)s)")
    p.add_argument("--payload-bits", type=RANGES["payload_bits"].parser(), default=None,
                   help="graded spike payload width, 2..24 (default: the target's)")
    p.add_argument("--block-rows", type=RANGES["block_rows"].parser(), default=None,
                   help="weight rows per shared exponent (default: the target's; 0 = one exponent per matrix)")
    p.add_argument("--token-shift", choices=["fold", "delay"], default=None,
                   help="language models: a weight matrix reading the token shift beside the current token gets one "
                        "matrix per input with the mixing ratio folded in (fold), or reads the mix computed by a neuron "
                        "program (delay: half the synaptic memory and graded events); default: the target's")
    p.add_argument("--extension-ops", default=None, metavar="MODE",
                   help="language models: run extension ops that have a neuron-program form (WKV, LayerNorm) on "
                        "neurocores (neuron) or on the chip's embedded x86 cores (x86); auto: the faster per step by "
                        "the loihi2 timing model (the default); or per kind, e.g. LayerNorm=x86,WKV=neuron")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("simulate", help="run a build on an engine (language models: generate text) and print its "
                                        "counters")
    p.add_argument("build", type=Path, help="build directory made by `neurocompile export`")
    _sampling_args(p)
    p.add_argument("--engine", default="cpu", choices=["cpu", "lava", "float"],
                   help="cpu: our bit-accurate simulator (default); lava: also run the inputs through the build's "
                        "Lava process graph (loihi2 builds) and check that spikes and outputs are identical; float: "
                        "the graph's float64 semantics, no quantization (spike-train builds)")
    p.add_argument("--input-spikes", type=Path, default=None,
                   help="spike-train builds: input raster .npz, array 'input' shaped [T, n] or [T, B, n] of 0/1")
    p.add_argument("--output-spikes", type=Path, default=None,
                   help="spike-train builds: write the output rasters here (.npz, one array per Output node)")
    p.add_argument("--spikes-out", type=Path, default=None,
                   help="write every LIF's spikes (stream 0, one row per step) to this .npz, streamed as the run goes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_simulate)

    p = sub.add_parser("evaluate", help="the integer engine against the float semantics: bits per character (language "
                                        "models) or raster agreement (spike-train builds)")
    p.add_argument("build", type=Path)
    p.add_argument("--input-spikes", type=Path, default=None, help="spike-train builds: input raster .npz")
    p.add_argument("--text", type=Path, default=None, help="UTF-8 text (default: the zoo corpus's held-out part)")
    p.add_argument("--max-tokens", type=RANGES["max_tokens"].parser(), default=0, help="score at most this many tokens (0: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("sensitivity", help="per-layer quantization sensitivity (language builds): the bits per token "
                                           "each layer's weights and values cost when they lose bits")
    p.add_argument("build", type=Path)
    p.add_argument("--text", type=Path, default=None, help="UTF-8 text (default: the zoo corpus's held-out part)")
    p.add_argument("--max-tokens", type=Range(int, 16, 10**10).parser(), default=2000,
                   help="score at most this many tokens per variant (default %(default)s)")
    p.add_argument("--drop", type=_drops, default=(2, 4), help="bits each quantity loses, comma-separated (default 2,4)")
    p.add_argument("--plots", type=Path, default=None, help="write sensitivity.png and .pdf into this folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_sensitivity)

    p = sub.add_parser("sweep", help="design-space sweep (language models): every combination of a grid's numeric "
                                     "choices, systems and energy models -> energy per token against bits per token")
    p.add_argument("model", type=Path, nargs="?", default=None, help="checkpoint (default: the zoo model)")
    p.add_argument("--grid", type=Path, required=True, help="TOML: payload_bits, block_rows, system, token_shift, extension_ops, energy (lists)")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for sweep.csv, sweep.json, pareto.png/.pdf "
                                                                  "and the cache of points (points/)")
    p.add_argument("--max-tokens", type=Range(int, 16, 10**10).parser(), default=2000, help="tokens scored per point (default %(default)s)")
    p.add_argument("--calibration-tokens", type=RANGES["calibration_tokens"].parser(), default=1024, help="(default %(default)s)")
    p.add_argument("--workers", type=RANGES["workers"].parser(), default=None, help="local worker processes (default: the cores)")
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="run the points as Ray tasks on this cluster")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_sweep)

    p = sub.add_parser("report", help="spikes, synaptic ops and energy per layer and token, from the last simulate run")
    p.add_argument("build", type=Path)
    p.add_argument("--format", default="md", choices=["json", "csv", "md", "tex"], help="(default %(default)s)")
    p.add_argument("--energy", default=None,
                   help="energy model: a shipped name (hw-45nm, snn-paper-45nm, loihi1-proxy) or a TOML file (default hw-45nm)")
    p.add_argument("--plots", type=Path, default=None, help="write PNG and PDF figures into this folder")
    p.add_argument("-o", "--output", type=Path, default=None, help="write the report to this file (default: stdout)")
    p.set_defaults(run=cmd_report)
    return ap


def _load(args: argparse.Namespace, need_tokenizer: bool = True):
    from .checkpoint import read_checkpoint
    from .frontends import LoadOptions, build_model
    from .tokenizers import find_tokenizer

    path = args.model if args.model is not None else zoo.path()
    ckpt = read_checkpoint(path)
    model = build_model(ckpt, LoadOptions(args.v_threshold, args.config))
    try:
        tokenizer = find_tokenizer(ckpt.path, model.config.vocab_size, args.tokenizer, getattr(model, "tokenizer", None))
    except UserError:
        if need_tokenizer or args.tokenizer is not None:
            raise
        tokenizer = None
    return ckpt, model, tokenizer


def _read_text(path: Path, option: str) -> str:
    from .files import read_user_file

    try:
        text = read_user_file(path, option).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); {option} takes UTF-8 text") from None
    if not text:
        raise UserError(f"{path}: the file is empty")
    return text


def _prompt(args: argparse.Namespace) -> str:
    """--prompt, or the text of --prompt-file (one of them), or 'The '."""
    if args.prompt_file is not None:
        if args.prompt is not None:
            raise UserError("--prompt and --prompt-file exclude each other: give the prompt one way")
        return _read_text(args.prompt_file, "--prompt-file")
    return "The " if args.prompt is None else args.prompt


def _encode(tokenizer, text: str, option: str) -> list[int]:
    try:
        return tokenizer.encode(text)
    except UserError as exc:
        raise UserError(f"{option}: {exc}") from None


def _inspect_nir(args: argparse.Namespace) -> None:
    """A NIR graph as the importer reads it: nodes in execution order, shapes, parameters, the delays its loops get."""
    from .frontends.nir import graph_dt, import_graph, read_nir_file
    from .lower import lower

    g = read_nir_file(args.model)
    dt, dt_source = graph_dt(g, None)
    graph = import_graph(g, dt=dt)
    lowered = lower(graph)
    nodes = [{"name": name, "op": node.op.kind, "inputs": list(node.inputs), "size": node.op.size,
              "shape": list(getattr(node.op, "shape", ()) or ()) or None} for name, node in graph.nodes.items()]
    result = {"file": str(args.model), "family": "nir", "dt": dt, "dt_source": dt_source, "reset": "zero (NIR states none; export --reset subtract to change)",
              "nodes": nodes, "loops": [n["name"] for n in nodes if n["op"] == "SpikeDelay"],
              "lowered": [{"name": name, "op": node.op.kind, "inputs": list(node.inputs)} for name, node in lowered.nodes.items()]}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.model}  NIR graph, {len(g.nodes)} top-level nodes; dt {dt:g} s ({dt_source}); reset to zero "
          f"(--reset subtract to change)")
    width = max(len(n["name"]) for n in nodes) + 1
    print(f"  {'node':<{width}} {'op':<14} {'size':>7}  inputs")
    for n in nodes:
        print(f"  {n['name']:<{width}} {n['op']:<14} {n['size']:>7}  {', '.join(n['inputs']) or '-'}")
    if result["loops"]:
        print(f"loops read the previous step through: {', '.join(result['loops'])}")
    print(f"on the integer targets: {', '.join(f'{n.name} {n.op.kind}' for n in lowered.nodes.values())}")


def cmd_inspect(args: argparse.Namespace) -> None:
    import torch

    from .frontends.nir import is_nir_file

    if is_nir_file(args.model):
        return _inspect_nir(args)

    from .frontends.probe import probe

    ckpt, model, tokenizer = _load(args, need_tokenizer=args.text is not None)
    cfg = model.config
    ids = None
    if args.text is not None:
        source, ids = "--text", _encode(tokenizer, _read_text(args.text, "--text"), "--text")
    elif tokenizer is not None:
        try:
            source, ids = "a built-in sentence", tokenizer.encode(SAMPLE_TEXT)
        except UserError:
            why = "the built-in English sentence does not fit the vocabulary"
    else:
        why = "no tokenizer found"
    if ids is None:  # random token ids still show what feeds what
        source = f"random token ids ({why}; give --text for real text)"
        ids = torch.randint(0, cfg.vocab_size, (256,), generator=torch.Generator().manual_seed(0)).tolist()
    ids = ids[:min(2048, cfg.context or 2048)]
    with torch.no_grad(), probe(model) as measured:
        model(torch.tensor([ids]))
    ops = []
    for op in model.ops():
        entry = {"name": op.name, "op": op.op, "weight": list(op.weight_shape) if op.weight_shape else None,
                 "input": op.input, "input_kind": op.input_kind}
        if op.name in measured.inputs:
            stats = measured.inputs[op.name]
            entry["measured_input"] = stats.kind
            entry["measured_density"] = round(stats.density, 4)
        if op.name in measured.firing:
            entry["firing_rate"] = round(measured.firing[op.name].density, 4)
        ops.append(entry)
    title, config, notes = model.describe()
    result = {
        "file": str(ckpt.path), "sha256": ckpt.sha256, "stored_dtypes": list(ckpt.stored_dtypes),
        "family": model.family, "config": config,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokenizer": tokenizer.name if tokenizer else None, "measured_on": source,
        "measured_on_tokens": len(ids), "ops": ops,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{ckpt.path}  (sha256 {ckpt.sha256[:16]}…, stored as {', '.join(ckpt.stored_dtypes)})")
    print(f"family     {title}; tokenizer: {result['tokenizer'] or 'none found'}")
    print(f"parameters {result['parameters']:,}")
    for note in notes:
        print(f"           {note}")
    print(f"measured on {result['measured_on_tokens']} tokens of {source}:")
    width = max(len(e["name"]) for e in ops) + 1
    kind_width = max(22, *(len(e["op"]) for e in ops))
    print(f"  {'op':<{width}} {'kind':<{kind_width}} {'weight':<12} {'input':<34} measured")
    for e in ops:
        weight = "×".join(map(str, e["weight"])) if e["weight"] else "-"
        if "firing_rate" in e:
            seen = f"fires {e['firing_rate']:.1%}"
        elif "measured_input" in e:
            seen = f"{e['measured_input']}, {e['measured_density']:.0%} non-zero"
        else:
            seen = ""
        print(f"  {e['name']:<{width}} {e['op']:<{kind_width}} {weight:<12} {e['input']:<34} {seen}")
    binary = [e["name"] for e in ops if e.get("measured_input") == "binary"]
    print(f"inputs measured binary: {', '.join(binary) if binary else 'none'}; "
          f"every other Linear/norm receives non-binary values (graded events, MACs)")


def cmd_generate(args: argparse.Namespace) -> None:
    from .tasks.language import check_context, generate

    _, model, tokenizer = _load(args)
    args.prompt = _prompt(args)
    prompt_ids = _encode(tokenizer, args.prompt, "--prompt")
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


def cmd_export(args: argparse.Namespace) -> None:
    from .frontends.nir import is_nir_file

    if is_nir_file(args.model):
        return _export_nir(args)
    nir_only = [o for o, v in (("--dt", args.dt), ("--calibration-rate", args.calibration_rate),
                               ("--calibration-steps", args.calibration_steps)) if v is not None]
    if nir_only or args.reset != "zero":
        raise UserError(f"{', '.join(nir_only or ['--reset'])}: for NIR graphs; {args.model or 'the zoo model'} is a "
                        f"checkpoint")
    from .pipeline import export

    text = _read_text(args.calibration, "--calibration") if args.calibration else None
    manifest = export(args.model if args.model is not None else zoo.path(), args.target, args.output,
                      v_threshold=args.v_threshold, config=args.config, tokenizer_path=args.tokenizer, calibration_text=text,
                      calibration_source=str(args.calibration or ""), calibration_tokens=args.calibration_tokens,
                      payload_bits=args.payload_bits, block_rows=args.block_rows, system=args.system,
                      token_shift=args.token_shift, extension_ops=args.extension_ops, quiet=args.json)
    if args.json:
        print(json.dumps({"build": str(args.output), **manifest}, indent=2))
    else:
        m = manifest["model"]
        print(f"{args.output}: {m['title']} for target {manifest['target']} "
              f"({manifest['numeric']['weight_bits']}-bit weights, {manifest['numeric']['payload_bits']}-bit payloads, "
              f"token shift {manifest['token_shift']})")
        for why in manifest["extension_ops"]["why"].values():
            print(f"  {why}")
        if "partition" in manifest:
            p = manifest["partition"]
            t = p["traffic_per_step"]
            print(f"  {p['cores']} neurocores on {p['chips']} chip(s) of {p['system']} (lower bound {p['lower_bound_cores']}, "
                  f"{p['cores_over_bound']:.2f}x); synaptic memory used {p['synaptic_utilisation_mean']:.0%} on average; "
                  f"{p['embedded_cpu_ops']} ops on embedded x86 cores; messages per token: {t['same_core']:,} within a core, "
                  f"{t['across_cores']:,} across cores ({t['mesh_hops']:,} mesh hops), {t['across_chips']:,} across chips")


def _export_nir(args: argparse.Namespace) -> None:
    from .pipeline import export_nir

    if args.token_shift is not None:
        raise UserError("--token-shift: for language-model checkpoints; a NIR graph's delays are its own (loops)")
    if args.extension_ops is not None:
        raise UserError("--extension-ops: for language-model checkpoints (a NIR graph has no extension ops)")

    manifest = export_nir(args.model, args.target, args.output, dt=args.dt, reset=args.reset,
                          calibration=args.calibration, rate=args.calibration_rate, steps=args.calibration_steps,
                          payload_bits=args.payload_bits, block_rows=args.block_rows, system=args.system,
                          quiet=args.json)
    if args.json:
        print(json.dumps({"build": str(args.output), **manifest}, indent=2))
        return
    m = manifest["model"]
    print(f"{args.output}: NIR graph {manifest['source']['nir']} ({m['nodes']} nodes, input {'x'.join(map(str, m['input']))}, "
          f"output{'s' if len(m['outputs']) > 1 else ''} {', '.join(f'{k} ({v})' for k, v in m['outputs'].items())}; dt {m['dt']:g} s, reset to {m['reset']}) for target {manifest['target']}")
    print(f"  calibrated on {manifest['calibration']['source']}")
    if "partition" in manifest:
        p = manifest["partition"]
        print(f"  {p['cores']} neurocores on {p['chips']} chip(s) of {p['system']} (lower bound {p['lower_bound_cores']})")


class _Progress:
    """A status line on stderr for long runs: only on a terminal, never with --json, never over the text."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.start, self.shown = total, enabled, time.perf_counter(), 0.0

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self.shown < 0.5:
            return
        self.shown = now
        rate = done / max(now - self.start, 1e-9)
        eta = (self.total - done) / max(rate, 1e-9)
        print(f"\r[neurocompile] {done:,}/{self.total:,} tokens, {rate:,.0f} tokens/s, {eta:,.0f} s left (Ctrl-C ends "
              f"the run early and keeps its counters)", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.shown:
            print(file=sys.stderr)


def cmd_simulate(args: argparse.Namespace) -> None:
    from .build import RUN_FILE, read_build
    from .graph import context
    from .tasks.language import Simulation, check_context, simulate

    build = read_build(args.build, target="loihi2" if args.engine == "lava" else None)
    if build.task.name == "spikes":
        return _simulate_spikes(args, build)
    spike_only = [o for o, v in (("--input-spikes", args.input_spikes), ("--output-spikes", args.output_spikes)) if v]
    if spike_only or args.engine == "float":
        raise UserError(f"{', '.join(spike_only or ['--engine float'])}: for spike-train builds; {args.build} is a "
                        f"language model (give --prompt{'; the float model runs with `neurocompile generate`' if not spike_only else ''})")
    args.prompt = _prompt(args)
    prompt_ids = _encode(build.tokenizer, args.prompt, "--prompt")
    check_context(context(build.program.metadata), len(prompt_ids or [0]) + args.tokens,
                  f"--prompt ({len(prompt_ids)} tokens) and --tokens {args.tokens}")
    progress = _Progress(args.tokens, not args.json and sys.stderr.isatty() and not sys.stdout.isatty())
    done = 0

    def show(token: int) -> None:
        nonlocal done
        done += 1
        if not args.json:
            print(build.tokenizer.decode([token]), end="", flush=True)
        progress.update(done)

    if not args.json:
        print(args.prompt, end="", flush=True)
    with INTERRUPT.deferred():
        run: Simulation = simulate(build, prompt_ids, args.tokens, args.temperature, args.top_p, args.seed,
                                   engine=args.engine, spikes_out=args.spikes_out, on_token=show,
                                   stop=lambda: INTERRUPT.requested, collect=args.json)
    progress.close()
    if args.engine == "lava" and run.complete and not args.json:
        print(f"[neurocompile] ran {run.steps} tokens through Lava", file=sys.stderr)
    written = [str(run.run_file)] + ([str(run.spikes_file)] if run.spikes_file else [])
    lava = run.lava
    if args.json:
        print(json.dumps({"prompt": args.prompt, "completion": run.completion, "tokens": run.generated,
                          "steps": run.steps, "complete": run.complete, "seconds": round(run.seconds, 3),
                          "engine": args.engine, "seed": args.seed, "totals": run.totals, "per_step": run.per_step,
                          "units": run.UNITS, "nodes": run.table, "written": written,
                          **({"lava": lava} if lava else {})}, indent=2))
    else:
        t, steps = run.totals, run.steps
        print(f"\n\n[{run.generated} tokens generated ({steps} steps with the prompt) in {run.seconds:.2f} s, "
              f"{steps / max(run.seconds, 1e-9):.0f} steps/s, bit-accurate cpu engine, seed {args.seed}]", file=sys.stderr)
        print(f"per step (prompt included): {t['spikes'] / steps:.1f} spikes, {t['graded_events'] / steps:,.0f} graded "
              f"synaptic ops, {t['binary_events'] / steps:,.0f} binary synaptic ops, {t['op_evals'] / steps:,.0f} "
              f"extension-op evaluations", file=sys.stderr)
        print(f"whole run ({steps} steps): {t['saturations']:,} saturations, {t['wraps']:,} wraps", file=sys.stderr)
        rates = ", ".join(f"{r['node'].replace('blocks.', 'b')} {r['firing_rate']:.0%}" for r in run.table if "firing_rate" in r)
        print(f"firing rates: {rates}", file=sys.stderr)
        if lava:
            verdict = "identical" if lava["identical"] else "DIFFERENT"
            print(f"Lava engine ({lava['processes']} Lava processes, Loihi2SimCfg fixed_pt, pipeline latency "
                  f"{lava['latency']} steps, {lava['seconds']:.1f} s): logits and spikes of {len(lava['spikes_identical'])} "
                  f"LIF populations over {lava['tokens']} tokens are {verdict} to the cpu engine's", file=sys.stderr)
            if lava["netx_identical"]:
                same = sum(lava["netx_identical"].values())
                print(f"netx: {same} of {len(lava['netx_identical'])} netx files of the build, run by lava-dl's netx on "
                      f"the cpu engine's inputs, fire as the cpu engine", file=sys.stderr)
        print(f"[neurocompile] wrote {' and '.join(written)} ({RUN_FILE} is what `neurocompile report` reads)",
              file=sys.stderr)
    if not run.complete:
        print(f"[neurocompile] {INTERRUPT.what} after {run.generated:,} of {args.tokens:,} tokens: kept {' and '.join(written)}, "
              f"with the counters of the {run.steps:,} steps run{'; the Lava check was skipped' if args.engine == 'lava' else ''}",
              file=sys.stderr)
    if lava and not lava["identical"]:
        raise EngineMismatch(f"the Lava engine and the cpu engine disagree (logits identical: {lava['logits_identical']}, "
                             f"spikes: {lava['spikes_identical']}, netx files: {lava['netx_identical']}); please report "
                             f"this with the build directory")


def _language_only(args: argparse.Namespace, build) -> None:
    given = [o for o, v in (("--prompt", getattr(args, "prompt", None)), ("--spikes-out", getattr(args, "spikes_out", None)),
                            ("--text", getattr(args, "text", None)), ("--max-tokens", getattr(args, "max_tokens", 0)))
             if v]
    if given:
        raise UserError(f"{', '.join(given)}: for language models; {args.build} is a spike-train build (give "
                        f"--input-spikes)")
    if args.input_spikes is None:
        raise UserError(f"{args.build} is a spike-train build: give --input-spikes in.npz (array 'input' shaped "
                        f"[T, n] or [T, B, n] of 0/1)")


def _output_summary(values) -> dict:
    """An Output's raster in one figure: its spike count, or the mean of a graded output (a readout's voltage)."""
    return {"spikes": int(values.sum())} if values.dtype.kind == "i" else {"mean_value": float(values.mean())}


def _simulate_spikes(args: argparse.Namespace, build) -> None:
    from .tasks.spikes import input_shape, read_raster, simulate

    _language_only(args, build)
    raster = read_raster(args.input_spikes, input_shape(build.program), "--input-spikes")
    with INTERRUPT.deferred():
        run = simulate(build, raster, args.engine, args.output_spikes, stop=lambda: INTERRUPT.requested)
    written = [str(p) for p in (run.run_file, run.outputs_file) if p is not None]
    if args.json:
        print(json.dumps({"engine": run.engine, "steps": run.steps, "streams": run.streams, "complete": run.complete,
                          "seconds": round(run.seconds, 3), "totals": run.totals, "per_step": run.per_step,
                          "units": run.UNITS, "outputs": {k: {"shape": list(v.shape), **_output_summary(v)}
                                                          for k, v in run.outputs.items()},
                          "nodes": run.table, "written": written, **({"lava": run.lava} if run.lava else {})}, indent=2))
    else:
        outs = ", ".join(f"{k} " + (f"{v.sum():,} spikes" if v.dtype.kind == "i" else f"mean value {v.mean():.4g} (graded)")
                         for k, v in run.outputs.items())
        print(f"{run.steps} time steps x {run.streams} stream(s) on the {run.engine} engine in {run.seconds:.2f} s: {outs}")
        if run.totals:
            t, n = run.totals, max(run.steps * run.streams, 1)
            print(f"per time step and stream: {t['spikes'] / n:.2f} spikes, {t['binary_events'] / n:,.1f} binary and "
                  f"{t['graded_events'] / n:,.1f} graded synaptic ops; whole run: {t['saturations']:,} saturations, "
                  f"{t['wraps']:,} wraps")
        if run.lava:
            lava = run.lava
            verdict = "identical" if lava["identical"] else "DIFFERENT"
            print(f"Lava ({lava['processes']} processes per stream, Loihi2SimCfg fixed_pt, pipeline latency "
                  f"{lava['latency']} steps removed): outputs and {len(lava['spikes_identical'])} spiking populations "
                  f"{verdict} to the cpu engine's; the output file holds Lava's")
        if written:
            print(f"[neurocompile] wrote {' and '.join(written)}", file=sys.stderr)
    if not run.complete:
        print(f"[neurocompile] {INTERRUPT.what} after {run.steps:,} time steps: kept {' and '.join(written)}", file=sys.stderr)
    if run.lava and not run.lava["identical"]:
        raise EngineMismatch(f"the Lava engine and the cpu engine disagree (outputs identical: "
                             f"{run.lava['outputs_identical']}, spikes: {run.lava['spikes_identical']}); please report "
                             f"this with the build directory")


def _evaluate_spikes(args: argparse.Namespace, build) -> None:
    from .tasks.spikes import evaluate, input_shape, read_raster

    _language_only(args, build)
    raster = read_raster(args.input_spikes, input_shape(build.program), "--input-spikes")
    result = evaluate(build, raster)
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


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .build import read_build
    from .tasks.language import evaluate, evaluation_ids

    build = read_build(args.build)
    if build.task.name == "spikes":
        return _evaluate_spikes(args, build)
    if args.input_spikes is not None:
        raise UserError(f"--input-spikes: for spike-train builds; {args.build} is a language model (give --text)")
    text = _read_text(args.text, "--text") if args.text is not None else None
    try:
        ids, source = evaluation_ids(build.tokenizer, text, args.max_tokens)
    except UserError as exc:
        raise UserError(f"--text: {exc}" if text is not None else str(exc)) from None
    source = str(args.text) if args.text is not None else source
    result = evaluate(build, ids, quiet=args.json)
    if args.json:
        print(json.dumps({"text": source, "tokens": result.tokens, "float_bpc": result.float_bpc,
                          "int_bpc": result.int_bpc, "ratio": result.ratio, "unit": build.tokenizer.unit,
                          "window": result.window, "spike_agreement": result.spike_agreement,
                          "saturations": result.saturations, "wraps": result.wraps}, indent=2))
        return
    unit = f"bits per {build.tokenizer.unit}"
    windows = f", windows of {result.window} from position 0 (the model's context)" if result.window else ""
    print(f"{source}: {result.tokens} tokens in {result.streams} streams{windows} ({unit})")
    label = f"integer ({build.manifest['target']})"
    print(f"  {'float reference':<18}{result.float_bpc:.4f}")
    print(f"  {label:<18}{result.int_bpc:.4f}   ratio {result.ratio:.4f} ({(result.ratio - 1) * 100:+.2f} %)")
    agreement = ", ".join(f"{k.replace('blocks.', 'b')} {v:.1%}" for k, v in result.spike_agreement.items())
    print(f"  spike agreement with the float model: {agreement}")
    print(f"  saturations {result.saturations}, wraps {result.wraps}")


def _drops(text: str) -> tuple[int, ...]:
    try:
        drops = tuple(sorted({int(v) for v in text.split(",")}))
    except ValueError:
        raise UserError(f"--drop {text!r}: give bit counts such as 2,4") from None
    if not drops or any(not 1 <= k <= 7 for k in drops):
        raise UserError(f"--drop {text!r}: each count must be 1 to 7 bits")
    return drops


def cmd_sensitivity(args: argparse.Namespace) -> None:
    from .build import read_build
    from .report import check_plots
    from .tasks.language import evaluation_ids
    from .tasks.language.sensitivity import PLOT, markdown, sensitivity, write_plot

    build = read_build(args.build)
    if build.task.name != "language":
        raise UserError(f"{args.build}: sensitivity scores bits per token: it needs a language build, not a "
                        f"{build.task.name} one")
    if args.plots is not None:
        check_plots(args.plots, (PLOT,))
    text = _read_text(args.text, "--text") if args.text is not None else None
    ids, _ = evaluation_ids(build.tokenizer, text, args.max_tokens)
    result = sensitivity(build, ids, args.drop, quiet=args.json)
    if args.plots is not None:
        write_plot(result, args.plots)
    print(json.dumps(result.to_dict(), indent=2) if args.json else markdown(result), end="" if not args.json else "\n")


def cmd_sweep(args: argparse.Namespace) -> None:
    from . import files
    from .targets.cpu.simulator import cores
    from .tasks.language.sweep import read_grid, sweep, write_outputs

    from .checkpoint import read_checkpoint

    model = args.model if args.model is not None else zoo.path()
    grid = read_grid(args.grid)
    read_checkpoint(model)  # refused here, before any point runs, if it is not a checkpoint
    files.check_parent(args.output / "sweep.csv", "-o")
    for name in ("sweep.csv", "sweep.json", "pareto.png", "pareto.pdf"):
        files.check_file_target(args.output / name, "-o")
    rows = sweep(str(model), files.sha256(Path(model)), grid, args.output, args.max_tokens, args.calibration_tokens,
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


def cmd_report(args: argparse.Namespace) -> None:
    from . import files
    from .build import read_build
    from .energy import load_energy_model
    from .report import FORMATS, check_plots, make_report, write_plots

    if args.output is not None:
        files.check_file_target(args.output, "-o")
        files.check_parent(args.output, "-o")
    if args.plots is not None:
        check_plots(args.plots)
    model = load_energy_model(args.energy)
    build = read_build(args.build)
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


class _Interrupt:
    """SIGINT (Ctrl-C) and SIGTERM (what `timeout`, schedulers and containers send): raise KeyboardInterrupt (outputs
    are written whole or not at all, temporaries removed), except inside `deferred()`, where they only set
    `requested` and the running loop ends at its next step, keeping what it has.  The exit code says which:
    130 for SIGINT, 143 for SIGTERM (128 + the signal's number, as a shell reports it)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None  # the signal received, if any
        self.depth = 0
        self.running = False  # a command is running (its handler and hook are installed)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or signal.SIGINT)

    @property
    def what(self) -> str:
        return "terminated (SIGTERM)" if self.signum == signal.SIGTERM else "interrupted"

    def handler(self, signum, frame) -> None:
        self.signum = signum
        if not self.depth:
            raise KeyboardInterrupt

    @contextmanager
    def deferred(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def unraisable(self, args) -> None:
        """``sys.unraisablehook`` while a command runs.  A signal that lands inside a callback Python cannot propagate
        from (a lock's weakref callback in the import machinery, a finaliser) would be printed as "Exception
        ignored ... Traceback" and dropped, and the command would run on and write its output; instead it is
        delivered again a moment later, once the callback has returned."""
        if args.exc_type is not None and issubclass(args.exc_type, KeyboardInterrupt):
            again = self.signum or signal.SIGINT
            threading.Timer(0.01, lambda: self.running and signal.raise_signal(again)).start()
        else:
            sys.__unraisablehook__(args)


INTERRUPT = _Interrupt()


def _printable_streams() -> None:
    """Text that the terminal's encoding cannot show (a C locale, PYTHONIOENCODING=ascii) is printed escaped
    (``\\xe9``), never a traceback halfway through a command's output."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream: nothing to print to anyway
                pass


def main(argv: list[str] | None = None, *, exiting: bool = False) -> int:
    """Run one command; return its exit code.  `exiting`: the process ends right after (the console script),
    so the signals stay handled until it does -- a late Ctrl-C must not turn exit code 130 into death by signal."""
    INTERRUPT.signum = None
    previous = {sig: signal.signal(sig, INTERRUPT.handler) for sig in INTERRUPT.SIGNALS}
    previous_hook, sys.unraisablehook = sys.unraisablehook, INTERRUPT.unraisable
    INTERRUPT.running = True
    _printable_streams()
    try:
        args = _parser().parse_args(argv)
        args.run(args)
    except UserError as exc:
        print(f"neurocompile: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except EngineMismatch as exc:
        print(f"neurocompile: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nneurocompile: {INTERRUPT.what}; nothing was written (outputs are written whole or not at all)",
              file=sys.stderr)
        # CPython (3.11) marks a KeyboardInterrupt that leaves an exec() of a string as "unhandled" even when it is
        # caught later (libraries define functions that way: dataclasses, namedtuple), and Py_RunMain then ends the
        # process by SIGINT instead of our exit code 130.  Every exec() of a string clears that mark first.
        exec("None")
        return INTERRUPT.exit_code
    except MemoryError:
        print("neurocompile: error: out of memory; try a smaller model, fewer streams or fewer tokens", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder the system refused us; the commands check what they can first
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"neurocompile: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_IGN if exiting else handler)
        sys.unraisablehook = previous_hook
        INTERRUPT.running = False
    return INTERRUPT.exit_code if INTERRUPT.requested else 0


def entry() -> None:
    """The ``neurocompile`` console script."""
    sys.exit(main(exiting=True))


if __name__ == "__main__":
    entry()
