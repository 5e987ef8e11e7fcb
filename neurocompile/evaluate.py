"""Bits per character (token) of a model on a token stream."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .models.spikegpt import SpikeGPT


@torch.no_grad()
def bits_per_token(model: SpikeGPT, ids: torch.Tensor, window: int = 512) -> float:
    """Mean next-token cross-entropy in bits over `ids` (1-D), streaming the state across windows."""
    if ids.numel() < 2:
        raise ValueError("need at least two tokens to score a prediction")
    state = model.initial_state(1)
    total, count = 0.0, 0
    for start in range(0, ids.numel() - 1, window):
        chunk = ids[start : start + window + 1]
        if chunk.numel() < 2:
            break
        logits, state = model.forward_with_state(chunk[None, :-1], state)
        total += F.cross_entropy(logits[0].double(), chunk[1:], reduction="sum").item()
        count += chunk.numel() - 1
    return total / count / math.log(2)
