"""neurocompile: deploy spiking language models (SpikeGPT, SpikeDecoder) to neuromorphic hardware."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import UserError
from .load import load_model

__all__ = ["UserError", "load_model", "__version__"]
