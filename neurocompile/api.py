"""The command line's verbs as a small Python API, for notebooks and scripts.

    import neurocompile
    build = neurocompile.export("model.pt", target="loihi2", output="build/")   # -> a checked Build
    run = build.simulate(prompt="The ", tokens=100)                            # text, counters, files
    build.evaluate(max_tokens=2000).ratio                                       # integer / float bpc
    build.report(energy="hw-45nm").totals["energy_pj_per_token"]

Errors raise ``neurocompile.UserError`` with the message the command line prints.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .build import Build, read_build
from .errors import UserError


def export(model: str | Path | None = None, target: str = "loihi2", output: str | Path | None = None,
           **options: Any) -> Build:
    """Export a checkpoint (default: the zoo model) for `target` into `output` (default: a new temporary folder)
    and return the build, read back and checked.  `options`: those of ``neurocompile export`` (v_threshold,
    tokenizer_path, calibration_text, calibration_tokens, payload_bits, block_rows, system)."""
    from .models import zoo
    from .pipeline import export as export_build

    if model is not None and not isinstance(model, (str, Path)):
        raise UserError(f"export takes a checkpoint path, not a {type(model).__name__} (NIR graphs and snnTorch/Norse "
                        f"modules arrive with the NIR importer)")
    out = Path(output) if output is not None else Path(tempfile.mkdtemp(prefix="neurocompile-")) / "build"
    export_build(Path(model) if model is not None else zoo.path(), target, out, quiet=True, **options)
    return read_build(out)
