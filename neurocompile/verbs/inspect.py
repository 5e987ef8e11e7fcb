"""`neurocompile inspect`: what a checkpoint or a NIR graph holds, measured on text."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError
from . import Verb
from .common import encode, load, model_arg, read_text

# A short English sample for measuring activations when the user gives no text.
SAMPLE_TEXT = (
    "The interpreter reads a statement, evaluates the expression and binds the result to a name. "
    "If the object is not found, an exception is raised and the stack is unwound."
)


def arguments(p: argparse.ArgumentParser) -> None:
    model_arg(p)
    p.add_argument("--text", type=Path, default=None, help="UTF-8 text to measure activations on (default: a built-in sentence)")


def _inspect_nir(args: argparse.Namespace) -> None:
    """A NIR graph as the importer reads it: nodes in execution order, shapes, parameters, the delays its loops get."""
    from ..frontends.nir import graph_dt, import_graph, read_nir_file
    from ..lower import lower

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


def _inspect_netx(args: argparse.Namespace) -> None:
    """A netx network as the importer reads it: per layer its type, neurons, weight exponent and neuron integers."""
    from ..frontends.netx import read_netx

    layers = read_netx(args.model)
    rows = [{"layer": layer.index, "type": layer.kind, "neurons": layer.size,
             "inputs": None if layer.halves is None else int(layer.halves.shape[1]),
             "weight_exponent": None if layer.halves is None else layer.exponent,
             "delays": None if layer.delays is None else [int(layer.delays.min()), int(layer.delays.max())],
             **({} if layer.neuron is None else {k: sorted(set(getattr(layer.neuron, k).tolist()))[:4]
                                                 for k in ("du", "dv", "vth", "bias_mant")})} for layer in layers]
    if args.json:
        print(json.dumps({"file": str(args.model), "family": "netx", "layers": rows}, indent=2))
        return
    print(f"{args.model}  lava-dl netx network, {len(layers)} layers (Lava's integers: exported as they are)")
    for r in rows:
        synapse = f", {r['inputs']} inputs, weight exponent {r['weight_exponent']}" if r["inputs"] is not None else ""
        synapse += f", synaptic delays {r['delays'][0]}..{r['delays'][1]} steps" if r["delays"] else ""
        neuron = f"; du {r['du']}, dv {r['dv']}, vth {r['vth']}, bias {r['bias_mant']}" if "du" in r else ""
        print(f"  layer {r['layer']}: {r['type']}, {r['neurons']} neurons{synapse}{neuron}")


def run(args: argparse.Namespace) -> None:
    import torch

    from ..frontends.netx import is_netx_file
    from ..frontends.nir import is_nir_file

    if is_netx_file(args.model):
        return _inspect_netx(args)
    if is_nir_file(args.model):
        return _inspect_nir(args)

    from ..frontends.probe import probe

    ckpt, model, tokenizer = load(args, need_tokenizer=args.text is not None)
    cfg = model.config
    ids = None
    if args.text is not None:
        source, ids = "--text", encode(tokenizer, read_text(args.text, "--text"), "--text")
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


VERB = Verb("inspect", "family, config, parameters, ops and what feeds them (measured on text); for a "
                                       ".nir graph: its nodes as imported, loops, and what they lower to", arguments, run, order=1)
