"""The stages joined: export (frontend -> graph -> lower -> calibrate on the task's data -> quantize ->
partition on the target -> build directory)."""
from __future__ import annotations

from collections.abc import Callable

import hashlib
import json
import time
from dataclasses import asdict, replace
from pathlib import Path


from . import files
from .build import PARTITION_FILE, check_replaceable, write_build
from .checkpoint import read_checkpoint
from .errors import UserError
from .frontends import LoadOptions, build_model, family_of_model, trace
from .lower import NEURON_OPS_KEY, TOKEN_SHIFT_KEY, TOKEN_SHIFT_MODES, lower
from .ops import Op, integer_form
from .quantize import calibrate
from .target import get_target
from .tasks.language.semantics import _progress, calibration_windows
from .tokenizers import find_tokenizer


def export(checkpoint: Path, target_name: str, out: Path, *, v_threshold: float | None = None,
           config: Path | dict | None = None, tokenizer_path: Path | None = None,
           calibration_text: str | None = None, calibration_source: str = "", calibration_tokens: int = 4096,
           payload_bits: int | None = None, block_rows: int | None = None, system: str | None = None,
           token_shift: str | None = None, extension_ops: str | None = None, quiet: bool = False) -> dict:
    target, spec = _setup(target_name, out, payload_bits, block_rows, system)
    token_shift = _token_shift(target, token_shift)
    start = time.perf_counter()
    ckpt = read_checkpoint(checkpoint)
    model = build_model(ckpt, LoadOptions(v_threshold, config))
    ckpt.release()  # the checks read every weight: hold none of them resident until a stage needs it
    family = family_of_model(model)
    tokenizer = find_tokenizer(ckpt.path, model.config.vocab_size, tokenizer_path, getattr(model, "tokenizer", None))
    title, config_values, _ = model.describe()
    _progress(f"loaded {ckpt.path.name}: {title}", quiet)
    graph = trace(model)  # before calibration: a configuration it cannot compile is refused at once
    windows, cal_info = calibration_windows(tokenizer, calibration_text, calibration_source, calibration_tokens, model)
    neuron_ops, placed = resolve_extension_ops(target, graph, extension_ops)
    lowered = lower(graph, token_shift, neuron_ops)
    _check_fits(target, lowered)
    _progress(f"traced {len(graph.nodes)} nodes, lowered to {len(lowered.nodes)} (token shift: {token_shift}; "
              f"extension ops: {', '.join(f'{k} on {v}' for k, v in placed['placement'].items()) or 'none'})", quiet)
    peaks = calibrate(lowered, windows, after_each=ckpt.release)
    _progress(f"calibrated on {windows.numel()} tokens of {cal_info['source']}", quiet)
    program, rescaled = target.quantize(lowered, peaks, {"family": model.family, "target": target.name,
                                                         TOKEN_SHIFT_KEY: token_shift,
                                                         NEURON_OPS_KEY: ",".join(sorted(neuron_ops))},
                                        spec, after_each=ckpt.release)
    del lowered  # its folded float weights are the largest thing held; the program replaces them
    _check_runs(program, ckpt.path, "language")
    manifest = {
        "target": target.name,
        "task": "language",
        "source": {"checkpoint": ckpt.path.name, "sha256": ckpt.sha256},
        "model": {"family": model.family, "title": title, **config_values, "footprint": footprint(model)},
        "numeric": asdict(spec),
        "token_shift": token_shift,
        "extension_ops": placed,
        "calibration": cal_info,
        "approximations": APPROXIMATIONS + list(family.approximations) + op_approximations(program) + rescaled + (["calibration: on text the float model sampled itself (the default text "
                                             "does not fit its vocabulary; manifest calibration says how)"]
                                            if cal_info.get("sampled") else []),
    }
    return _place_and_write(target, system, graph, program, tokenizer, manifest, out, start, quiet, ckpt.release)


def _setup(target_name: str, out: Path, payload_bits: int | None, block_rows: int | None, system: str | None):
    target = get_target(target_name)
    if system is not None and target.resources is None:
        raise UserError(f"--system applies to partitioned targets (loihi2), not {target.name}")
    if system is not None and system not in target.resources.systems:
        raise UserError(f"unknown system {system!r}; known: {', '.join(target.resources.systems)}")
    files.check_parent(Path(out), "-o")
    check_replaceable(Path(out))
    spec = target.numeric
    if payload_bits is not None:
        spec = replace(spec, payload_bits=payload_bits)
    if block_rows is not None:
        spec = replace(spec, block_rows=block_rows)
    return target, spec


def _check_fits(target, lowered) -> None:
    """A target that maps the graph its own way (``Target.structure``) refuses one it cannot hold before anything is
    calibrated, naming the first rule the graph breaks."""
    if target.structure is not None:
        target.structure(lowered)


def _token_shift(target, asked: str | None) -> str:
    if asked is not None and asked not in TOKEN_SHIFT_MODES:
        raise UserError(f"--token-shift {asked!r}: choose one of {', '.join(TOKEN_SHIFT_MODES)}")
    return target.token_shift if asked is None else asked


def _check_runs(program, source: Path, task: str) -> None:
    """The check every reader of a build runs, before anything is written: a program whose scales the engines cannot
    run (a weight or mixing ratio far beyond what was calibrated, say) is refused here, naming the layer."""
    from .targets.cpu.simulator import check_program
    from .task import get_task

    check_program(program, source, get_task(task).probe, what="its integer program cannot run",
                  advice="the model's values are beyond what the target's fixed point holds at that layer; check "
                         "the checkpoint (or calibrate on other data)")


EXTENSION_MODES = ("neuron", "x86", "auto")


def parse_extension_ops(text: str) -> dict[str, str]:
    """``--extension-ops``: one mode for every kind ("neuron", "x86", "auto"), or ``KIND=MODE`` pairs separated by
    commas (kinds not named: auto); {kind, or "*" for the others: mode}."""
    if text in EXTENSION_MODES:
        return {"*": text}
    choices = {"*": "auto"}
    for part in text.split(","):
        kind, sep, mode = part.strip().partition("=")
        if not sep or not kind or mode not in EXTENSION_MODES:
            raise UserError(f"--extension-ops {text!r}: give {', '.join(EXTENSION_MODES)}, or KIND=MODE pairs separated "
                            f"by commas (e.g. LayerNorm=x86,WKV=neuron)")
        if choices.get(kind, mode) != mode and kind != "*":
            raise UserError(f"--extension-ops {text!r}: {kind}={choices[kind]} and {kind}={mode} contradict each other; "
                            f"give each kind once")
        choices[kind] = mode
    return choices


def resolve_extension_ops(target, graph, asked: str | None) -> tuple[frozenset[str], dict]:
    """The extension-op kinds to lower to neuron programs, and for the manifest: the mode, where each kind runs, why."""
    text = target.extension_ops if asked is None else asked
    choices = parse_extension_ops(text)
    ops: dict[str, tuple] = {}
    for node in graph.nodes.values():
        if node.op.neuron_program() is not None:
            ops.setdefault(node.op.kind, (node.op, node.op.size))
    unknown = sorted(set(choices) - {"*"} - set(ops))
    if unknown:
        raise UserError(f"--extension-ops {text!r}: the model has no {', '.join(unknown)} op; its ops with a "
                        f"neuron-program form: {', '.join(sorted(ops)) or 'none'}")
    placement, why = {}, {}
    for kind, (op, width) in ops.items():
        mode = choices.get(kind, choices["*"])
        if mode == "auto" and target.choose_extension is not None:
            placement[kind], why[kind] = target.choose_extension(op, width)
        else:
            placement[kind] = "neuron" if mode == "neuron" else "x86"
            why[kind] = f"--extension-ops {text}" if mode != "auto" else f"{target.name} has no timing model: x86"
    return frozenset(k for k, where in placement.items() if where == "neuron"), \
        {"mode": text, "placement": placement, "why": why}


def _place_and_write(target, system, graph, program, tokenizer, manifest: dict, out: Path, start: float,
                     quiet: bool, release: Callable[[], object] = lambda: None) -> dict:
    """The target's placement (partitioned targets) and files, then the build directory."""
    extra_files = {}
    if target.place is not None:
        placement = target.place(program, system)
        text = json.dumps(placement.to_dict(), indent=1, sort_keys=True) + "\n"
        extra_files[PARTITION_FILE] = lambda path, text=text: path.write_text(text)
        extra_files.update(target.extra_files(program))
        manifest["target_notes"] = target.notes(program)
        s = placement.summary()
        _progress(f"placed: {s['line']}", quiet)
        manifest["partition"] = s
    write_build(out, graph, program, tokenizer, manifest, extra_files, release)
    _progress(f"wrote {out} in {time.perf_counter() - start:.1f} s", quiet)
    return manifest


def export_nir(path: Path, target_name: str, out: Path, *, dt: float | None = None, reset: str = "zero",
               calibration: Path | None = None, rate: float | None = None, steps: int | None = None,
               payload_bits: int | None = None, block_rows: int | None = None, system: str | None = None,
               quiet: bool = False, nir_graph=None) -> dict:
    """A NIR graph (a file, or `nir_graph` in memory) -> a spike-train build: import (forward Euler at `dt`, the
    stated reset), lower to Loihi neurons, calibrate on the user's raster or Poisson input, quantize, place."""
    from .frontends.nir import graph_dt, import_graph, read_nir_file
    from .tasks.spikes.semantics import DEFAULT_RATE, DEFAULT_STEPS, calibration_raster

    if calibration is not None and rate is not None:
        raise UserError("--calibration and --calibration-rate exclude each other: a raster has its own rate")
    target, spec = _setup(target_name, out, payload_bits, block_rows, system)
    start = time.perf_counter()
    if nir_graph is None:
        raw = files.read_user_file(path, "the NIR file")  # hashed as read; nir.read reads the same path
        nir_graph = read_nir_file(path)
        source = {"nir": Path(path).name, "sha256": hashlib.sha256(raw).hexdigest()}
    else:
        source = {"nir": "a nir.NIRGraph in memory", "sha256": None}
    dt, dt_source = graph_dt(nir_graph, dt)
    graph, retimed = target.retime(import_graph(nir_graph, dt=dt, reset=reset), dt)
    lowered = lower(graph)
    _check_fits(target, lowered)
    _progress(f"imported {len(graph.nodes)} NIR nodes (dt {dt:g} s, {dt_source}; reset to {reset}), lowered to "
              f"{len(lowered.nodes)}", quiet)
    shape = lowered.input.op.shape
    windows, cal_info = calibration_raster(calibration, shape, DEFAULT_RATE if rate is None else rate,
                                           DEFAULT_STEPS if steps is None else steps)
    peaks = calibrate(lowered, windows) if target.program_for is None else {}  # a target's own program: its own use
    _progress(f"calibrated on {cal_info['source']}", quiet)
    program, rescaled = target.quantize(lowered, peaks, {"family": "nir", "target": target.name}, spec,
                                        calibration=windows)
    _check_runs(program, path if path is not None else Path("the NIR graph"), "spikes")
    manifest = {
        "target": target.name,
        "task": "spikes",
        "source": source,
        "model": {"family": "nir", "nodes": len(graph.nodes), "dt": dt, "dt_source": dt_source, "reset": reset,
                  "footprint": nir_footprint(nir_graph),
                  "input": list(shape), "outputs": {n.name: n.op.size for n in graph.outputs}},
        "numeric": asdict(spec),
        "calibration": cal_info,
        "approximations": [NIR_TIME, *([] if target.program_for else NIR_APPROXIMATIONS), *retimed,
                           *op_approximations(program), *rescaled],
    }
    return _place_and_write(target, system, graph, program, None, manifest, out, start, quiet)


def export_netx(path: Path, target_name: str, out: Path, *, system: str | None = None, reset_interval: int | None = None,
                reset_offset: int | None = None, quiet: bool = False) -> dict:
    """A lava-dl netx network (``.net``) -> a spike-train build whose program is the file's own integers (nothing is
    calibrated or quantized again: ``frontends/netx``), placed for the target.  `reset_interval`, `reset_offset`:
    as ``netx.hdf5.Network`` takes them (every layer's state cleared each interval, a step later per layer)."""
    from .frontends.netx import import_netx

    target, spec = _setup(target_name, out, None, None, system)
    if target.program_for is not None:
        raise UserError(f"{path}: a netx file holds Loihi 2's integers, which are its program; --target {target.name} "
                        f"makes its own program from a float graph: export the network's NIR graph instead")
    start = time.perf_counter()
    raw = files.read_user_file(path, "the netx file")  # hashed as read; h5py reads the same path
    if reset_offset is not None and reset_interval is None:
        raise UserError("--reset-offset: the phase of --reset-interval; give the interval too")
    graph, program, info = import_netx(path, reset_interval, reset_offset or 0)
    program = replace(program, spec=spec, metadata={**program.metadata, "target": target.name})
    _progress(f"read {len(info['layers'])} netx layers into {len(program.nodes)} nodes", quiet)
    _check_runs(program, path, "spikes")
    shape = graph.input.op.shape
    manifest = {
        "target": target.name,
        "task": "spikes",
        "source": {"netx": Path(path).name, "sha256": hashlib.sha256(raw).hexdigest()},
        "model": {"family": "netx", "nodes": len(graph.nodes), "dt": 1.0, "dt_source": "one time step (netx)",
                  "reset": "zero", "netx": info, "input": list(shape),
                  "outputs": {n.name: n.op.size for n in graph.outputs}},
        "numeric": asdict(spec),
        "calibration": {"source": "none: a netx file is already in Loihi's fixed point (its integers are the program)"},
        "approximations": NETX_APPROXIMATIONS + info["float_graph"],
    }
    return _place_and_write(target, system, graph, program, None, manifest, out, start, quiet)


def footprint(model) -> dict:
    """NeuroBench's footprint of the float model: every parameter and buffer at its element size (the `neurobench`
    package's ``Footprint``: ``numel * element_size`` over ``parameters()`` and ``buffers()``)."""
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    size += sum(b.numel() * b.element_size() for b in model.buffers())
    return {"bytes": int(size), "of": "the PyTorch model as loaded, parameters and buffers (NeuroBench's Footprint)"}


def nir_footprint(graph) -> dict:
    """The NIR graph's parameters at their element size, nested graphs included (a framework's own module may hold
    other parameters and buffers for the same network: snnTorch keeps beta and threshold per layer)."""
    import nir
    import numpy as np
    from dataclasses import fields

    def size(node) -> int:
        if isinstance(node, nir.NIRGraph):
            return sum(size(n) for n in node.nodes.values())
        return sum(np.asarray(getattr(node, f.name)).nbytes for f in fields(node)
                   if f.name not in ("input_type", "output_type", "metadata")
                   and isinstance(getattr(node, f.name), np.ndarray))

    return {"bytes": int(size(graph)), "of": "the NIR graph's parameters as stored, at their element size"}


# Named in every manifest: where the integer program departs from the float model, by design.
APPROXIMATIONS = [
    "weights: 8-bit mantissa, one power-of-two exponent per weight block (numeric.block_rows; 0 = per matrix)",
    "activations: fixed point with per-node power-of-two scales from calibration text, saturating (counted)",
    "LIF: Lava's strict v > vth instead of spikingjelly's v >= vth (differs only when v lands exactly on the threshold)",
    "LIF decay: dv = round(4096 / tau) (exact for tau = 2)",
]

def op_approximations(program) -> list[str]:
    """The approximations of the integer forms in `program` (``IntegerForm.approximation``), once each, in program
    order."""
    kinds = dict.fromkeys(node.kind for node in program.nodes.values())
    return [a for kind in kinds if (a := integer_form(Op.registry[kind], program.spec.name).approximation)]


NIR_TIME = "time: forward Euler at dt (model.dt), spikes and reset in the step that crosses the threshold (v > v_threshold)"
# the node-by-node quantizer's (``quantize``: loihi2, cpu); a target with its own program (``Target.program_for``) names
# its own
NIR_APPROXIMATIONS = [
    "neurons: Loihi's CUBA neuron (Lava LIF arithmetic): decays 1 - dt/tau rounded to 12 bits, 24-bit u and v "
    "(u wraps, v saturates), truncation toward zero in every decay",
    "thresholds: mantissa v_threshold x 2^f rounded to an integer (f: the input's fractional bits)",
    "weights: 8-bit mantissa, one power-of-two exponent per weight block, the neuron's input gain (dt/tau x r, "
    "CubaLIF: x dt/tau_syn x w_in) folded in; biases at the synapse output's scale",
    "voltage bias (dt/tau x v_leak): Loihi's 13-bit mantissa x 2^exp",
    "input scales: calibrated on the calibration raster (manifest calibration), with headroom for the synaptic "
    "current's sum over 1/du steps; saturations are counted",
]


NETX_APPROXIMATIONS = [
    "none in the integer program: the netx file's weights (as netx rescales and Lava truncates them), decays, "
    "thresholds and biases, in Lava's LIF arithmetic; netx's input layer applies no weight or bias transform, nor "
    "does this build",
    "float semantics (graph.nir, --engine float): the same network read as real numbers (NIR CubaLIF at one step "
    "per time step, Lava's units): no floor after the synapse's exponent, no truncation in the decays",
    "timing: netx's, in the program: Lava's Dense delivers one step late, so each dense layer reads the spikes of "
    "the step before (a one-step delay in front of its synapse)",
]


# --------------------------------------------------------------------------------------------------
# Running a build
# --------------------------------------------------------------------------------------------------
