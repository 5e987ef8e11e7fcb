"""A picture of the placement for a paper: each chip as its mesh of neurocores, coloured by layer, and the traffic
between chips as arrows.

Each chip is drawn as its ``mesh_columns`` x rows grid of cores (the assumed core map of ``ResourceSpec.hops``), in
chip order, chips laid out in a square-ish grid.  A core's colour is the layer (pipeline position, one colour map from
the input to the output) of the slice that fills most of it: solid where it holds weights (synaptic memory), pale
where it runs neuron programs only; grey cores are powered but unused.  Under each chip, a strip of its embedded x86
cores, coloured by the distinct layers of the ops placed there, in turn (their work is split across all of them).  Arrows join chips
that exchange messages, their width growing with the log of the messages per token (every value sent: the
partition's upper bound); the largest are labelled.  Readable at a few thousand cores: one pixel block per core.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .partition import Placement, chip_traffic

UNUSED, GAP = (0.86, 0.86, 0.86, 1.0), (1.0, 1.0, 1.0, 1.0)
LABELLED_ARROWS = 6


def placement_figure(program, placement: Placement, layer_of: Callable[[str], str], unit: str = "step"):
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import FancyArrowPatch

    spec = placement.resources
    cols = spec.mesh_columns
    rows = math.ceil(spec.cores_per_chip / cols)
    chips = max([placement.chips, *(c + 1 for c in placement.x86_chip.values())])
    per_row = math.ceil(math.sqrt(chips))
    x86 = spec.embedded_cpus_per_chip
    block_w, block_h = max(cols, x86) + 2, rows + 4  # a chip, its x86 strip below (one row apart), a gap
    layers = list(dict.fromkeys(layer_of(name) for name in program.nodes))
    index = {layer: i for i, layer in enumerate(layers)}
    cmap = plt.get_cmap("turbo", max(len(layers), 2))
    image = np.ones((math.ceil(chips / per_row) * block_h, per_row * block_w, 4))
    image[:] = GAP

    def origin(chip: int) -> tuple[int, int]:
        return (chip % per_row) * block_w + 1, (chip // per_row) * block_h + 1

    for chip in range(chips):
        x0, y0 = origin(chip)
        image[y0:y0 + rows, x0:x0 + cols] = UNUSED
    for core in placement.cores:
        local = core.index % spec.cores_per_chip
        x0, y0 = origin(core.chip)
        weights = [s for s in core.slices if s.synaptic_bytes]
        main = max(weights, key=lambda s: s.synaptic_bytes) if weights else \
            max(core.slices, key=lambda s: s.rows[1] - s.rows[0], default=None)
        if main is None:
            continue
        colour = np.array(cmap(index[layer_of(main.node)]))
        image[y0 + local // cols, x0 + local % cols] = colour if weights else 0.45 * colour + 0.55
    for chip in range(chips):
        ops = list(dict.fromkeys(layer_of(name) for name, c in placement.x86_chip.items() if c == chip))
        x0, y0 = origin(chip)
        for k in range(x86):  # the layers of the ops placed there, in turn across the strip
            image[y0 + rows + 1, x0 + k] = cmap(index[ops[k % len(ops)]]) if ops else UNUSED

    height = image.shape[0] / image.shape[1] * 7.2
    fig, ax = plt.subplots(figsize=(7.2, max(2.4, min(height + 1.2, 9.5))))
    ax.imshow(image, interpolation="nearest", aspect="equal")
    for chip in range(chips):
        x0, y0 = origin(chip)
        ax.text(x0 - 0.5, y0 - 0.8, f"chip {chip}", fontsize=6, va="bottom")
        ax.text(x0 + x86 - 0.5, y0 + rows + 1, " x86", fontsize=5, va="center")
    pairs = sorted(chip_traffic(program, placement).items(), key=lambda kv: -kv[1])
    if pairs:
        top = math.log10(pairs[0][1] + 1)
        for rank, ((a, b), n) in enumerate(pairs):
            (xa, ya), (xb, yb) = origin(a), origin(b)
            start, end = (xa + cols / 2, ya + rows / 2), (xb + cols / 2, yb + rows / 2)
            ax.add_patch(FancyArrowPatch(start, end, connectionstyle="arc3,rad=0.25", arrowstyle="-|>",
                                         mutation_scale=6, lw=0.4 + 2.6 * math.log10(n + 1) / top, color="black",
                                         alpha=0.7))
            if rank < LABELLED_ARROWS:
                ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, f"{n:,}", fontsize=5, ha="center",
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
    ax.set_axis_off()
    bar = fig.colorbar(ScalarMappable(BoundaryNorm(np.arange(len(layers) + 1) - 0.5, cmap.N), cmap), ax=ax,
                       fraction=0.035, pad=0.02)
    step = max(1, math.ceil(len(layers) / 24))
    bar.set_ticks(range(0, len(layers), step), labels=layers[::step], fontsize=5)
    bar.set_label("layer (input to output)", fontsize=6)
    crossing = sum(n for _, n in pairs)
    ax.set_title(f"{len(placement.cores)} neurocores on {placement.chips} chip(s) of {placement.system} "
                 f"({cols}x{rows} mesh each, an assumed core map)\nsolid: weights; pale: neuron programs only; grey: "
                 f"unused; strips: x86 cores\narrows: {crossing:,} messages per {unit} between chips (every value sent)",
                 fontsize=6)
    fig.tight_layout()
    return fig
