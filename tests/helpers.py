"""Shared test helpers (tests/ is on pytest's pythonpath)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from neurocompile.graph import Graph
from neurocompile.ops import LIF, Dense, Output, SpikeEmbedding
from neurocompile.tasks.language.ops import TokenInput

DATA = Path(__file__).parent / "data"
UPSTREAM = DATA / "upstream"
VARIANTS = ("RWKV", "RWKV-ffnPre")


def record_lif_spikes(model) -> dict[str, list[torch.Tensor]]:
    """Collect each LIF's output spikes [B, T, C] (one entry per call) under upstream's module names."""
    rec: dict[str, list[torch.Tensor]] = {}
    for name, module in model.named_modules():
        if name.endswith(("lif1", "lif2")):
            module.register_forward_hook(lambda m, i, out, n=name: rec.setdefault(n, []).append(out[0].detach()))
    return rec


def tiny_program():
    """tokens -> binary codes (3 of 4 inputs on for token 1) -> Dense 4->2 -> LIF -> Dense 2->3 -> logits."""
    g = Graph()
    g.add("tokens", TokenInput(2))
    g.add("codes", SpikeEmbedding(np.array([[1, 0, 0, 0], [1, 1, 1, 0]], bool)), "tokens")
    g.add("fc", Dense(np.array([[1.0, 1.0, 1.0, 1.0], [-1.0, 0.5, 0.25, 0.0]]), np.ones((1, 4))), "codes")
    g.add("lif", LIF(2, 2.0, 1.0), "fc")
    g.add("head", Dense(np.ones((3, 2)), np.ones((1, 2))), "lif")
    g.add("logits", Output(3), "head")
    return g
