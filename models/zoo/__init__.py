"""Small trained checkpoints shipped with neurocompile (each with .vocab.json and .card.json beside it).

The zoo's corpus is English text that ships with every CPython: the language reference and library topics
in ``pydoc_data.topics`` (what ``help('topics')`` prints), joined in sorted topic order.  It is rebuilt at
run time, never committed; a model's card records its SHA-256.  The last 5 % of characters is held out.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT = "spikegpt-pydoc.pt"
HELD_OUT_FRACTION = 0.05


def path(name: str = DEFAULT) -> Path:
    """Filesystem path of a zoo checkpoint."""
    return Path(str(resources.files(__name__) / name))


def corpus() -> str:
    import pydoc_data.topics

    topics = pydoc_data.topics.topics
    return "\n\n".join(topics[name].strip() for name in sorted(topics)) + "\n"


def split_point(length: int) -> int:
    """Index where the held-out part of a corpus of `length` tokens begins."""
    return int(length * (1 - HELD_OUT_FRACTION))
