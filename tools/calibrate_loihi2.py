"""The Loihi 2 timing and energy models against silicon: fitted on PilotNet, held out on Abreu et al.'s LLM.

    python tools/calibrate_loihi2.py --pilotnet PATH/network.net [--gts DIR] [--abreu-tokens 16] [--json]

`--pilotnet`: lava-dl's ``tutorials/lava/lib/dl/netx/pilotnet_snn/network.net`` (the network Intel benchmarked on
one Loihi 2 chip); `--gts`: lava-dl's ground truth for it, ``tests/lava/lib/dl/netx/gts/pilotnet_lif`` (every
layer's spikes over 24 steps on one frame; default: the network's folder).  Both come from lava-dl's public
repository; neurocompile ships neither.  Prints, predicted beside measured:

* PilotNet (the anchor): neurocores per layer (ours as the partitioner places the imported file, Intel's compiler's), step time and
  frames/s (the model without a fixed cost per step; fitted; on our own placement), dynamic energy per frame
  (hw-45nm as it stands; loihi2-calibrated), static power; the two fits with their ranges, and whether the shipped
  constants (``targets/loihi2/timing.py``'s ``step_overhead_seconds``, ``loihi2-calibrated.toml``'s
  ``pilotnet_scale``) are this fit's;
* Abreu et al. 2025 (held out): a 216M-shaped SpikeGPT on their 32-chip system through the whole pipeline
  (``tools/compare_abreu.py``'s), tokens/s prefill and generation against their measured 6,632 and 41.5, and the
  dynamic energy per generated token against the ~50 mJ their two operating points imply.

``--json``: one object, ``{"pilotnet": {...}, "abreu": {...}}``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from neurocompile.energy import load_energy_model  # noqa: E402
from neurocompile.targets.loihi2.anchors import ABREU, PILOTNET, abreu_split  # noqa: E402
from neurocompile.targets.loihi2.calibration import (busiest_core, busiest_placed_core, fit_energy_scale,  # noqa: E402
                                                     fit_step_overhead,
                                                     pilotnet_activity, placed_cores, predicted_dynamic_j_per_step)
from neurocompile.targets.loihi2.timing import TIMING  # noqa: E402


def pilotnet(network: Path, gts: Path) -> dict:
    activity = pilotnet_activity(network, gts)
    rates = TIMING.synops_per_second_per_core.value, TIMING.neuron_ops_per_second_per_core.value
    placement, names = _our_placement(network)
    ours = placed_cores(placement, names)
    overhead = fit_step_overhead(activity, *rates)
    hw, calibrated = load_energy_model("hw-45nm"), load_energy_model("loihi2-calibrated")
    scale = fit_energy_scale(activity, hw)
    intel_busy = float(busiest_core(activity, PILOTNET.cores_per_layer, *rates).mean())
    our_busy = float(busiest_placed_core(activity, placement, names, *rates).mean())
    shipped_overhead = TIMING.step_overhead_seconds.value
    steps = PILOTNET.steps_per_frame

    def step(seconds: float) -> dict:
        return {"predicted": seconds, "measured": PILOTNET.step_seconds, "ratio": seconds / PILOTNET.step_seconds,
                "frames_per_s": 1 / (seconds * steps)}

    return {
        "layers": [{**layer.summary(), "cores_ours": n, "cores_intel": m}
                   for layer, n, m in zip(activity, ours, PILOTNET.cores_per_layer)],
        "cores": {"ours": len(placement.cores), "ours_by_layer": sum(ours), "intel": sum(PILOTNET.cores_per_layer),
                  "measured": PILOTNET.cores},
        "step_seconds": {"without_fixed_cost": step(intel_busy), "calibrated_on_intels_placement":
                         step(shipped_overhead + intel_busy), "calibrated_on_our_placement": step(shipped_overhead + our_busy),
                         "measured": PILOTNET.step_seconds},
        "frames_per_s": {"predicted": 1 / ((shipped_overhead + our_busy) * steps), "measured": PILOTNET.frames_per_s},
        "dynamic_j_per_inference": {
            "hw-45nm": float(predicted_dynamic_j_per_step(activity, hw).mean()) * steps,
            "loihi2-calibrated": float(predicted_dynamic_j_per_step(activity, calibrated).mean()) * steps,
            "measured": PILOTNET.dynamic_j_per_frame},
        "static_w": {"predicted": TIMING.static_watts_per_chip.value, "measured": PILOTNET.static_w},
        "fits": {"step_overhead_seconds": {**vars(overhead), "shipped": shipped_overhead,
                                           "agrees": abs(shipped_overhead - overhead.value) < 0.5e-6},
                 "pilotnet_scale": {**vars(scale), "shipped": calibrated.inputs["pilotnet_scale"].value,
                                    "agrees": abs(calibrated.inputs["pilotnet_scale"].value - scale.value) < 5e-4}},
        "source": PILOTNET.source,
    }


def _our_placement(network: Path):
    """PilotNet as ``neurocompile export network.net --target loihi2`` places it (the netx import, then the
    partitioner), and the names of its layers' nodes (the file's layers but the flatten, in order)."""
    from neurocompile.frontends.netx import import_netx, read_netx
    from neurocompile.targets.loihi2 import TARGET

    _, program, _ = import_netx(network)
    return TARGET.place(program, None), [f"layer{layer.index}" for layer in read_netx(network)]


def abreu(tokens: int) -> dict:
    from compare_abreu import run

    reports, partition, _ = run(tokens)
    t = reports["loihi2-calibrated"].totals
    prefill, generate = 1 / t["prefill"]["seconds_per_token"], 1 / t["generate"]["seconds_per_token"]
    fast, slow = t["seconds_per_step_range"]
    gen_fast, gen_slow = t["generate_seconds_per_step_range"]
    split = {n: abreu_split(n) for n in (ABREU.chips, ABREU.system_chips)}
    return {
        "model": "a 216M-shaped SpikeGPT (L18 C768, random weights) on the 32-chip system; theirs a trained 370M "
                 "MatMul-free LLM on 24 of its chips",
        "prefill_tokens_per_s": {"predicted": prefill, "range": [1 / slow, 1 / fast], "measured": ABREU.prefill_tokens_per_s,
                                 "ratio": prefill / ABREU.prefill_tokens_per_s},
        "generate_tokens_per_s": {"predicted": generate, "range": [1 / gen_slow, 1 / gen_fast],
                                  "measured": ABREU.generate_tokens_per_s, "ratio": generate / ABREU.generate_tokens_per_s},
        "dynamic_mj_per_generated_token": {
            name: r.totals["generate"]["dynamic_pj_per_token"] / 1e9 for name, r in reports.items()} | {
            "abreu_solved": [split[ABREU.chips][1], split[ABREU.system_chips][1]]},
        "static_w_per_chip": {"model": [TIMING.static_watts_per_chip.value, TIMING.static_watts_per_chip.high],
                              "abreu_solved": [split[ABREU.system_chips][0], split[ABREU.chips][0]]},
        "cores": partition["cores"], "chips_used": partition["chips"], "tokens": tokens, "source": ABREU.source,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pilotnet", type=Path, required=True, help="lava-dl's pilotnet_snn/network.net")
    ap.add_argument("--gts", type=Path, default=None, help="lava-dl's gts/pilotnet_lif (default: the network's folder)")
    ap.add_argument("--abreu-tokens", type=int, default=16, help="tokens the held-out 216M model generates (0: skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = {"pilotnet": pilotnet(args.pilotnet, args.gts or args.pilotnet.parent)}
    if args.abreu_tokens:
        result["abreu"] = abreu(args.abreu_tokens)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    p = result["pilotnet"]
    print("## PilotNet LIF on one Loihi 2 chip (fitted): predicted beside measured\n")
    print("| layer | neurons | firing | synaptic ops / step | cores, ours | cores, Intel |")
    print("|---|---|---|---|---|---|")
    for layer in p["layers"]:
        print(f"| {layer['name']} ({layer['kind']}) | {layer['neurons']:,} | {layer['firing_rate']:.1%} | "
              f"{layer['synops_per_step']:,.0f} | {layer['cores_ours']} | {layer['cores_intel']} |")
    print(f"| total | | | | {p['cores']['ours']} (a core may hold two layers: {p['cores']['ours_by_layer']} by layer) | "
          f"{p['cores']['intel']} (measured: {p['cores']['measured']}) |\n")
    s = p["step_seconds"]
    e = p["dynamic_j_per_inference"]
    f = p["fits"]
    print("| quantity | predicted | measured | predicted / measured |")
    print("|---|---|---|---|")
    for label, key in (("step, the model without a fixed cost (Intel's placement)", "without_fixed_cost"),
                       ("step, calibrated (Intel's placement)", "calibrated_on_intels_placement"),
                       ("step, calibrated (our placement)", "calibrated_on_our_placement")):
        print(f"| {label} | {s[key]['predicted'] * 1e6:.1f} µs | {s['measured'] * 1e6:.1f} µs | {s[key]['ratio']:.2f} |")
    print(f"| frames/s (our placement) | {p['frames_per_s']['predicted']:.1f} | {p['frames_per_s']['measured']:.2f} | "
          f"{p['frames_per_s']['predicted'] / p['frames_per_s']['measured']:.2f} |")
    for name in ("hw-45nm", "loihi2-calibrated"):
        print(f"| dynamic energy per frame, {name} | {e[name] * 1e3:.3f} mJ | {e['measured'] * 1e3:.3f} mJ | "
              f"{e[name] / e['measured']:.3f} |")
    print(f"| static power | {p['static_w']['predicted']:.3f} W | {p['static_w']['measured']:.3f} W | "
          f"{p['static_w']['predicted'] / p['static_w']['measured']:.3f} |\n")
    o, k = f["step_overhead_seconds"], f["pilotnet_scale"]
    print(f"Fits: fixed cost per step {o['value'] * 1e6:.1f} µs ({o['low'] * 1e6:.1f}–{o['high'] * 1e6:.1f}; shipped "
          f"{o['shipped'] * 1e6:.1f}: {'the same' if o['agrees'] else 'DIFFERS'}) — {o['how']}; energy factor "
          f"{k['value']:.3f} ({k['low']:.3f}–{k['high']:.3f}; shipped {k['shipped']:.3f}: "
          f"{'the same' if k['agrees'] else 'DIFFERS'}) — {k['how']}.\n")
    if "abreu" in result:
        a = result["abreu"]
        print(f"## Held out: Abreu et al. 2025 ({a['model']})\n")
        print("| quantity | predicted (range) | measured | predicted / measured |")
        print("|---|---|---|---|")
        for label, key in (("tokens/s, prefill", "prefill_tokens_per_s"), ("tokens/s, generation", "generate_tokens_per_s")):
            q = a[key]
            print(f"| {label} | {q['predicted']:,.1f} ({q['range'][0]:,.1f}–{q['range'][1]:,.1f}) | {q['measured']:,.1f} | "
                  f"{q['ratio']:.2f} |")
        d = a["dynamic_mj_per_generated_token"]
        print(f"| dynamic mJ per generated token, loihi2-calibrated | {d['loihi2-calibrated']:.2f} | "
              f"{d['abreu_solved'][0]:.1f}–{d['abreu_solved'][1]:.1f} (solved) | "
              f"{d['loihi2-calibrated'] / d['abreu_solved'][0]:.2f} |")
        w = a["static_w_per_chip"]
        print(f"| static W per chip | {w['model'][0]:.3f}–{w['model'][1]:.3f} | {w['abreu_solved'][0]:.3f}–"
              f"{w['abreu_solved'][1]:.3f} (solved) | |\n")


if __name__ == "__main__":
    main()
