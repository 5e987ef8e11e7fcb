"""Our time and energy per token for a SpikeGPT of comparable size, beside the only measured LLM on Loihi 2.

    python tools/compare_abreu.py [--tokens 64] [--layers 18] [--embd 768] [--vocab 50277]

Abreu, Shrestha, Zhu, Eshraghian, "Neuromorphic Principles for Efficient Large Language Models on Intel Loihi 2"
(arXiv 2503.18002, 2025; figures from shared/reference/loihi2-energy.md, read there via a secondary summary of the
paper's tables): a 370M MatMul-free LLM on 24 chips of a 32-chip Loihi 2 system, batch 1.

Ours: SpikeGPT's published 216M shape (L18 C768, GPT-2's 50,277-word vocabulary) with random weights (tools/
bench_export.py's checkpoint; no trained 216M checkpoint is available here), exported for Loihi 2 on the same 32-chip
system (``--system loihi2-32``), `--tokens` tokens generated on the bit-accurate engine after a random 16-word prompt,
then priced by ``neurocompile report`` under hw-45nm and loihi1-proxy: the timing model's time per token (pipelined,
as in prefill; one at a time, as in generation), dynamic energy per token, and static energy over that time for the
32 powered chips and, for comparison, for the chips the placement uses.  Prints Markdown.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_export import make_checkpoint  # noqa: E402

import neurocompile  # noqa: E402
from neurocompile.targets.loihi2.timing import TIMING  # noqa: E402

from neurocompile.targets.loihi2.anchors import ABREU as A, abreu_split  # noqa: E402

ABREU = {"generate_tokens_per_s": A.generate_tokens_per_s, "generate_mj_per_token": A.generate_mj_per_token,
         "prefill_tokens_per_s": A.prefill_tokens_per_s, "prefill_mj_per_token": A.prefill_mj_per_token,
         "chips": A.chips, "system_chips": A.system_chips, "one_chip_tokens_per_s": A.one_chip_tokens_per_s,
         "one_chip_mj_per_token": A.one_chip_mj_per_token}


ENERGY_MODELS = ("hw-45nm", "loihi1-proxy", "loihi2-calibrated")


def run(tokens: int, layers: int = 18, embd: int = 768, vocab: int = 50277, gain: float = 32.0):
    """The 216M-shaped SpikeGPT exported for the 32-chip system, `tokens` generated after a random 16-word prompt:
    (its report under each energy model, its partition summary, its token-shift mode)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ckpt = make_checkpoint(folder, layers, embd, vocab)
        state = torch.load(ckpt, weights_only=True)
        gen = torch.Generator().manual_seed(3)
        for name, p in state.items():  # as tools/benchmark.py's random 45M model: mixing ratios in [0, 1], decays
            if name.endswith(("att.output.weight", "ffn.value.weight")):  # spread, outputs large enough to fire
                p.mul_(gain)
            elif "time_mix" in name:
                p.uniform_(0, 1, generator=gen)
            elif name.endswith("time_decay"):
                p.uniform_(-6, 1, generator=gen)
        torch.save(state, ckpt)
        build = neurocompile.export(ckpt, target="loihi2", output=folder / "build", system="loihi2-32",
                                    calibration_text=(folder / "calibration.txt").read_text(), calibration_tokens=1024)
        gen = torch.Generator().manual_seed(2)
        prompt = " ".join(f"w{i}" for i in torch.randint(0, vocab, (16,), generator=gen).tolist())
        build.simulate(prompt=prompt, tokens=tokens)
        reports = {name: build.report(energy=name) for name in ENERGY_MODELS}
        return reports, build.manifest["partition"], build.manifest["token_shift"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--layers", type=int, default=18)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=50277)
    ap.add_argument("--gain", type=float, default=32.0, help="scale of the weights feeding the LIFs (random weights "
                    "at their initial scale never reach the threshold)")
    args = ap.parse_args()
    reports, partition, token_shift = run(args.tokens, args.layers, args.embd, args.vocab, args.gain)
    hw = reports["hw-45nm"]
    t, timing = hw.totals, hw.header["resources"]["timing"]
    watts = TIMING.static_watts_per_chip
    used = partition["chips"]
    rates = list(hw.firing_rates.values())
    print(f"Ours: L{args.layers} C{args.embd} V{args.vocab}, random weights (LIF inputs x{args.gain:g}), token shift "
          f"{token_shift}; {partition['cores']:,} neurocores on {used} of the system's "
          f"{partition['chips_available']} chips; {hw.header['tokens']} tokens (16-word prompt + {args.tokens} generated), "
          f"LIF firing {min(rates):.1%}–{max(rates):.1%}; pipeline depth {timing['pipeline_depth_steps']} steps; "
          f"the step is bounded by {timing['bottleneck']}.\n")
    a = ABREU
    split = {n: abreu_split(n) for n in (a["chips"], a["system_chips"])}
    print(f"Abreu et al. report totals per token, not a static/dynamic split. Their two generation points solve for "
          f"one (E = E_dyn + chips x P_static / rate, E_dyn the same on both): with {a['chips']} chips powered, "
          f"**{split[a['chips']][0]:.3f} W static per chip and {split[a['chips']][1]:.1f} mJ dynamic per generated "
          f"token**; with all {a['system_chips']}, {split[a['system_chips']][0]:.3f} W and "
          f"{split[a['system_chips']][1]:.1f} mJ (targets/loihi2/anchors.py). PilotNet's one-chip board measured "
          f"0.232 W static: the timing model prices static power at 0.232 W per chip (nominal) to "
          f"{watts.high:.3f} W (high end, from this split).\n")
    print("| | tokens/s, prefill (pipelined) | tokens/s, generation | dynamic mJ/token, generation | static mJ/token, "
          "generation (chips powered) | total mJ/token, generation |")
    print("|---|---|---|---|---|---|")
    gen_s, gen_range = t["generate_seconds_per_step"], t["generate_seconds_per_step_range"]
    for name, report in reports.items():
        dyn = report.totals["generate"]["dynamic_pj_per_token"] / 1e9
        for chips in (partition["chips_available"], used):
            static = watts.value * chips * gen_s * 1e3
            high = watts.high * chips * gen_range[1] * 1e3
            print(f"| ours, timing model, {name} | {1 / t['seconds_per_step']:,.0f} | {1 / gen_s:,.0f} "
                  f"({1 / gen_range[1]:,.0f}–{1 / gen_range[0]:,.0f}) | {dyn:.3f} | {static:.2f} (to {high:.2f}) "
                  f"({chips}) | {dyn + static:.2f} |")
    for n in (a["chips"], a["system_chips"]):
        watts_n, dyn_n = split[n]
        print(f"| Abreu et al. 2025, measured, 370M MatMul-free LLM, split solved with {n} chips powered | "
              f"{a['prefill_tokens_per_s']:,.0f} | {a['generate_tokens_per_s']} | {dyn_n:.1f} (solved) | "
              f"{watts_n * n / a['generate_tokens_per_s'] * 1e3:.1f} ({n}; {watts_n:.3f} W per chip) | "
              f"{a['generate_mj_per_token']:.0f} (prefill {a['prefill_mj_per_token']}) |")
    print(f"| Abreu et al. 2025, their one-chip estimate | - | {a['one_chip_tokens_per_s']} | "
          f"{split[a['chips']][1]:.1f} (solved) | {split[a['chips']][0] / a['one_chip_tokens_per_s'] * 1e3:.1f} (1) | "
          f"{a['one_chip_mj_per_token']:.0f} |")
    print()


if __name__ == "__main__":
    main()
