"""Make the SpikeDecoder upstream-equivalence test data by running upstream's own model code.

    pip install --no-deps --target /tmp/sj spikingjelly==0.0.0.0.14
    python tools/spikedecoder_golden.py --upstream PATH/TO/SpikeDecoder --spikingjelly /tmp/sj \
        --out tests/data/spikedecoder

PATH/TO/SpikeDecoder is a checkout of github.com/ClaasBeger/SpikeDecoder (data in tests/data was made at
commit 3512b8b).  Nothing of upstream is copied: this script imports upstream's ``model.py`` from that
checkout as it is.  Upstream imports ``seaborn`` for its plots only; when it is not installed an empty module
stands in (no plotting is called).  spikingjelly 0.0.0.0.14 is the release with the ``clock_driven`` API
upstream was written against.

For each configuration below it builds upstream's ``SpikingDecoderModel``, sets every parameter (and batch
norm's running statistics) from a seeded float32 generator, scaled so that every LIF fires 10-40 % of the
time, then runs upstream's eval-mode forward in float64 on seeded random text, through upstream's own
embedder (padding to ``max_len`` included).  It saves ``<name>.pt`` (the plain state_dict, float32: exactly
the values upstream ran with), ``<name>.json`` (the config, upstream's SDconfig names plus ``dim_hid``) and
``<name>.golden.npz`` (the padded token ids, the texts, upstream's logits and every LIF's firing rate).
"""
from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

CONFIGS = {
    # learned (binarised) embedding + static positions + layer norm, float head, average over T
    "learned-layer": dict(cfg=dict(vocab_size=32, max_len=24, encodingType="learned", position_encoding_strategy="static",
                                   tok_embed_dim=20, pos_embed_dim=12, heads=2, blocks=2, timesteps=4,
                                   normalization="layer", spiking_head=False, spike_mode="average"),
                          dim_hid=2, gain=(1.8, 0.8, 0.6), seed=1),
    # two-hot + learned positions + batch norm + spiking head, spiking MLP residual, accumulate over T
    "twohot-batch-head": dict(cfg=dict(vocab_size=30, max_len=20, encodingType="two-hot", position_encoding_strategy="learned",
                                       pos_embed_dim=10, heads=4, blocks=2, timesteps=3, normalization="batch",
                                       spiking_head=True, spiking_residuals=1, spike_mode="accumulate"),
                              dim_hid=3, gain=(2.3, 1.0, 1.0), seed=2),
    # binary codes, spiking residuals around both sub-blocks, first-block residual LIF, learnable thresholds,
    # time steps concatenated before the head
    "binary-sres2-concat": dict(cfg=dict(vocab_size=32, max_len=16, encodingType="binary", position_encoding_strategy="binary",
                                         heads=3, blocks=2, timesteps=2, normalization="layer", spiking_head=True,
                                         spiking_residuals=2, firstBlock_spiking_res=True, spike_mode="concatenate",
                                         learning_MSLIF=True, mlp_dropout=0.1),
                                dim_hid=4, gain=(1.6, 0.8, 0.4), thresholds=(0.5, 0.8), seed=3),
    # a word model (dictionary), one-hot codes, batch norm, float reunion of the time steps in the head
    "words-onehot-reunite": dict(cfg=dict(vocab_size=0, max_len=8, encodingType="one-hot", position_encoding_strategy="linear",
                                          heads=2, blocks=1, timesteps=2, normalization="batch", spiking_head=True,
                                          float_reunite=True, spike_mode="final",
                                          dictionary=["P", "the", "cat", "sat", "on", "mat", ".", "a", "dog", "ran"]),
                                 dim_hid=None, gain=(2.1, 1.0, 0.9), seed=4),
}
BATCH = 3


def import_upstream(root: Path, spikingjelly: Path | None):
    if spikingjelly is not None:
        sys.path.insert(0, str(spikingjelly))
    try:
        import seaborn  # noqa: F401
    except ImportError:
        sys.modules["seaborn"] = types.ModuleType("seaborn")  # plots only; never called here
    sys.path.insert(0, str(root))
    import model as upstream
    from spikingjelly.clock_driven.neuron import MultiStepLIFNode

    return upstream, MultiStepLIFNode


def randomise(model: torch.nn.Module, seed: int, gain: tuple[float, float, float],
              thresholds: tuple[float, float]) -> None:
    """Seeded float32 values for every parameter: Linears ~ N(0, 1/fan_in) with small biases, embeddings ~ N(0, 1),
    norms a gain ~ U(g0, g0 + g1) and a bias ~ N(b, 0.3) so that the LIFs after them fire, learnable thresholds
    ~ U(lo, hi); batch norm's running statistics too (eval mode uses them)."""
    gen = torch.Generator().manual_seed(seed)

    def draw(t: torch.Tensor, scale: float = 1.0, shift: float = 0.0, uniform: bool = False) -> None:
        values = torch.rand(t.shape, generator=gen) if uniform else torch.randn(t.shape, generator=gen)
        t.copy_(shift + scale * values)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                draw(m.weight, m.weight.shape[1] ** -0.5)
                draw(m.bias, 0.1)
            elif isinstance(m, torch.nn.Embedding):
                draw(m.weight)
            elif isinstance(m, (torch.nn.LayerNorm, torch.nn.BatchNorm1d)):
                draw(m.weight, gain[1], gain[0], uniform=True)
                draw(m.bias, 0.3, gain[2])
                if isinstance(m, torch.nn.BatchNorm1d):
                    draw(m.running_mean, 0.3)
                    draw(m.running_var, 1.0, 0.5, uniform=True)
                    m.num_batches_tracked.fill_(100)
            elif isinstance(getattr(m, "v_threshold", None), torch.nn.Parameter):
                draw(m.v_threshold, thresholds[1] - thresholds[0], thresholds[0], uniform=True)


def make(upstream, lif_class, name: str, spec: dict, out: Path) -> None:
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(spec["seed"])
    cfg = upstream.SDconfig(**spec["cfg"])
    model = upstream.SpikingDecoderModel(cfg, dim_hid=spec["dim_hid"])
    randomise(model, spec["seed"], spec["gain"], spec.get("thresholds", (1.0, 1.0)))
    state = {k: v.detach().to(torch.float32).clone() if v.is_floating_point() else v.detach().clone()
             for k, v in model.state_dict().items()}

    torch.set_default_dtype(torch.float64)  # upstream's embedder builds its codes in the default dtype
    model.load_state_dict(state)
    model = model.double().eval()
    rng = np.random.default_rng(spec["seed"])
    alphabet = list(model.embedder.alphabet)
    real = [a for a in alphabet if a not in ("P", "S", "E")]
    lengths = rng.integers(cfg.max_len // 2, cfg.max_len + 1, size=BATCH)
    if cfg.dictionary is None:
        texts = ["".join(rng.choice(real, size=n)) for n in lengths]
    else:
        texts = [list(rng.choice(real, size=n)) for n in lengths]

    rates: dict[str, list[float]] = {}
    hooks = [m.register_forward_hook(lambda mod, args, y, key=n: rates.setdefault(key, []).append(float(y.mean())))
             for n, m in model.named_modules() if isinstance(m, lif_class)]
    with torch.no_grad():
        logits, _, _ = model(texts if cfg.dictionary is None else texts)
    for h in hooks:
        h.remove()
    tokens = []
    for t in texts:  # upstream's own padding and token ids
        padded = list(t) + ["P"] * (cfg.max_len - len(t))
        tokens.append([model.embedder.tok_to_int[c] for c in padded])
    fired = {k: v[0] for k, v in rates.items()}
    low = {k: round(r, 3) for k, r in fired.items() if not 0.10 <= r <= 0.40}
    print(f"{name}: logits {tuple(logits.shape)}, LIF firing {min(fired.values()):.3f}..{max(fired.values()):.3f} "
          f"(mean {np.mean(list(fired.values())):.3f})"
          + (f" (outside 10-40 %: {low})" if low else ""))

    # upstream's defaults written out for the keys the tensors cannot confirm (our loader refuses them left out)
    from dataclasses import fields

    from neurocompile.models.spikedecoder import SpikeDecoderConfig

    defaults = {f.name: f.default for f in fields(SpikeDecoderConfig)}
    unnamed = {k: defaults[k] for k in SpikeDecoderConfig.UNCONFIRMABLE
               if k not in spec["cfg"] and not any(SpikeDecoderConfig.ALIASES.get(a) == k for a in spec["cfg"])}
    config = dict(spec["cfg"], **unnamed, dim_hid=spec["dim_hid"])
    if cfg.dictionary is not None:
        config["vocab_size"] = len(cfg.dictionary)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(state, out / f"{name}.pt")
    (out / f"{name}.json").write_text(json.dumps(config, indent=1) + "\n")
    np.savez_compressed(out / f"{name}.golden.npz", tokens=np.array(tokens, dtype=np.int64),
                        lengths=lengths.astype(np.int64), logits=logits.numpy(),
                        lif_names=np.array(sorted(fired)), lif_rates=np.array([fired[k] for k in sorted(fired)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", type=Path, required=True, help="a checkout of ClaasBeger/SpikeDecoder")
    ap.add_argument("--spikingjelly", type=Path, help="a folder holding spikingjelly 0.0.0.0.14 (pip --target)")
    ap.add_argument("--out", type=Path, default=Path("tests/data/spikedecoder"))
    ap.add_argument("--only", nargs="*", choices=sorted(CONFIGS))
    args = ap.parse_args()
    out = args.out.resolve()
    upstream, lif_class = import_upstream(args.upstream.resolve(), args.spikingjelly)
    for name in args.only or CONFIGS:
        make(upstream, lif_class, name, CONFIGS[name], out)


if __name__ == "__main__":
    main()
