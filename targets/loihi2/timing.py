"""Time per step on Loihi 2, from the partition and the counted events, and the static energy over that time.

Loihi 2 runs a step on every core at once and moves on when the slowest is done (barrier synchronisation).  Each
neurocore's time is its synaptic operations over a core's synaptic-op rate plus its neuron work (neuron updates and
neuron-program evaluations) over a core's neuron-op rate; each embedded x86 core's time is the op evaluations of
the ops placed on its chip times the cycles one costs, over its clock, split evenly across the chip's x86 cores
(LayerNorm's and WKV's work is independent across channels).  The step takes the longest of these (the
bottleneck is named) plus a fixed cost every step pays (barrier synchronisation, message transport, step control),
fitted on PilotNet measured on silicon (calibration.py); a token or time step of the run leaves one step after the
previous (the pipeline's depth is
latency, not throughput).  Per token of a language model: prefill (the prompt) streams one token per step, pipelined;
generation cannot -- each token must cross the whole pipeline (its synaptic stages, one step each: the Lava
mapping's depth) before the next is sampled, so a generated token takes ``steps_per_token + depth`` steps.  Approximations, named in every report: the *average* load per step (a step whose spikes
cluster on one core takes longer), peak rates, one fixed cost per step (fitted on one network: PilotNet).

Static energy = static power per chip x the system's chips (powered whole, used or not) x time per step (Abreu et
al. 2025 found it dominant on a 24-chip system).  Every figure below carries value, range, source and status (energy.Quantity).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from neurocompile.energy import Quantity
from neurocompile.graph import steps_per_token

from . import rules
from .anchors import ABREU, PILOTNET, abreu_split

HALA_POINT_CORES = 140_544  # Intel, Hala Point announcement (secondary; shared/reference/loihi2-energy.md)


@dataclass(frozen=True)
class TimingSpec:
    synops_per_second_per_core: Quantity
    neuron_ops_per_second_per_core: Quantity
    x86_hz: Quantity
    x86_cycles_per_op_eval: Quantity
    static_watts_per_chip: Quantity
    step_overhead_seconds: Quantity


TIMING = TimingSpec(
    synops_per_second_per_core=Quantity(
        380e12 / HALA_POINT_CORES, 380e12 / HALA_POINT_CORES / 2, 380e12 / HALA_POINT_CORES, unit="synaptic ops per second",
        source="Hala Point: 380 trillion 8-bit synaptic ops/s over 140,544 neurocores (Intel, secondary): 2.7e9 per "
               "core; low end half of it (a peak figure; sustained rates are not published)", status="secondary"),
    neuron_ops_per_second_per_core=Quantity(
        240e12 / HALA_POINT_CORES, 240e12 / HALA_POINT_CORES / 2, 240e12 / HALA_POINT_CORES, unit="neuron ops per second",
        source="Hala Point: 240 trillion neuron ops/s over 140,544 neurocores (Intel, secondary): 1.7e9 per core; low "
               "end half of it", status="secondary"),
    x86_hz=Quantity(400e6, 200e6, 600e6, unit="Hz", source="embedded x86 (Lakemont) clock: not published; 'a few hundred MHz'",
                    status="assumption"),
    x86_cycles_per_op_eval=Quantity(
        100.0, 60.0, 250.0, unit="cycles", source="an in-order 32-bit core doing the integer step of LayerNorm (60-150 cycles "
        "per element: 64-bit arithmetic, a software division) or WKV (150-250 per channel), counted from int_step "
        "(issue 14's count)", status="assumption"),
    static_watts_per_chip=Quantity(
        PILOTNET.static_w, PILOTNET.static_w, abreu_split(ABREU.chips)[0], unit="W",
        source="lava-dl's PilotNet benchmark on Oheo Gulch (one Loihi 2 chip): 0.232 W static of 0.679 W total, measured; "
               "high end 0.613 W per chip, solved from Abreu et al. 2025's two generation points on a 24-chip system "
               "(targets/loihi2/anchors.py: a multi-chip system's boards and links included)", status="verified"),
    step_overhead_seconds=Quantity(
        111.2e-6, 85.5e-6, 120.2e-6, unit="s per step",
        source="fitted on PilotNet LIF measured on one Loihi 2 chip (152.9 µs per step, Intel): that step less its busiest "
               "core's work at the rates above, on Intel's own 74-core placement, with the activity lava-dl's ground "
               "truth records for the network (41.7 µs; the range from the least and most active of its 24 steps); "
               "the barrier synchronisation, message transport and step control every step pays. "
               "tools/calibrate_loihi2.py, targets/loihi2/calibration.py", status="verified"),
)

APPROXIMATIONS = [
    "time: each step takes a fixed 111 µs (85-120; barrier synchronisation, message transport, step control: fitted "
    "on PilotNet's measured step on one Loihi 2 chip) plus its slowest neurocore or x86 core at the run's average "
    "load per step, at Hala Point's published peak rates per core",
    "static energy: 0.232 W per powered chip (one-chip measurement, lava-dl PilotNet benchmark) x time per step; its range "
    "up to 0.613 W per chip, what Abreu et al. 2025's two measured operating points imply for a multi-chip system",
]


def step_time(program, placement, per_step: dict[str, dict[str, float]], point: str = "value") -> tuple[float, str]:
    """Seconds per step and the bottleneck's name, from each node's events per step; `point`: 'value', or 'low' /
    'high' for the slow / fast end of the rates (so 'low' gives the longest time)."""
    t = TIMING
    synops = getattr(t.synops_per_second_per_core, point)
    neuron = getattr(t.neuron_ops_per_second_per_core, point)
    x86 = getattr(t.x86_hz, point) / getattr(t.x86_cycles_per_op_eval, {"value": "value", "low": "high", "high": "low"}[point])
    loads: dict[str, float] = {}
    for core in placement.cores:
        seconds = 0.0
        for s in core.slices:
            events, share = per_step[s.node], (s.rows[1] - s.rows[0]) / program.width(s.node)
            cost = rules.rule(program.nodes[s.node].op_class).eval_cost  # neuron ops per evaluation of its program
            seconds += share * ((events["binary_events"] + events["graded_events"]) / synops
                                + (events["neuron_updates"] + cost * events["op_evals"]) / neuron)
        loads[f"neurocore {core.index}"] = seconds
    x86_cores = placement.resources.embedded_cpus_per_chip
    for name, chip in placement.x86_chip.items():  # each op's work split across its chip's x86 cores
        key = f"the x86 cores of chip {chip}"
        loads[key] = loads.get(key, 0.0) + per_step[name]["op_evals"] / (x86 * x86_cores)
    overhead = getattr(t.step_overhead_seconds, {"value": "value", "low": "high", "high": "low"}[point])
    if not loads:
        return overhead, "the step's fixed cost"
    bottleneck = max(loads, key=loads.get)
    return overhead + loads[bottleneck], bottleneck


def extension_placement(op, width: int, x86_cores: int = 6) -> tuple[str, str]:
    """Where an extension op with a neuron-program form runs faster by this model, per step of `width` channels (the
    prefill's throughput; a form with synaptic stages lengthens generation instead, which the reason says):
    the chip's x86 cores (`width` evaluations at ``x86_cycles_per_op_eval`` each, over the x86 cores) or neurocores
    (`width` evaluations at the rule's ``eval_cost`` neuron ops each, at one core's neuron-op rate: a width that
    fills several cores runs faster still).  ("neuron" | "x86", the reason with both times)."""
    t = TIMING
    x86 = width * t.x86_cycles_per_op_eval.value / (t.x86_hz.value * x86_cores)
    rule = rules.rule(type(op.neuron_program()))
    neuron = width * rule.eval_cost / t.neuron_ops_per_second_per_core.value
    where = "neuron" if neuron < x86 else "x86"
    stages = (f"; on neurocores its {rule.delay} synaptic stages add {rule.delay} steps to every generated token's path "
              f"(the report's generate_tokens_per_s; --extension-ops {op.kind}=x86 keeps it on the x86 cores)"
              if rule.delay else "")
    return where, (f"{op.kind} ({width} channels): {neuron * 1e6:.2f} µs per step on a neurocore ({rule.eval_cost:.1f} neuron "
                   f"ops per channel) against {x86 * 1e6:.2f} µs on a chip's {x86_cores} x86 cores; the timing model "
                   f"picks {where}{stages}")


def pipeline_depth(program) -> int:
    """Algorithmic steps from a token's input to its output: the synaptic stages on the longest path (each delivers
    one step late, as on the chip and in the Lava mapping, ``lava_engine.depths``)."""
    from .lava_engine import depths

    depth = depths(program)
    return max(depth[node.name] for node in program.outputs)


def timing(program, placement, per_step: dict[str, dict[str, float]]) -> dict:
    """Seconds per step (nominal, and the range from the rates' low and high ends), the bottleneck, and the static
    energy per step of the chips this placement powers."""
    nominal, bottleneck = step_time(program, placement, per_step)
    slow, _ = step_time(program, placement, per_step, "low")
    fast, _ = step_time(program, placement, per_step, "high")
    watts, chips = TIMING.static_watts_per_chip, placement.chips_available  # a system is powered whole
    static = [watts.value * chips * nominal * 1e12, watts.low * chips * fast * 1e12, watts.high * chips * slow * 1e12]
    per_token = steps_per_token(program.metadata)
    latency = pipeline_depth(program)
    generate = nominal * (per_token + latency) / per_token  # `nominal` is a token's time: its per_token steps
    return {"seconds_per_step": nominal, "step_seconds": nominal / per_token, "pipeline_depth_steps": latency,
            "generate_seconds_per_step": generate, "generate_seconds_per_step_range":
                [fast * (per_token + latency) / per_token, slow * (per_token + latency) / per_token], "seconds_per_step_range": [fast, slow], "bottleneck": bottleneck,
            "chips_powered": chips,
            "static_pj_per_step": static[0], "static_pj_per_step_range": [static[1], static[2]],
            "figures": {k: asdict(getattr(TIMING, k)) for k in TimingSpec.__dataclass_fields__},
            "approximations": APPROXIMATIONS}
