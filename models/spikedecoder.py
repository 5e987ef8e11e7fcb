"""SpikeDecoder (spiking transformer decoder), equal to upstream's ``SpikingDecoderModel`` in eval mode
(ClaasBeger/SpikeDecoder ``model.py``).

Module and parameter names are upstream's, so upstream checkpoints (plain state_dicts) load as they are;
the hyper-parameters are not in a checkpoint and come from a config whose keys are upstream's ``SDconfig``
names plus ``dim_hid`` (:class:`SpikeDecoderConfig`).

Each token is repeated over ``timesteps`` synthetic time steps T; every LIF runs over T for each position
separately, so **positions interact only through attention**.  Attention has no softmax:
``y_i = scale * q_i (sum_{j<=i} k_j^T v_j)`` per head and per synthetic step.  Two forms compute the same
function:

* ``model(tokens)``: whole sequences, the causal S x S matrix per step (upstream's form);
* ``model.step(tokens, state)``: one token per call; the only state carried between tokens is, per block,
  head and synthetic step, the d x d running sum of ``k^T v`` — integer counts, since k and v are spikes.
  No key/value cache: memory and work per token are constant in the sequence length.

Upstream facts kept on purpose (they decide what its checkpoints compute):

* ``float_embedding`` has no effect in upstream's code: the learned-embedding branch re-assigns the binary
  mapping to the ATan Heaviside, so learned token (and learned position) codes are always binary.  (With
  linear or binary positions upstream cannot even build the model with it set.)  We follow the code.
* The ``binary`` token/position code is ``bin(i)`` most significant bit first, padded with zeros *on the
  right* to the code length (numpy ``ndarray.resize``): 1, 2, 4, ... share a code.  Reproduced as is.
* Inputs are padded to ``max_len`` with the padding token; nothing depends on later positions (causal
  attention, per-position norms and LIFs), so outputs at real positions do not depend on the padding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch
from torch import nn
from torch.nn import functional as F

from . import OpInfo
from .neurons import SpikingNeuron, heaviside, lif_sequence

ENCODINGS = ("one-hot", "two-hot", "binary", "learned")
POSITIONS = ("linear", "binary", "static", "learned")
NORMS = ("layer", "batch")  # upstream's third, PowerNorm, is a training-time experiment: refused with a message
SPIKE_MODES = ("average", "accumulate", "concatenate", "final")

MAX_TIMESTEPS = 4096
TAU, V_THRESHOLD = 2.0, 1.0  # upstream's LIFs: MultiStepLIFNode(tau=2.0), threshold 1 (learnable with
# learning_MSLIF, then stored in the checkpoint), hard reset to 0
CHAR_ALPHABET = "abcdefghijklmnopqrstuvwxyz.'SEP "  # upstream's default character vocabulary (32)
CHAR_ALPHABET_30 = "abcdefghijklmnopqrstuvwxyz.'P "  # upstream's when vocab_size == 30


@dataclass(frozen=True)
class SpikeDecoderConfig:
    """Upstream ``SDconfig``'s keys (constructor names) plus ``dim_hid``; defaults are upstream's.

    Training-only keys (``attn_dropout``, ``device``, ``track_frequency``) are accepted and ignored: they do not
    change what an eval-mode model computes."""

    vocab_size: int
    max_len: int
    encodingType: str = "two-hot"
    position_encoding_strategy: str = "linear"
    tok_embed_dim: int = 30
    pos_embed_dim: int = 30
    heads: int = 2
    blocks: int = 1
    spiking_residuals: int = 0
    spiking_head: bool = True
    timesteps: int = 2
    attention_scale: float = 0.125
    normalization: str = "layer"
    combine_position: bool = False
    firstBlock_spiking_res: bool = False
    spike_mode: str = "average"
    pos_bias: float = 0.0
    float_reunite: bool = False
    float_embedding: bool = False
    learning_MSLIF: bool = False
    dictionary: tuple[str, ...] | None = None
    dim_hid: int | None = None  # MLP hidden = embed_dim * dim_hid; upstream's default (None) is 4 * embed_dim

    mlp_dropout: float = 0.0  # training only, but upstream's MLP gains a Dropout module (shifting one index) when > 0

    IGNORED = ("attn_dropout", "device", "track_frequency")
    ALIASES = {"num_heads": "heads", "num_blocks": "blocks"}  # the names SDconfig stores them under
    # Keys that change what the model computes but may leave every tensor's name and shape as they are: a config
    # must give each one unless the checkpoint's tensors fit no other value (frontends/spikedecoder: checked by
    # trying the others).  The rest are confirmed by the tensors (their keys or shapes) or change nothing at
    # inference (float_embedding: no effect in upstream's code; the dropouts).
    UNCONFIRMABLE = ("encodingType", "position_encoding_strategy", "heads", "timesteps", "attention_scale",
                     "spike_mode", "pos_bias", "combine_position", "spiking_head", "firstBlock_spiking_res",
                     "float_reunite")

    def __post_init__(self) -> None:
        if self.dictionary is not None:
            object.__setattr__(self, "dictionary", tuple(self.dictionary))
            object.__setattr__(self, "vocab_size", len(self.dictionary))  # as upstream: the dictionary decides
        if self.combine_position:
            object.__setattr__(self, "pos_embed_dim", self.tok_embed_dim)

    def alternatives(self, key: str) -> list:
        """Other values `key` could take (to find out whether the tensors can tell them apart from this one)."""
        value = getattr(self, key)
        allowed = {"encodingType": ENCODINGS, "position_encoding_strategy": POSITIONS, "spike_mode": SPIKE_MODES}
        if key in allowed:
            return [v for v in allowed[key] if v != value]
        if isinstance(value, bool):
            return [not value]
        if key == "heads":
            return [h for h in range(1, self.embed_dim + 1) if self.embed_dim % h == 0 and h != value]
        if isinstance(value, int):
            return [value + 1, 2 * value]
        return [2 * value + 1]

    def uses(self, key: str) -> bool:
        """Whether `key` changes what this configuration computes (pos_bias: only the static sinusoid code uses it)."""
        if key == "pos_bias":
            return self.position_encoding_strategy == "static" and not self.combine_position
        return True

    # ---- what the hyper-parameters imply -------------------------------------------------------------------
    @property
    def alphabet(self) -> tuple[str, ...]:
        if self.dictionary is not None:
            return self.dictionary
        return tuple(CHAR_ALPHABET_30 if self.vocab_size == 30 else CHAR_ALPHABET)

    @property
    def pad_id(self) -> int:
        return self.alphabet.index("P")

    @property
    def token_code_dim(self) -> int:
        return {"one-hot": self.vocab_size * self.max_len, "two-hot": self.vocab_size,
                "binary": _bits(self.vocab_size), "learned": self.tok_embed_dim}[self.encodingType]

    @property
    def position_code_dim(self) -> int:
        if self.encodingType == "one-hot" or (self.combine_position and self.encodingType == "learned"):
            return 0
        return {"linear": self.max_len, "binary": _bits(self.max_len),
                "static": self.pos_embed_dim, "learned": self.pos_embed_dim}[self.position_encoding_strategy]

    @property
    def embed_dim(self) -> int:
        return self.token_code_dim + self.position_code_dim

    @property
    def hidden(self) -> int:
        return self.embed_dim * self.dim_hid if self.dim_hid else 4 * self.embed_dim

    @property
    def context(self) -> int:
        """How many positions the model can see: its position code covers max_len."""
        return self.max_len

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.heads

    def problems(self) -> list[str]:
        """What upstream would refuse or could not build (each names the key and its value)."""
        out = []
        for key, allowed in (("encodingType", ENCODINGS), ("position_encoding_strategy", POSITIONS),
                             ("spike_mode", SPIKE_MODES)):
            if getattr(self, key) not in allowed:
                out.append(f"{key} = {getattr(self, key)!r}: expected one of {', '.join(allowed)}")
        if self.normalization not in NORMS:
            out.append(f"normalization = {self.normalization!r}: neurocompile loads 'layer' and 'batch' "
                       f"(upstream's 'PowerNorm' is not supported)")
        for key in ("vocab_size", "max_len", "heads", "blocks", "timesteps", "tok_embed_dim", "pos_embed_dim"):
            if not isinstance(getattr(self, key), int) or isinstance(getattr(self, key), bool) or getattr(self, key) < 1:
                out.append(f"{key} = {getattr(self, key)!r}: expected a positive integer")
        if isinstance(self.timesteps, int) and self.timesteps > MAX_TIMESTEPS:
            out.append(f"timesteps = {self.timesteps}: at most {MAX_TIMESTEPS} synthetic steps per token "
                       f"(upstream uses 2-4)")
        for key in ("attention_scale", "pos_bias"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                out.append(f"{key} = {value!r}: expected a finite number")
        if isinstance(self.attention_scale, (int, float)) and not self.attention_scale > 0:
            out.append(f"attention_scale = {self.attention_scale!r}: expected a positive number")
        if self.dim_hid is not None and (not isinstance(self.dim_hid, int) or self.dim_hid < 1):
            out.append(f"dim_hid = {self.dim_hid!r}: expected a positive integer or null")
        if self.spiking_residuals not in (0, 1, 2):
            out.append(f"spiking_residuals = {self.spiking_residuals!r}: expected 0, 1 or 2")
        if self.float_reunite and not self.spiking_head:
            out.append("float_reunite = true needs spiking_head = true (upstream's head has no LIF to reunite with)")
        if self.combine_position and not (self.encodingType == "learned"
                                          and self.position_encoding_strategy in ("static", "learned")):
            out.append("combine_position = true needs encodingType 'learned' and positions 'static' or 'learned'")
        if self.float_embedding and self.encodingType == "learned" and self.position_encoding_strategy in ("linear", "binary"):
            out.append("float_embedding = true with learned tokens and linear/binary positions: upstream's code "
                       "cannot build this model (its embedder has no binary mapping yet)")
        if self.dictionary is None and self.vocab_size not in (30, 32):
            out.append(f"vocab_size = {self.vocab_size}: a character model has upstream's alphabet of 30 or 32 symbols; "
                       f"a word model gives its 'dictionary'")
        if not out and self.embed_dim % self.heads:
            out.append(f"heads = {self.heads}: the embedding width {self.embed_dim} is not divisible by it")
        if not out and "P" not in self.alphabet:
            out.append("dictionary: has no padding entry 'P' (upstream pads inputs with it)")
        return out

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["dictionary"] = list(self.dictionary) if self.dictionary is not None else None
        return out


def _bits(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def binary_code(value: int, width: int) -> list[float]:
    """Upstream's binary code: ``bin(value)`` MSB first, zero-padded on the right (or cut) to ``width``."""
    bits = [float(b) for b in bin(value)[2:]][:width]
    return bits + [0.0] * (width - len(bits))


def sinusoid_table(max_len: int, dim: int) -> torch.Tensor:
    """Upstream's static position table [max_len, dim], float32 as upstream computes it:
    ``sin(pos / 1e4^(i/dim))`` on even i, ``cos`` on odd i."""
    pos = torch.arange(max_len, dtype=torch.float32).reshape(-1, 1)
    i = torch.arange(dim, dtype=torch.float32).reshape(1, -1)
    phase = pos / (1e4 ** (i / dim))
    return torch.where(i.long() % 2 == 0, torch.sin(phase), torch.cos(phase))


# ---- layers -------------------------------------------------------------------------------------------------
class LIF(SpikingNeuron):
    """spikingjelly ``MultiStepLIFNode`` over the synthetic time axis (dim 0); with ``learning_MSLIF`` its
    threshold is a parameter named ``v_threshold``, as upstream's ``LearningMSLIF``."""

    def __init__(self, cfg: SpikeDecoderConfig):
        super().__init__()
        self.tau = TAU
        self.v_threshold = nn.Parameter(torch.tensor(V_THRESHOLD)) if cfg.learning_MSLIF else V_THRESHOLD

    def threshold(self) -> float:
        return float(self.v_threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lif_sequence(x, self.tau, self.v_threshold, time_dim=0)[0]


class BatchNormChannels(nn.Module):
    """Batch norm over the last (channel) dimension.  Upstream wraps ``BatchNorm1d`` between two transposes
    in an ``nn.Sequential``; the child's name ``1`` keeps its checkpoint keys (``<norm>.1.running_mean``)."""

    def __init__(self, width: int):
        super().__init__()
        self.add_module("1", nn.BatchNorm1d(width))

    @property
    def bn(self) -> nn.BatchNorm1d:
        return getattr(self, "1")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def _norm(cfg: SpikeDecoderConfig, width: int) -> nn.Module:
    return nn.LayerNorm(width) if cfg.normalization == "layer" else BatchNormChannels(width)


class Attention(nn.Module):
    """``SpikingMultiHeadAttention``: Q, K, V = LIF(Norm(Linear(x))); ``(tril(Q K^T) V) * scale`` per head and
    synthetic step; ``att_LIF``; ``proj`` Linear and Norm."""

    def __init__(self, cfg: SpikeDecoderConfig):
        super().__init__()
        e = cfg.embed_dim
        self.heads, self.scale, self.spiking_residuals = cfg.heads, cfg.attention_scale, cfg.spiking_residuals
        if cfg.spiking_residuals <= 1:
            self.input_LIF = LIF(cfg)
        else:
            self.output_LIF = LIF(cfg)
        for name in ("query", "key", "value", "proj"):
            setattr(self, f"{name}_Norm", _norm(cfg, e))
            setattr(self, f"{name}_L", nn.Linear(e, e))
        for name in ("query", "key", "value", "att", "proj"):  # proj_LIF exists upstream (and is never used)
            setattr(self, f"{name}_LIF", LIF(cfg))
        self.register_buffer("mask", torch.tril(torch.ones(cfg.max_len, cfg.max_len)).reshape(1, 1, 1, cfg.max_len, cfg.max_len))

    def _spikes(self, name: str, x: torch.Tensor) -> torch.Tensor:
        linear, norm, lif = (getattr(self, f"{name}_{part}") for part in ("L", "Norm", "LIF"))
        return lif(norm(linear(x)))

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [T, B, S, E] -> [T, B, H, S, d]
        t, b, s, e = x.shape
        return x.reshape(t, b, s, self.heads, e // self.heads).transpose(2, 3)

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None) -> torch.Tensor:
        """x: [T, B, S, E].  ``kv`` None: the whole causal sequence (upstream's matrix form).  ``kv``
        [T, B, H, d, d]: the running sums of k^T v over the previous tokens, updated in place, one token
        (S == 1) at a time."""
        t, b, s, e = x.shape
        if self.spiking_residuals <= 1:
            x = self.input_LIF(x)
        q, k, v = (self._split(self._spikes(name, x)) for name in ("query", "key", "value"))
        if kv is None:
            scores = (q @ k.transpose(-2, -1)).masked_fill(self.mask[:, :, :, :s, :s] == 0, 0)
            y = scores @ v
        else:
            kv += k.transpose(-2, -1) @ v  # [T, B, H, d, 1] x [T, B, H, 1, d]: the outer product of this token
            y = q @ kv
        y = (y * self.scale).transpose(2, 3).reshape(t, b, s, e)
        out = self.proj_Norm(self.proj_L(self.att_LIF(y)))
        return self.output_LIF(out) if self.spiking_residuals > 1 else out


class MLP(nn.Module):
    """Upstream's ``MLP.net`` with the same indices (Flatten/Unflatten/Dropout are identities here, so the
    Linear, Norm and learnable-threshold keys keep upstream's numbers)."""

    def __init__(self, cfg: SpikeDecoderConfig):
        super().__init__()
        e, h, keep = cfg.embed_dim, cfg.hidden, nn.Identity
        if cfg.spiking_residuals == 0:
            layers = [LIF(cfg), keep(), nn.Linear(e, h), _norm(cfg, h), keep(),
                      LIF(cfg), keep(), nn.Linear(h, e), _norm(cfg, e), keep()]
        else:
            layers = [keep(), nn.Linear(e, h), _norm(cfg, h), keep(), LIF(cfg),
                      keep(), nn.Linear(h, e), _norm(cfg, e), keep()]
            layers += [keep(), LIF(cfg)] if cfg.mlp_dropout > 0 else [LIF(cfg)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Block(nn.Module):
    def __init__(self, cfg: SpikeDecoderConfig, first: bool):
        super().__init__()
        self.spiking_residuals = cfg.spiking_residuals
        self.first = first and cfg.firstBlock_spiking_res
        if cfg.spiking_residuals > 1:
            self.SMHA_LIF = LIF(cfg)
        self.SMHA = Attention(cfg)
        if self.first:
            self.resLIF = LIF(cfg)
        if cfg.spiking_residuals > 0:
            self.blockLIF = LIF(cfg)
        self.MLP = MLP(cfg)

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None) -> torch.Tensor:
        if self.spiking_residuals > 1:
            x = self.SMHA_LIF(x)
        a = self.SMHA(x, kv)
        if self.first:
            a = self.resLIF(a)
        x = x + a
        if self.spiking_residuals > 0:
            x = self.blockLIF(x)
        return x + self.MLP(x)


class Head(nn.Module):
    def __init__(self, cfg: SpikeDecoderConfig):
        super().__init__()
        self.mode, self.reunite = cfg.spike_mode, cfg.float_reunite
        self.spiking = cfg.spiking_head
        if cfg.spiking_head:
            self.gen_LIF = LIF(cfg)
        width = cfg.embed_dim * cfg.timesteps if cfg.spike_mode == "concatenate" else cfg.embed_dim
        self.gen_FC = nn.Linear(width, cfg.vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [T, B, S, E] -> [B, S, V]
        if self.spiking and not self.reunite:
            x = self.gen_LIF(x)
        x = {"average": lambda: x.mean(0), "accumulate": lambda: x.sum(0),
             "concatenate": lambda: torch.cat(x.unbind(0), dim=-1), "final": lambda: x[-1]}[self.mode]()
        if self.reunite:
            x = self.gen_LIF(x.unsqueeze(0)).squeeze(0)
        return self.gen_FC(x)


class Embedder(nn.Module):
    """Token id and position -> the input code (concatenated token and position codes), as upstream's
    ``SpikingInputEmbeddingBlock.encode``; learned tables keep upstream's names (``tok_embed``, ``pos_table``)."""

    def __init__(self, cfg: SpikeDecoderConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.encodingType == "learned":
            self.tok_embed = nn.Embedding(cfg.vocab_size, cfg.tok_embed_dim)
        if cfg.position_encoding_strategy == "learned":
            self.pos_table = nn.Embedding(cfg.max_len, cfg.pos_embed_dim)

    def _fixed_positions(self, positions: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        cfg = self.cfg
        p = positions.tolist()
        if cfg.position_encoding_strategy == "linear":
            return F.one_hot(positions, cfg.max_len).to(dtype)
        if cfg.position_encoding_strategy == "binary":
            return torch.tensor([binary_code(i, _bits(cfg.max_len)) for i in p], dtype=dtype).reshape(len(p), -1)
        table = sinusoid_table(cfg.max_len, cfg.pos_embed_dim)[positions]  # static
        return table.to(dtype) if cfg.combine_position else heaviside(table - cfg.pos_bias).to(dtype)

    def _positions(self, positions: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if self.cfg.position_encoding_strategy == "learned":
            table = self.pos_table(positions).to(dtype)
            return table if self.cfg.combine_position else heaviside(table)
        return self._fixed_positions(positions, dtype)

    def forward(self, tokens: torch.Tensor, start: int, dtype: torch.dtype) -> torch.Tensor:
        """tokens [B, S] (ids into the alphabet) at positions start .. start+S-1 -> codes [B, S, E]."""
        cfg = self.cfg
        b, s = tokens.shape
        if start + s > cfg.max_len:
            from neurocompile.errors import UserError

            raise UserError(f"position {start + s - 1} is beyond the model's context: its position code covers max_len = "
                            f"{cfg.max_len} positions (upstream slides a window and starts over; give at most "
                            f"{cfg.max_len} tokens)")
        positions = torch.arange(start, start + s)
        if cfg.encodingType == "one-hot":
            onehot = F.one_hot(tokens, cfg.vocab_size).to(dtype)  # [B, S, V] placed in slot `position`
            out = torch.zeros(b, s, cfg.max_len, cfg.vocab_size, dtype=dtype)
            out[:, torch.arange(s), positions] = onehot
            return out.reshape(b, s, -1)
        if cfg.encodingType == "two-hot":
            tok = F.one_hot(tokens, cfg.vocab_size).to(dtype)
        elif cfg.encodingType == "binary":
            tok = torch.tensor([[binary_code(i, _bits(cfg.vocab_size)) for i in row] for row in tokens.tolist()],
                               dtype=dtype).reshape(b, s, -1)
        else:
            tok = self.tok_embed(tokens)
        pos = self._positions(positions, dtype).unsqueeze(0).expand(b, -1, -1)
        if cfg.combine_position:
            return heaviside(tok + pos)
        if cfg.encodingType == "learned":
            tok = heaviside(tok)  # float_embedding has no effect upstream (see the module docstring)
        return torch.cat([tok, pos], dim=-1)


@dataclass
class StreamState:
    """What a SpikeDecoder carries from one token to the next: the position and, per block, the running
    ``k^T v`` sums [T, B, H, d, d] (counts of coincident key and value spikes)."""

    position: int
    kv: list[torch.Tensor] = field(default_factory=list)


class SpikeDecoder(nn.Module):
    family = "spikedecoder"

    def __init__(self, cfg: SpikeDecoderConfig):
        super().__init__()
        if problems := cfg.problems():
            raise ValueError("; ".join(problems))
        self.config = cfg
        self.embedder = Embedder(cfg)
        self.blocks = nn.Sequential(*[Block(cfg, first=(i == 0)) for i in range(cfg.blocks)])
        self.Head = Head(cfg)

    def _synthetic_steps(self, tokens: torch.Tensor, start: int) -> torch.Tensor:
        x = self.embedder(tokens, start, self.Head.gen_FC.weight.dtype)
        return x.unsqueeze(0).expand(self.config.timesteps, *x.shape)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, S] -> logits [B, S, V], the whole sequence at once (S <= max_len)."""
        x = self._synthetic_steps(tokens, 0)
        for block in self.blocks:
            x = block(x)
        return self.Head(x)

    def initial_state(self, batch: int = 1) -> StreamState:
        cfg = self.config
        dtype = self.Head.gen_FC.weight.dtype
        return StreamState(0, [torch.zeros(cfg.timesteps, batch, cfg.heads, cfg.head_dim, cfg.head_dim, dtype=dtype)
                               for _ in range(cfg.blocks)])

    def step(self, tokens: torch.Tensor, state: StreamState) -> tuple[torch.Tensor, StreamState]:
        """One token per stream: tokens [B] -> (logits [B, V], state); ``state`` is updated in place."""
        x = self._synthetic_steps(tokens.reshape(-1, 1), state.position)
        for block, kv in zip(self.blocks, state.kv):
            x = block(x, kv)
        state.position += 1
        return self.Head(x)[:, 0], state

    def describe(self) -> tuple[str, dict, list[str]]:
        """(a one-line title, the config as JSON-able values, notes) for ``inspect``."""
        cfg = self.config
        title = (f"SpikeDecoder: {cfg.blocks} block(s), {cfg.heads} heads, width {cfg.embed_dim} ({cfg.token_code_dim} "
                 f"{cfg.encodingType} token + {cfg.position_code_dim} {cfg.position_encoding_strategy} position code), "
                 f"MLP {cfg.hidden}, {cfg.timesteps} synthetic steps ({cfg.spike_mode}), {cfg.normalization} norm, "
                 f"vocabulary {cfg.vocab_size}, context {cfg.max_len}")
        notes = [f"config from {getattr(self, 'config_source', 'the caller')}",
                 f"LIF tau={TAU}, threshold {'learned (learning_MSLIF)' if cfg.learning_MSLIF else V_THRESHOLD} as upstream; "
                 f"residuals {'float' if cfg.spiking_residuals == 0 else f'spiking (degree {cfg.spiking_residuals})'}, "
                 f"{'spiking' if cfg.spiking_head else 'float'} head",
                 f"attention state per token: {cfg.blocks} x {cfg.timesteps} x {cfg.heads} x {cfg.head_dim}^2 running "
                 f"k^T v counts (no key/value cache)"]
        return title, cfg.as_dict(), notes

    def ops(self) -> list[OpInfo]:
        """The ops in execution order with the tensor that feeds each; names are the modules' (what ``inspect``
        measures).  Input kinds by construction: "spike" (0/1), "count" (a sum of spike trains), "real"."""
        cfg = self.config
        e, h, v = cfg.embed_dim, cfg.hidden, cfg.vocab_size
        norm = "LayerNorm" if cfg.normalization == "layer" else "BatchNorm"
        suffix = "" if cfg.normalization == "layer" else ".1"
        table = (cfg.vocab_size, cfg.tok_embed_dim) if cfg.encodingType == "learned" else None
        out = [OpInfo("embedder", f"{cfg.encodingType} token + {cfg.position_encoding_strategy} position code", table,
                      "token id and position", "index")]

        def lif(name: str, feeds: str, kind: str) -> None:
            out.append(OpInfo(name, "LIF", None, feeds, kind))

        def linear_norm(name: str, norm_name: str, shape: tuple[int, int], feeds: str, kind: str) -> None:
            out.append(OpInfo(name, "Linear", shape, feeds, kind))
            out.append(OpInfo(norm_name + suffix, norm, (shape[0],), f"{name} output", "real"))

        stream = "input code"
        stream_kind = "spike"
        for i, block in enumerate(self.blocks):
            b = f"blocks.{i}"
            spikes = f"{b}.SMHA_LIF" if cfg.spiking_residuals > 1 else f"{b}.SMHA.input_LIF"
            lif(spikes, stream, stream_kind)
            for name in ("query", "key", "value"):
                linear_norm(f"{b}.SMHA.{name}_L", f"{b}.SMHA.{name}_Norm", (e, e), f"{spikes} spikes", "spike")
                lif(f"{b}.SMHA.{name}_LIF", f"{name}_Norm output", "real")
            out.append(OpInfo(f"{b}.SMHA.attention", f"causal q·Σkᵀv x {cfg.attention_scale:g} (state {cfg.heads}x"
                              f"{cfg.head_dim}x{cfg.head_dim} per step)", None, "q, k, v spikes", "spike"))
            lif(f"{b}.SMHA.att_LIF", "attention output (counts x scale)", "count")
            linear_norm(f"{b}.SMHA.proj_L", f"{b}.SMHA.proj_Norm", (e, e), "att_LIF spikes", "spike")
            attention = "proj_Norm output"
            if cfg.spiking_residuals > 1:
                lif(f"{b}.SMHA.output_LIF", attention, "real")
                attention = "output_LIF spikes"
            if block.first:
                lif(f"{b}.resLIF", attention, "spike" if cfg.spiking_residuals > 1 else "real")
            stream_kind = "count" if stream_kind != "real" and cfg.spiking_residuals > 1 else "real"
            if cfg.spiking_residuals > 0:
                lif(f"{b}.blockLIF", "residual + attention", stream_kind)
                stream_kind = "spike"
            m = f"{b}.MLP.net"
            if cfg.spiking_residuals == 0:
                lif(f"{m}.0", "residual stream", stream_kind)
                linear_norm(f"{m}.2", f"{m}.3", (h, e), "net.0 spikes", "spike")
                lif(f"{m}.5", "net.3 output", "real")
                linear_norm(f"{m}.7", f"{m}.8", (e, h), "net.5 spikes", "spike")
                stream_kind = "real"
            else:
                linear_norm(f"{m}.1", f"{m}.2", (h, e), "blockLIF spikes", "spike")
                lif(f"{m}.4", "net.2 output", "real")
                linear_norm(f"{m}.6", f"{m}.7", (e, h), "net.4 spikes", "spike")
                lif(f"{m}.{10 if cfg.mlp_dropout > 0 else 9}", "net.7 output", "real")
                stream_kind = "count"
            stream = "residual stream"
        head_in, head_kind = "residual stream", stream_kind
        if cfg.spiking_head:
            lif("Head.gen_LIF", "residual stream" if not cfg.float_reunite else f"{cfg.spike_mode} over T", head_kind)
            head_in, head_kind = "gen_LIF spikes", "spike"
        if not cfg.float_reunite and cfg.spike_mode in ("average", "accumulate"):
            head_in, head_kind = f"{cfg.spike_mode} of {head_in} over T", "count" if head_kind != "real" else "real"
        width = e * cfg.timesteps if cfg.spike_mode == "concatenate" else e
        out.append(OpInfo("Head.gen_FC", "Linear", (v, width), head_in, head_kind))
        return out

    def forward_with_state(self, tokens: torch.Tensor, state: StreamState) -> tuple[torch.Tensor, StreamState]:
        """tokens [B, S] -> (logits [B, S, V], state), one token at a time through ``step``."""
        logits = [self.step(tokens[:, i], state)[0] for i in range(tokens.shape[1])]
        return torch.stack(logits, dim=1), state
