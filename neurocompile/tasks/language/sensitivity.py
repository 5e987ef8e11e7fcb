"""Per-layer quantization sensitivity: what each layer's bits are worth, in bits per token of the integer program.

For every Dense node, its 8-bit weights rounded to 8 - k bits; for every neuron, its decays (12 bits) and threshold
mantissa (17 bits) rounded to multiples of 2^k (the op's ``coarsenable`` fields); for every calibrated graded value (a LayerNorm, a
product, a sum, a Dense accumulator...; a WKV output keeps its v's scale), the value carried with k fewer
fractional bits, its readers quantized again for the new scale (``quantize.requantize``).  One change at a time, every other node as
exported; each variant scored by the compiled engine on the same tokens as the build itself.  A change the
quantizer refuses (a threshold that no longer fits, say) is reported with its reason, not skipped.

Each change comes with its standard error: the per-token differences against the unchanged program, paired on the
same tokens.  A single flipped spike changes every later layer's input, so small changes move bpc by about
±0.01 on a thousand characters either way; a cost is worth reading only where it stands well above its error.
The error treats tokens as independent; neighbouring tokens are correlated, so it is a lower bound.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...build import Build
from ...errors import UserError
from ...ops import CALIBRATE, Dense
from ...quantize import Program, coarser_field, coarser_weights, requantize
from .semantics import _progress, token_bits, windows

PLOT = "sensitivity"


@dataclass
class Sensitivity:
    tokens: int
    baseline_bpc: float
    unit: str
    drops: tuple[int, ...]
    rows: list[dict] = field(default_factory=list)  # node, kind, quantity, bits now, drop, bpc, delta, se (or refused)

    def to_dict(self) -> dict:
        return {"tokens": self.tokens, "unit": self.unit, "baseline_bpc": self.baseline_bpc, "drops": list(self.drops),
                "rows": self.rows}


def integer_bits(program: Program, ids: list[int], streams: int = 16):
    """Bits of each predicted token of `program` on the compiled engine over `ids` (the windows ``evaluate``
    scores), [steps, streams], and the engine after the run (its counters)."""
    from ...targets.cpu.simulator import Simulator

    x, y, _ = windows(ids, streams, program.metadata)
    sim = Simulator(program, x.shape[0])
    bits = []
    for t in range(x.shape[1]):
        for _ in range(sim.per_input):
            logits = sim.step(x[:, t]) * sim.logit_scale
        bits.append(token_bits(logits, y[:, t]))
    return np.array(bits), sim


def sensitivity(build: Build, ids: list[int], drops: tuple[int, ...] = (2, 4), quiet: bool = False) -> Sensitivity:
    program = build.program
    graph = build.lowered
    base, _ = integer_bits(program, ids)
    result = Sensitivity(base.size, float(base.mean()), build.tokenizer.unit, tuple(drops))
    variants = []
    for name, node in program.nodes.items():
        op = graph.nodes[name].op
        if node.op_class is Dense:
            variants += [(name, node.kind, "weights", 8, k, lambda k=k, name=name: coarser_weights(program, name, k))
                         for k in drops if k < 8]
        for field_name, (quantity, width, _) in program.form(node).coarsenable.items():
            variants += [(name, node.kind, quantity, width, k,
                          lambda k=k, name=name, f=field_name: coarser_field(program, name, f, k)) for k in drops]
        in_frac = tuple(program.nodes[i].frac for i in node.inputs)
        if op.arity != 0 and not op.binary_output and program.form(node).output_frac(op, in_frac) == CALIBRATE:
            variants += [(name, node.kind, "value", node.frac, k,
                          lambda k=k, name=name: requantize(graph, program, {name: program.nodes[name].frac - k}))
                         for k in drops]
    for i, (name, kind, quantity, bits, k, make) in enumerate(variants):
        row = {"node": name, "kind": kind, "quantity": quantity,
               ("frac" if quantity == "value" else "bits"): bits, "drop": k}
        try:
            variant = make()
        except (ValueError, UserError) as exc:
            row["refused"] = str(exc).splitlines()[0]
        else:
            diff = integer_bits(variant, ids)[0] - base
            row["bpc"] = float(base.mean() + diff.mean())
            row["delta"] = float(diff.mean())
            row["se"] = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("nan")
        result.rows.append(row)
        if i % max(1, len(variants) // 10) == 0:
            _progress(f"sensitivity: {i + 1}/{len(variants)} variants", quiet)
    return result


def markdown(s: Sensitivity) -> str:
    """The table: one line per node and quantity, the bpc cost of each drop, largest cost first."""
    by_key: dict[tuple[str, str], dict] = {}
    for row in s.rows:
        entry = by_key.setdefault((row["node"], row["quantity"]), {"kind": row["kind"], "now": row.get("bits", row.get("frac"))})
        entry[row["drop"]] = f"{row['delta']:+.4f} ± {row['se']:.4f}" if "delta" in row else "refused"
    worst = {key: max((r["delta"] for r in s.rows if (r["node"], r["quantity"]) == key and "delta" in r), default=0.0)
             for key in by_key}
    lines = [f"Quantization sensitivity: {s.tokens} tokens, integer program at {s.baseline_bpc:.4f} bits per {s.unit}; "
             f"each entry the change in bits per {s.unit} when that one quantity loses the bits named (weights: of 8; decays: "
             f"of 12, thresholds: of 17, rounded to multiples of 2^k; "
             f"values: fractional bits, from `frac` now), ± its standard error over the same tokens; largest first", "",
             "| node | kind | quantity | now | " + " | ".join(f"−{k} bits" for k in s.drops) + " |",
             "|---|---|---|---|" + "---|" * len(s.drops)]
    for key in sorted(by_key, key=lambda key: -worst[key]):
        entry = by_key[key]
        lines.append(f"| {key[0]} | {entry['kind']} | {key[1]} | {entry['now']} | "
                     + " | ".join(entry.get(k, "") for k in s.drops) + " |")
    return "\n".join(lines) + "\n"


def write_plot(s: Sensitivity, folder) -> list:
    """The bpc cost per node (program order), weights and values side by side, one series per drop; symlog axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ... import __version__, files

    plt.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42})
    quantities = ("weights", "value")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, quantity in zip(axes, quantities):
        nodes = list(dict.fromkeys(r["node"] for r in s.rows if r["quantity"] == quantity))
        for k in s.drops:
            got = {r["node"]: (r["delta"], r["se"]) for r in s.rows
                   if r["quantity"] == quantity and r["drop"] == k and "delta" in r}
            delta, se = (np.array([got.get(n, (np.nan, np.nan))[i] for n in nodes]) for i in (0, 1))
            ax.errorbar(np.arange(len(nodes)), delta, yerr=2 * se, fmt="o", ms=3, capsize=1.5, lw=0.7,
                        label=f"−{k} bits (±2 SE)")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xticks(np.arange(len(nodes)), [n.replace("blocks.", "b") for n in nodes], rotation=90, fontsize=5)
        ax.set_title(f"{quantity} ({'8-bit' if quantity == 'weights' else 'fractional bits'})", fontsize=9)
        ax.axhline(0, color="0.6", lw=0.5)
    axes[0].set_ylabel(f"Δ bits per {s.unit} (symlog)")
    axes[1].legend(fontsize=7, frameon=False)
    fig.suptitle(f"Quantization sensitivity, {s.tokens} tokens, baseline {s.baseline_bpc:.4f} bits per {s.unit}",
                 fontsize=9)
    fig.tight_layout()
    paths = files.write_figure(fig, folder / PLOT, f"neurocompile {__version__}", "--plots")
    plt.close(fig)
    return paths
