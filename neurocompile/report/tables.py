"""The report's tables as typed cells, shared by the Markdown and LaTeX writers (numbers stay numbers, so each
format sets them its own way)."""
from __future__ import annotations

from .pricing import Report


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
    if sample := t.get("sample"):  # a spike train's sample (its reset interval), beside its step
        modes.append([f"one sample ({sample['steps_per_sample']} steps)", nj(sample["dynamic_pj_per_sample"]),
                      nj(sample["static_pj_per_sample"]), nj(sample["total_pj_per_sample"]),
                      None if sample["seconds_per_sample"] is None else sample["seconds_per_sample"] * 1e6])
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


def _resources_line(resources: dict | str, unit: str) -> str:
    """The placement in one sentence: the target's own (``text``, per `unit`), or why the build has none."""
    return f"Resources: {resources if isinstance(resources, str) else resources['text'].format(unit=unit)}"
