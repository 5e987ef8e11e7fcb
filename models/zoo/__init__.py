"""Small trained checkpoints shipped with neurocompile (each with .vocab.json and .card.json beside it)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT = "spikegpt-pydoc.pt"


def path(name: str = DEFAULT) -> Path:
    """Filesystem path of a zoo checkpoint."""
    return Path(str(resources.files(__name__) / name))
