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

from dataclasses import dataclass

from . import build as storage
from .errors import UserError
from .options import check


@dataclass(frozen=True)
class Build(storage.Build):
    """A checked build directory with the command line's verbs, for notebooks and scripts (errors raise UserError
    with the CLI's message).  The verbs are the build's task's (``neurocompile.task``)."""

    def simulate(self, prompt: str = "The ", tokens: int = 200, temperature: float = 0.8, top_p: float = 0.9,
                 seed: int = 0, engine: str = "cpu", spikes_out: Path | None = None, *, input_spikes=None,
                 output_spikes: Path | None = None):
        """Language builds: generate on the bit-accurate engine (``engine='lava'``: also replay through Lava and
        compare); returns a ``Simulation`` (text, counters, files).  Spike-train builds: run `input_spikes` (an
        array [T, n] or [T, B, n] of 0/1, or an .npz path) on ``engine`` 'cpu', 'lava' or 'float'; returns a
        ``SpikeSimulation`` (output rasters, counters, files).  Integer runs store their counters for ``report``."""
        from .target import engine_target, task_engines

        if engine not in task_engines(self.task):
            raise UserError(f"engine: choose {', '.join(task_engines(self.task))} for this {self.task.name} build, got "
                            f"{engine!r}")
        owner = engine_target(engine)
        if owner is not None and self.manifest["target"] != owner.name:
            raise UserError(f"{self.path}: built for target {self.manifest['target']!r}, not {owner.name!r}; the "
                            f"{engine} engine runs {owner.name} builds: export with target={owner.name!r}")
        return self.task.simulate(self, prompt=prompt, tokens=tokens, temperature=temperature, top_p=top_p, seed=seed,
                                  engine=engine, spikes_out=spikes_out, input_spikes=input_spikes,
                                  output_spikes=output_spikes)

    def evaluate(self, text: str | None = None, max_tokens: int = 0, *, input_spikes=None, streams: int | None = None,
                 warmup: int | None = None, workers: int | None = None, ray: str | None = None):
        """Language builds: bits per character (token) of the float graph and of the integer engine on `text`
        (default: the zoo corpus's held-out part), in `streams` windows each after a `warmup`, scored in `workers`
        local processes or as Ray tasks on the cluster at `ray` (``neurocompile evaluate``'s options).  Spike-train
        builds: agreement of the integer engine with the float semantics on `input_spikes`, per output and
        population."""
        scale = {k: v for k, v in (("streams", streams), ("warmup", warmup), ("workers", workers), ("ray", ray))
                 if v is not None}
        return self.task.evaluate(self, text=text, max_tokens=max_tokens, input_spikes=input_spikes, **scale)

    def report(self, energy: str | Path | None = None):
        """The energy report of the last simulation, under an energy model (a shipped name or a TOML file)."""
        from .energy import load_energy_model
        from .report import make_report

        model = load_energy_model(energy or self.target.energy_model)  # the target's own model by default
        return make_report(self.program, self.manifest, self.run(), model, placement=self.partition,
                           tokenizer=self.tokenizer)


def read_build(path: str | Path) -> Build:
    """A build directory, read and checked, with the verbs (``Build``)."""
    record = storage.read_build(Path(path))
    return Build(record.path, record.manifest, record.program, record.tokenizer)


# the options of `neurocompile export` by input kind, as the Python API names them
CHECKPOINT_OPTIONS = ("v_threshold", "config", "tokenizer_path", "calibration_text", "calibration_source",
                      "calibration_tokens", "payload_bits", "block_rows", "system", "token_shift", "extension_ops")
NIR_OPTIONS = ("dt", "reset", "calibration", "rate", "steps", "payload_bits", "block_rows", "system")
NETX_OPTIONS = ("system", "reset_interval", "reset_offset")


def export(model: Any = None, target: str = "loihi2", output: str | Path | None = None, *, sample_input: Any = None,
           **options: Any) -> Build:
    """Export `model` for `target` into `output` (default: a new temporary folder, removed again if the export
    fails) and return the build, read back and checked.  `model`: a checkpoint path (default: the zoo model), a
    ``.nir`` file, a lava-dl netx network (``.net``), a ``nir.NIRGraph``, or an snnTorch or Norse module (exported to NIR by its framework, on
    `sample_input`, one step's input).  `options`: those of ``neurocompile export``, checked as the command line
    checks them -- checkpoints: v_threshold, config, tokenizer_path, calibration_text, calibration_tokens,
    token_shift, extension_ops; NIR: dt, reset, calibration (an .npz raster), rate, steps; both: payload_bits,
    block_rows, system; netx: system, reset_interval, reset_offset (as ``netx.hdf5.Network`` takes them)."""
    import nir

    from .frontends.netx import is_netx_file
    from .frontends.nir import from_module, is_nir_file
    from .models import zoo
    from .pipeline import export as export_build
    from .pipeline import export_netx, export_nir

    if not isinstance(target, str):
        raise UserError(f"target: a target's name (loihi2, cpu), got {target!r}")
    if model is not None and not isinstance(model, (str, Path, nir.NIRGraph)):
        import torch

        if not isinstance(model, torch.nn.Module):
            raise UserError(f"export takes a checkpoint or .nir path, a nir.NIRGraph or an snnTorch/Norse module, not "
                            f"a {type(model).__name__}")
    is_netx = isinstance(model, (str, Path)) and is_netx_file(model)
    is_nir = not is_netx and (model is not None and not isinstance(model, (str, Path)) or is_nir_file(model))
    allowed = NETX_OPTIONS if is_netx else NIR_OPTIONS if is_nir else CHECKPOINT_OPTIONS
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        what = "netx network" if is_netx else "NIR graph" if is_nir else "checkpoint"
        raise UserError(f"export: unknown option(s) {', '.join(unknown)} for a {what}; it takes {', '.join(allowed)}")
    options = {name: check(name, value) for name, value in options.items()}
    scratch = Path(tempfile.mkdtemp(prefix="neurocompile-")) if output is None else None
    out = Path(output) if output is not None else scratch / "build"
    try:
        if is_netx:
            export_netx(Path(model), target, out, quiet=True, **options)
        elif is_nir:
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
