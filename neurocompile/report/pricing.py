"""Pricing: the counters of a run x an energy model -> a ``Report`` (per node, layer, op kind and placement; totals,
time and static energy on partitioned targets, routing, prefill and generation apart, the baselines priced under the
same assumptions, NeuroBench's metrics, the headline sentence).  The writers of each format are beside it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import __version__
from ..runs import Run
from ..target import get_target
from ..task import get_task
from ..energy import EVENTS, EnergyModel, load_energy_model
from ..graph import steps_per_token
from ..ops import Op, SpikingAttention, Tally

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
    macs: list[tuple[str, type[Op], int]] = []  # (node, op class, MACs per step the same op costs in a dense ANN), in order
    for (name, node), row in zip(program.nodes.items(), totals):
        events = dict(zip(fields, row.tolist()))
        energy = sum(events[EVENT_FIELD[e]] * model.cost(e) for e in EVENTS)
        if node.op_class.synapse:
            kind_in = "real-valued" if events["graded_events"] > 0 else "binary" if events["binary_events"] > 0 else "silent"
        else:
            kind_in = "-"
        if ann := program.form(node).ann_macs(node.q, run.steps):
            macs.append((name, node.op_class, ann))
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

    def mode(dynamic: float, seconds: float | None, how: str, unit: str = key) -> dict:
        static = None if static_pj_per_s is None else static_pj_per_s * seconds
        total = dynamic + (static or 0.0)
        return {f"dynamic_pj_per_{unit}": dynamic, f"static_pj_per_{unit}": static, f"total_pj_per_{unit}": total,
                f"seconds_per_{unit}": seconds, f"edp_js_per_{unit}": None if seconds is None else total * 1e-12 * seconds,
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
    if samples := report.header.get("steps_per_sample"):  # a sample of that many steps, pipelined one after another
        t["sample"] = {**mode(t["energy_pj_per_step"] * samples, None if seconds is None else seconds * samples,
                              f"{samples} steps per sample (the neurons' reset interval): the run's events per step x "
                              f"{samples}, static power x {samples} pipelined steps", "sample"),
                       "steps_per_sample": samples}
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
    dense_rows = [r for r in rows if program.nodes[r.node].op_class.synapse]
    held = [node for node in program.nodes.values() if node.op_class.synapse]
    weights = [program.form(node).stored_synapses(node.q) for node in held]
    synapses = sum(w.size for w in weights)
    others = [r for r in rows if not program.nodes[r.node].op_class.synapse]
    return {
        "activation_sparsity": 1 - sum(r.per_step["spikes"] for r in spiking) / updates if updates else None,
        "effective_acs_per_step": float(sum(r.per_step["effective_binary_events"] for r in dense_rows)),
        "effective_macs_per_step": float(sum(r.per_step["effective_graded_events"] for r in dense_rows)),
        # NeuroBench's "Dense": every synapse of the same matrices, every step (each of a token's synthetic steps)
        "dense_synops_per_step": float(sum(program.form(node).dense_synops(node.q) for node in held)
                                       * steps_per_token(program.metadata)),
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


def convention_layers(macs: list[tuple[str, type[Op], int]], per_node: dict[str, dict[str, float]], ac: float, mac: float,
                      timesteps: int) -> list[dict]:
    """The convention computed per layer, as the Spikformer-lineage papers do: each layer's own input firing rate
    (spikes in per input per step, measured: its binary synaptic ops over its dense MACs) times its FLOPs times T at
    E_AC where its input is spikes; where the measured input is not binary (graded values, the first layer's
    real-valued input), E_MAC times its FLOPs.  The choice is recorded beside each number."""
    out = []
    for name, op, flops in macs:
        events = per_node.get(name, {})
        binary, graded = events.get("binary_events", 0.0), events.get("graded_events", 0.0)
        if graded == 0 and binary > 0:
            rate = binary / (flops * timesteps)
            out.append({"layer": name, "kind": op.kind, "flops": flops, "input": "spikes", "input_rate": rate,
                        "priced_as": "AC", "ops": rate * timesteps * flops, "pj": ac * rate * timesteps * flops})
        else:
            out.append({"layer": name, "kind": op.kind, "flops": flops, "input": "graded" if graded else "silent",
                        "input_rate": None, "priced_as": "MAC" if graded else "none",
                        "ops": float(flops) if graded else 0.0, "pj": mac * flops if graded else 0.0})
    return out


def spiking_rate(rows: list[NodeRow]) -> float:
    """Spikes per neuron update over every neuron population (the pooled firing rate; an input's bits are not
    spikes of a population)."""
    spiking = [r for r in rows if Op.registry[r.kind].binary_output]
    updates = sum(r.per_step["neuron_updates"] for r in spiking)
    return sum(r.per_step["spikes"] for r in spiking) / updates if updates else 0.0


def comparison(counted: dict[str, float], summed: dict[str, float], rate: float, macs: list[tuple[str, type[Op], int]],
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

    attention = any(op is SpikingAttention for _, op, _ in macs)
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
        "model": next((v for k, v in source.items() if k != "sha256"), None), "model_sha256": source["sha256"],
        "target": build.manifest["target"], "task": build.task.name, "unit": build.task.unit,
        "unit_key": build.task.key,
        "steps_per_sample": build.task.sample_steps(build.program),
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
    return placement.report()
