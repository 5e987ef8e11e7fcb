"""`neurocompile export`: a checkpoint (traced) or a NIR graph (imported), quantized, placed, written as a build."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError
from ..models import zoo
from ..options import RANGES
from . import Verb
from .common import model_arg, read_text


def arguments(p: argparse.ArgumentParser) -> None:
    model_arg(p)
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
    p.add_argument("--reset-interval", type=RANGES["reset_interval"].parser(), default=None, metavar="STEPS",
                   help="netx networks: clear every layer's state each STEPS steps, as netx.hdf5.Network's "
                        "reset_interval (a frame of STEPS steps)")
    p.add_argument("--reset-offset", type=RANGES["reset_offset"].parser(), default=None, metavar="STEPS",
                   help="netx networks: reset_offset, the first layer's phase (each layer one step later)")


def run(args: argparse.Namespace) -> None:
    from ..frontends.netx import is_netx_file
    from ..frontends.nir import is_nir_file

    if is_netx_file(args.model):
        return _export_netx(args)
    netx_only = [o for o, v in (("--reset-interval", args.reset_interval), ("--reset-offset", args.reset_offset))
                 if v is not None]
    if netx_only:
        raise UserError(f"{', '.join(netx_only)}: for lava-dl netx networks (.net); {args.model or 'the zoo model'} "
                        f"is not one")
    if is_nir_file(args.model):
        return _export_nir(args)
    nir_only = [o for o, v in (("--dt", args.dt), ("--calibration-rate", args.calibration_rate),
                               ("--calibration-steps", args.calibration_steps)) if v is not None]
    if nir_only or args.reset != "zero":
        raise UserError(f"{', '.join(nir_only or ['--reset'])}: for NIR graphs; {args.model or 'the zoo model'} is a "
                        f"checkpoint")
    from ..pipeline import export

    text = read_text(args.calibration, "--calibration") if args.calibration else None
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
    from ..pipeline import export_nir

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
    _placement_and_target_notes(manifest)


def _export_netx(args: argparse.Namespace) -> None:
    from ..pipeline import export_netx

    given = [o for o, v in (("--dt", args.dt), ("--calibration-rate", args.calibration_rate),
                            ("--calibration-steps", args.calibration_steps), ("--calibration", args.calibration),
                            ("--payload-bits", args.payload_bits), ("--block-rows", args.block_rows),
                            ("--token-shift", args.token_shift), ("--extension-ops", args.extension_ops)) if v is not None]
    if given or args.reset != "zero":
        raise UserError(f"{', '.join(given or ['--reset'])}: a netx network is already in Loihi's fixed point (its "
                        f"integers are the program): nothing to calibrate, choose or quantize")
    manifest = export_netx(args.model, args.target, args.output, system=args.system, reset_interval=args.reset_interval,
                           reset_offset=args.reset_offset, quiet=args.json)
    if args.json:
        print(json.dumps({"build": str(args.output), **manifest}, indent=2))
        return
    m = manifest["model"]
    layers = ", ".join(f"{layer['type']} {layer['neurons']}" for layer in m["netx"]["layers"])
    print(f"{args.output}: netx network {manifest['source']['netx']} ({layers}; input {'x'.join(map(str, m['input']))}) "
          f"for target {manifest['target']}")
    _placement_and_target_notes(manifest)


def _placement_and_target_notes(manifest: dict) -> None:
    """A spike-train build's placement, and what its target says of its own files in one line each (``summary`` in
    the target's notes: loihi2's whole-network netx file)."""
    if "partition" in manifest:
        p = manifest["partition"]
        print(f"  {p['line']}")
    for notes in manifest.get("target_notes", {}).values():
        if isinstance(notes, dict) and "summary" in notes:
            print(f"  {notes['summary']}")


VERB = Verb("export", "trace (a checkpoint) or import (a .nir graph, a netx .net), quantize and write a build "
                                      "directory for a target", arguments, run, order=3)
