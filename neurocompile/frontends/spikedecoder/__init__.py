"""SpikeDecoder (spiking transformer decoder): recognised by its upstream key names, not loaded yet."""
from __future__ import annotations

from .. import Family


def recognises(keys: set[str]) -> bool:
    return "embedder.tok_embed.weight" in keys or any(".SMHA." in k for k in keys)


FAMILY = Family(name="spikedecoder", title="SpikeDecoder", keys="'embedder.tok_embed.weight' or 'blocks.N.SMHA.*'",
                recognises=recognises, build=None, trace=None)
