"""Frontends: a model family's checkpoint -> its PyTorch model -> a Graph.

One folder per family, found by ``families()`` (each package here that defines ``FAMILY``: adding a family is a
folder).  A family
is recognised from its upstream key names; its ``build`` checks every key, shape and value before it builds
the model; its ``trace`` turns the model into the graph the compiler takes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..checkpoint import Checkpoint, listing, read_checkpoint
from ..errors import UserError
from .family import Family, LoadOptions


def families() -> list[Family]:
    """Every model family: each package under ``neurocompile.frontends`` that defines ``FAMILY`` (importers of graph
    files, such as NIR's, define none)."""
    from ..plugins import find

    return sorted(find(__name__, "FAMILY", Family), key=lambda f: f.name != "spikegpt")  # SpikeGPT first: messages name it first, as before


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
