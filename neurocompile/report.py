"""Report stage: the counters of a run x an energy model -> tables (JSON, CSV, Markdown, LaTeX) and plots.

Every number comes from events counted in the simulation (``simulate`` stores them as ``run.npz`` in the
build directory).  Beside the counted energy, each report gives the SNN-paper convention (every synaptic
operation an accumulate, the first layer in MACs) and the same network as a dense ANN (fp32 and int8), so
a reader sees where the conventions agree and where they do not.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import __version__
from . import files
from .runs import Run
from .target import get_target
from .task import get_task
from .energy import EVENTS, EnergyModel, load_energy_model
from .errors import UserError
from .graph import steps_per_token
from .ops import Op, Tally

EVENT_FIELD = {"binary_synaptic_op": "binary_events", "graded_synaptic_op": "graded_events",
               "graded_message": "graded_messages", "neuron_update": "neuron_updates", "op_eval": "op_evals"}
PLACEMENTS = ("synapse", "neuron", "embedded_cpu", "host")


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


@dataclass
class NodeRow:
    node: str
    layer: str
    kind: str
    placement: str
    input: str  # what the run fed it: "binary", "real-valued", or "-" (no synapses)
    per_step: dict[str, float]  # counted events per step (header["unit"]: a token, a time step)
    energy_pj: float  # per step, under the report's energy model


@dataclass
class Report:
    header: dict
    steps: int
    nodes: list[NodeRow]
    firing_rates: dict[str, float]
    by_layer: dict[str, float] = field(default_factory=dict)
    by_kind: dict[str, float] = field(default_factory=dict)
    by_placement: dict[str, float] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)
    comparison: list[dict] = field(default_factory=list)
    neurobench: dict = field(default_factory=dict)
    figures: dict[str, Callable[[], Any]] = field(default_factory=dict, repr=False)  # the target's own: stem -> figure
    headline: str = ""  # the fairest comparison in a sentence: where the SNN wins or loses, and why


def layer_of(node: str) -> str:
    parts = node.split(".")
    return ".".join(parts[:2]) if parts[0] == "blocks" else parts[0]


@dataclass(frozen=True)
class Subject:
    """What a report is about: a program, the manifest it was exported with (its source, target, task, options),
    its placement on the target's cores (partitioned targets) and the tokenizer that decodes its run's text."""

    program: Any
    manifest: dict
    placement: Any = None
    tokenizer: Any = None

    @property
    def target(self):
        return get_target(self.manifest["target"])

    @property
    def task(self):
        return get_task(self.manifest["task"])


def make_report(program, manifest: dict, run: Run, model: EnergyModel, *, placement=None, tokenizer=None) -> Report:
    """A run's counters x an energy model, for a program exported with `manifest` (and placed by `placement`)."""
    build = Subject(program, manifest, placement, tokenizer)
    steps = run.steps * run.streams
    totals = run.totals.astype(np.float64) / steps  # per step
    fields = list(Tally.FIELDS)
    rows, firing = [], {}
    macs: list[tuple[str, str, int]] = []  # (node, kind, MACs per step the same op costs in a dense ANN), in order
    for (name, node), row in zip(program.nodes.items(), totals):
        events = dict(zip(fields, row.tolist()))
        energy = sum(events[EVENT_FIELD[e]] * model.cost(e) for e in EVENTS)
        if node.kind == "Dense":
            kind_in = "real-valued" if events["graded_events"] > 0 else "binary" if events["binary_events"] > 0 else "silent"
        else:
            kind_in = "-"
        if ann := node.op_class.ann_macs(node.q, run.steps):
            macs.append((name, node.kind, ann))
        if events["neuron_updates"] and node.op_class.binary_output:  # a spiking population: spikes per update
            firing[name] = events["spikes"] / events["neuron_updates"]
        rows.append(NodeRow(name, layer_of(name), node.kind, build.target.placement(node.op_class), kind_in, events, energy))
    report = Report(_header(build, run, model), steps, rows, firing)
    for r in rows:
        report.by_layer[r.layer] = report.by_layer.get(r.layer, 0.0) + r.energy_pj
        report.by_kind[r.kind] = report.by_kind.get(r.kind, 0.0) + r.energy_pj
        report.by_placement[r.placement] = report.by_placement.get(r.placement, 0.0) + r.energy_pj
    summed = {f: float(sum(r.per_step[f] for r in rows)) for f in fields}
    counted = {e: summed[EVENT_FIELD[e]] for e in EVENTS}
    report.totals = {**summed, "energy_pj_per_step": float(sum(r.energy_pj for r in rows)), "steps": steps,
                     "energy_pj_per_step_range": [sum(n * model.cost_range(e)[0] for e, n in counted.items()),
                                                  sum(n * model.cost_range(e)[1] for e, n in counted.items())],
                     "memory_pj_per_step": sum(n * model.events[e].memory for e, n in counted.items())}
    report.totals["energy_pj_per_sequence"] = report.totals["energy_pj_per_step"] * steps
    report.comparison = comparison(counted, summed, spiking_rate(rows), macs, model, report.totals,
                                   steps_per_token(program.metadata), {r.node: r.per_step for r in rows})
    report.neurobench = neurobench(program, rows, summed, build.manifest.get("model", {}).get("footprint"))
    report.headline = headline(report, model)
    if placement is not None and build.target.timing is not None:
        _add_time(report, build.target.timing(program, placement, {r.node: r.per_step for r in rows}))
    _add_modes(report, rows, model, run, build.task.generates)
    if placement is not None and build.target.placement_figure is not None:
        report.figures["placement"] = lambda: build.target.placement_figure(program, placement, layer_of,
                                                                             build.task.unit)
    if placement is not None and build.target.traffic is not None:
        _add_routing(report, build.target.traffic(program, placement), rows, model, steps_per_token(program.metadata))
    return report


def _add_routing(report: Report, traffic: dict[str, dict[str, int]], rows: list[NodeRow], model: EnergyModel,
                 per_token: int) -> None:
    """Messages between cores and chips at the run's activity: each sending population's static traffic (every
    value sent) scaled by the fraction of its values the run sent -- its firing rate for spikes, every value for
    graded outputs -- priced per mesh hop and per chip crossing where the energy model gives a figure."""
    activity = {r.node: (r.per_step["spikes"] / r.per_step["neuron_updates"]
                         if Op.registry[r.kind].binary_output and r.per_step["neuron_updates"] else 1.0) for r in rows}
    hops = per_token * sum(c["mesh_hops"] * activity.get(src, 1.0) for src, c in traffic.items())
    crossings = per_token * sum(c["across_chips"] * activity.get(src, 1.0) for src, c in traffic.items())
    t = report.totals
    t["mesh_hops_per_step"], t["chip_crossings_per_step"] = hops, crossings
    if "hop_pj" in model.routing:
        hop = model.routing["hop_pj"]
        t["routing_pj_per_step"] = hops * hop.value
        t["routing_pj_per_step_range"] = [hops * hop.low, hops * hop.high]
        t["energy_with_routing_pj_per_step"] = t["energy_pj_per_step"] + t["routing_pj_per_step"]


def _add_time(report: Report, time: dict) -> None:
    """Time per step on the target, the static energy over it, and the energy-delay product (dynamic + static)."""
    t = report.totals
    seconds, (fast, slow) = time["seconds_per_step"], time["seconds_per_step_range"]
    low, high = t["energy_pj_per_step_range"]
    static_low, static_high = time["static_pj_per_step_range"]
    t.update({"seconds_per_step": seconds, "seconds_per_step_range": [fast, slow],
              "static_pj_per_step": time["static_pj_per_step"], "static_pj_per_step_range": [static_low, static_high],
              "energy_with_static_pj_per_step": t["energy_pj_per_step"] + time["static_pj_per_step"],
              "edp_js_per_step": (t["energy_pj_per_step"] + time["static_pj_per_step"]) * 1e-12 * seconds,
              "edp_js_per_step_range": [(low + static_low) * 1e-12 * fast, (high + static_high) * 1e-12 * slow]})
    t.update({"generate_seconds_per_step": time["generate_seconds_per_step"],
              "generate_seconds_per_step_range": time["generate_seconds_per_step_range"]})
    report.header["timing"] = {"bottleneck": time["bottleneck"], "chips_powered": time["chips_powered"],
                               "pipeline_depth_steps": time["pipeline_depth_steps"], "figures": time["figures"]}
    if isinstance(report.header["resources"], dict):  # the figures scripts read (issue 14's interface)
        key = report.header["unit_key"]
        report.header["resources"]["timing"] = {
            "step_seconds": time["step_seconds"], "bottleneck": time["bottleneck"],
            "pipeline_depth_steps": time["pipeline_depth_steps"],
            "throughput_per_s": 1 / seconds if seconds else None,  # units streaming through the pipeline
            "latency_seconds": time["generate_seconds_per_step"],  # one unit from input to output
            # a language model's names for the same two: prompt tokens stream, generated ones wait for the last
            **({"prefill_tokens_per_s": 1 / seconds if seconds else None,
                "generate_tokens_per_s": 1 / time["generate_seconds_per_step"] if seconds else None}
               if key == "token" else {})}
    report.header["approximations"] = report.header["approximations"] + time["approximations"]


def _add_modes(report: Report, rows: list[NodeRow], model: EnergyModel, run: Run, generates: bool) -> None:
    """Energy and time per unit in each mode the run had, and the run's energy from them (``totals.prefill``,
    ``totals.generate``, ``totals.run``).

    Prefill (a prompt, a spike train) streams one unit per step through the pipeline: its dynamic energy is the
    counted events per unit, its time the pipelined step.  A generated token must cross the whole pipeline before
    the next is sampled: its time is the timing model's generation time, and every neuron and neuron program on
    neurocores updates on each of those steps (Loihi 2 steps every compartment every time step), so that work is
    paid (steps per token + pipeline depth) / steps per token times; synaptic events and messages happen once, when
    the token's activity passes.  Static energy is the powered system's static power times each mode's time."""
    t, key = report.totals, report.header["unit_key"]
    seconds, generate_seconds = t.get("seconds_per_step"), t.get("generate_seconds_per_step")
    static_pj_per_s = t["static_pj_per_step"] / seconds if seconds else None
    every_step = sum(r.per_step["neuron_updates"] * model.cost("neuron_update") + r.per_step["op_evals"] * model.cost("op_eval")
                     for r in rows if r.placement == "neuron")

    def mode(dynamic: float, seconds: float | None, how: str) -> dict:
        static = None if static_pj_per_s is None else static_pj_per_s * seconds
        total = dynamic + (static or 0.0)
        return {f"dynamic_pj_per_{key}": dynamic, f"static_pj_per_{key}": static, f"total_pj_per_{key}": total,
                f"seconds_per_{key}": seconds, f"edp_js_per_{key}": None if seconds is None else total * 1e-12 * seconds,
                "how": how}

    t["prefill"] = mode(t["energy_pj_per_step"], seconds, f"one {report.header['unit']} per pipelined step: counted "
                        f"events per {report.header['unit']}" + (", static power x the step's time" if seconds else
                                                                  " (no timing model for this target: no static energy)"))
    t["generate"] = None
    if generates and generate_seconds:
        factor = generate_seconds / seconds
        t["generate"] = mode(t["energy_pj_per_step"] + every_step * (factor - 1), generate_seconds,
                             f"a token crosses the pipeline before the next is sampled ({factor:.1f}x the prefill step's "
                             f"time); the neuron and neuron-program updates on neurocores "
                             f"({every_step / 1e3:,.1f} nJ per token step) run on every one of those steps, synaptic "
                             f"events once; static power x that time")
    prefill_units = run.steps - run.generated
    generated = run.generated if t["generate"] is not None else 0
    energy = (prefill_units * t["prefill"][f"total_pj_per_{key}"]
              + generated * (t["generate"] or {}).get(f"total_pj_per_{key}", 0.0)
              + (run.generated - generated) * t["prefill"][f"total_pj_per_{key}"]) * run.streams
    t["run"] = {"prefill_" + key + "s": prefill_units, "generated_" + key + "s": run.generated, "streams": run.streams,
                "total_pj": energy, "how": "per stream: prefill units x prefill + generated tokens x generate, times the "
                                          "streams" + ("" if t["generate"] is not None or not run.generated else
                                                       " (no timing model: generated tokens priced as prefill)")}


def neurobench(program, rows: list[NodeRow], summed: dict[str, float], footprint: dict | None = None) -> dict:
    """NeuroBench's metrics (Yik et al., "The NeuroBench framework for benchmarking neuromorphic computing algorithms
    and systems", Nature Communications 2025; the `neurobench` package's definitions), from the integer run's
    counters: activation sparsity over the spiking populations' outputs; synaptic operations over the weight
    matrices (effective: non-zero input x non-zero weight, ACs where the input is binary, MACs where it is graded;
    dense: every synapse of the same matrices, each step); membrane updates of the spiking neurons; connection
    sparsity; and NeuroBench's footprint -- every parameter and buffer of the float model at its element size
    (recorded at export, ``footprint``).  Our deployed 8-bit synaptic weights are ``deployed_weight_bytes``."""
    spiking = [r for r in rows if r.per_step["neuron_updates"] and program.nodes[r.node].op_class.binary_output]
    updates = sum(r.per_step["neuron_updates"] for r in spiking)
    dense_rows = [r for r in rows if r.kind == "Dense"]
    weights = [node.q.halves for node in program.nodes.values() if node.kind == "Dense"]
    synapses = sum(w.size for w in weights)
    others = [r for r in rows if r.kind != "Dense"]
    return {
        "activation_sparsity": 1 - sum(r.per_step["spikes"] for r in spiking) / updates if updates else None,
        "effective_acs_per_step": float(sum(r.per_step["effective_binary_events"] for r in dense_rows)),
        "effective_macs_per_step": float(sum(r.per_step["effective_graded_events"] for r in dense_rows)),
        # NeuroBench's "Dense": every synapse of the same matrices, every step (each of a token's synthetic steps)
        "dense_synops_per_step": float(synapses * steps_per_token(program.metadata)),
        "membrane_updates_per_step": float(updates),
        "connection_sparsity": 1 - sum(int(np.count_nonzero(w)) for w in weights) / synapses if synapses else None,
        "footprint": None if footprint is None else footprint.get("bytes"),
        "deployed_weight_bytes": synapses * program.spec.weight_bits // 8,
        "other_effective_synops_per_step": float(sum(r.per_step["effective_binary_events"]
                                                     + r.per_step["effective_graded_events"] for r in others)),
        "note": "from the integer program's counters with NeuroBench's definitions; per step (NeuroBench reports per "
                "sample: multiply by the steps of a sample). Synaptic operations, effective and dense, are over the "
                "same synapses: the weight matrices (8-bit, one matrix per input port, so token-shift mixing counts "
                "its two matrices); the synapses of neuron programs (attention state, LayerNorm reductions) are "
                "other_effective_synops. Membrane updates count spiking neurons only (not readouts or state "
                "accumulators). footprint: NeuroBench's, the float model's parameters and buffers at their element "
                + ("size (" + footprint["of"] + ")" if footprint else "size (not recorded: export again)")
                + "; deployed_weight_bytes: the deployed synaptic weights. NeuroBench's own hooks see nn.Linear/Conv/"
                "RNN layers only, so functional matmuls and elementwise products escape it; these counters cover "
                "every synapse, and price elementwise work as op_evals, which NeuroBench does not count.",
    }


def convention_layers(macs: list[tuple[str, str, int]], per_node: dict[str, dict[str, float]], ac: float, mac: float,
                      timesteps: int) -> list[dict]:
    """The convention computed per layer, as the Spikformer-lineage papers do: each layer's own input firing rate
    (spikes in per input per step, measured: its binary synaptic ops over its dense MACs) times its FLOPs times T at
    E_AC where its input is spikes; where the measured input is not binary (graded values, the first layer's
    real-valued input), E_MAC times its FLOPs.  The choice is recorded beside each number."""
    out = []
    for name, kind, flops in macs:
        events = per_node.get(name, {})
        binary, graded = events.get("binary_events", 0.0), events.get("graded_events", 0.0)
        if graded == 0 and binary > 0:
            rate = binary / (flops * timesteps)
            out.append({"layer": name, "kind": kind, "flops": flops, "input": "spikes", "input_rate": rate,
                        "priced_as": "AC", "ops": rate * timesteps * flops, "pj": ac * rate * timesteps * flops})
        else:
            out.append({"layer": name, "kind": kind, "flops": flops, "input": "graded" if graded else "silent",
                        "input_rate": None, "priced_as": "MAC" if graded else "none",
                        "ops": float(flops) if graded else 0.0, "pj": mac * flops if graded else 0.0})
    return out


def spiking_rate(rows: list[NodeRow]) -> float:
    """Spikes per neuron update over every neuron population (the pooled firing rate; an input's bits are not
    spikes of a population)."""
    spiking = [r for r in rows if Op.registry[r.kind].binary_output]
    updates = sum(r.per_step["neuron_updates"] for r in spiking)
    return sum(r.per_step["spikes"] for r in spiking) / updates if updates else 0.0


def comparison(counted: dict[str, float], summed: dict[str, float], rate: float, macs: list[tuple[str, str, int]],
               model: EnergyModel, totals: dict, timesteps: int = 1,
               per_node: dict[str, dict[str, float]] | None = None) -> list[dict]:
    """This network on its target beside the same network as a dense ANN (fp32 and int8), both priced by `model` and
    paying the same memory model (its weight reads per MAC at the SNN's synaptic memory size; ``..._without_memory``
    drops memory on both sides), and beside the SNN-paper convention as published.

    The convention (Spikformer lineage, used by the SpikeGPT and SpikeDecoder papers; shared/reference/
    loihi2-energy.md): ``E = E_MAC * FLOPs_first + E_AC * sum_l SOPs_l`` with ``SOPs_l = fr * T * FLOPs_l`` over the
    layers after the first, ``E_MAC = 4.6 pJ`` and ``E_AC = 0.9 pJ`` (fp32 at 45 nm).  ``FLOPs_l`` are the MACs of
    the layer as a dense ANN, ``fr`` the firing rate (here the pooled rate of every spiking population, as the papers
    report one rate), and the unit is one step of the run: a token, whose T is ``timesteps`` (SpikeDecoder's
    synthetic steps; 1 for SpikeGPT and NIR graphs, where a step is the unit).  The dense ANN runs once per token."""
    paper = load_energy_model("snn-paper-45nm")
    ac, mac = paper.cost("binary_synaptic_op"), paper.cost("graded_synaptic_op")
    ann = float(sum(m for _, _, m in macs))
    first = float(macs[0][2]) if macs else 0.0
    synops = summed["binary_events"] + summed["graded_events"]
    memory = totals["memory_pj_per_step"] if any(model.events[e].memory for e in EVENTS) else None
    b = model.baseline

    attention = any(kind == "SpikingAttention" for _, kind, _ in macs)
    what = ("Linear layers, and attention's q.K and A.V over a key/value cache at the run's mean position (cache reads "
            "priced as weight reads)" if attention else "Linear layers")
    # the work besides synapses, which an ANN of the same network does too (its activations, norms, WKV, products and
    # the activations it moves): every ANN row pays what the SNN pays for it, under the same model
    others = [e for e in EVENTS if e not in ("binary_synaptic_op", "graded_synaptic_op")]
    extra = sum(counted[e] * model.cost(e) for e in others)
    extra_range = [sum(counted[e] * model.cost_range(e)[i] for e in others) for i in (0, 1)]
    extra_memory = sum(counted[e] * model.events[e].memory for e in others)
    also = ("the SNN's own neuron updates (as activations), extension-op evaluations (norms, WKV, products, mixes) and "
            "graded messages (activation traffic), priced as the SNN's")

    def ann_row(key: str, precision: str, n: float, method: str) -> dict:
        compute, read = b[f"mac_{precision}_pj"], b[f"weight_read_{precision}_pj"]
        return {"id": key, "method": f"{method}, {precision} + the same elementwise work",
                "detail": f"{method}: {precision} MACs with a weight read per MAC ({what}), plus {also}",
                "synops_per_step": n, "energy_pj_per_step": n * (compute.value + read.value) + extra,
                "mac_pj_per_step": n * (compute.value + read.value), "elementwise_pj_per_step": extra,
                "memory_pj_per_step": n * read.value + extra_memory,
                "energy_pj_per_step_without_memory": n * compute.value + extra - extra_memory,
                "energy_pj_per_step_range": [n * (compute.low + read.low) + extra_range[0],
                                             n * (compute.high + read.high) + extra_range[1]]}

    layers = convention_layers(macs, per_node or {}, ac, mac, timesteps)
    return [
        {"id": "target", "method": f"this network, counted events, {model.name}", "synops_per_step": synops,
         "energy_pj_per_step": totals["energy_pj_per_step"], "memory_pj_per_step": memory,
         "energy_pj_per_step_without_memory": None if memory is None else totals["energy_pj_per_step"] - memory,
         "energy_pj_per_step_range": totals["energy_pj_per_step_range"]},
        ann_row("ann_int8_sparse", "int8", synops, "ANN skipping the zero inputs this run saw"),
        ann_row("ann_fp32", "fp32", ann, "dense ANN"),
        ann_row("ann_int8", "int8", ann, "dense ANN"),
        {"id": "convention_per_layer", "method": "SNN-paper convention per layer: E_AC x (its input's firing rate) x T x "
                                                 "FLOPs where the input is spikes, E_MAC x FLOPs where it is not",
         "synops_per_step": sum(layer["ops"] for layer in layers), "energy_pj_per_step": sum(layer["pj"] for layer in layers),
         "layers": layers, "timesteps": timesteps, "pj_per_ac": ac, "pj_per_mac": mac},
        {"id": "convention", "method": f"SNN-paper convention, pooled: E_MAC x FLOPs(first layer) + E_AC x fr x T x FLOPs(other "
                                       f"layers), fr = {rate:.3f}, T = {timesteps}",
         "synops_per_step": first + rate * timesteps * (ann - first),
         "energy_pj_per_step": mac * first + ac * rate * timesteps * (ann - first),
         "firing_rate": rate, "timesteps": timesteps, "ann_macs_per_step": ann, "first_layer_macs": first, "first_layer": macs[0][0] if macs else None,
         "pj_per_ac": ac, "pj_per_mac": mac},
        {"id": "paper_constants_counted", "method": "the convention's constants on counted events: binary -> AC, graded -> MAC",
         "synops_per_step": synops, "energy_pj_per_step": ac * summed["binary_events"] + mac * summed["graded_events"]},
    ]


def headline(report: Report, model: EnergyModel) -> str:
    """The fairest comparison in one sentence: this network against an int8 ANN that skips the same zero inputs and
    does the same elementwise work (``ann_int8_sparse``), and what decides it, per kind of synaptic op."""
    c = {row["id"]: row for row in report.comparison}
    snn, ann = c["target"], c.get("ann_int8_sparse")
    if ann is None or not ann["energy_pj_per_step"]:
        return ""
    unit, t = report.header["unit"], report.totals
    ratio = snn["energy_pj_per_step"] / ann["energy_pj_per_step"]
    where = (f"{ratio:.2f}x above" if ratio >= 1.5 else f"{1 / ratio:.2f}x below" if ratio <= 1 / 1.5 else
             f"{abs(ratio - 1):.1%} {'above' if ratio > 1 else 'below'}")
    mac = model.baseline["mac_int8_pj"].value + model.baseline["weight_read_int8_pj"].value
    kinds = [f"{t[field]:,.0f} {name} synaptic ops at {model.cost(event):.3g} pJ each" for field, name, event in
             (("binary_events", "binary", "binary_synaptic_op"), ("graded_events", "graded", "graded_synaptic_op"))
             if t[field]]
    return (f"Against an int8 ANN that skips the same zero inputs and does the same elementwise work, this network "
            f"({model.name}) is {where} it: {snn['energy_pj_per_step'] / 1e3:,.0f} against "
            f"{ann['energy_pj_per_step'] / 1e3:,.0f} nJ per {unit}. The difference is the synaptic work -- "
            f"{' and '.join(kinds) or 'no synaptic ops'} against {ann['synops_per_step']:,.0f} int8 MACs at "
            f"{mac:.3g} pJ with their weight reads; the elementwise work ({ann['elementwise_pj_per_step'] / 1e3:,.0f} nJ) "
            f"is the same on both sides by construction.")


def _header(build: Subject, run: Run, model: EnergyModel) -> dict:
    source = build.manifest["source"]
    language = build.tokenizer is not None
    text = build.tokenizer.decode(run.tokens) if language else ""
    return {
        "neurocompile": __version__,
        "model": source.get("checkpoint") or source.get("nir"), "model_sha256": source["sha256"],
        "target": build.manifest["target"], "task": build.task.name, "unit": build.task.unit,
        "unit_key": build.task.key,
        "numeric": build.manifest["numeric"],
        "token_shift": build.manifest.get("token_shift"),
        "extension_ops": build.manifest.get("extension_ops"),
        "text": text if len(text) <= 200 else text[:200] + "…", "tokens": run.steps, "streams": run.streams,
        "complete": run.complete,
        "energy_model": f"{model.name} ({model.origin}): {model.description}",
        "constants": {e: {"pj": c.value, **asdict(c)} for e, c in model.events.items()},
        "inputs": {k: asdict(q) for k, q in model.inputs.items()},
        "derived": {k: asdict(q) for k, q in model.derived.items()},
        "baseline": {**{k: asdict(q) for k, q in model.baseline.items()}, "source": model.baseline_source},
        "routing": {k: asdict(q) for k, q in model.routing.items()},
        "units": build.task.units,
        "approximations": build.manifest["approximations"] + [
            "energy counts events of the integer simulation; routing (partitioned targets) is a separate line: each "
            "sending population's messages (every value, on the partition's core map) scaled by the run's firing "
            "rate for spikes (graded values all sent), priced per mesh hop where the energy model has a figure; "
            "messages between chips are counted, not priced",
            *(["the first token of the run is the prompt's first character (or token 0 for an empty prompt)"]
              if language else []),
            "ANN baselines: the MACs of the Linear layers (every input for the dense rows, the inputs this run saw "
            "non-zero for ann_int8_sparse), each with a weight read, plus the SNN's own neuron updates, extension-op "
            "evaluations and graded messages priced as the SNN's (the elementwise work both sides do)",
            "generated tokens: every neuron and neuron program on neurocores updates on each pipeline step a token "
            "waits for (totals.generate); synaptic events are counted once per token",
        ],
        "resources": _resources(build),
    }


def _resources(build: Subject) -> dict | str:
    placement = build.placement
    if placement is None:
        return f"not partitioned: export with --target loihi2 for cores, chips and traffic (this build: {build.manifest['target']})"
    return {**placement.summary(), "per_core": [{"core": c.index, "chip": c.chip, "neurons": c.neurons,
                                                 "synaptic_bytes": c.synaptic_bytes} for c in placement.cores],
            "neurons_per_core": placement.resources.neurons_per_core,
            "synaptic_memory_bytes": placement.resources.synaptic_memory_bytes}


# --------------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------------


def _unit_keys(value, key: str):
    """Field names carry the task's unit: ``..._per_step...`` becomes ``..._per_token...`` for a language model."""
    if isinstance(value, dict):
        return {(re.sub(r"(^|_)per_step(?=$|_)", rf"\1per_{key}", k) if isinstance(k, str) else k): _unit_keys(v, key)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_unit_keys(v, key) for v in value]
    return value


def to_json(report: Report) -> str:
    import json

    plain = asdict(replace(report, figures={}))  # the figures are drawn, not stored
    del plain["figures"]
    body = _unit_keys(plain, report.header["unit_key"])
    return json.dumps({"format": files.REPORT_FORMAT, **body}, indent=2) + "\n"


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*files.CSV_MARK.rstrip(",").split(","), *Tally.FIELDS, f"energy_pj_per_{report.header['unit_key']}"])
    for r in report.nodes:
        writer.writerow([r.node, r.layer, r.kind, r.placement, r.input, *(f"{r.per_step[f]:.6g}" for f in Tally.FIELDS),
                         f"{r.energy_pj:.6g}"])
    return out.getvalue()


def _fmt(x: float) -> str:
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


Cell = str | float | tuple | None  # text, a number, a (low, high) range, or nothing


def _tables(report: Report) -> list[tuple[str, list[str], list[list[Cell]]]]:
    """The report's tables as typed cells (numbers stay numbers, so each format sets them its own way)."""
    total = report.totals["energy_pj_per_step"] or 1.0
    share = lambda d: [[k, v / 1e3, 100 * v / total] for k, v in d.items()]  # noqa: E731
    lif = [[k, 100 * v] for k, v in report.firing_rates.items()]
    nj = lambda v: None if v is None else v / 1e3  # noqa: E731
    span = lambda c: tuple(v / 1e3 for v in c["energy_pj_per_step_range"]) if "energy_pj_per_step_range" in c else None  # noqa: E731
    comparison = [[c["method"], c["synops_per_step"], nj(c["energy_pj_per_step"]),
                   nj(c.get("energy_pj_per_step_without_memory")), span(c)] for c in report.comparison]
    t, unit = report.totals, report.header["unit"]
    totals = [["spikes", t["spikes"]], ["binary synaptic ops", t["binary_events"]],
              ["graded synaptic ops", t["graded_events"]], ["graded messages", t["graded_messages"]],
              ["neuron updates", t["neuron_updates"]], ["extension-op evaluations", t["op_evals"]],
              ["saturations", t["saturations"]], ["wraps", t["wraps"]],
              ["energy (nJ)", t["energy_pj_per_step"] / 1e3],
              ["energy range (nJ)", tuple(v / 1e3 for v in t["energy_pj_per_step_range"])]]
    if "mesh_hops_per_step" in t:  # a partitioned target's traffic at the run's activity
        totals += [["mesh hops (messages x hops between cores)", t["mesh_hops_per_step"]],
                   ["messages between chips (not priced)", t["chip_crossings_per_step"]]]
        if "routing_pj_per_step" in t:
            totals += [["routing energy (nJ)", t["routing_pj_per_step"] / 1e3],
                       ["routing energy range (nJ)", tuple(v / 1e3 for v in t["routing_pj_per_step_range"])],
                       ["energy with routing (nJ)", t["energy_with_routing_pj_per_step"] / 1e3]]
    if "seconds_per_step" in t:  # a partitioned target's timing model
        depth = report.header["timing"]["pipeline_depth_steps"]
        totals += [[f"time per {unit}, pipelined (µs)", t["seconds_per_step"] * 1e6],
                   [f"time per {unit}, range (µs)", tuple(v * 1e6 for v in t["seconds_per_step_range"])],
                   [f"{unit}s per second, pipelined", 1 / t["seconds_per_step"]],
                   [f"latency of one {unit} through the pipeline (+ {depth} steps; a generated token waits for it) (µs)",
                    t["generate_seconds_per_step"] * 1e6],
                   ["latency, range (µs)",
                    tuple(v * 1e6 for v in t["generate_seconds_per_step_range"])],
                   [f"static energy (nJ, {report.header['timing']['chips_powered']} chip(s) powered)",
                    t["static_pj_per_step"] / 1e3],
                   ["static energy range (nJ)", tuple(v / 1e3 for v in t["static_pj_per_step_range"])],
                   ["energy with static (nJ)", t["energy_with_static_pj_per_step"] / 1e3],
                   ["energy-delay product (nJ·µs)", t["edp_js_per_step"] * 1e15],
                   ["energy-delay product range (nJ·µs)", tuple(v * 1e15 for v in t["edp_js_per_step_range"])]]
    key = report.header["unit_key"]
    modes = [[name, nj(m[f"dynamic_pj_per_{key}"]), nj(m[f"static_pj_per_{key}"]), nj(m[f"total_pj_per_{key}"]),
              None if m[f"seconds_per_{key}"] is None else m[f"seconds_per_{key}"] * 1e6]
             for name, m in (("prefill (pipelined)", t["prefill"]), ("generated (one at a time)", t.get("generate")))
             if m is not None]
    return [
        (f"Per {unit}: counted events and energy", ["quantity", f"per {unit}"], totals),
        (f"Energy and time per {unit}, by mode", ["mode", "dynamic (nJ)", "static (nJ)", "total (nJ)", "time (µs)"], modes),
        ("Energy by layer", ["layer", f"nJ / {unit}", "%"], share(report.by_layer)),
        ("Energy by op type", ["op", f"nJ / {unit}", "%"], share(report.by_kind)),
        ("Energy by placement", ["placement", f"nJ / {unit}", "%"], share(report.by_placement)),
        ("Firing rate per spiking population", ["population", "rate %"], lif),
        (f"Conventions compared, per {unit}", ["method", "ops", "nJ", "nJ, no memory", "range (nJ)"], comparison),
        ("SNN-paper convention by layer", ["layer", "input", "input rate %", "priced as", f"nJ / {unit}"],
         [[layer["layer"], layer["input"], None if layer["input_rate"] is None else 100 * layer["input_rate"],
           layer["priced_as"], layer["pj"] / 1e3]
          for c in report.comparison if c["id"] == "convention_per_layer" for layer in c["layers"]]),
        ("NeuroBench metrics", ["metric", "value"],
         [[k.replace("_per_step", f" per {unit}").replace("_", " "), v] for k, v in report.neurobench.items()
          if k != "note"]),
    ]


def _md(cell: Cell) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, tuple):
        return f"{_fmt(cell[0])}–{_fmt(cell[1])}"
    return cell if isinstance(cell, str) else _fmt(cell)


TOKEN_SHIFT_NOTES = {"fold": "each token-shift mix folded into its weight matrix: one matrix per input",
                     "delay": "each token-shift mix computed by a neuron program in front of one weight matrix"}


def to_markdown(report: Report) -> str:
    h = report.header
    interrupted = "" if h["complete"] else f" (interrupted: the counters of the {h['unit']}s run)"
    lines = ["# neurocompile energy report", f"<!-- {files.REPORT_FORMAT} -->", "",
             f"- neurocompile {h['neurocompile']}; model `{h['model']}` (sha256 {h['model_sha256'][:16]}…), target {h['target']}",
             f"- run: {h['tokens']} {h['unit']}s x {h['streams']} stream(s){interrupted}"
             + (f"; text: {h['text']!r}" if h["text"] else ""),
             f"- units: {h['units']}", f"- energy model: {h['energy_model']}"]
    if report.headline:
        lines += ["", f"**{report.headline}**", ""]
    if h["token_shift"]:
        lines.append(f"- token shift: {h['token_shift']} ({TOKEN_SHIFT_NOTES[h['token_shift']]}); export "
                     f"--token-shift {'fold' if h['token_shift'] == 'delay' else 'delay'} builds the other, and "
                     f"`neurocompile sweep` with token_shift = [\"fold\", \"delay\"] prices both")
    for why in (h["extension_ops"] or {}).get("why", {}).values():
        lines.append(f"- where an extension op runs: {why}")
    lines += ["", "Constants (pJ per event):", ""]
    for event, c in h["constants"].items():
        lines.append(f"- `{event}` = {_figure(c)} [{c['status']}] — {c['source']}")
    base = h["baseline"]
    lines += [f"- dense baselines: fp32 MAC {_figure(base['mac_fp32_pj'])}, int8 MAC {_figure(base['mac_int8_pj'])}; weight "
              f"read per MAC fp32 {_figure(base['weight_read_fp32_pj'])}, int8 {_figure(base['weight_read_int8_pj'])} — "
              f"{base['source']}", ""]
    if h["inputs"]:
        lines += ["Inputs (the figures every constant above is computed from):", ""]
        lines += [f"- `{k}` = {_figure(q)} [{q['status']}] — {q['source']}" for k, q in h["inputs"].items()]
        lines += [f"- `{k}` = {_figure(q)} (derived) — {q['source']}" for k, q in h["derived"].items()]
        lines.append("")
    if "timing" in h:
        lines += [f"Timing (the step's bottleneck: {h['timing']['bottleneck']}):", ""]
        lines += [f"- `{k}` = {_figure(q)} [{q['status']}] — {q['source']}" for k, q in h["timing"]["figures"].items()]
        lines.append("")
    lines += ["Approximations:", ""]
    lines += [f"- {a}" for a in h["approximations"]]
    lines += ["", _resources_line(h["resources"], h["unit"]), ""]
    for title, head, rows in _tables(report):
        lines += [f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def _figure(q: dict) -> str:
    """A model's figure as text: value and unit, its range when it has one, its formula when computed."""
    unit = q.get("unit", "pJ")
    text = f"{q['value']:.4g} {unit}"
    if q["low"] != q["high"]:
        text += f" ({q['low']:.4g}–{q['high']:.4g})"
    return text + (f" = {q['formula']}" if q.get("formula") else "")


def _resources_line(resources: dict | str, unit: str) -> str:
    if isinstance(resources, str):
        return f"Resources: {resources}"
    t = resources["traffic_per_step"]
    return (f"Resources: {resources['cores']} neurocores on {resources['chips']} chip(s) of {resources['system']} "
            f"(lower bound {resources['lower_bound_cores']}); synaptic memory {resources['synaptic_utilisation_mean']:.0%} "
            f"used on average (max {resources['synaptic_utilisation_max']:.0%}), neuron slots "
            f"{resources['neuron_utilisation_mean']:.0%} (max {resources['neuron_utilisation_max']:.0%}); "
            f"{resources['embedded_cpu_ops']} ops on embedded x86 cores; messages per {unit} (upper bound): "
            f"{t['same_core']:,} within a core, {t['across_cores']:,} across cores ({t.get('mesh_hops', 0):,} mesh hops, "
            f"on an assumed core map), {t['across_chips']:,} across chips, {t['to_cpu_or_host']:,} to x86 or "
            f"host, {t.get('from_cpu_or_host', 0):,} from x86 or host")


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"), ("_", r"\_"),
                 ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"), ("…", "...")):
        s = s.replace(a, b)
    return s


def _tex_number(x: float) -> str:
    return f"{x:.10g}"


ROUNDED = "round-mode=figures, round-precision=3"  # siunitx: three significant figures, as the Markdown shows them


EXACT = "round-mode=none, group-digits=integer"  # a whole count is printed as counted: 1024, not 1020


def _tex_cell(cell: Cell, numeric: bool) -> str:
    """A cell in an S column (numeric: a bare number, siunitx sets it to three figures) or in a text column (numbers
    through \\num).  A whole number (a count) is printed exactly, whatever the column rounds to."""
    if cell is None:
        return "{--}" if numeric else "--"
    if isinstance(cell, tuple):
        return "--".join(rf"\num[{ROUNDED}]{{{_tex_number(v)}}}" for v in cell)
    if isinstance(cell, str):
        return _tex_escape(cell)
    if float(cell).is_integer() and abs(cell) < 1e15:
        exact = rf"\num[{EXACT}]{{{int(cell)}}}"
        return "{" + exact + "}" if numeric else exact
    return _tex_number(cell) if numeric else rf"\num[{ROUNDED}]{{{_tex_number(cell)}}}"


WIDE = 5  # a table of this many columns spans both columns of a two-column paper (table*, \\textwidth)


def to_latex(report: Report) -> str:
    """Tables to ``\\input`` into a paper (booktabs, siunitx, tabularx), each with a caption that names the model,
    target, energy model and run, and a label; then the energy model's figures with their sources."""
    h = report.header
    name = h["energy_model"].split(" ")[0]
    excerpt = " ".join(h["text"].split())  # one line: a blank line would end the caption's paragraph
    text = f"; text ``{_tex_escape(excerpt[:60])}{'...' if len(excerpt) > 60 else ''}''" if excerpt else ""
    run = (rf"Model \texttt{{{_tex_escape(h['model'])}}} on {_tex_escape(h['target'])}, energy model "
           rf"\texttt{{{_tex_escape(name)}}}, {h['tokens']} {h['unit']}s $\times$ {h['streams']} stream(s){text}.")
    out = [f"% {files.REPORT_FORMAT}: written by neurocompile {__version__}",
           r"% A snippet to \input into a document whose preamble loads booktabs, siunitx and tabularx:",
           r"%   \usepackage{booktabs}\usepackage{siunitx}\usepackage{tabularx}",
           "% " + _tex_escape(_resources_line(h["resources"], h["unit"])), ""]
    for title, head, rows in _tables(report):
        if not rows:
            continue
        numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) and i > 0 for i in range(len(head))]
        spec = "".join(r">{\raggedright\arraybackslash}X" if i == 0 else f"S[{ROUNDED}]" if numeric[i] else "l"
                       for i in range(len(head)))
        label = "tab:neurocompile-" + "-".join("".join(ch if ch.isalnum() else " " for ch in title.lower()).split()[:4])
        table, width = ("table*", r"\textwidth") if len(head) >= WIDE else ("table", r"\columnwidth")
        out += [rf"\begin{{{table}}}[t]", r"\centering", r"\small",
                rf"\caption{{{_tex_escape(title)}. {run}}}", rf"\label{{{label}}}",
                rf"\begin{{tabularx}}{{{width}}}{{{spec}}}", r"\toprule",
                " & ".join("{" + _tex_escape(x) + "}" if numeric[i] else _tex_escape(x) for i, x in enumerate(head)) + r" \\",
                r"\midrule"]
        out += [" & ".join(_tex_cell(c, numeric[i]) for i, c in enumerate(row)) + r" \\" for row in rows]
        out += [r"\bottomrule", r"\end{tabularx}", rf"\end{{{table}}}", ""]
    # the energy model's figures with their sources: a list, not a float -- it breaks across columns and pages (a
    # table of them is taller than a page, and LaTeX would cut it off)
    out += [rf"\paragraph{{Energy model \texttt{{{_tex_escape(name)}}}: each figure, its status and its source.}}"
            r"\label{tab:neurocompile-energy-model}", r"\begin{itemize}\footnotesize"]
    figures = {**h["constants"], **h["inputs"], **h["derived"]}
    out += [rf"\item \texttt{{{_tex_escape(k)}}} = \num[{ROUNDED}]{{{_tex_number(q['value'])}}} {_tex_escape(q.get('unit', 'pJ'))}"
            rf"{' (' + q['status'] + ')' if q.get('status') else ''}: {_tex_escape(q['source'])}" for k, q in figures.items()]
    out += [r"\end{itemize}", ""]
    out += ["% Approximations:"] + [f"%   {_tex_escape(a)}" for a in h["approximations"]] + [""]
    return "\n".join(out)


FORMATS = {"json": to_json, "csv": to_csv, "md": to_markdown, "tex": to_latex}


PLOTS = ("energy_by_layer", "firing_rates", "placement")  # each as .png and .pdf (placement: partitioned targets)


def check_plots(folder: Path, stems: tuple[str, ...] = PLOTS) -> None:
    """Before anything is drawn: every plot file to be replaced must be one neurocompile wrote."""
    if folder.is_file() or folder.is_symlink():
        raise UserError(f"{folder}: --plots needs a folder, and this is a file")
    files.check_parent(folder / "x", "--plots")
    for stem in stems:
        for suffix in (".png", ".pdf"):
            files.check_file_target(folder / f"{stem}{suffix}", "--plots")


def write_plots(report: Report, folder: Path) -> list[Path]:
    """Energy by layer (stacked by op type), firing rate per LIF population, and the target's own figures (loihi2: the
    placement), as PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # TrueType (Type 42) fonts in PDFs: Type 3 fonts are refused by IEEE PDF eXpress and many publishers
    plt.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42})

    layers = [layer for layer, energy in report.by_layer.items() if energy > 0]
    kinds = sorted({r.kind for r in report.nodes if r.energy_pj > 0})
    unit = report.header["unit"]
    written = []
    # left: each layer's energy on a log axis (layers differ by orders of magnitude); right: what it is spent on, as
    # shares; the legend below both panels, never over a bar
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.5, 0.3 * len(layers) + 1.6), sharey=True,
                                      gridspec_kw={"width_ratios": [1, 1.3]})
    y = np.arange(len(layers))
    left.barh(y, [report.by_layer[layer] / 1e3 for layer in layers], color="0.35")
    left.set_xscale("log")
    left.set_xlabel(f"energy per {unit} (nJ, log scale)")
    left.set_yticks(y, layers, fontsize=7)
    left.invert_yaxis()
    shares = np.array([[sum(r.energy_pj for r in report.nodes if r.layer == layer and r.kind == kind)
                        for kind in kinds] for layer in layers])
    shares = 100 * shares / shares.sum(1, keepdims=True)
    start = np.zeros(len(layers))
    for i, kind in enumerate(kinds):
        right.barh(y, shares[:, i], left=start, label=kind)
        start += shares[:, i]
    right.set_xlim(0, 100)
    right.set_xlabel("share of the layer's energy by op (%)")
    fig.legend(*right.get_legend_handles_labels(), loc="lower center", ncol=min(len(kinds), 6), fontsize=7, frameon=False)
    fig.suptitle(f"Energy by layer, per {unit} — {report.header['energy_model'].split(':')[0]}", fontsize=9)
    fig.tight_layout(rect=(0, 0.1 + 0.04 * (len(kinds) // 6), 1, 1))
    written += _save(fig, folder / "energy_by_layer")
    fig, ax = plt.subplots(figsize=(7, 3))
    names = list(report.firing_rates)
    ax.bar([n.replace("blocks.", "b") for n in names], [100 * report.firing_rates[n] for n in names], color="tab:orange")
    ax.set_ylabel("firing rate (%)")
    ax.set_title("Firing rate per spiking population")
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    fig.tight_layout()
    written += _save(fig, folder / "firing_rates")
    for stem, draw in report.figures.items():
        written += _save(draw(), folder / stem)
    plt.close("all")
    return written


def _save(fig, stem: Path) -> list[Path]:
    return files.write_figure(fig, stem, f"neurocompile {__version__}", "--plots")
