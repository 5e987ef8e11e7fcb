"""Train the zoo's small SpikeDecoder on the zoo corpus (English text that ships with CPython), on the CPU.

The corpus is ``neurocompile.models.zoo.corpus()`` cleaned as upstream SpikeDecoder cleans its training text
(lowercase letters, ``.``, ``'`` and spaces: upstream's 32-symbol alphabet); the last 5 % is held out.  Training
windows are ``max_len`` characters, each from position 0 (upstream's setting: positions are absolute within a
window), with the surrogate gradients of upstream's LIFs and binarised embedding.

    python tools/train_zoo_spikedecoder.py --steps 3000 --out models/zoo/spikedecoder-pydoc

writes ``<out>.pt`` (a plain state_dict with upstream SpikeDecoder key names), ``<out>.json`` (its config: upstream's
SDconfig keys plus ``dim_hid``, found beside the checkpoint) and ``<out>.card.json`` (bpc, command, corpus hash,
a sample).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import torch

from neurocompile.models import zoo
from neurocompile.models.spikedecoder import SpikeDecoder, SpikeDecoderConfig
from neurocompile.tasks.language.semantics import bits_per_token, generate
from neurocompile.tokenizers import SpikeDecoderChars
from zoo_training import common_args, train

# every key the tensors cannot confirm is written (SpikeDecoderConfig.UNCONFIRMABLE): a config without them is refused
CONFIG = dict(vocab_size=32, max_len=64, encodingType="learned", position_encoding_strategy="static", tok_embed_dim=64,
              pos_embed_dim=32, heads=4, blocks=3, timesteps=2, attention_scale=0.125, normalization="layer",
              spiking_head=False, spike_mode="average", pos_bias=0.0, firstBlock_spiking_res=False, dim_hid=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(ap, "models/zoo/spikedecoder-pydoc", 3000, 3e-3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    cfg = SpikeDecoderConfig(**CONFIG)
    tok = SpikeDecoderChars(list(cfg.alphabet), name=f"upstream SpikeDecoder alphabet ({cfg.vocab_size})")
    text = zoo.corpus()
    corpus_sha = hashlib.sha256(text.encode()).hexdigest()
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    split = zoo.split_point(len(ids))
    train_ids, held_out = ids[:split], ids[split:]

    model = SpikeDecoder(cfg)
    with torch.no_grad():  # upstream initialises its embedding tables at N(0, 1e-5): binarised, that is a random code
        model.embedder.tok_embed.weight.normal_(0, 1.0)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    ctx = cfg.max_len
    seconds = train(model, opt, train_ids, ctx, args)

    model.eval()
    bpc = bits_per_token(model, held_out)
    prompt = "the "
    completion = tok.decode(list(generate(model, tok.encode(prompt), ctx - len(prompt), seed=0)))
    print(f"held-out bpc {bpc:.4f} (windows of {ctx}, each from position 0)\n--- sample ---\n{prompt}{completion}\n---")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, out.with_suffix(".pt"))
    out.with_suffix(".json").write_text(json.dumps(CONFIG, indent=1) + "\n")
    card = {
        "family": "spikedecoder",
        "config": CONFIG,
        "parameters": sum(p.numel() for p in model.parameters()),
        "corpus": "pydoc_data.topics of CPython " + platform.python_version() + ", topics in sorted order, cleaned as "
                  "upstream SpikeDecoder cleans text (lowercase letters, '.', \"'\", spaces)",
        "corpus_sha256": corpus_sha,
        "corpus_chars_cleaned": len(ids),
        "held_out": f"last {zoo.HELD_OUT_FRACTION:.0%} of the cleaned characters ({len(held_out)})",
        "held_out_bpc": round(bpc, 4),
        "held_out_scoring": f"windows of max_len = {ctx} characters, each from position 0",
        "train_seconds": round(seconds),
        "device": "cpu",
        "command": "python " + " ".join(sys.argv),
        "sample_prompt": prompt,
        "sample": prompt + completion,
        "seed": args.seed,
    }
    out.with_suffix(".card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
