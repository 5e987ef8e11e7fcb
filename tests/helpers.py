"""Shared test helpers (tests/ is on pytest's pythonpath)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from neurocompile.graph import Graph
from neurocompile.ops import LIF, Dense, Output, SpikeEmbedding
from neurocompile.ops import TokenInput, integer_form

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


def quantized(op, ctx):
    """`op`'s integer parameters under its integer form (``ops.integer_form``: the target's)."""
    return integer_form(type(op), ctx.spec.name).quantize(op, ctx)


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


def random_spikedecoder(seed: int, **config):
    """A SpikeDecoder with seeded weights whose LIFs fire: norm gains ~ U(1.8, 2.6) and biases ~ N(0.6, 0.3) (as
    tools/spikedecoder_golden.py does for the upstream data), batch-norm statistics, learned thresholds ~ U(0.5, 0.8);
    saved with its config so it loads like an upstream checkpoint.  Returns (model, state_dict, config)."""
    from neurocompile.models.spikedecoder import SpikeDecoder, SpikeDecoderConfig

    torch.manual_seed(seed)
    model = SpikeDecoder(SpikeDecoderConfig(**config)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Embedding):
                m.weight.normal_(generator=gen)
            elif isinstance(m, (torch.nn.LayerNorm, torch.nn.BatchNorm1d)):
                m.weight.uniform_(1.8, 2.6, generator=gen)
                m.bias.normal_(0.6, 0.3, generator=gen)
                if isinstance(m, torch.nn.BatchNorm1d):
                    m.running_mean.normal_(0, 0.3, generator=gen)
                    m.running_var.uniform_(0.5, 1.5, generator=gen)
            elif isinstance(getattr(m, "v_threshold", None), torch.nn.Parameter):
                m.v_threshold.uniform_(0.5, 0.8, generator=gen)
    given = {SpikeDecoderConfig.ALIASES.get(k, k) for k in config}  # written out as a user's config would be:
    config = {**config, **{k: getattr(model.config, k) for k in SpikeDecoderConfig.UNCONFIRMABLE if k not in given}}
    return model, model.state_dict(), config
