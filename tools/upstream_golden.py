"""Make the upstream-equivalence test data by running upstream SpikeGPT's own model code.

    python tools/upstream_golden.py --upstream PATH/TO/SpikeGPT --out tests/data/upstream

PATH/TO/SpikeGPT is a checkout of github.com/ridgerchu/SpikeGPT (data in tests/data was made at commit
029f86f).  Nothing of upstream is copied: this script imports upstream's ``src/model.py`` from that
checkout and swaps only what cannot run on a CPU:

* ``torch.utils.cpp_extension.load`` (it compiles the CUDA WKV kernel at import) becomes a no-op, and
  ``RUN_CUDA`` is replaced by the kernel's own per-token loop (``cuda/wkv_cuda.cu``, ``kernel_forward``),
  written out below in float64;
* spikingjelly's ``backend='cupy'`` LIFs are switched to ``backend='torch'`` (same equations).

For each variant (``RWKV``, ``RWKV-ffnPre``) it builds upstream's ``GPT`` with its own initialisation,
perturbs the weights with a seeded float32 generator (so that the LIFs fire often and the float32
checkpoint holds exactly the values upstream ran with), runs the training-mode forward in float64 on
seeded random tokens, and saves ``<variant>.pt`` (the plain state_dict, float32) and ``<variant>.golden.pt``
(tokens, upstream logits and every LIF's spike train).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

VARIANTS = ("RWKV", "RWKV-ffnPre")
VOCAB, CTX, LAYERS, EMBD, BATCH, STEPS = 40, 64, 3, 32, 2, 48


def kernel_forward_loop(B, T, C, w, u, k, v):
    """cuda/wkv_cuda.cu kernel_forward, one channel-vector at a time, in the inputs' dtype."""
    w = -torch.exp(w)
    p = torch.zeros(B, C, dtype=k.dtype)
    q = torch.zeros(B, C, dtype=k.dtype)
    o = torch.full((B, C), -1e38, dtype=k.dtype)
    ys = []
    for t in range(T):
        kt, vt = k[:, t], v[:, t]
        no = torch.maximum(o, u + kt)
        A, Bc = torch.exp(o - no), torch.exp(u + kt - no)
        ys.append((A * p + Bc * vt) / (A * q + Bc))
        no = torch.maximum(w + o, kt)
        A, Bc = torch.exp(w + o - no), torch.exp(kt - no)
        p, q, o = A * p + Bc * vt, A * q + Bc, no
    return torch.stack(ys, 1)


def import_upstream(root: Path):
    import torch.utils.cpp_extension

    torch.utils.cpp_extension.load = lambda *args, **kwargs: None  # no CUDA compile
    sys.path.insert(0, str(root))
    os.chdir(root)
    from src import model as upstream
    from src.spikingjelly.clock_driven import neuron

    upstream.RUN_CUDA = kernel_forward_loop
    neuron.check_backend = lambda backend: None
    return upstream, neuron


def make_variant(upstream, neuron, variant: str, seed: int):
    torch.manual_seed(seed)
    cfg = upstream.GPTConfig(VOCAB, CTX, model_type=variant, n_layer=LAYERS, n_embd=EMBD)
    model = upstream.GPT(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith(("att.output.weight", "ffn.value.weight", "ffnPre.value.weight")):
                p.copy_(noise * 0.6)  # large enough that the LIFs (threshold 1) fire often
            elif name.endswith("weight") and p.dim() == 2:
                p.copy_(noise * 0.3)
            else:
                p.add_(0.1 * noise)
    state = {k: v.detach().to(torch.float32).clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    lifs = {}
    for name, module in model.named_modules():
        if isinstance(module, neuron.MultiStepLIFNode):
            module.backend = "torch"
            lifs[name] = module
    model = model.double().eval()
    tokens = torch.randint(0, VOCAB, (BATCH, STEPS), generator=gen)
    captured = {}
    model.head.register_forward_hook(lambda m, i, o: captured.__setitem__("logits", o.detach().clone()))
    for name, module in lifs.items():
        # upstream LIFs see [T, B, C]; store [B, T, C] like the token axis of the logits
        module.register_forward_hook(lambda m, i, o, n=name: captured.__setitem__(n, o.detach().permute(1, 0, 2).clone()))
    with torch.no_grad():
        model(tokens)
    spikes = {n: captured[n].to(torch.bool) for n in lifs}
    return state, {"tokens": tokens, "logits": captured["logits"], "spikes": spikes,
                   "v_threshold": 1.0, "variant": variant}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, type=Path)
    ap.add_argument("--out", default="tests/data/upstream", type=Path)
    args = ap.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    upstream, neuron = import_upstream(args.upstream.resolve())
    for seed, variant in enumerate(VARIANTS):
        state, golden = make_variant(upstream, neuron, variant, seed)
        torch.save(state, out / f"{variant}.pt")
        torch.save(golden, out / f"{variant}.golden.pt")
        rates = {n: round(s.float().mean().item(), 3) for n, s in golden["spikes"].items()}
        print(variant, "firing rates:", rates)


if __name__ == "__main__":
    main()
