"""Runs as storage: a simulation's counters in a build directory (``run.npz``), written atomically and read back
checked.  A run names the program it ran (the sha256 the build's manifest lists for ``program.h5``) and is refused by
any other; what a run *means* (its unit, its text) is its task's, what it *costs* the report's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import files
from .errors import UserError
from .ops import Tally

RUN_FILE = "run.npz"  # written by `simulate` into the build directory
RUN_FORMAT = "neurocompile.run/2"  # /2: the run names its build's program (its sha256)
TEXT_HEAD = 256  # tokens of a run's text kept for the report's header (memory stays flat in the run's length)


@dataclass(frozen=True)
class Run:
    totals: np.ndarray  # [nodes, fields], summed over steps and streams
    steps: int  # steps (tokens) per stream
    tokens: list[int]  # the first TEXT_HEAD tokens of stream 0
    streams: int
    complete: bool = True  # False: the run was interrupted, and these are the counters of its first `steps` tokens
    generated: int = 0  # of the steps, generated tokens (each waits for the previous); the rest streamed (prefill)


def save_run(folder: Path, program, program_sha256: str, sim, tokens_head: list[int], seed: int,
             complete: bool = True, generated: int = 0) -> Path:
    """Store a simulation's counters (running sums) in `folder` (a build directory), atomically.  `generated`: how
    many of its steps were generated tokens (each waits for the one before it; the others -- a prompt, a spike
    train -- streamed through the pipeline)."""
    arrays = {files.NPZ_MARK: np.array(RUN_FORMAT), "totals": sim.totals, "steps": np.int64(sim.steps),
              "generated": np.int64(generated),
              "nodes": np.array(list(program.nodes)), "fields": np.array(Tally.FIELDS),
              "tokens_head": np.asarray(tokens_head[:TEXT_HEAD], np.int64), "seed": np.int64(seed),
              "streams": np.int64(sim.batch), "complete": np.bool_(complete), "program": np.array(program_sha256)}
    return files.write_file(Path(folder) / RUN_FILE, lambda tmp: np.savez_compressed(tmp, **arrays), "the run file")


def load_run(folder: Path, program, program_sha256: str, vocab: int | None = None) -> Run:
    """The run stored in `folder`, checked: our format, this program's nodes and counters, this program's hash
    (a run copied from another build is refused), counters of the right shape and sign, and (`vocab`) token ids in
    range."""
    folder = Path(folder)
    path = folder / RUN_FILE
    if not path.is_file():
        raise UserError(f"{folder}: no run to report on; run `neurocompile simulate {folder}` first")
    again = f"run `neurocompile simulate {folder}` again"
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data[files.NPZ_MARK]) != RUN_FORMAT:
                raise ValueError(f"format {str(data[files.NPZ_MARK])!r}, expected {RUN_FORMAT!r}")
            nodes, fields_ = [str(x) for x in data["nodes"]], [str(x) for x in data["fields"]]
            run = Run(np.asarray(data["totals"]), int(data["steps"]), [int(t) for t in data["tokens_head"]],
                      int(data["streams"]), bool(data["complete"]), int(data["generated"]))
            recorded = str(data["program"])
    except Exception as exc:  # zip, zlib and numpy's header parser (ast, tokenize) fail in many ways on a damaged file
        raise UserError(f"{path}: damaged or not a neurocompile run ({type(exc).__name__}: {exc}); {again}") from None
    if nodes != list(program.nodes) or fields_ != list(Tally.FIELDS):
        raise UserError(f"{path}: recorded for another program or version; {again}")
    if recorded != program_sha256:
        raise UserError(f"{path}: the run of another build (its program {recorded[:12]}…, this build's "
                        f"{program_sha256[:12]}…): a run is reported with the build that made it; {again}")
    if (run.totals.shape != (len(nodes), len(fields_)) or run.totals.dtype.kind not in "iu" or (run.totals < 0).any()
            or run.steps < 1 or run.streams < 1 or not 0 <= run.generated <= run.steps
            or (vocab is not None and any(not 0 <= t < vocab for t in run.tokens))):
        raise UserError(f"{path}: damaged (counters of the wrong shape or sign, or no steps); {again}")
    return Run(run.totals.astype(np.int64), run.steps, run.tokens, run.streams, run.complete, run.generated)
