"""Partition stage: an integer Program -> a Placement of every population and weight block on cores and chips.

Loihi-style placement: a Dense's synapses live in the core of the neurons they feed, so a Dense node is a
population of ``out`` neurons whose rows carry ``ports x in`` 8-bit weights each (a convolution held as its kernel:
the kernel once per core, spread over its neurons -- ``rules._kernel_row_bytes``); rows are split across
cores where a core fills up.  Neuron programs (LIF, gates, products, adds, token shifts and mixes, WKV as a
neuron program) are populations without synapses.  LayerNorm (and WKV in its x86 form) runs on the chip's
embedded x86 cores, on the chip where most of its input lives; token look-up and logits on the host.

Packing, in execution order (neighbours in the graph share cores, which keeps traffic local): first the
weight rows fill cores to their synaptic memory; then each neuron-only population goes row by row beside its
producer -- of several, the one placed furthest along the pipeline, so that a residual sum follows the block
that feeds it instead of pulling every block back to where the stream started -- in the leftover neuron slots
nearest to it, opening cores only when none is left; a population fed only by x86 or host ops (a token-shift
mix, a shift) goes beside its first placed reader instead.  The lower bound is ``max(total synaptic bytes / core bytes,
total neurons / core neurons)``.  Design rules are small named checks; each failure names the layer, the
limit, by how much it is exceeded and what to change.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from neurocompile.errors import UserError
from neurocompile.graph import steps_per_token
from neurocompile.quantize import Program

from . import rules


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    cores_per_chip: int
    neurons_per_core: int
    synaptic_memory_bytes: int
    embedded_cpus_per_chip: int
    max_payload_bits: int
    max_synaptic_delay: int  # steps a synapse may add to the one every synapse takes
    systems: dict[str, int]  # name -> chips
    sources: dict[str, str]
    mesh_columns: int = 16  # cores per row of a chip's mesh: core i sits at (i mod columns, i div columns)

    def hops(self, a: int, b: int) -> int:
        """Manhattan hops between two cores of one chip on the mesh (core indices are global; chip-local here)."""
        a, b = a % self.cores_per_chip, b % self.cores_per_chip
        return abs(a % self.mesh_columns - b % self.mesh_columns) + abs(a // self.mesh_columns - b // self.mesh_columns)


@dataclass
class Slice:
    node: str
    rows: tuple[int, int]  # [start, end) of the population's neurons
    synaptic_bytes: int


@dataclass
class Core:
    index: int
    chip: int
    slices: list[Slice] = field(default_factory=list)

    @property
    def neurons(self) -> int:
        return sum(s.rows[1] - s.rows[0] for s in self.slices)

    @property
    def synaptic_bytes(self) -> int:
        return sum(s.synaptic_bytes for s in self.slices)


@dataclass
class Placement:
    system: str
    chips_available: int
    cores: list[Core]
    x86_chip: dict[str, int]  # node -> the chip whose x86 cores run it (its work split across them)
    host: list[str]
    lower_bound: int
    traffic: dict[str, int]  # messages per token: same core, across cores on a chip, across chips
    resources: ResourceSpec

    @property
    def chips(self) -> int:
        return max((c.chip for c in self.cores), default=0) + 1

    def summary(self) -> dict:
        spec = self.resources
        syn = [c.synaptic_bytes / spec.synaptic_memory_bytes for c in self.cores]
        neu = [c.neurons / spec.neurons_per_core for c in self.cores]
        return {
            "line": f"{len(self.cores)} neurocores on {self.chips} chip(s) of {self.system} (lower bound "
                    f"{self.lower_bound})",
            "system": self.system, "chips_available": self.chips_available, "chips": self.chips,
            "cores": len(self.cores), "lower_bound_cores": self.lower_bound,
            "cores_over_bound": len(self.cores) / max(self.lower_bound, 1),
            "synaptic_utilisation_mean": sum(syn) / len(syn) if syn else 0.0, "synaptic_utilisation_max": max(syn, default=0.0),
            "neuron_utilisation_mean": sum(neu) / len(neu) if neu else 0.0, "neuron_utilisation_max": max(neu, default=0.0),
            "embedded_cpu_ops": len(self.x86_chip), "host_ops": len(self.host),
            "traffic_per_step": dict(self.traffic),
        }

    def report(self) -> dict:
        """What the energy report says of the placement (``resources``); ``text``: one sentence, ``{unit}`` left to
        fill."""
        s = self.summary()
        t = s["traffic_per_step"]
        text = (f"{s['cores']} neurocores on {s['chips']} chip(s) of {s['system']} (lower bound {s['lower_bound_cores']}); "
                f"synaptic memory {s['synaptic_utilisation_mean']:.0%} used on average (max "
                f"{s['synaptic_utilisation_max']:.0%}), neuron slots {s['neuron_utilisation_mean']:.0%} (max "
                f"{s['neuron_utilisation_max']:.0%}); {s['embedded_cpu_ops']} ops on embedded x86 cores; messages per "
                f"{{unit}} (upper bound): {t['same_core']:,} within a core, {t['across_cores']:,} across cores "
                f"({t.get('mesh_hops', 0):,} mesh hops, on an assumed core map), {t['across_chips']:,} across chips, "
                f"{t['to_cpu_or_host']:,} to x86 or host, {t.get('from_cpu_or_host', 0):,} from x86 or host")
        return {**s, "text": text, "per_core": [{"core": c.index, "chip": c.chip, "neurons": c.neurons,
                                                "synaptic_bytes": c.synaptic_bytes} for c in self.cores],
                "neurons_per_core": self.resources.neurons_per_core,
                "synaptic_memory_bytes": self.resources.synaptic_memory_bytes}

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "resources": asdict(self.resources),
                "cores": [{"core": c.index, "chip": c.chip, "neurons": c.neurons, "synaptic_bytes": c.synaptic_bytes,
                           "slices": [{"node": s.node, "rows": list(s.rows), "synaptic_bytes": s.synaptic_bytes}
                                      for s in c.slices]} for c in self.cores],
                "x86_chip": self.x86_chip, "host": self.host}

    @classmethod
    def from_dict(cls, d: dict, program: Program) -> "Placement":
        """Read back what ``to_dict`` wrote, and check it: every slice names a node of `program` and rows it has,
        and the stored summary is the one these cores give (so nothing in it was edited)."""
        summary = d["summary"]
        cores = [Core(int(c["core"]), int(c["chip"]),
                      [Slice(str(s["node"]), (int(s["rows"][0]), int(s["rows"][1])), int(s["synaptic_bytes"]))
                       for s in c["slices"]]) for c in d["cores"]]
        for core in cores:
            for s in core.slices:
                if s.node not in program.nodes or not 0 <= s.rows[0] < s.rows[1] <= rules.neurons(program, s.node):
                    raise ValueError(f"a slice names node {s.node!r} rows {s.rows[0]}..{s.rows[1]}, which the program lacks")
        placement = cls(str(summary["system"]), int(summary["chips_available"]), cores,
                        {str(k): int(v) for k, v in d["x86_chip"].items()}, [str(h) for h in d["host"]],
                        int(summary["lower_bound_cores"]), {str(k): int(v) for k, v in summary["traffic_per_step"].items()},
                        ResourceSpec(**d["resources"]))
        if any(not 0 <= chip < placement.chips_available for chip in placement.x86_chip.values()):
            raise ValueError("an x86 op is placed on a chip the system does not have")
        if placement.to_dict() != d:
            raise ValueError("its summary or resources disagree with its cores")
        return placement


def read_placement(path, program: Program) -> Placement:
    import json

    try:
        return Placement.from_dict(json.loads(path.read_text(encoding="utf-8")), program)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError,
            IndexError) as exc:
        raise UserError(f"{path}: not a valid partition of this build ({type(exc).__name__}: {exc}); export again") from None


# --------------------------------------------------------------------------------------------------
# Design rules
# --------------------------------------------------------------------------------------------------


def check_payload(program: Program, spec: ResourceSpec) -> None:
    if program.spec.payload_bits > spec.max_payload_bits:
        raise UserError(f"graded payloads of {program.spec.payload_bits} bits exceed {spec.name}'s "
                        f"{spec.max_payload_bits}; export with --payload-bits {spec.max_payload_bits} or fewer")


def check_weights(program: Program, spec: ResourceSpec) -> None:
    for node in program.nodes.values():
        if node.op_class.synapse and node.q.halves.dtype.name != "int8":
            raise UserError(f"layer {node.name}: weights exceed 8 bits; the quantizer should not produce this (a bug)")


def check_row_fits(name: str, row_bytes: int, spec: ResourceSpec) -> None:
    if row_bytes > spec.synaptic_memory_bytes:
        raise UserError(
            f"layer {name}: one neuron's synapses need {row_bytes:,} bytes, over the {spec.synaptic_memory_bytes:,} "
            f"bytes of synaptic memory per core by {row_bytes - spec.synaptic_memory_bytes:,}; reduce the fan-in "
            f"(model width) or describe a core with more memory")


def check_system(cores: int, chips: int, system: str, spec: ResourceSpec) -> None:
    available = spec.systems[system]
    if chips > available:
        fits = [f"{s} ({n} chips)" for s, n in sorted(spec.systems.items(), key=lambda kv: kv[1]) if n >= chips]
        hint = f"use --system {fits[0].split()[0]}" if fits else "no listed system is large enough"
        raise UserError(f"the model needs {cores:,} cores on {chips:,} chips; {system} has {available:,} chip(s) "
                        f"({available * spec.cores_per_chip:,} cores), short by {chips - available:,} chip(s); {hint}")


# --------------------------------------------------------------------------------------------------
# Packing
# --------------------------------------------------------------------------------------------------


def _populations(program: Program) -> tuple[list[tuple[str, int, int]], list[str], list[str]]:
    """(name, neurons, synaptic bytes per neuron) for neurocore populations; embedded-CPU ops; host ops."""
    populations, cpu, host = [], [], []
    for name, node in program.nodes.items():
        placement = rules.placement(node.op_class)
        if placement == "synapse":
            populations.append((name, program.width(name), rules.rule(node.op_class).row_bytes(node.q, program.spec.weight_bits)))
        elif placement == "neuron":
            populations.append((name, rules.neurons(program, name), 0))
        elif placement == "embedded_cpu":
            cpu.append(name)
        elif placement == "host":
            host.append(name)
        # "wire": a connection, nothing to place
    return populations, cpu, host


def _producers(program: Program, name: str) -> list[str]:
    """The populations whose values `name` reads, through wires (delays), in input order."""
    out = []
    for src in program.nodes[name].inputs:
        while rules.placement(program.nodes[src].op_class) == "wire":
            src = program.nodes[src].inputs[0]
        out.append(src)
    return out


def _x86_chips(program: Program, cores: list[Core], cpu: list[str]) -> dict[str, int]:
    """Each x86 op on the chip where most of its input lives (rows of the neurocore populations it reads, or the
    chip of the x86 op it reads); chip 0 for what reads only the host.  Its work is split across that chip's x86
    cores (LayerNorm's and WKV's per-channel work is independent across channels)."""
    rows_on: dict[str, dict[int, int]] = {}  # node -> chip -> rows there
    for core in cores:
        for s in core.slices:
            chips = rows_on.setdefault(s.node, {})
            chips[core.chip] = chips.get(core.chip, 0) + s.rows[1] - s.rows[0]
    chip_of: dict[str, int] = {}
    for name in cpu:  # in program order: an x86 op's x86 inputs are placed before it
        votes: dict[int, int] = {}
        for src in _producers(program, name):
            for chip, rows in rows_on.get(src, {chip_of[src]: program.width(src)} if src in chip_of else {}).items():
                votes[chip] = votes.get(chip, 0) + rows
        chip_of[name] = max(votes, key=lambda c: (votes[c], -c)) if votes else 0
    return chip_of


def _nearest_with_room(cores: list[Core], home: Core | None, spec: ResourceSpec) -> Core | None:
    """The core with a free neuron slot closest to `home` (same chip first, then by index; the first when no home)."""
    free = [c for c in cores if c.neurons < spec.neurons_per_core]
    if not free:
        return None
    if home is None:
        return free[0]
    return min(free, key=lambda c: (c.chip != home.chip, abs(c.index - home.index), c.index))


def partition(program: Program, spec: ResourceSpec, system: str) -> Placement:
    if system not in spec.systems:
        raise UserError(f"unknown system {system!r}; known: {', '.join(spec.systems)}")
    check_payload(program, spec)
    check_weights(program, spec)
    for node in program.nodes.values():
        rules.rule(node.op_class).check(node, spec)
    populations, cpu, host = _populations(program)
    cores: list[Core] = []

    def new_core() -> Core:
        core = Core(len(cores), len(cores) // spec.cores_per_chip)
        cores.append(core)
        return core

    # 1. weight rows fill synaptic memory, split across cores where needed
    core = None
    for name, neurons, row_bytes in populations:
        if row_bytes == 0:
            continue
        check_row_fits(name, row_bytes, spec)
        start = 0
        while start < neurons:
            if core is None or core.synaptic_bytes + row_bytes > spec.synaptic_memory_bytes or core.neurons >= spec.neurons_per_core:
                core = new_core()
            room = min((spec.synaptic_memory_bytes - core.synaptic_bytes) // row_bytes, spec.neurons_per_core - core.neurons)
            end = min(neurons, start + room)
            core.slices.append(Slice(name, (start, end), (end - start) * row_bytes))
            start = end
    # 2. neuron-only populations go next to what feeds them: each row on the core holding the same row of its
    #    producer (a synapse population, or a neuron population placed before it), on the nearest core with room
    placed: dict[str, list[tuple[int, int, Core]]] = {}  # node -> (row start, end, core)
    for core in cores:
        for sl in core.slices:
            placed.setdefault(sl.node, []).append((*sl.rows, core))

    def put(name: str, wanted) -> None:
        for start, stop, home in wanted:
            while start < stop:
                core = _nearest_with_room(cores, home, spec) or new_core()
                end = min(stop, start + spec.neurons_per_core - core.neurons)
                core.slices.append(Slice(name, (start, end), 0))
                placed.setdefault(name, []).append((start, end, core))
                start = end

    readers: dict[str, list[str]] = {}
    for node in program.nodes.values():
        for src in _producers(program, node.name):
            readers.setdefault(src, []).append(node.name)
    unanchored = []
    for name, neurons, row_bytes in populations:
        if row_bytes:
            continue
        candidates = [p for p in _producers(program, name) if p in placed and rules.neurons(program, p) == neurons]
        producer = max(candidates, key=lambda p: max(c.index for _, _, c in placed[p]), default=None)
        if producer is None:  # fed only by x86 or host ops (a token-shift mix, a shift): placed beside its reader below
            unanchored.append((name, neurons))
            continue
        put(name, sorted(placed[producer], key=lambda r: r[0]))
    # 3. the rest beside the first of their readers already placed (in reverse order: a shift's reader, a mix, first)
    for name, neurons in reversed(unanchored):
        reader = next((r for r in readers.get(name, []) if r in placed), None)
        home = min(placed[reader], key=lambda r: r[0])[2] if reader else None
        put(name, [(0, neurons, home)])
    total_bytes = sum(n * b for _, n, b in populations)
    total_neurons = sum(n for _, n, _ in populations)
    bound = max(math.ceil(total_bytes / spec.synaptic_memory_bytes), math.ceil(total_neurons / spec.neurons_per_core), 1)
    chips = max((c.chip for c in cores), default=0) + 1
    check_system(len(cores), chips, system, spec)
    embedded = _x86_chips(program, cores, cpu)
    placement = Placement(system, spec.systems[system], cores, embedded, host, bound, {}, spec)
    per_token = steps_per_token(program.metadata)  # a token of T synthetic steps sends T steps' messages
    placement.traffic = {k: v * per_token for k, v in _traffic(program, placement).items()}
    return placement


# mesh_hops: the across-core messages' Manhattan hops on their chip's mesh, summed
TRAFFIC_KEYS = ("same_core", "across_cores", "across_chips", "to_cpu_or_host", "from_cpu_or_host", "mesh_hops")


def _traffic(program: Program, placement: Placement) -> dict[str, int]:
    """Messages per step, summed over the sending populations (``traffic_by_source``)."""
    total = dict.fromkeys(TRAFFIC_KEYS, 0)
    for counts in traffic_by_source(program, placement).values():
        for key, n in counts.items():
            total[key] += n
    return total


def traffic_by_source(program: Program, placement: Placement,
                      pairs: dict[tuple[int, int], int] | None = None) -> dict[str, dict[str, int]]:
    """Messages per step, upper bound: every output of a population is sent (graded values are non-zero
    almost always; spikes are counted as if all fired).  A value goes once to every core holding a slice of a
    synapse population that reads it, and to the core holding the same row of an elementwise neuron program; embedded-CPU and host ops are reached across the chip ('to_cpu_or_host') and send their whole
    output to every core holding a slice of each reader ('from_cpu_or_host').  `pairs`, when given, receives the
    messages between chips per (sending chip, receiving chip)."""
    pairs = {} if pairs is None else pairs

    def crossed(a: int, b: int, n: int) -> None:
        pairs[(a, b)] = pairs.get((a, b), 0) + n

    where: dict[str, list[tuple[int, int, int, int]]] = {}  # node -> (row start, end, core, chip)
    for core in placement.cores:
        for s in core.slices:
            where.setdefault(s.node, []).append((s.rows[0], s.rows[1], core.index, core.chip))
    by_source: dict[str, dict[str, int]] = {}

    def origin(name: str) -> str:  # through wires (delays) to the population that sends
        node = program.nodes[name]
        return origin(node.inputs[0]) if rules.placement(node.op_class) == "wire" else name

    for node in program.nodes.values():
        if rules.placement(node.op_class) == "wire":
            continue
        for src in map(origin, node.inputs):
            counts = by_source.setdefault(src, dict.fromkeys(TRAFFIC_KEYS, 0))
            if src not in where:  # an x86 or host op: its whole output goes to every core holding a slice of the reader
                if node.name in where:
                    for chip in [ch for _, _, _, ch in {(0, 0, c, ch) for _, _, c, ch in where[node.name]}]:
                        crosses = src in placement.x86_chip and placement.x86_chip[src] != chip
                        counts["across_chips" if crosses else "from_cpu_or_host"] += program.width(src)
                        if crosses:
                            crossed(placement.x86_chip[src], chip, program.width(src))
                continue
            rowwise = (rules.placement(node.op_class) == "neuron"
                       and rules.neurons(program, node.name) == rules.neurons(program, src))
            for start, end, core, chip in where[src]:
                if node.name not in where:  # to an x86 op (across chips when it runs on another chip) or the host
                    crosses = node.name in placement.x86_chip and placement.x86_chip[node.name] != chip
                    counts["across_chips" if crosses else "to_cpu_or_host"] += end - start
                    if crosses:
                        crossed(chip, placement.x86_chip[node.name], end - start)
                    continue
                if rowwise:  # an elementwise neuron program: row i reads row i, so only overlapping slices receive
                    targets = [(max(0, min(end, e) - max(start, b)), c, ch) for b, e, c, ch in where[node.name]]
                else:  # synapses: every core holding a slice of the reader needs every value
                    targets = [(end - start, c, ch) for c, ch in {(c, ch) for _, _, c, ch in where[node.name]}]
                for n, dst_core, dst_chip in targets:
                    key = "same_core" if dst_core == core else "across_cores" if dst_chip == chip else "across_chips"
                    counts[key] += n
                    if key == "across_chips":
                        crossed(chip, dst_chip, n)
                    if key == "across_cores":
                        counts["mesh_hops"] += n * placement.resources.hops(core, dst_core)
    return by_source


def chip_traffic(program: Program, placement: Placement) -> dict[tuple[int, int], int]:
    """Messages per token between chips, per (sending chip, receiving chip); they sum to the across-chip traffic."""
    pairs: dict[tuple[int, int], int] = {}
    traffic_by_source(program, placement, pairs)
    per_token = steps_per_token(program.metadata)
    return {k: v * per_token for k, v in pairs.items()}


def place(program: Program, spec: ResourceSpec, system: str | None) -> Placement:
    """Partition onto the named system, or onto the smallest listed system that fits."""
    if system is not None:
        return partition(program, spec, system)
    systems = sorted(spec.systems, key=spec.systems.get)
    for name in systems[:-1]:
        try:
            return partition(program, spec, name)
        except UserError:
            continue
    return partition(program, spec, systems[-1])
