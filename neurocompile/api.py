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

import tempfile
from pathlib import Path
from typing import Any

from .build import Build, read_build
from .errors import UserError


def export(model: Any = None, target: str = "loihi2", output: str | Path | None = None, *, sample_input: Any = None,
           **options: Any) -> Build:
    """Export `model` for `target` into `output` (default: a new temporary folder) and return the build, read back
    and checked.  `model`: a checkpoint path (default: the zoo model), a ``.nir`` file, a ``nir.NIRGraph``, or an
    snnTorch or Norse module (exported to NIR by its framework, on `sample_input`, one step's input).  `options`:
    those of ``neurocompile export`` -- checkpoints: v_threshold, tokenizer_path, calibration_text,
    calibration_tokens; NIR: dt, reset, calibration (an .npz raster), rate, steps; both: payload_bits,
    block_rows, system."""
    import nir

    from .frontends.nir import from_module, is_nir_file
    from .models import zoo
    from .pipeline import export as export_build
    from .pipeline import export_nir

    out = Path(output) if output is not None else Path(tempfile.mkdtemp(prefix="neurocompile-")) / "build"
    graph = None
    if isinstance(model, nir.NIRGraph):
        graph = model
    elif model is not None and not isinstance(model, (str, Path)):
        import torch

        if not isinstance(model, torch.nn.Module):
            raise UserError(f"export takes a checkpoint or .nir path, a nir.NIRGraph or an snnTorch/Norse module, not "
                            f"a {type(model).__name__}")
        graph = from_module(model, sample_input)
    if graph is not None or is_nir_file(model):
        export_nir(None if graph is not None else Path(model), target, out, quiet=True, nir_graph=graph, **options)
    else:
        export_build(Path(model) if model is not None else zoo.path(), target, out, quiet=True, **options)
    return read_build(out)
