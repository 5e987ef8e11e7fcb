"""SpikeGPT -> a Graph of typed ops, node names following upstream's module names.

Token-shift mixing ``x * m + shift(x) * (1 - m)`` feeding a Linear becomes two ``Scale`` nodes summed
into that Linear (NIR's edge semantics), so quantization can fold the mixing ratios into the weights.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ... import __version__
from ...graph import Graph
from ...models.spikegpt import ChannelMix, SpikeGPT, TimeMix
from ...ops import LIF, WKV, Add, Embedding, Heaviside, LayerNorm, Linear, Mul, Output, Scale, Sigmoid, SquaredReLU, TokenShift
from ...ops import TokenInput

def _np(t: torch.Tensor) -> np.ndarray:
    """The parameter's values as numpy, sharing memory with the (possibly memory-mapped) checkpoint."""
    return t.detach().cpu().numpy()


def _layer_norm(g: Graph, name: str, ln: nn.LayerNorm, x: str) -> str:
    return g.add(name, LayerNorm(_np(ln.weight), _np(ln.bias), float(ln.eps)), x)


def _mixed_linear(g: Graph, name: str, linear: nn.Linear, ratio: torch.Tensor, x: str, shifted: str) -> str:
    """linear(x * ratio + shifted * (1 - ratio)) as Scale, Scale -> Linear."""
    ratio = ratio.reshape(-1)
    now = g.add(f"{name}.mix_now", Scale(_np(ratio)), x)
    prev = g.add(f"{name}.mix_prev", Scale(_np(1 - ratio)), shifted)
    return g.add(name, Linear(_np(linear.weight)), now, prev)


def _channel_mix(g: Graph, prefix: str, cm: ChannelMix, x: str) -> str:
    n = cm.receptance.weight.shape[0]
    shifted = g.add(f"{prefix}.shift", TokenShift(n), x)
    key = _mixed_linear(g, f"{prefix}.key", cm.key, cm.time_mix_k, x, shifted)
    hidden = g.add(f"{prefix}.relu_sq", SquaredReLU(cm.key.weight.shape[0]), key)
    value = g.add(f"{prefix}.value", Linear(_np(cm.value.weight)), hidden)
    receptance = _mixed_linear(g, f"{prefix}.receptance", cm.receptance, cm.time_mix_r, x, shifted)
    gate = g.add(f"{prefix}.gate", Sigmoid(n), receptance)
    return g.add(f"{prefix}.out", Mul(n), gate, value)


def _time_mix(g: Graph, prefix: str, tm: TimeMix, x: str) -> str:
    n = tm.output.weight.shape[0]
    shifted = g.add(f"{prefix}.shift", TokenShift(n), x)
    k = _mixed_linear(g, f"{prefix}.key", tm.key, tm.time_mix_k, x, shifted)
    v = _mixed_linear(g, f"{prefix}.value", tm.value, tm.time_mix_v, x, shifted)
    r = _mixed_linear(g, f"{prefix}.receptance", tm.receptance, tm.time_mix_r, x, shifted)
    wkv = g.add(f"{prefix}.wkv", WKV(_np(tm.time_decay), _np(tm.time_first)), k, v)
    gate = g.add(f"{prefix}.gate", Sigmoid(n), r)
    gated = g.add(f"{prefix}.gated", Mul(n), gate, wkv)
    return g.add(f"{prefix}.output", Linear(_np(tm.output.weight)), gated)


@torch.no_grad()
def trace_spikegpt(model: SpikeGPT) -> Graph:
    cfg = model.config
    c = cfg.n_embd
    g = Graph(metadata={"neurocompile.family": "spikegpt", "neurocompile.version": __version__,
                        "neurocompile.config": f"n_layer={cfg.n_layer} n_embd={c} vocab_size={cfg.vocab_size} "
                                               f"ffn_hidden={cfg.ffn_hidden} ffn_pre={cfg.ffn_pre}"})
    tokens = g.add("tokens", TokenInput(cfg.vocab_size))
    emb = g.add("emb", Embedding(_np(model.emb.weight)), tokens)
    x = g.add("emb.spikes", Heaviside(c), emb)
    for i, block in enumerate(model.blocks):
        b = f"blocks.{i}"
        if i == 0:
            x = _layer_norm(g, f"{b}.ln0", block.ln0, x)
        h = _layer_norm(g, f"{b}.ln1", block.ln1, x)
        mixed = _channel_mix(g, f"{b}.ffnPre", block.ffnPre, h) if block.uses_ffn_pre else _time_mix(g, f"{b}.att", block.att, h)
        s1 = g.add(f"{b}.lif1", LIF(c, block.lif1.tau, block.lif1.v_threshold), mixed)
        x = g.add(f"{b}.res1", Add(c), x, s1)
        h = _layer_norm(g, f"{b}.ln2", block.ln2, x)
        s2 = g.add(f"{b}.lif2", LIF(c, block.lif2.tau, block.lif2.v_threshold), _channel_mix(g, f"{b}.ffn", block.ffn, h))
        x = g.add(f"{b}.res2", Add(c), x, s2)
    x = _layer_norm(g, "ln_out", model.ln_out, x)
    head = g.add("head", Linear(_np(model.head.weight)), x)
    g.add("logits", Output(cfg.vocab_size), head)
    return g
