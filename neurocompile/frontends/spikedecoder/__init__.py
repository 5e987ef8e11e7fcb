"""SpikeDecoder (spiking transformer decoder): upstream checkpoints as they are, with their config beside them.

The checkpoint (a plain state_dict) does not hold the hyper-parameters; a small JSON or TOML file does, with
upstream's ``SDconfig`` names plus ``dim_hid`` (``--config FILE``; default ``<checkpoint stem>.json`` or
``.toml`` beside the checkpoint).  Every key, type and value is checked, then the config is checked against
the tensors: a disagreement names the key, the config's value and the tensor that contradicts it.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from ...checkpoint import Checkpoint, listing
from ...errors import UserError
from ...files import read_user_file
from ...models.spikedecoder import SpikeDecoder, SpikeDecoderConfig
from ...tokenizers import SpikeDecoderChars, SpikeDecoderWords
from ..family import Family, LoadOptions
from .trace import trace_spikedecoder

_TYPES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def recognises(keys: set[str]) -> bool:
    return "embedder.tok_embed.weight" in keys or any(".SMHA." in k for k in keys)


def config_path(checkpoint: Path) -> Path | None:
    """The config beside a checkpoint: ``<stem>.json`` or ``<stem>.toml``."""
    for suffix in (".json", ".toml"):
        candidate = checkpoint.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def read_config(config: str | Path | dict | None, checkpoint: Path) -> tuple[SpikeDecoderConfig, str, frozenset[str]]:
    """(the checked config, where it came from, the keys it gives)."""
    if config is None:
        found = config_path(checkpoint)
        if found is None:
            raise UserError(f"{checkpoint}: a SpikeDecoder checkpoint does not hold its hyper-parameters; give them with "
                            f"--config FILE (JSON or TOML with upstream's SDconfig keys plus dim_hid, e.g. "
                            f'{{"vocab_size": 32, "max_len": 64, "encodingType": "learned", "heads": 2, ...}}), '
                            f"or put {checkpoint.with_suffix('.json').name} beside it")
        config = found
    if isinstance(config, dict):
        return _from_mapping(config, "the config"), "given as a dict", _given(config)
    path = Path(config)
    raw = read_user_file(path, "--config")
    try:
        mapping = tomllib.loads(raw.decode("utf-8")) if path.suffix.lower() == ".toml" else json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise UserError(f"{path}: not a readable {kind} config ({exc})") from None
    if not isinstance(mapping, dict):
        raise UserError(f"{path}: the config must be one JSON object (key: value), not {type(mapping).__name__}")
    return _from_mapping(mapping, str(path)), str(path), _given(mapping)


def _given(mapping: dict[str, Any]) -> frozenset[str]:
    return frozenset(SpikeDecoderConfig.ALIASES.get(k, k) for k in mapping)


def check_confirmed(cfg: SpikeDecoderConfig, given: frozenset[str], state: dict[str, torch.Tensor], source: str,
                    path: Path) -> None:
    """A key the config leaves out keeps upstream's default only when the tensors fit no other value: otherwise the
    default might silently run another model (a 4-head checkpoint as 2 heads), and the key is refused by name."""
    missing = []
    for key in SpikeDecoderConfig.UNCONFIRMABLE:
        if key in given or not cfg.uses(key):
            continue
        for value in cfg.alternatives(key):
            other = replace(cfg, **{key: value})
            if other.problems():
                continue
            try:
                check_against(other, state, source, path)
            except UserError:
                continue
            missing.append(f"{key} (upstream's default {getattr(cfg, key)!r}; {value!r} fits the tensors as well)")
            break
    if missing:
        raise UserError(f"{path}: the config ({source}) leaves out {len(missing)} key(s) the checkpoint cannot confirm: "
                        f"{'; '.join(missing)}; give {'it' if len(missing) == 1 else 'each'} in the config as trained")


def _from_mapping(mapping: dict[str, Any], source: str) -> SpikeDecoderConfig:
    declared = {f.name: f for f in fields(SpikeDecoderConfig)}
    values: dict[str, Any] = {}
    for key, value in mapping.items():
        name = SpikeDecoderConfig.ALIASES.get(key, key)
        if key in SpikeDecoderConfig.IGNORED or key == "embed_dim":
            continue  # training-only; embed_dim (derived) is checked below
        if name not in declared:
            raise UserError(f"{source}: unknown config key {key!r}; SpikeDecoder's keys are upstream SDconfig's: "
                            f"{', '.join(declared)} (and, ignored at inference, {', '.join(SpikeDecoderConfig.IGNORED)})")
        if name in values:
            raise UserError(f"{source}: {key!r} and its alias both given")
        values[name] = _typed(source, key, value, declared[name].type)
    for required in ("vocab_size", "max_len"):
        if required not in values and not (required == "vocab_size" and values.get("dictionary")):
            raise UserError(f"{source}: the config has no {required!r} (upstream's SDconfig requires it)")
    values.setdefault("vocab_size", 0)
    cfg = SpikeDecoderConfig(**values)
    problems = cfg.problems()
    if not problems and "embed_dim" in mapping and mapping["embed_dim"] != cfg.embed_dim:
        problems.append(f"embed_dim = {mapping['embed_dim']!r}, but the other keys give {cfg.embed_dim} "
                        f"({cfg.token_code_dim} token + {cfg.position_code_dim} position code)")
    if problems:
        raise UserError(f"{source}: " + "; ".join(problems))
    return cfg


def _typed(source: str, key: str, value: Any, declared: str) -> Any:
    """The value checked against the field's declared type (annotations are strings here)."""
    if value is None and "None" in declared:
        return None
    if declared.startswith("tuple"):
        if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            return tuple(value)
        raise UserError(f"{source}: {key!r} must be a list of words (strings), got {type(value).__name__}")
    kind = {"int": int, "float": float, "bool": bool, "str": str}[declared.split(" ")[0]]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise UserError(f"{source}: {key!r} must be {_TYPES[kind]}, got {value!r}")
    return value


def check_against(cfg: SpikeDecoderConfig, state: dict[str, torch.Tensor], source: str, path: Path) -> None:
    """The config and the tensors must describe the same model; the first disagreement of each kind is named."""
    def shape(key: str) -> tuple[int, ...] | None:
        return tuple(state[key].shape) if key in state else None

    wrong: list[str] = []

    def expect(key: str, axis: int, value: int, config_key: str, config_value: object) -> None:
        got = shape(key)
        if got is not None and (len(got) <= axis or got[axis] != value):
            wrong.append(f"{config_key} = {config_value!r} gives {key} size {value} on axis {axis}, but the tensor is {got}")

    blocks = {int(k.split(".")[1]) for k in state if k.startswith("blocks.") and k.split(".")[1].isdigit()}
    if blocks and max(blocks) + 1 != cfg.blocks:
        wrong.append(f"blocks = {cfg.blocks}, but the checkpoint has {max(blocks) + 1} (blocks.0 … blocks.{max(blocks)})")
    expect("Head.gen_FC.weight", 0, cfg.vocab_size, "vocab_size", cfg.vocab_size)
    expect("embedder.tok_embed.weight", 0, cfg.vocab_size, "vocab_size", cfg.vocab_size)
    expect("embedder.tok_embed.weight", 1, cfg.tok_embed_dim, "tok_embed_dim", cfg.tok_embed_dim)
    expect("embedder.pos_table.weight", 0, cfg.max_len, "max_len", cfg.max_len)
    expect("embedder.pos_table.weight", 1, cfg.pos_embed_dim, "pos_embed_dim", cfg.pos_embed_dim)
    expect("blocks.0.SMHA.mask", 3, cfg.max_len, "max_len", cfg.max_len)
    expect("blocks.0.SMHA.query_L.weight", 1, cfg.embed_dim, "the embedding width (from encodingType, "
           "position_encoding_strategy, vocab_size, max_len, tok/pos_embed_dim)", cfg.embed_dim)
    hidden = "blocks.0.MLP.net.2.weight" if cfg.spiking_residuals == 0 else "blocks.0.MLP.net.1.weight"
    expect(hidden, 0, cfg.hidden, "dim_hid", cfg.dim_hid)
    expect("Head.gen_FC.weight", 1, cfg.embed_dim * (cfg.timesteps if cfg.spike_mode == "concatenate" else 1),
           "spike_mode/timesteps", f"{cfg.spike_mode}/{cfg.timesteps}")
    has_bn = any(k.endswith(".running_mean") for k in state)
    if has_bn != (cfg.normalization == "batch"):
        wrong.append(f"normalization = {cfg.normalization!r}, but the checkpoint "
                     f"{'has' if has_bn else 'has no'} batch-norm running statistics (…_Norm.1.running_mean)")
    if wrong:
        raise UserError(f"{path}: the config ({source}) disagrees with the tensors: {'; '.join(wrong[:4])}")

    with torch.device("meta"):
        skeleton = SpikeDecoder(cfg)
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    missing, unexpected = sorted(expected.keys() - state.keys()), sorted(state.keys() - expected.keys())
    guess = f"(config {source}: {cfg.blocks} blocks, width {cfg.embed_dim}, spiking_residuals {cfg.spiking_residuals}, " \
            f"spiking_head {cfg.spiking_head}, learning_MSLIF {cfg.learning_MSLIF})"
    if missing or unexpected:
        parts = ([f"missing keys: {listing(missing)}"] if missing else []) + \
                ([f"unexpected keys: {listing(unexpected)}"] if unexpected else [])
        raise UserError(f"{path}: {'; '.join(parts)} {guess}")
    shapes = [f"{k} is {tuple(state[k].shape)}, expected {s}" for k, s in sorted(expected.items()) if tuple(state[k].shape) != s]
    if shapes:
        raise UserError(f"{path}: shape mismatch: {listing(shapes)} {guess}")


def build(ckpt: Checkpoint, options: LoadOptions) -> SpikeDecoder:
    """Check the config and every key, shape and value, then build the model (float32, eval mode)."""
    if options.v_threshold is not None:
        raise UserError("--v-threshold applies to SpikeGPT; a SpikeDecoder's LIF thresholds are upstream's (1, or "
                        "learned and stored in the checkpoint with learning_MSLIF)")
    cfg, source, given = read_config(options.config, ckpt.path)
    check_against(cfg, ckpt.state, source, ckpt.path)
    check_confirmed(cfg, given, ckpt.state, source, ckpt.path)
    integer = {k for k in ckpt.state if k.endswith("num_batches_tracked")}
    not_float = sorted(k for k, t in ckpt.state.items() if k not in integer and not t.is_floating_point())
    if not_float:
        raise UserError(f"{ckpt.path}: parameters that are not floating point: {listing(not_float)}")
    bad = ckpt.non_finite(k for k in ckpt.state if k not in integer)
    if bad:
        raise UserError(f"{ckpt.path}: NaN or Inf values in: {listing(bad)}. The checkpoint is damaged or diverged.")
    negative = sorted(k for k, t in ckpt.state.items() if k.endswith("running_var") and bool((t < 0).any()))
    if negative:
        raise UserError(f"{ckpt.path}: negative batch-norm variances in: {listing(negative)}; the checkpoint is damaged")
    with torch.device("meta"):
        model = SpikeDecoder(cfg)
    state = {k: t if k in integer else t.to(torch.float32) for k, t in ckpt.state.items()}
    model.load_state_dict(state, assign=True)
    model.config_source = source
    model.tokenizer = (SpikeDecoderWords(cfg.dictionary) if cfg.dictionary is not None
                       else SpikeDecoderChars(list(cfg.alphabet), name=f"upstream SpikeDecoder alphabet ({cfg.vocab_size})"))
    return model.eval()


FAMILY = Family(name="spikedecoder", title="SpikeDecoder", keys="'embedder.tok_embed.weight' or 'blocks.N.SMHA.*'",
                recognises=recognises, build=build, trace=trace_spikedecoder, approximations=(
                    "batch norm: folded into the Linear before it (float64, then quantized with it)",
                    "head: average / accumulate as a per-token sum of W x_t / T (or W x_t) with b / T per synthetic step "
                    "(b once per token in float; rounded per step in integers)",
                    "attention: exact (spike counts; the 0.125 scale is a shift); its state saturates at "
                    "state_bits (counted), i.e. after 2^(state_bits-1) - 1 tokens at the earliest"))
