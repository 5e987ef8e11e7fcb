"""What a model family is to the frontends: how it is recognised from a checkpoint's keys, built, checked and traced."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoint import Checkpoint


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
