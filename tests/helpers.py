"""Shared test helpers (tests/ is on pytest's pythonpath)."""
from __future__ import annotations

from pathlib import Path

import torch

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
