"""Frontends: a model family's checkpoint -> its PyTorch model -> a Graph.

One folder per family, registered in ``FAMILIES`` below (adding a family is a folder and a line).  A family
is recognised from its upstream key names; its ``build`` checks every key, shape and value before it builds
the model; its ``trace`` turns the model into the graph the compiler takes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoint import Checkpoint, listing, read_checkpoint
from ..errors import UserError


@dataclass(frozen=True)
class Family:
    name: str  # the model's `family` attribute and the manifest's
    title: str
    keys: str  # the upstream keys that identify it, for messages
    recognises: Callable[[set[str]], bool]
    build: Callable[[Checkpoint, "LoadOptions"], Any]  # -> the checked model
    trace: Callable[[Any], Any]  # model -> Graph
    approximations: tuple[str, ...] = ()  # where this family's integer program departs from its float model


@dataclass(frozen=True)
class LoadOptions:
    """What a user may tell a frontend that the checkpoint does not say; each family refuses what it cannot use."""

    v_threshold: float | None = None  # SpikeGPT's LIF threshold (not stored upstream); None: 1.0
    config: str | Path | dict | None = None  # SpikeDecoder's SDconfig (JSON/TOML file or dict); None: beside the checkpoint


def families() -> list[Family]:
    from . import spikedecoder, spikegpt

    return [spikegpt.FAMILY, spikedecoder.FAMILY]


def family_of(ckpt: Checkpoint) -> Family:
    keys = set(ckpt.state)
    for family in families():
        if family.recognises(keys):
            return family
    known = "; ".join(f"{f.keys} for {f.title}" for f in families())
    raise UserError(f"{ckpt.path}: not a checkpoint of a family neurocompile knows (looked for {known}). "
                    f"Keys found: {listing(sorted(keys))}")


def build_model(ckpt: Checkpoint, options: LoadOptions = LoadOptions()):
    """The checked model of the checkpoint's family (float32, eval mode)."""
    return family_of(ckpt).build(ckpt, options)


def load_model(path: str | Path, v_threshold: float | None = None, config: str | Path | dict | None = None):
    """Load an upstream-format checkpoint: ``model(tokens [B, S]) -> logits [B, S, V]``.

    ``v_threshold``: the LIF threshold a SpikeGPT was trained with (not stored in upstream checkpoints; default 1).
    ``config``: a SpikeDecoder's hyper-parameters (upstream SDconfig names plus ``dim_hid``), a JSON/TOML path or
    a dict; default ``<checkpoint stem>.json``/``.toml`` beside the checkpoint."""
    return build_model(read_checkpoint(path), LoadOptions(v_threshold, config))


def family_of_model(model: Any) -> Family:
    by_name = {f.name: f for f in families()}
    family = getattr(model, "family", None)
    if family not in by_name:
        raise TypeError(f"{type(model).__name__} is not a model of a known family ({', '.join(by_name)})")
    return by_name[family]


def trace(model: Any):
    """The model's Graph, by its family's tracer."""
    return family_of_model(model).trace(model)
