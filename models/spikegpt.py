"""SpikeGPT (spiking RWKV-4), equal to upstream's training-mode forward (ridgerchu/SpikeGPT ``src/model.py``).

Module and parameter names are upstream's, so upstream checkpoints load as they are.  Each token is one
SNN time step.  Two forms compute the same function:

* ``model(tokens)`` / ``model.forward_with_state``: whole sequences at once (training, evaluation);
* ``model.step(token, state)``: one token with explicit state (streaming, what hardware runs).

What is a spike: the Heaviside embedding output and the LIF outputs.  Every Linear receives real values
(LayerNorm outputs after token mixing, ``sigmoid(r) * wkv``, ``relu(k)^2``), see ``SpikeGPT.ops``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from . import OpInfo
from .neurons import SpikingNeuron, heaviside, lif_sequence
from .wkv import WKVState, wkv_chunked, wkv_step


@dataclass(frozen=True)
class SpikeGPTConfig:
    n_layer: int
    n_embd: int
    vocab_size: int
    ffn_hidden: int = 0  # 0 means upstream's 4 * n_embd
    v_threshold: float = 1.0  # not stored in upstream checkpoints; older ones were trained with 0.1
    tau: float = 2.0
    ffn_pre: bool = False  # upstream model_type 'RWKV-ffnPre': layer 0's time-mix replaced by a channel-mix

    def __post_init__(self) -> None:
        if self.ffn_hidden == 0:
            object.__setattr__(self, "ffn_hidden", 4 * self.n_embd)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], source: object, v_threshold: float = 1.0) -> "SpikeGPTConfig":
        """L, C, V (and the ffnPre variant) inferred from upstream key names and shapes."""
        from neurocompile.errors import UserError

        emb = state.get("emb.weight")
        if emb is None or emb.dim() != 2:
            raise UserError(f"{source}: SpikeGPT needs 'emb.weight' of shape [V, C]; it is missing or not 2-D")
        layers = {int(k.split(".")[1]) for k in state if k.startswith("blocks.") and k.split(".")[1].isdigit()}
        if not layers:
            raise UserError(f"{source}: no 'blocks.N.*' keys: a SpikeGPT checkpoint has at least one block")
        ffn_key = state.get("blocks.0.ffn.key.weight")
        return cls(
            n_layer=max(layers) + 1,
            n_embd=emb.shape[1],
            vocab_size=emb.shape[0],
            ffn_hidden=ffn_key.shape[0] if ffn_key is not None and ffn_key.dim() == 2 else 0,
            v_threshold=v_threshold,
            ffn_pre=any(k.startswith("blocks.0.ffnPre.") for k in state),
        )

    context = None  # recurrent: no limit on how many tokens it sees

    def parameter_count(self) -> int:
        c, h, v = self.n_embd, self.ffn_hidden, self.vocab_size
        ln = 2 * c
        channel_mix = 2 * c + c * h + c * c + h * c
        time_mix = 5 * c + 4 * c * c
        blocks = self.n_layer * (2 * ln + channel_mix + time_mix) + ln
        if self.ffn_pre:
            blocks += channel_mix - time_mix
        return 2 * v * c + blocks + ln


class LIFNode(SpikingNeuron):
    """spikingjelly MultiStepLIFNode over the token axis; has no parameters (adds no checkpoint keys)."""

    def __init__(self, tau: float, v_threshold: float):
        super().__init__()
        self.tau, self.v_threshold = tau, v_threshold

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, C], membrane v [B, C] -> (spikes [B, T, C], membrane after the last token)."""
        return lif_sequence(x, self.tau, self.v_threshold, v0=v, time_dim=1)


def _token_shift(x: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
    """x [B, T, C] -> the previous token's x at each position; `prev` is the token before x[:, 0]."""
    return torch.cat([prev[:, None, :], x[:, :-1, :]], dim=1)


def _mix(x: torch.Tensor, shifted: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    ratio = ratio.reshape(-1)  # upstream stores [1, 1, C]; flat, it serves [B, T, C] and [B, C] alike
    return x * ratio + shifted * (1 - ratio)


class TimeMix(nn.Module):
    """SRWKV: token-shift mixing, key/value/receptance, WKV, sigmoid gate, output projection."""

    def __init__(self, cfg: SpikeGPTConfig):
        super().__init__()
        c = cfg.n_embd
        self.time_decay = nn.Parameter(torch.zeros(c))
        self.time_first = nn.Parameter(torch.zeros(c))
        self.time_mix_k = nn.Parameter(torch.zeros(1, 1, c))
        self.time_mix_v = nn.Parameter(torch.zeros(1, 1, c))
        self.time_mix_r = nn.Parameter(torch.zeros(1, 1, c))
        self.key = nn.Linear(c, c, bias=False)
        self.value = nn.Linear(c, c, bias=False)
        self.receptance = nn.Linear(c, c, bias=False)
        self.output = nn.Linear(c, c, bias=False)

    def _project(self, x: torch.Tensor, shifted: torch.Tensor):
        k = self.key(_mix(x, shifted, self.time_mix_k))
        v = self.value(_mix(x, shifted, self.time_mix_v))
        gate = torch.sigmoid(self.receptance(_mix(x, shifted, self.time_mix_r)))
        return k, v, gate

    def forward(self, x: torch.Tensor, prev: torch.Tensor, wkv: WKVState) -> tuple[torch.Tensor, WKVState]:
        k, v, gate = self._project(x, _token_shift(x, prev))
        y, wkv = wkv_chunked(-torch.exp(self.time_decay), self.time_first, k, v, wkv)
        return self.output(gate * y), wkv

    def step(self, x: torch.Tensor, prev: torch.Tensor, wkv: WKVState) -> tuple[torch.Tensor, WKVState]:
        k, v, gate = self._project(x, prev)
        y, wkv = wkv_step(-torch.exp(self.time_decay), self.time_first, k, v, wkv)
        return self.output(gate * y), wkv


class ChannelMix(nn.Module):
    """SRFFN: token-shift mixing, sigmoid(receptance) * value(relu(key)^2)."""

    def __init__(self, cfg: SpikeGPTConfig):
        super().__init__()
        c, h = cfg.n_embd, cfg.ffn_hidden
        self.time_mix_k = nn.Parameter(torch.zeros(1, 1, c))
        self.time_mix_r = nn.Parameter(torch.zeros(1, 1, c))
        self.key = nn.Linear(c, h, bias=False)
        self.receptance = nn.Linear(c, c, bias=False)
        self.value = nn.Linear(h, c, bias=False)

    def forward(self, x: torch.Tensor, shifted: torch.Tensor) -> torch.Tensor:
        """Works on [B, T, C] (with a token-shifted copy) and on [B, C] (with the previous token)."""
        hidden = torch.square(torch.relu(self.key(_mix(x, shifted, self.time_mix_k))))
        return torch.sigmoid(self.receptance(_mix(x, shifted, self.time_mix_r))) * self.value(hidden)


def _channel_mix_ops(prefix: str, c: int, h: int, norm: str) -> list[OpInfo]:
    mixed = f"token-shift mix of {norm} output"
    return [
        OpInfo(f"{prefix}.key", "Linear", (h, c), mixed, "real"),
        OpInfo(f"{prefix}.receptance", "Linear", (c, c), mixed, "real"),
        OpInfo(f"{prefix}.value", "Linear", (c, h), "relu(key)^2", "real"),
    ]


@dataclass
class BlockState:
    """What a block remembers between tokens, each [B, C]."""

    att_prev: torch.Tensor  # ln1 output of the previous token (token shift of the time-mix, or ffnPre)
    ffn_prev: torch.Tensor  # ln2 output of the previous token
    wkv: WKVState | None  # None for the ffnPre layer
    lif1_v: torch.Tensor
    lif2_v: torch.Tensor


@dataclass
class SpikeGPTState:
    blocks: tuple[BlockState, ...]


class Block(nn.Module):
    def __init__(self, cfg: SpikeGPTConfig, layer_id: int):
        super().__init__()
        self.layer_id = layer_id
        c = cfg.n_embd
        self.ln1 = nn.LayerNorm(c)
        self.ln2 = nn.LayerNorm(c)
        if layer_id == 0:
            self.ln0 = nn.LayerNorm(c)
        self.uses_ffn_pre = layer_id == 0 and cfg.ffn_pre
        if self.uses_ffn_pre:
            self.ffnPre = ChannelMix(cfg)
        else:
            self.att = TimeMix(cfg)
        self.ffn = ChannelMix(cfg)
        self.lif1 = LIFNode(cfg.tau, cfg.v_threshold)
        self.lif2 = LIFNode(cfg.tau, cfg.v_threshold)

    def initial_state(self, batch: int, like: torch.Tensor) -> BlockState:
        c = self.ln1.normalized_shape[0]
        zero = torch.zeros(batch, c, dtype=like.dtype, device=like.device)
        wkv = None if self.uses_ffn_pre else WKVState.zeros(batch, c, like.dtype, like.device)
        return BlockState(zero, zero.clone(), wkv, zero.clone(), zero.clone())

    def forward(self, x: torch.Tensor, state: BlockState) -> tuple[torch.Tensor, BlockState]:
        """x [B, T, C] -> (x [B, T, C], state after the last token)."""
        if self.layer_id == 0:
            x = self.ln0(x)
        h = self.ln1(x)
        if self.uses_ffn_pre:
            mixed, wkv = self.ffnPre(h, _token_shift(h, state.att_prev)), None
        else:
            mixed, wkv = self.att(h, state.att_prev, state.wkv)
        spikes1, lif1_v = self.lif1(mixed, state.lif1_v)
        x = x + spikes1
        g = self.ln2(x)
        spikes2, lif2_v = self.lif2(self.ffn(g, _token_shift(g, state.ffn_prev)), state.lif2_v)
        x = x + spikes2
        return x, BlockState(h[:, -1], g[:, -1], wkv, lif1_v, lif2_v)

    def step(self, x: torch.Tensor, state: BlockState) -> tuple[torch.Tensor, BlockState]:
        """x [B, C] -> (x [B, C], state): the recurrent form, one token."""
        if self.layer_id == 0:
            x = self.ln0(x)
        h = self.ln1(x)
        if self.uses_ffn_pre:
            mixed, wkv = self.ffnPre(h, state.att_prev), None
        else:
            mixed, wkv = self.att.step(h, state.att_prev, state.wkv)
        spikes1, lif1_v = self.lif1(mixed[:, None], state.lif1_v)
        x = x + spikes1[:, 0]
        g = self.ln2(x)
        spikes2, lif2_v = self.lif2(self.ffn(g, state.ffn_prev)[:, None], state.lif2_v)
        x = x + spikes2[:, 0]
        return x, BlockState(h, g, wkv, lif1_v, lif2_v)


class SpikeGPT(nn.Module):
    family = "spikegpt"

    def __init__(self, cfg: SpikeGPTConfig):
        super().__init__()
        self.config = cfg
        self.emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.ln_out = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)

    # -- the two forms -------------------------------------------------------------------------------
    def initial_state(self, batch: int) -> SpikeGPTState:
        like = self.emb.weight
        return SpikeGPTState(tuple(b.initial_state(batch, like) for b in self.blocks))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] (int64) -> logits [B, T, V], from an empty state."""
        logits, _ = self.forward_with_state(tokens, self.initial_state(tokens.shape[0]))
        return logits

    def forward_with_state(self, tokens: torch.Tensor, state: SpikeGPTState) -> tuple[torch.Tensor, SpikeGPTState]:
        x = heaviside(self.emb(tokens))
        new_states = []
        for block, block_state in zip(self.blocks, state.blocks):
            x, block_state = block(x, block_state)
            new_states.append(block_state)
        return self.head(self.ln_out(x)), SpikeGPTState(tuple(new_states))

    def step(self, token: torch.Tensor, state: SpikeGPTState) -> tuple[torch.Tensor, SpikeGPTState]:
        """token [B] (int64) -> (logits [B, V], state): the recurrent form."""
        x = heaviside(self.emb(token))
        new_states = []
        for block, block_state in zip(self.blocks, state.blocks):
            x, block_state = block.step(x, block_state)
            new_states.append(block_state)
        return self.head(self.ln_out(x)), SpikeGPTState(tuple(new_states))

    def describe(self) -> tuple[str, dict, list[str]]:
        """(a one-line title, the config as JSON-able values, notes) for ``inspect``."""
        cfg = self.config
        title = (f"SpikeGPT{' (RWKV-ffnPre)' if cfg.ffn_pre else ''}: {cfg.n_layer} layers, C={cfg.n_embd}, "
                 f"FFN {cfg.ffn_hidden}, vocabulary {cfg.vocab_size}")
        config = {"n_layer": cfg.n_layer, "n_embd": cfg.n_embd, "vocab_size": cfg.vocab_size, "ffn_hidden": cfg.ffn_hidden,
                  "ffn_pre": cfg.ffn_pre, "v_threshold": cfg.v_threshold, "tau": cfg.tau}
        return title, config, [f"LIF tau={cfg.tau}, v_threshold={cfg.v_threshold} (threshold assumed: not stored in "
                               f"checkpoints; --v-threshold to change)"]

    def ops(self) -> list[OpInfo]:
        """The ops in execution order, with the tensor that feeds each (upstream's dataflow)."""
        c, h, v = self.config.n_embd, self.config.ffn_hidden, self.config.vocab_size
        out = [OpInfo("emb", "Embedding + Heaviside", (v, c), "token id", "index")]
        for i, block in enumerate(self.blocks):
            b = f"blocks.{i}"
            if i == 0:
                out.append(OpInfo(f"{b}.ln0", "LayerNorm", (c,), "emb spikes", "spike"))
            out.append(OpInfo(f"{b}.ln1", "LayerNorm", (c,), "residual stream", "real"))
            if block.uses_ffn_pre:
                out += _channel_mix_ops(f"{b}.ffnPre", c, h, "ln1")
            else:
                mixed = "token-shift mix of ln1 output"
                out += [OpInfo(f"{b}.att.{n}", "Linear", (c, c), mixed, "real") for n in ("key", "value", "receptance")]
                out.append(OpInfo(f"{b}.att.wkv", "WKV recurrence", (c,), "k, v", "real"))
                out.append(OpInfo(f"{b}.att.output", "Linear", (c, c), "sigmoid(r) * wkv", "real"))
            out.append(OpInfo(f"{b}.lif1", "LIF", None, "time-mix output", "real"))
            out.append(OpInfo(f"{b}.ln2", "LayerNorm", (c,), "residual stream + lif1 spikes", "real"))
            out += _channel_mix_ops(f"{b}.ffn", c, h, "ln2")
            out.append(OpInfo(f"{b}.lif2", "LIF", None, "channel-mix output", "real"))
        out.append(OpInfo("ln_out", "LayerNorm", (c,), "residual stream + lif2 spikes", "real"))
        out.append(OpInfo("head", "Linear", (v, c), "ln_out output", "real"))
        return out

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def initialised(cls, cfg: SpikeGPTConfig, seed: int = 0) -> "SpikeGPT":
        """A freshly initialised model for training (RWKV-4 style ramps across channels and depth)."""
        torch.manual_seed(seed)
        model = cls(cfg)
        c, n = cfg.n_embd, cfg.n_layer
        channel = torch.arange(c, dtype=torch.float32) / c
        with torch.no_grad():
            for i, block in enumerate(model.blocks):
                depth = i / max(n - 1, 1)
                shallow = 1.0 - i / n
                mixers = [block.ffn] + ([block.ffnPre] if block.uses_ffn_pre else [block.att])
                for mixer in mixers:
                    mixer.time_mix_k.copy_(channel.pow(shallow).view(1, 1, c))
                    mixer.time_mix_r.copy_(channel.pow(0.5 * shallow).view(1, 1, c))
                    mixer.receptance.weight.zero_()
                if not block.uses_ffn_pre:
                    att = block.att
                    att.time_mix_v.copy_((channel.pow(shallow) + 0.3 * depth).view(1, 1, c))
                    att.time_decay.copy_(-5 + 8 * (torch.arange(c) / max(c - 1, 1)) ** (0.7 + 1.3 * depth))
                    att.time_first.copy_(math.log(0.3) + 0.5 * ((torch.arange(c) + 1) % 3 - 1))
                    att.key.weight.zero_()
                    att.output.weight.zero_()
                block.ffn.value.weight.zero_()
            nn.init.normal_(model.emb.weight, std=1.0)  # the Heaviside makes this a random binary code
            nn.init.orthogonal_(model.head.weight, gain=0.5)
        return model

    def with_threshold(self, v_threshold: float) -> "SpikeGPT":
        """The same weights under another LIF threshold (upstream checkpoints do not record it)."""
        cfg = replace(self.config, v_threshold=v_threshold)
        for block in self.blocks:
            block.lif1.v_threshold = block.lif2.v_threshold = v_threshold
        self.config = cfg
        return self
