"""The command line's verbs as a small Python API, for notebooks and scripts.

    import neurocompile
    build = neurocompile.export("model.pt", target="loihi2", output="build/")   # -> a checked Build
    run = build.simulate(prompt="The ", tokens=100)                            # text, counters, files
    build.evaluate(max_tokens=2000).ratio                                       # integer / float bpc
    build.report(energy="hw-45nm").totals["energy_pj_per_step"]

    build = neurocompile.export(snntorch_net, sample_input=torch.zeros(12))    # or a nir.NIRGraph, or "net.nir"
    run = build.simulate(input_spikes=raster, engine="lava")                   # raster [T, n] or [T, B, n] of 0/1
    build.evaluate(input_spikes=raster).outputs                                # integer against float, per output

Errors raise ``neurocompile.UserError`` with the message the command line prints.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from .build import Build, read_build
from .errors import UserError
from .options import check


# the options of `neurocompile export` by input kind, as the Python API names them
CHECKPOINT_OPTIONS = ("v_threshold", "config", "tokenizer_path", "calibration_text", "calibration_source",
                      "calibration_tokens", "payload_bits", "block_rows", "system", "token_shift", "extension_ops")
NIR_OPTIONS = ("dt", "reset", "calibration", "rate", "steps", "payload_bits", "block_rows", "system")


def export(model: Any = None, target: str = "loihi2", output: str | Path | None = None, *, sample_input: Any = None,
           **options: Any) -> Build:
    """Export `model` for `target` into `output` (default: a new temporary folder, removed again if the export
    fails) and return the build, read back and checked.  `model`: a checkpoint path (default: the zoo model), a
    ``.nir`` file, a ``nir.NIRGraph``, or an snnTorch or Norse module (exported to NIR by its framework, on
    `sample_input`, one step's input).  `options`: those of ``neurocompile export``, checked as the command line
    checks them -- checkpoints: v_threshold, config, tokenizer_path, calibration_text, calibration_tokens,
    token_shift, extension_ops; NIR: dt, reset, calibration (an .npz raster), rate, steps; both: payload_bits,
    block_rows, system."""
    import nir

    from .frontends.nir import from_module, is_nir_file
    from .models import zoo
    from .pipeline import export as export_build
    from .pipeline import export_nir

    if not isinstance(target, str):
        raise UserError(f"target: a target's name (loihi2, cpu), got {target!r}")
    if model is not None and not isinstance(model, (str, Path, nir.NIRGraph)):
        import torch

        if not isinstance(model, torch.nn.Module):
            raise UserError(f"export takes a checkpoint or .nir path, a nir.NIRGraph or an snnTorch/Norse module, not "
                            f"a {type(model).__name__}")
    is_nir = model is not None and not isinstance(model, (str, Path)) or is_nir_file(model)
    allowed = NIR_OPTIONS if is_nir else CHECKPOINT_OPTIONS
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(f"export: unknown option(s) {', '.join(unknown)} for a {'NIR graph' if is_nir else 'checkpoint'}; "
                        f"it takes {', '.join(allowed)}")
    options = {name: check(name, value) for name, value in options.items()}
    scratch = Path(tempfile.mkdtemp(prefix="neurocompile-")) if output is None else None
    out = Path(output) if output is not None else scratch / "build"
    try:
        if is_nir:
            graph = model if isinstance(model, nir.NIRGraph) else from_module(model, sample_input) \
                if model is not None and not isinstance(model, (str, Path)) else None
            export_nir(None if graph is not None else Path(model), target, out, quiet=True, nir_graph=graph, **options)
        else:
            export_build(Path(model) if model is not None else zoo.path(), target, out, quiet=True, **options)
        return read_build(out)
    except BaseException:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
