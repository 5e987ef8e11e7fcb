"""What a target is: data (numeric spec, later resources and energy) plus a backend, one folder each."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError
from .quantize import NumericSpec  # noqa: F401  (a target's numeric spec is the quantizer's)


@dataclass(frozen=True)
class Engine:
    """A target's own engine beside the task's (cpu, float): an outside bit-accurate simulator a build is replayed
    through and checked against, spike for spike (loihi2: Lava; xylo: SynSense's xylosim)."""

    name: str  # the value of --engine
    help: str  # one line for --help
    tasks: tuple[str, ...]  # the tasks whose builds it runs
    # spike-train builds: (build, raster, {population: the cpu engine's spikes per step}) -> ({Output: [T, B, n] integers},
    # {population: [T, B, n]} as the outside simulator fired, what ran (a dict; its "agrees" entry, when present,
    # is a verdict of its own that "identical" includes), lines to print)
    run_spikes: Callable[..., tuple[dict, dict, dict, list[str]]] | None = None
    # language builds: (build, the cpu engine's simulator with its recorded values, the tokens it stepped) -> (what ran
    # and whether it agreed: a dict with "identical", lines to print)
    run_language: Callable[..., tuple[dict, list[str]]] | None = None
    # program -> nodes the cpu engine must record for the engine's check, beyond the task's populations and outputs
    records: Callable[[Any], tuple[str, ...]] = lambda program: ()


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    numeric: NumericSpec
    resources: Any = None  # ResourceSpec, for targets that are partitioned into cores and chips
    # program -> {file name in the build directory: writer(path)}, for artifacts only this target has
    extra_files: Callable[[Any], dict[str, Callable[[Path], None]]] = lambda program: {}
    build_files: tuple[str, ...] = ()  # files every build for this target has (checked when a build is read)
    # program -> what the target says of its own files, kept in the manifest as ``target_notes`` (loihi2: each netx
    # pair's file, or why it has none)
    notes: Callable[[Any], dict] = lambda program: {}
    # (program, system or None) -> a Placement on cores and chips, for partitioned targets
    place: Callable[[Any, str | None], Any] | None = None
    read_placement: Callable[[Path, Any], Any] | None = None  # (file, program) -> the Placement, checked
    placement: Callable[[type], str] = lambda op: "cpu"  # op class -> where the target runs it
    # (program, placement, {node: events per step}) -> time per step and static energy, for partitioned targets
    timing: Callable[[Any, Any, dict], dict] | None = None
    # (program, placement) -> {sending node: messages per step, by kind (mesh_hops, across_chips, ...)}: routing
    traffic: Callable[[Any, Any], dict] | None = None
    # (program, placement, node -> layer name, unit) -> a matplotlib Figure of the placement, for partitioned targets
    placement_figure: Callable[[Any, Any, Callable[[str], str], str], Any] | None = None
    # how a weight matrix reading a token shift is built (``lower``): "fold" (a matrix per input) or "delay" (the mix
    # on a neuron program, one matrix); the default is the cheaper on this target, measured (docs/energy-comparison.md)
    token_shift: str = "fold"
    # (op, width) -> ("neuron" | "x86", why): where an extension op with a neuron-program form runs faster on this
    # target (``export --extension-ops auto``); None: always the embedded-CPU form
    choose_extension: Callable[[Any, int], tuple[str, str]] | None = None
    extension_ops: str = "x86"  # the default of --extension-ops
    # (lowered graph, program) -> (program, approximations it adds): the target's own changes of scale after
    # calibration (loihi2: a graded value read only by Dense -> LIF pairs carried at the LIF's resolution, so that
    # netx holds the pairs)
    rescale: Callable[[Any, Any], tuple[Any, list[str]]] = lambda graph, program: (program, [])
    # (lowered graph, metadata, spec, calibration input or None) -> (program, approximations): a target whose program
    # is not the lowered graph quantized node by node (xylo: one core's weight banks and populations, its scale chosen
    # on the calibration input); None: ``quantize`` node by node from the calibrated peaks
    program_for: Callable[[Any, dict, NumericSpec, Any], tuple[Any, list[str]]] | None = None
    # lowered graph -> [(node, op kind)] of the program this target makes of it (checked when a build is read); None:
    # the lowered graph's own nodes
    structure: Callable[[Any], list[tuple[str, str]]] | None = None
    # (imported float graph, dt) -> (graph, approximations): the target's timing made part of the float semantics
    # before lowering (xylo: the readout hears the hidden spikes a step later)
    retime: Callable[[Any, float], tuple[Any, list[str]]] = lambda graph, dt: (graph, [])
    engines: tuple[Engine, ...] = ()  # its own engines (``Engine``)
    energy_model: Any = None  # the report's default energy model for its builds (a TOML path; None: the shipped default)

    def quantize(self, graph, peaks: dict[str, float], metadata: dict[str, str] | None = None,
                 spec: NumericSpec | None = None, after_each: Callable[[], object] = lambda: None,
                 calibration: Any = None):
        """A lowered graph's integer program as this target builds it: quantized under `spec` (default: the target's
        numeric spec) from the calibrated `peaks`, then rescaled by the target -- or the target's own program from
        the `calibration` input; returns (program, approximations it adds, for the manifest)."""
        from .quantize import quantize

        if self.program_for is not None:
            return self.program_for(graph, metadata or {}, spec or self.numeric, calibration)
        program = quantize(graph, spec or self.numeric, peaks, metadata, after_each)
        return self.rescale(graph, program)


def targets() -> dict[str, Target]:
    """Every target, found rather than named: each package under ``neurocompile.targets`` that defines ``TARGET`` (a
    new chip is a new folder there; nothing here changes)."""
    from .plugins import find

    return {target.name: target for target in find("neurocompile.targets", "TARGET", Target)}


def engine_target(engine: str) -> Target | None:
    """The target whose own engine `engine` is (None: a task's engine, cpu or float)."""
    return next((t for t in targets().values() for e in t.engines if e.name == engine), None)


def task_engines(task) -> tuple[str, ...]:
    """The engines a task's simulate takes: its own, then every target's that runs its builds."""
    return (*task.engines, *(e.name for t in targets().values() for e in t.engines if task.name in e.tasks))


def target_engine(name: str) -> Engine | None:
    return next((e for t in targets().values() for e in t.engines if e.name == name), None)


def get_target(name: str) -> Target:
    known = targets()
    if name not in known:
        raise UserError(f"unknown target {name!r}; known targets: {', '.join(sorted(known))}")
    return known[name]
