"""The report's figures: energy by layer, firing rates, and the target's own (loihi2: the placement), PNG and PDF."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import __version__, files
from ..errors import UserError
from .pricing import Report


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
