"""The comparison that matters: paper convention vs counted hardware-aware energy vs dense ANN baselines.

    python tools/energy_table.py [--tokens 1024] [--only zoo|45m|modes]   # the tables of docs/energy-comparison.md

``--only modes``: the zoo model's default loihi2 build (``neurocompile export --target loihi2``), `--tokens` tokens
generated after "The " (``simulate``), priced per mode (``report``: totals.prefill, totals.generate) under
hw-45nm, with LayerNorm on neurocores (the default, ``--extension-ops auto``) and on the x86 cores.

Models: the zoo model on 1024 characters of its held-out text, and a 45M-shaped SpikeGPT (L12 C512 V4096,
random weights made by tools/benchmark.py, LIFs made to fire) on 1024 random tokens, as in the SpikeGPT
paper's T = 1024.  Each runs on the bit-accurate simulator, built both ways the token-shift mix can be built
(``--token-shift delay``, the loihi2 default, and ``fold``), WKV where the loihi2 default puts it; the counters feed neurocompile's report under each
shipped energy model.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from benchmark import random_45m  # noqa: E402

from neurocompile import load_model  # noqa: E402
from neurocompile.energy import load_energy_model  # noqa: E402
from neurocompile.lower import NEURON_OPS_KEY, TOKEN_SHIFT_KEY, lower  # noqa: E402
from neurocompile.pipeline import resolve_extension_ops  # noqa: E402
from neurocompile.models import zoo  # noqa: E402
from neurocompile.frontends import spikegpt  # noqa: E402
from neurocompile.pipeline import APPROXIMATIONS, op_approximations  # noqa: E402
from neurocompile.quantize import calibrate  # noqa: E402
from neurocompile.report import make_report  # noqa: E402
from neurocompile.runs import Run  # noqa: E402
from neurocompile.targets.cpu.simulator import Simulator  # noqa: E402
from neurocompile.targets.loihi2 import TARGET  # noqa: E402
from neurocompile.tokenizers import find_tokenizer  # noqa: E402
from neurocompile.frontends import trace  # noqa: E402


class TokenIds:
    """Random token ids have no text: the report header shows the ids."""

    vocab_size = 4096
    name = "token ids"

    def decode(self, ids: list[int]) -> str:
        return " ".join(map(str, ids))


MODES = ("delay", "fold")  # the target's default first


def run(name, model, tokens: np.ndarray, calibration: np.ndarray, tokenizer, token_shift: str):
    graph = trace(model)
    neuron_ops = resolve_extension_ops(TARGET, graph, None)[0]  # WKV where the loihi2 default puts it
    lowered = lower(graph, token_shift, neuron_ops)
    program, _ = TARGET.quantize(lowered, calibrate(lowered, torch.from_numpy(calibration)),
                                 {TOKEN_SHIFT_KEY: token_shift, NEURON_OPS_KEY: ",".join(sorted(neuron_ops))})
    sim = Simulator(program, 1)
    for t in tokens:
        sim.step(np.array([t]))
    manifest = {"source": {"checkpoint": name, "sha256": "-"}, "target": "cpu", "task": "language", "numeric": {},
                "approximations": APPROXIMATIONS + list(spikegpt.FAMILY.approximations) + op_approximations(program)}
    return Run(sim.totals, sim.steps, tokens.tolist(), 1), (program, manifest, tokenizer)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--only", choices=["zoo", "45m", "modes", "spikedecoder"], default=None, help="one section only")
    args = ap.parse_args()
    if args.only == "modes":
        return modes(args.tokens)
    if args.only == "spikedecoder":
        return spikedecoder(args.tokens)
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    zoo_model = load_model(zoo.path())
    tok = find_tokenizer(zoo.path(), zoo_model.config.vocab_size)
    ids = np.array(tok.encode(zoo.corpus()))
    split = zoo.split_point(len(ids))
    cases = {"zoo": lambda: ("zoo SpikeGPT L4 C128 (held-out text)", zoo_model, ids[split : split + args.tokens],
                             np.stack([ids[s : s + 256] for s in (0, 100_000, 200_000, 300_000)]), tok),
             "45m": lambda: ("45M-shaped SpikeGPT L12 C512 (random weights, random tokens)", random_45m(),
                             rng.integers(0, 4096, args.tokens), rng.integers(0, 4096, (4, 64)), TokenIds())}
    models = [load_energy_model(n) for n in ("snn-paper-45nm", "hw-45nm", "loihi1-proxy")]
    for key, case in cases.items():
        if args.only not in (None, key):
            continue
        name, model, tokens, cal, tokenizer = case()
        reports = {}
        for mode in MODES:
            counts, build = run(name, model, tokens, cal, tokenizer, mode)
            program, manifest, tokenizer = build
            reports[mode] = {m.name: make_report(program, manifest, counts, m, tokenizer=tokenizer) for m in models}
        hw = reports[MODES[0]]["hw-45nm"]
        print(f"### {name}\n")
        print(f"{hw.headline} (token shift {MODES[0]}.)\n")
        for mode in MODES:
            t = reports[mode]["hw-45nm"].totals
            rates = list(reports[mode]["hw-45nm"].firing_rates.values())
            print(f"Counted per token, token shift {mode}: {t['spikes']:,.0f} spikes (LIF firing {min(rates):.0%}–"
                  f"{max(rates):.0%}), {t['binary_events'] / 1e6:.3f} M binary and {t['graded_events'] / 1e6:.3f} M "
                  f"graded synaptic ops, {t['neuron_updates']:,.0f} neuron updates, {t['op_evals']:,.0f} "
                  f"extension-op evaluations.\n")
        c = {e["id"]: e for e in hw.comparison}
        conv, per_layer = c["convention"], c["convention_per_layer"]
        spiking = sum(1 for layer in per_layer["layers"] if layer["priced_as"] == "AC")
        print(f"SNN-paper convention (token shift {MODES[0]} build), pooled as the papers print it: firing rate "
              f"{conv['firing_rate']:.3f} (spikes per neuron update, every LIF), {conv['ann_macs_per_step']:,.0f} ANN MACs "
              f"per token, first layer `{conv['first_layer']}` {conv['first_layer_macs']:,.0f} MACs at {conv['pj_per_mac']} "
              f"pJ, the rest at {conv['pj_per_ac']} pJ x rate. Per layer, each at its own input: {spiking} of "
              f"{len(per_layer['layers'])} weight layers read spikes, the rest real values (MACs).\n")
        print("| method | ops / token (M) | nJ / token, same memory model | nJ / token, no memory | range (nJ) |")
        print("|---|---|---|---|---|")
        row = _row

        for mode in MODES:
            row({e["id"]: e for e in reports[mode]["hw-45nm"].comparison}["target"], f", token shift {mode}")
        for ann in ("ann_int8_sparse", "ann_int8", "ann_fp32"):  # Horowitz's figures, the same SRAM, the same elementwise work
            row(c[ann])
        for mode in MODES:
            row({e["id"]: e for e in reports[mode]["loihi1-proxy"].comparison}["target"], f", token shift {mode}")
        row(per_layer)
        row(conv)
        row(c["paper_constants_counted"], f", token shift {MODES[0]}")
        print()


def spikedecoder(tokens: int) -> None:
    """The zoo SpikeDecoder's default loihi2 build, `tokens` generated after "the ", priced per token: the headline,
    the comparison rows (hw-45nm; loihi1-proxy for the target), and prefill against generation."""
    import tempfile

    import neurocompile

    with tempfile.TemporaryDirectory() as tmp:
        build = neurocompile.export(zoo.path("spikedecoder-pydoc.pt"), target="loihi2", output=Path(tmp) / "b")
        build.simulate(prompt="the ", tokens=tokens, seed=0)
        hw, proxy = build.report(energy="hw-45nm"), build.report(energy="loihi1-proxy")
    t = hw.totals
    c = {e["id"]: e for e in hw.comparison}
    print(f"{hw.headline}\n")
    print(f"Counted per token ({hw.steps} tokens, T = {c['convention']['timesteps']}): {t['spikes']:,.0f} spikes, "
          f"{t['binary_events']:,.0f} binary and {t['graded_events']:,.0f} graded synaptic ops, {t['neuron_updates']:,.0f} "
          f"neuron updates ({hw.neurobench['membrane_updates_per_step']:,.0f} of them spiking neurons' membranes, the "
          f"rest the attention state's accumulators), {t['op_evals']:,.0f} extension-op evaluations.\n")
    print("| method | ops / token (M) | nJ / token, same memory model | nJ / token, no memory | range (nJ) |")
    print("|---|---|---|---|---|")
    for entry in [c["target"], c["ann_int8_sparse"], c["ann_int8"], c["ann_fp32"],
                  {e["id"]: e for e in proxy.comparison}["target"], c["convention_per_layer"], c["convention"],
                  c["paper_constants_counted"]]:
        _row(entry)
    print()
    print("| mode | time per token (µs) | tokens/s | dynamic (nJ) | static (nJ) | total (nJ) |")
    print("|---|---|---|---|---|---|")
    for mode in ("prefill", "generate"):
        print(_mode_row([mode], t[mode]))
    print()


def _row(entry, suffix=""):
    def nj(v):
        return "-" if v is None else f"{v / 1e3:,.1f}"

    span = entry.get("energy_pj_per_step_range")
    span = "-" if span is None else f"{span[0] / 1e3:,.0f}–{span[1] / 1e3:,.0f}"
    print(f"| {entry['method']}{suffix} | {entry['synops_per_step'] / 1e6:.3f} | {nj(entry['energy_pj_per_step'])} | "
          f"{nj(entry.get('energy_pj_per_step_without_memory'))} | {span} |")


def modes(tokens: int) -> None:
    """Prefill and generation, priced apart, on the zoo's loihi2 builds (both LayerNorm placements)."""
    import tempfile

    import neurocompile

    print("| build | mode | time per token (µs) | tokens/s | dynamic (nJ) | static (nJ) | total (nJ) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, ops in (("default (LayerNorm, WKV on neurocores)", None), ("--extension-ops LayerNorm=x86", "LayerNorm=x86")):
            build = neurocompile.export(target="loihi2", output=Path(tmp) / "b",
                                        **({"extension_ops": ops} if ops else {}))
            build.simulate(prompt="The ", tokens=tokens, seed=0)
            t = build.report(energy="hw-45nm").totals
            for mode in ("prefill", "generate"):
                print(_mode_row([label, mode], t[mode]))
    print()


def _mode_row(cells: list[str], m: dict) -> str:
    """A table row of one mode's totals (prefill or generate) after the given leading cells."""
    return (f"| {' | '.join(cells)} | {m['seconds_per_token'] * 1e6:,.1f} | {1 / m['seconds_per_token']:,.0f} | "
            f"{m['dynamic_pj_per_token'] / 1e3:,.0f} | {m['static_pj_per_token'] / 1e3:,.0f} | "
            f"{m['total_pj_per_token'] / 1e3:,.0f} |")


if __name__ == "__main__":
    main()
