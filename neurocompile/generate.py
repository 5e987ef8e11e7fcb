"""Float reference generation: prefill the prompt with the parallel form, then stream with the recurrent form."""
from __future__ import annotations

from collections.abc import Iterator

import torch

from .models.spikegpt import SpikeGPT


@torch.no_grad()
def generate(model: SpikeGPT, prompt_ids: list[int], n_tokens: int, temperature: float = 0.8,
             top_p: float = 0.9, seed: int = 0) -> Iterator[int]:
    """Yield `n_tokens` sampled token ids (temperature 0 means greedy); deterministic for a given seed."""
    gen = torch.Generator().manual_seed(seed)
    state = model.initial_state(1)
    if prompt_ids:
        logits, state = model.forward_with_state(torch.tensor([prompt_ids]), state)
        last = logits[0, -1]
    else:  # no prompt: condition on token 0, as upstream does for an empty context
        last, state = model.step(torch.tensor([0]), state)
        last = last[0]
    for _ in range(n_tokens):
        token = sample_token(last, temperature, top_p, gen)
        yield token
        last, state = model.step(torch.tensor([token]), state)
        last = last[0]


def sample_token(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator) -> int:
    if temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.double() / temperature, -1)
    sorted_probs, order = probs.sort(descending=True)
    keep = sorted_probs.cumsum(0) - sorted_probs < top_p  # the smallest set whose mass reaches top_p
    sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
    return int(order[torch.multinomial(sorted_probs, 1, generator=gen)])
