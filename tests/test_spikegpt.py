"""SpikeGPT equals upstream, and its parallel and recurrent forms equal each other."""
from __future__ import annotations

import math

import pytest
import torch

from neurocompile import load_model
from neurocompile.models.neurons import lif_sequence
from neurocompile.models.spikegpt import SpikeGPT, SpikeGPTConfig
from neurocompile.models.wkv import WKVState, wkv_chunked, wkv_step

from helpers import UPSTREAM, VARIANTS, record_lif_spikes


@pytest.mark.parametrize("variant", VARIANTS)
def test_equals_upstream_float64(variant):
    golden = torch.load(UPSTREAM / f"{variant}.golden.pt", weights_only=True)
    model = load_model(UPSTREAM / f"{variant}.pt").double()
    spikes = record_lif_spikes(model)
    with torch.no_grad():
        logits = model(golden["tokens"])
    assert logits.dtype == torch.float64 and logits.shape == golden["logits"].shape
    assert (logits - golden["logits"]).abs().max().item() <= 1e-6
    assert set(spikes) == set(golden["spikes"])
    for name, expected in golden["spikes"].items():
        rate = expected.float().mean().item()
        assert 0.05 < rate < 0.95, f"{name} fires {rate:.1%}: the golden data would check little"
        assert torch.equal(spikes[name][0].bool(), expected), name


@pytest.mark.parametrize("variant", VARIANTS)
def test_recurrent_form_equals_parallel_form(variant):
    model = load_model(UPSTREAM / f"{variant}.pt").double()
    tokens = torch.randint(0, model.config.vocab_size, (3, 100))  # crosses several WKV chunks
    spikes = record_lif_spikes(model)
    with torch.no_grad():
        parallel = model(tokens)
        parallel_spikes = {n: s[0] for n, s in spikes.items()}
        spikes.clear()
        state, steps = model.initial_state(3), []
        for t in range(tokens.shape[1]):
            logits, state = model.step(tokens[:, t], state)
            steps.append(logits)
    recurrent = torch.stack(steps, 1)
    assert (parallel - recurrent).abs().max().item() < 1e-9
    for name, s in parallel_spikes.items():
        assert s.sum() > 0
        assert torch.equal(torch.cat(spikes[name], 1), s), name


def test_prefill_then_step_continues_the_sequence():
    model = load_model(UPSTREAM / "RWKV.pt").double()
    tokens = torch.randint(0, 40, (2, 70))
    with torch.no_grad():
        full = model(tokens)
        head, state = model.forward_with_state(tokens[:, :50], model.initial_state(2))
        tail, _ = model.forward_with_state(tokens[:, 50:], state)
    assert torch.allclose(torch.cat([head, tail], 1), full, atol=1e-10, rtol=0)


def _wkv_by_definition(w, u, k, v):
    """The WKV formula written directly (no stabiliser), float64: y_t = (sum_{j<t} e^{(t-1-j)w+k_j} v_j + e^{u+k_t} v_t) / (...)."""
    B, T, C = k.shape
    y = torch.empty_like(k)
    for t in range(T):
        j = torch.arange(t, dtype=k.dtype)
        weights = torch.exp((t - 1 - j)[None, :, None] * w + k[:, :t])
        now = torch.exp(u + k[:, t])
        y[:, t] = ((weights * v[:, :t]).sum(1) + now * v[:, t]) / (weights.sum(1) + now)
    return y


def test_wkv_forms_match_the_definition():
    B, T, C = 2, 75, 6
    w = -torch.exp(torch.randn(C, dtype=torch.float64))
    u, k, v = torch.randn(C, dtype=torch.float64), torch.randn(B, T, C, dtype=torch.float64), torch.randn(B, T, C, dtype=torch.float64)
    expected = _wkv_by_definition(w, u, k, v)
    chunked, _ = wkv_chunked(w, u, k, v, chunk=16)
    state, steps = WKVState.zeros(B, C, torch.float64), []
    for t in range(T):
        y, state = wkv_step(w, u, k[:, t], v[:, t], state)
        steps.append(y)
    assert torch.allclose(chunked, expected, atol=1e-12, rtol=1e-10)
    assert torch.allclose(torch.stack(steps, 1), expected, atol=1e-12, rtol=1e-10)


def test_wkv_is_safe_on_long_sequences_with_large_keys():
    B, T, C = 1, 3000, 4
    w = -torch.exp(torch.tensor([-6.0, -2.0, 0.0, 2.0]))  # from very slow to fast decay
    u = torch.zeros(C)
    k = torch.randn(B, T, C) * 40  # e^k alone overflows float32 at k > 88
    v = torch.randn(B, T, C)
    y, state = wkv_chunked(w, u, k, v)
    assert torch.isfinite(y).all() and torch.isfinite(state.p).all()
    # the output is a weighted mean of v: it stays within v's range
    assert y.abs().max() <= v.abs().max() + 1e-4
    # against the recurrence in float64: float32 rounding is the only difference
    s, steps = WKVState.zeros(B, C, torch.float64), []
    for t in range(T):
        out, s = wkv_step(w.double(), u.double(), k[:, t].double(), v[:, t].double(), s)
        steps.append(out)
    assert torch.allclose(y.double(), torch.stack(steps, 1), atol=1e-4)


def test_wkv_chunked_gradients_equal_the_recurrence():
    B, T, C = 2, 40, 5
    base = [torch.randn(C, dtype=torch.float64), torch.randn(C, dtype=torch.float64),
            torch.randn(B, T, C, dtype=torch.float64), torch.randn(B, T, C, dtype=torch.float64)]

    def grads(run):
        decay, u, k, v = (x.clone().requires_grad_() for x in base)
        run(-torch.exp(decay), u, k, v).pow(2).sum().backward()
        return [x.grad for x in (decay, u, k, v)]

    def recurrent(w, u, k, v):
        state, ys = WKVState.zeros(B, C, torch.float64), []
        for t in range(T):
            y, state = wkv_step(w, u, k[:, t], v[:, t], state)
            ys.append(y)
        return torch.stack(ys, 1)

    for a, b in zip(grads(lambda *x: wkv_chunked(*x, chunk=16)[0]), grads(recurrent)):
        assert torch.allclose(a, b, atol=1e-10)


def test_lif_follows_spikingjelly_by_hand():
    # tau=2, threshold 1: v += (x - v)/2; spike iff v >= 1; hard reset to 0
    x = torch.tensor([2.0, 1.9, 1.1, 0.0, 1.0, 1.0, -4.0, 3.0])
    # v:            1.0  0.95 1.025 0    0.5  0.75  -1.625 0.6875
    expected = torch.tensor([1, 0, 1, 0, 0, 0, 0, 0.0])
    spikes, v = lif_sequence(x[None, :, None], tau=2.0, v_threshold=1.0)
    assert torch.equal(spikes[0, :, 0], expected)
    assert v.item() == pytest.approx(0.6875)


def test_surrogate_gradient_reaches_the_weights():
    model = SpikeGPT.initialised(SpikeGPTConfig(n_layer=2, n_embd=16, vocab_size=20))
    tokens = torch.randint(0, 20, (2, 12))
    loss = torch.nn.functional.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten())
    loss.backward()
    assert model.blocks[0].att.output.weight.grad.abs().sum() > 0  # only reachable through lif1's surrogate
    assert model.emb.weight.grad.abs().sum() > 0  # only reachable through the Heaviside surrogate
    assert math.isfinite(loss.item())


def test_config_counts_parameters_like_the_module():
    for cfg in (SpikeGPTConfig(2, 24, 30), SpikeGPTConfig(3, 16, 50, ffn_pre=True)):
        assert cfg.parameter_count() == sum(p.numel() for p in SpikeGPT(cfg).parameters())


def test_a_long_prompt_is_read_in_bounded_chunks_without_autograd(monkeypatch):
    """Issue 22: `generate` held the prompt's autograd graph in the state (~80 KB per prompt character: 1.9 GB for
    20 kB).  The prompt is read in chunks of at most PROMPT_CHUNK tokens with gradients off, and the chunked read
    samples what one pass would (the same state at the end, up to float rounding)."""
    from neurocompile.tasks.language.semantics import PROMPT_CHUNK, generate

    model = load_model(UPSTREAM / "RWKV.pt")
    seen = []
    forward = model.forward_with_state

    def spy(tokens, state):
        seen.append((tokens.shape[1], torch.is_grad_enabled()))
        return forward(tokens, state)

    monkeypatch.setattr(model, "forward_with_state", spy)
    prompt = torch.randint(0, 40, (3 * PROMPT_CHUNK + 7,), generator=torch.Generator().manual_seed(0)).tolist()
    chunked = list(generate(model, prompt, 5, temperature=0))
    assert [n for n, _ in seen] == [PROMPT_CHUNK] * 3 + [7] and not any(grad for _, grad in seen)
    with torch.no_grad():
        logits, state = forward(torch.tensor([prompt]), model.initial_state(1))
    assert chunked[0] == int(logits[0, -1].argmax())
