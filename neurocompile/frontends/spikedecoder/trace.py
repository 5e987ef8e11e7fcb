"""SpikeDecoder -> a Graph of typed ops, node names following upstream's module names.

One graph step is one **synthetic** time step; a token takes ``timesteps`` (T) steps (graph metadata
``neurocompile.steps_per_token``): the token's code is held for T steps, every LIF is cleared when a token starts
(``PeriodicLIF``), attention keeps one running ``k^T v`` count per synthetic step (``SpikingAttention``), and the
head sums its T steps (``TimeSum``) so that the logits of a token are the output at its last step.

Batch norm (eval mode: a per-channel affine map of running statistics) is folded into the Linear before it.
The head's recombination is folded too: ``average`` is the sum of ``W x_t / T``, ``accumulate`` the sum of
``W x_t``, each with a bias of ``b / T`` per step (so ``b`` once per token); ``final`` is the last step's output.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ... import __version__
from ...errors import UserError
from ...graph import CONTEXT, STEPS_PER_TOKEN, Graph
from ...models.spikedecoder import LIF as ModelLIF
from ...models.spikedecoder import Attention, BatchNormChannels, SpikeDecoder
from ...ops import Add, Affine, LayerNorm, Output, PeriodicLIF, SpikingAttention, TimeSum
from ...ops import TokenCode, TokenInput

def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


class _Tracer:
    def __init__(self, model: SpikeDecoder):
        self.model, self.cfg = model, model.config
        cfg = self.cfg
        self.g = Graph(metadata={"neurocompile.family": "spikedecoder", "neurocompile.version": __version__,
                                 STEPS_PER_TOKEN: str(cfg.timesteps), CONTEXT: str(cfg.max_len),
                                 "neurocompile.config": " ".join(f"{k}={v}" for k, v in cfg.as_dict().items()
                                                                 if k != "dictionary")})

    def lif(self, name: str, module: ModelLIF, x: str) -> str:
        return self.g.add(name, PeriodicLIF(self.g.nodes[x].op.size, module.tau, float(module.v_threshold),
                                            self.cfg.timesteps), x)

    def linear_norm(self, name: str, norm_name: str, linear: nn.Linear, norm: nn.Module, x: str) -> str:
        """Linear then norm: a batch norm folds into the Linear; a layer norm stays a node of its own."""
        weight, bias = _np(linear.weight), _np(linear.bias)
        if isinstance(norm, BatchNormChannels):
            bn = norm.bn
            gain = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
            weight, bias = weight * gain[:, None], (bias - _np(bn.running_mean)) * gain + _np(bn.bias)
            return self.g.add(name, Affine(weight, bias), x)
        h = self.g.add(name, Affine(weight, bias), x)
        return self.g.add(norm_name, LayerNorm(_np(norm.weight), _np(norm.bias), float(norm.eps)), h)

    def attention(self, prefix: str, att: Attention, x: str) -> str:
        cfg = self.cfg
        spikes = x if cfg.spiking_residuals > 1 else self.lif(f"{prefix}.input_LIF", att.input_LIF, x)
        qkv = []
        for name in ("query", "key", "value"):
            h = self.linear_norm(f"{prefix}.{name}_L", f"{prefix}.{name}_Norm", getattr(att, f"{name}_L"),
                                 getattr(att, f"{name}_Norm"), spikes)
            qkv.append(self.lif(f"{prefix}.{name}_LIF", getattr(att, f"{name}_LIF"), h))
        y = self.g.add(f"{prefix}.attention", SpikingAttention(cfg.heads, cfg.head_dim, cfg.timesteps,
                                                               cfg.attention_scale), *qkv)
        s = self.lif(f"{prefix}.att_LIF", att.att_LIF, y)
        out = self.linear_norm(f"{prefix}.proj_L", f"{prefix}.proj_Norm", att.proj_L, att.proj_Norm, s)
        return self.lif(f"{prefix}.output_LIF", att.output_LIF, out) if cfg.spiking_residuals > 1 else out

    def mlp(self, prefix: str, net: nn.Sequential, x: str) -> str:
        """Upstream's layer order, by module type: LIFs, Linear + norm pairs (Identity slots skipped)."""
        layers = [(str(i), m) for i, m in enumerate(net) if not isinstance(m, nn.Identity)]
        i = 0
        while i < len(layers):
            index, module = layers[i]
            if isinstance(module, ModelLIF):
                x = self.lif(f"{prefix}.{index}", module, x)
                i += 1
            else:
                norm_index, norm = layers[i + 1]
                x = self.linear_norm(f"{prefix}.{index}", f"{prefix}.{norm_index}", module, norm, x)
                i += 2
        return x

    def head(self, x: str) -> str:
        cfg, head = self.cfg, self.model.Head
        if cfg.float_reunite or cfg.spike_mode == "concatenate":
            raise UserError(f"spike_mode = {cfg.spike_mode!r}{' with float_reunite' if cfg.float_reunite else ''}: "
                            f"not compiled yet (average, accumulate and final are)")
        if cfg.spiking_head:
            x = self.lif("Head.gen_LIF", head.gen_LIF, x)
        weight, bias = _np(head.gen_FC.weight), _np(head.gen_FC.bias)
        if cfg.spike_mode == "final":
            return self.g.add("Head.gen_FC", Affine(weight, bias), x)
        t = cfg.timesteps
        per_step = weight / t if cfg.spike_mode == "average" else weight
        fc = self.g.add("Head.gen_FC", Affine(per_step, bias / t), x)
        return self.g.add("Head.time_sum", TimeSum(cfg.vocab_size, t), fc)

    def codes(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """The embedder's binary tables: every token's code, every position's code (as the model computes them)."""
        cfg, embedder = self.cfg, self.model.embedder
        if cfg.combine_position:
            raise UserError("combine_position = true: not compiled yet (its code is a sum of token and position tables)")
        if cfg.encodingType == "one-hot":
            return np.eye(cfg.vocab_size, dtype=bool), np.eye(cfg.max_len, dtype=bool), True
        width = cfg.token_code_dim
        tokens = embedder(torch.arange(cfg.vocab_size).reshape(-1, 1), 0, torch.float64)[:, 0, :width]
        positions = embedder(torch.zeros(1, cfg.max_len, dtype=torch.long), 0, torch.float64)[0, :, width:]
        return tokens.numpy() > 0.5, positions.numpy() > 0.5, False

    def trace(self) -> Graph:
        cfg, g = self.cfg, self.g
        ids = g.add("tokens", TokenInput(cfg.vocab_size))
        tokens, positions, outer = self.codes()
        x = g.add("embedder", TokenCode(tokens, positions, outer, cfg.timesteps), ids)
        for i, block in enumerate(self.model.blocks):
            b = f"blocks.{i}"
            if cfg.spiking_residuals > 1:
                x = self.lif(f"{b}.SMHA_LIF", block.SMHA_LIF, x)
            a = self.attention(f"{b}.SMHA", block.SMHA, x)
            if block.first:
                a = self.lif(f"{b}.resLIF", block.resLIF, a)
            x = g.add(f"{b}.res1", Add(cfg.embed_dim), x, a)
            if cfg.spiking_residuals > 0:
                x = self.lif(f"{b}.blockLIF", block.blockLIF, x)
            m = self.mlp(f"{b}.MLP.net", block.MLP.net, x)
            x = g.add(f"{b}.res2", Add(cfg.embed_dim), x, m)
        g.add("logits", Output(cfg.vocab_size), self.head(x))
        return g


@torch.no_grad()
def trace_spikedecoder(model: SpikeDecoder) -> Graph:
    return _Tracer(model).trace()
