"""What a target is: data (numeric spec, later resources and energy) plus a backend, one folder each."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError


@dataclass(frozen=True)
class NumericSpec:
    """Bit widths of the integer program (every field with its reason in the target's module)."""

    name: str
    weight_bits: int  # synaptic weight mantissa, sign included
    state_bits: int  # neuron state and dendritic accumulators
    payload_bits: int  # graded spike payload: real-valued activations travel as these
    lif_input_bits: int  # LIF input: Lava adds a_in << 6 to a 24-bit current
    decay_bits: int  # LIF decay constants
    block_rows: int = 0  # rows of a weight matrix sharing one exponent (0: the whole matrix)

    def __post_init__(self) -> None:
        if not 2 <= self.payload_bits <= self.state_bits <= 24:
            raise ValueError("payload_bits <= state_bits <= 24 is required (exact float64 products, Lava's 24-bit state)")


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
    placement: Callable[[str], str] = lambda kind: "cpu"  # op kind -> where the target runs it
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

    def quantize(self, graph, peaks: dict[str, float], metadata: dict[str, str] | None = None,
                 spec: NumericSpec | None = None, after_each: Callable[[], object] = lambda: None):
        """A lowered graph's integer program as this target builds it: quantized under `spec` (default: the target's
        numeric spec) from the calibrated `peaks`, then rescaled by the target; returns (program, approximations
        the rescaling adds, for the manifest)."""
        from .quantize import quantize

        program = quantize(graph, spec or self.numeric, peaks, metadata, after_each)
        return self.rescale(graph, program)


def get_target(name: str) -> Target:
    from .targets import cpu, loihi2

    known = {t.name: t for t in (cpu.TARGET, loihi2.TARGET)}
    if name not in known:
        raise UserError(f"unknown target {name!r}; known targets: {', '.join(sorted(known))}")
    return known[name]
