"""The stages joined: export (frontend -> graph -> lower -> calibrate on the task's data -> quantize ->
partition on the target -> build directory)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path


from . import files
from .build import PARTITION_FILE, check_replaceable, write_build
from .checkpoint import read_checkpoint
from .errors import UserError
from .frontends import build_model, trace
from .lower import lower
from .quantize import calibrate, quantize
from .target import get_target
from .tasks.language import _progress, calibration_windows
from .tasks.language.tokenizers import find_tokenizer


def export(checkpoint: Path, target_name: str, out: Path, *, v_threshold: float = 1.0, tokenizer_path: Path | None = None,
           calibration_text: str | None = None, calibration_source: str = "", calibration_tokens: int = 4096,
           payload_bits: int | None = None, block_rows: int | None = None, system: str | None = None,
           quiet: bool = False) -> dict:
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
    start = time.perf_counter()
    ckpt = read_checkpoint(checkpoint)
    model = build_model(ckpt, v_threshold=v_threshold)
    tokenizer = find_tokenizer(ckpt.path, model.config.vocab_size, tokenizer_path)
    _progress(f"loaded {ckpt.path.name}: SpikeGPT L{model.config.n_layer} C{model.config.n_embd} V{model.config.vocab_size}", quiet)
    windows, cal_info = calibration_windows(tokenizer, calibration_text, calibration_source, calibration_tokens)
    graph = trace(model)
    lowered = lower(graph)
    _progress(f"traced {len(graph.nodes)} nodes, lowered to {len(lowered.nodes)}", quiet)
    peaks = calibrate(lowered, windows)
    _progress(f"calibrated on {windows.numel()} tokens of {cal_info['source']}", quiet)
    program = quantize(lowered, spec, peaks, {"family": model.family, "target": target.name})
    del lowered  # its folded float weights are the largest thing held; the program replaces them
    extra_files = {}
    placement = None
    if target.place is not None:
        placement = target.place(program, system)
        text = json.dumps(placement.to_dict(), indent=1, sort_keys=True) + "\n"
        extra_files[PARTITION_FILE] = lambda path, text=text: path.write_text(text)
        extra_files.update(target.extra_files(program))
        s = placement.summary()
        _progress(f"partitioned onto {s['cores']} cores ({s['chips']} chip(s) of {s['system']}), lower bound "
                  f"{s['lower_bound_cores']}", quiet)
    manifest = {
        "target": target.name,
        "source": {"checkpoint": ckpt.path.name, "sha256": ckpt.sha256},
        "model": {"family": model.family, "n_layer": model.config.n_layer, "n_embd": model.config.n_embd,
                  "vocab_size": model.config.vocab_size, "v_threshold": v_threshold, "tau": model.config.tau},
        "numeric": asdict(spec),
        "calibration": cal_info,
        "approximations": APPROXIMATIONS,
    }
    if placement is not None:
        manifest["partition"] = placement.summary()
    write_build(out, graph, program, tokenizer, manifest, extra_files)
    _progress(f"wrote {out} in {time.perf_counter() - start:.1f} s", quiet)
    return manifest


# Named in every manifest: where the integer program departs from the float model, by design.
APPROXIMATIONS = [
    "weights: 8-bit mantissa, one power-of-two exponent per weight block (numeric.block_rows; 0 = per matrix)",
    "activations: fixed point with per-node power-of-two scales from calibration text, saturating (counted)",
    "LIF: Lava's strict v > vth instead of spikingjelly's v >= vth (differs only when v lands exactly on the threshold)",
    "LIF decay: dv = round(4096 / tau) (exact for tau = 2)",
    "sigmoid: 4096-entry table over [-8, 8), output Q0.15",
    "WKV exp: 16384-entry table exp(-x), x in [0, 16), step 2^-10, Q0.15; one rounded division per channel",
    "LayerNorm: integer square root and rounded division (embedded CPU)",
]


# --------------------------------------------------------------------------------------------------
# Running a build
# --------------------------------------------------------------------------------------------------
