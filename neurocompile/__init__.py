"""neurocompile: deploy spiking language models (SpikeGPT, SpikeDecoder) to neuromorphic hardware."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import UserError

__all__ = ["UserError", "export", "load_model", "__version__"]


def __getattr__(name: str):
    """`load_model` (and torch with it) is imported on first use, so the command line starts, and can be
    interrupted, before any heavy import."""
    if name == "load_model":
        from .frontends import load_model

        return load_model
    if name == "export":
        from .api import export

        return export
    raise AttributeError(f"module 'neurocompile' has no attribute {name!r}")
