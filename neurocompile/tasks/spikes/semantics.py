"""The spike-train task: what a run of a network imported from NIR means.

Spikes in, spikes out, one time step per step.  An input raster is an ``.npz`` holding an array ``input`` (or its
only array) shaped ``[T, n]`` or ``[T, B, n]`` (B independent streams), of 0/1 spikes.  A run writes one array
per Output node, keyed by the node's name, shaped like the input (``[T, B, n]`` when B was given), integer spike
counts.  Calibration uses the user's raster, else Poisson spikes at a stated rate.  ``evaluate`` measures how far
the integer engine is from the graph's float semantics (the exporting framework's, see ``frontends/nir``), per
Output and per spiking population.  The report's unit is one time step.
"""
from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ... import files
from ...errors import UserError
from ...graph import FloatRun
from ...ops import Output
from ...task import totals as run_totals

if TYPE_CHECKING:
    from ...build import Build

UNIT = "time step"
INPUT_KEY = "input"
OUTPUT_FORMAT = "neurocompile.spikes/1"
ENGINES = ("cpu", "float")  # and the targets' own engines (``Target.engines``: loihi2's lava, xylo's xylosim)
DEFAULT_RATE = 0.2  # Poisson calibration input: spikes per input neuron and step
DEFAULT_STEPS = 256  # calibration steps per stream
CALIBRATION_STREAMS = 8
MAX_RASTER_BYTES = 1 << 31


def input_shape(program) -> tuple[int, ...]:
    """The map one step's input spikes form (C, H, W), or (n,)."""
    source = next(node for node in program.nodes.values() if not node.inputs)
    return tuple(source.q.shape)


def probe(program) -> np.ndarray:
    n = int(np.prod(input_shape(program)))
    return np.stack([np.zeros(n, np.int64), np.ones(n, np.int64)])  # silent, and every input spiking



# --------------------------------------------------------------------------------------------------
# Rasters
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raster:
    spikes: np.ndarray  # [T, B, n] int64, 0/1
    batched: bool  # the file gave B (outputs keep it)
    source: str
    labels: np.ndarray | None = None  # [B] class per stream, when the file has them (evaluate reports accuracy)

    @property
    def steps(self) -> int:
        return self.spikes.shape[0]

    @property
    def streams(self) -> int:
        return self.spikes.shape[1]


def read_raster(path: Path, shape: tuple[int, ...], option: str) -> Raster:
    """An input raster from an ``.npz`` the user gave; every way it can be wrong is one UserError naming it."""
    data = files.read_user_file(path, option)
    if len(data) > MAX_RASTER_BYTES:
        raise UserError(f"{path}: {len(data):,} bytes, over the {MAX_RASTER_BYTES:,} this reads whole; split the run")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            names = list(npz.files)
            key = INPUT_KEY if INPUT_KEY in names else names[0] if len(names) == 1 else None
            if key is None:
                raise UserError(f"{path}: {option} needs an array named {INPUT_KEY!r} (or a single array); found "
                                f"{', '.join(names) or 'none'}")
            array = npz[key]
            labels = npz["labels"] if "labels" in names and key != "labels" else None
    except UserError:
        raise
    except Exception as exc:  # zip, zlib and numpy's header parser (ast, tokenize) fail in many ways on a damaged file
        raise UserError(f"{path}: not an .npz of arrays numpy reads without pickles ({type(exc).__name__}: {exc}); "
                        f"save it with numpy.savez") from None
    raster = as_raster(array, shape, f"{path}: array {key!r}", str(path))
    if labels is not None:
        if labels.shape != (raster.streams,) or labels.dtype.kind not in "iu" or (labels < 0).any():
            raise UserError(f"{path}: array 'labels' has shape {labels.shape} ({labels.dtype}); it takes one class "
                            f"index >= 0 per stream, [{raster.streams}]")
        raster = Raster(raster.spikes, raster.batched, raster.source, labels.astype(np.int64))
    return raster


def as_raster(array: np.ndarray, shape: tuple[int, ...], where: str, source: str) -> Raster:
    """[T, *shape] or [T, B, *shape] (or flat: [T, n], [T, B, n]) of 0/1 -> a Raster; else one UserError."""
    n = int(np.prod(shape))
    array = np.asarray(array)
    forms = {(1 + len(shape), False): shape, (2 + len(shape), True): shape, (2, False): (n,), (3, True): (n,)}
    batched = next((b for (ndim, b), tail in forms.items() if array.ndim == ndim and array.shape[array.ndim - len(tail):] == tail),
                   None)
    if batched is None:
        dims = "x".join(map(str, shape))
        raise UserError(f"{where} has shape {array.shape}; this network takes [T, {dims}] or [T, B, {dims}] (time "
                        f"steps, streams, input{' map' if len(shape) > 1 else ' neurons'})")
    if array.shape[0] < 1 or (batched and array.shape[1] < 1):
        raise UserError(f"{where} has no time steps or no streams (shape {array.shape})")
    if array.dtype.kind not in "biuf":
        raise UserError(f"{where} has dtype {array.dtype}; spikes are numbers 0 and 1")
    bad = ~np.isin(array, (0, 1))
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise UserError(f"{where} holds {array[at]!r} at index {at}; spike rasters hold 0 and 1 only")
    spikes = array.astype(np.int64).reshape(array.shape[0], array.shape[1] if batched else 1, n)
    return Raster(spikes, batched, source)


def poisson(width: int, steps: int, streams: int, rate: float, seed: int = 0) -> Raster:
    """Independent Bernoulli spikes at `rate` per step (discrete Poisson), reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    spikes = (rng.random((steps, streams, width)) < rate).astype(np.int64)
    return Raster(spikes, True, f"Poisson spikes, rate {rate:g} per step, seed {seed}")


def calibration_raster(path: Path | None, shape: tuple[int, ...], rate: float, steps: int) -> tuple[torch.Tensor, dict]:
    """Streams [B, T, n] to measure value ranges on: the user's raster, else Poisson input; and what it was."""
    raster = read_raster(path, shape, "--calibration") if path is not None else \
        poisson(int(np.prod(shape)), steps, CALIBRATION_STREAMS, rate)
    spikes = raster.spikes
    info = {"source": raster.source, "sha256": hashlib.sha256(np.ascontiguousarray(spikes).tobytes()).hexdigest(),
            "streams": raster.streams, "steps": raster.steps, "rate": float(spikes.mean())}
    return torch.from_numpy(spikes.transpose(1, 0, 2).astype(np.float32)), info


# --------------------------------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------------------------------


def spiking_nodes(build: Build) -> list[str]:
    """The program's spiking populations (neurons), by name: what evaluate compares and Lava records."""
    return [name for name, node in build.program.nodes.items() if node.inputs and node.op_class.binary_output
            and node.op_class.feedthrough and node.op_class is not Output]


def output_names(build: Build) -> list[str]:
    """The Output nodes, in execution order: a run writes one raster per name."""
    return [node.name for node in build.program.outputs]


def output_values(build: Build, name: str, ints: np.ndarray) -> np.ndarray:
    frac = build.program.nodes[name].q.frac or 0
    return ints if frac == 0 else ints * 2.0**-frac


def _spiking(build: Build, name: str) -> bool:
    """Whether the Output carries spikes (else graded values: a readout's voltage)."""
    return build.graph.nodes[build.graph.nodes[name].inputs[0]].op.binary_output


def run_cpu(build: Build, raster: Raster, record: tuple[str, ...] = (), stop: Callable[[], bool] = lambda: False):
    """The bit-accurate engine over the raster: ({Output: [T', B, n]}, the simulator with its counters); T' < T when
    `stop()` ended the run early."""
    from ...targets.cpu.simulator import Simulator

    sim = Simulator(build.program, raster.streams, record)
    names = output_names(build)
    out: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for t in range(raster.steps):
        if stop():
            break
        sim.step(raster.spikes[t])
        for name in names:
            out[name].append(sim.values[name].copy())
    return {name: output_values(build, name, np.stack(v) if v else
                                 np.zeros((0, raster.streams, build.program.width(name)), np.int64))
            for name, v in out.items()}, sim


def run_float(build: Build, raster: Raster, record: tuple[str, ...] = ()) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The graph's float64 semantics (no quantization): ({Output: [T, B, n]}, recorded populations [T, B, n])."""
    run = FloatRun(build.graph, raster.streams)
    names = output_names(build)
    seen: dict[str, list[np.ndarray]] = {name: [] for name in (*names, *record)}
    with torch.no_grad():
        for t in range(raster.steps):
            run.step(torch.from_numpy(raster.spikes[t]).double())
            for name in seen:
                seen[name].append(run.values[name].numpy().copy())
    arrays = {name: np.stack(v) for name, v in seen.items()}
    outputs = {name: arrays[name].astype(np.int64) if _spiking(build, name) else arrays[name] for name in names}
    return outputs, {name: arrays[name] for name in record}


# --------------------------------------------------------------------------------------------------
# simulate
# --------------------------------------------------------------------------------------------------


@dataclass
class SpikeSimulation:
    engine: str
    steps: int  # time steps run (per stream)
    streams: int
    complete: bool  # False: ended early by `stop`
    seconds: float
    outputs: dict[str, np.ndarray]  # Output node -> [T, B, n] ([T, n] when the input had no B), as written
    table: list[dict] = field(default_factory=list)  # per node: counters summed over the run (integer engines)
    totals: dict[str, int] = field(default_factory=dict)
    run_file: Path | None = None
    outputs_file: Path | None = None
    lines: list[str] = field(default_factory=list)  # what a target's engine says of its run, to print
    check: dict = field(default_factory=dict)  # a target's engine: what ran, and whether it agreed with the cpu engine

    @property
    def lava(self) -> dict:
        """The check of a run on Lava (loihi2's engine); empty for other engines."""
        return self.check if self.engine == "lava" else {}

    UNITS = "totals: summed over the whole run (every stream); per_step: per time step and stream"

    @property
    def per_step(self) -> dict[str, float]:
        return {k: v / max(self.steps * self.streams, 1) for k, v in self.totals.items()}




def simulate(build: Build, raster: Raster, engine: str = "cpu", output_path: Path | None = None,
             stop: Callable[[], bool] = lambda: False) -> SpikeSimulation:
    """Run the raster on an engine and write its output rasters to `output_path`.  'cpu' and a target's own engine
    (``Target.engines``: lava, xylosim) also store the counters in the build (``run.npz``) for ``report``; a target's
    engine writes its own outputs, and checks them and every population it records against the cpu engine, bit for
    bit."""
    from ...runs import RUN_FILE
    from ...target import engine_target, target_engine, task_engines
    from . import TASK

    if engine not in task_engines(TASK):
        raise UserError(f"unknown engine {engine!r}; this build runs on {', '.join(task_engines(TASK))}")
    external = target_engine(engine)
    if external is not None and engine_target(engine).name != build.target.name:
        owner = engine_target(engine).name
        raise UserError(f"{build.path}: --engine {engine} runs {owner} builds; this one is for {build.target.name} "
                        f"(export with --target {owner})")
    if output_path is not None:
        files.check_file_target(output_path, "--output-spikes")
        files.check_parent(output_path, "--output-spikes")
    if engine != "float":
        files.check_file_target(build.path / RUN_FILE, "the run file")
    start = time.perf_counter()
    result = SpikeSimulation(engine, raster.steps, raster.streams, True, 0.0, {})
    if engine == "float":
        outputs, _ = run_float(build, raster)
    else:
        record = tuple(spiking_nodes(build)) if external is not None else ()
        outputs, sim = run_cpu(build, raster, record, stop)
        result.steps, result.complete = sim.steps, sim.steps == raster.steps
        result.run_file = build.save_run(sim, [], 0, result.complete)
        result.table = sim.table()
        result.totals = run_totals(result.table)
        if external is not None and result.complete:
            cpu = outputs
            ints, spikes, info, result.lines = external.run_spikes(build, raster, sim.recorded)
            outputs = {name: output_values(build, name, v) for name, v in ints.items()}
            same = {k: bool(np.array_equal(np.stack(sim.recorded[k]), v)) for k, v in spikes.items() if k in sim.recorded}
            out_same = all(np.array_equal(cpu[k], outputs[k]) for k in cpu)
            result.check = {**info, "outputs_identical": out_same, "spikes_identical": same,
                            "identical": out_same and all(same.values()) and info.get("agrees", True)}
    result.seconds = time.perf_counter() - start
    result.outputs = {name: v if raster.batched else v[:, 0] for name, v in outputs.items()}
    if output_path is not None:
        arrays = {files.NPZ_MARK: np.array(OUTPUT_FORMAT), **result.outputs}
        result.outputs_file = files.write_file(output_path, lambda tmp: np.savez_compressed(tmp, **arrays),
                                               "--output-spikes")
    return result


# --------------------------------------------------------------------------------------------------
# evaluate: the integer engine against the float semantics
# --------------------------------------------------------------------------------------------------


def graded_agreement(ints: np.ndarray, floats: np.ndarray) -> dict:
    """Two graded outputs [T, B, n] (a readout's voltage): Pearson r over every value, the largest and the mean
    absolute difference (relative to the float range), and argmax agreement of the time-summed values."""
    a, b = ints.astype(np.float64).ravel(), floats.astype(np.float64).ravel()
    r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else None
    span = float(np.ptp(b)) or 1.0
    return {"value_pearson_r": r, "max_abs_difference": float(np.abs(a - b).max()),
            "mean_abs_difference": float(np.abs(a - b).mean()),
            "max_abs_difference_over_range": float(np.abs(a - b).max()) / span,
            "mean_abs_difference_over_range": float(np.abs(a - b).mean()) / span,
            "argmax_agreement": float((ints.sum(0).argmax(-1) == floats.sum(0).argmax(-1)).mean())}


def agreement(ints: np.ndarray, floats: np.ndarray) -> dict:
    """Two rasters [T, B, n] of one population: spike-count Pearson r over (stream, neuron), exact raster match rate,
    argmax-of-counts agreement over streams, and the total count difference."""
    a, b = ints.sum(0).astype(np.float64).ravel(), floats.sum(0).astype(np.float64).ravel()
    r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else (1.0 if np.array_equal(a, b) else None)
    total_i, total_f = float(ints.sum()), float(floats.sum())
    return {"count_pearson_r": r, "raster_match": float((ints == floats).mean()),
            "argmax_agreement": float((ints.sum(0).argmax(-1) == floats.sum(0).argmax(-1)).mean()),
            "count_total_integer": total_i, "count_total_float": total_f, "count_difference": total_i - total_f,
            "count_difference_relative": (total_i - total_f) / total_f if total_f else None}


@dataclass(frozen=True)
class SpikeEvaluation:
    steps: int
    streams: int
    outputs: dict[str, dict]  # Output node -> agreement
    populations: dict[str, dict]  # spiking population -> agreement
    saturations: int
    wraps: int
    accuracy: dict[str, float] | None = None  # with labels: argmax of the first Output's counts = label, per engine


def evaluate(build: Build, raster: Raster) -> SpikeEvaluation:
    from ...ops import Tally

    populations = tuple(n for n in spiking_nodes(build) if n in build.graph.nodes)  # those the float graph names too
    ints, sim = run_cpu(build, raster, populations)
    floats, seen = run_float(build, raster, populations)
    counts = sim.totals
    accuracy = None
    if raster.labels is not None:
        first = output_names(build)[0]
        accuracy = {engine: float((out[first].sum(0).argmax(-1) == raster.labels).mean())
                    for engine, out in (("float", floats), ("integer", ints))}
    return SpikeEvaluation(
        raster.steps, raster.streams,
        {name: (agreement if _spiking(build, name) else graded_agreement)(ints[name], floats[name]) for name in ints},
        {name: agreement(np.stack(sim.recorded[name]), seen[name]) for name in populations},
        int(counts[:, Tally.FIELDS.index("saturations")].sum()), int(counts[:, Tally.FIELDS.index("wraps")].sum()),
        accuracy)


# --------------------------------------------------------------------------------------------------
# The task: the API's verbs
# --------------------------------------------------------------------------------------------------


def _raster_of(build: Build, spikes) -> Raster:
    if spikes is None:
        raise UserError(f"{build.path}: a spike-train build runs input spikes: pass input_spikes=")
    if isinstance(spikes, (str, Path)):
        return read_raster(Path(spikes), input_shape(build.program), "input_spikes")
    return as_raster(np.asarray(spikes), input_shape(build.program), "input_spikes", "an array")


def simulate_api(build: Build, *, engine: str = "cpu", input_spikes=None, output_spikes: Path | None = None,
                 **language) -> SpikeSimulation:
    """``Build.simulate`` of a spike-train build: run `input_spikes` (an array [T, n] or [T, B, n] of 0/1, or an .npz
    path) on `engine`."""
    return simulate(build, _raster_of(build, input_spikes), engine, output_spikes)


def evaluate_api(build: Build, *, input_spikes=None, **language) -> SpikeEvaluation:
    """``Build.evaluate`` of a spike-train build: the integer engine against the float semantics per output."""
    given = sorted(k for k in ("streams", "warmup", "workers", "ray") if k in language)
    if given:
        raise UserError(f"{', '.join(given)}: options of a language build's evaluation; this is a spike-train build")
    return evaluate(build, _raster_of(build, input_spikes))
