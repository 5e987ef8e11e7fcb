"""Train the zoo's small SpikeGPT on English text that ships with Python itself.

Corpus: ``neurocompile.models.zoo.corpus()``, the Python language reference and library topics that ship
with every CPython (``pydoc_data.topics``).  Nothing is downloaded and no corpus is committed: it is rebuilt
at run time and its SHA-256 recorded in the model card.  The last 5 % of characters is held out.

    python tools/train_zoo.py --steps 1500 --out models/zoo/spikegpt-pydoc

writes ``<out>.pt`` (a plain state_dict with upstream SpikeGPT key names), ``<out>.vocab.json`` (upstream's
character-vocabulary format, index -> character) and ``<out>.card.json`` (config, bpc, command, corpus hash,
a sample).  Runs on CUDA when present, otherwise on the CPU.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import torch

from neurocompile.tasks.language.semantics import bits_per_token
from neurocompile.models import zoo
from neurocompile.models.spikegpt import SpikeGPT, SpikeGPTConfig
from neurocompile.tokenizers import CharTokenizer
from zoo_training import common_args, train


@torch.no_grad()
def sample(model: SpikeGPT, tok: CharTokenizer, prompt: str, n: int, seed: int = 0) -> str:
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    state = model.initial_state(1)
    ids = tok.encode(prompt)
    logits, state = model.forward_with_state(torch.tensor([ids]), state)
    last = logits[0, -1]
    out = []
    for _ in range(n):
        probs = torch.softmax(last.float() / 0.8, -1)
        nxt = int(torch.multinomial(probs, 1, generator=gen))
        out.append(nxt)
        last, state = model.step(torch.tensor([nxt]), state)
        last = last[0]
    model.train()
    return prompt + tok.decode(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(ap, "models/zoo/spikegpt-pydoc", 1500, 2e-3)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--embd", type=int, default=128)
    ap.add_argument("--ctx", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    text = zoo.corpus()
    corpus_sha = hashlib.sha256(text.encode()).hexdigest()
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    split = zoo.split_point(len(ids))
    train_ids, held_out = ids[:split], ids[split:]

    cfg = SpikeGPTConfig(n_layer=args.layers, n_embd=args.embd, vocab_size=tok.vocab_size)
    model = SpikeGPT.initialised(cfg, seed=args.seed).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99), eps=1e-8)
    seconds = train(model, opt, train_ids, args.ctx, args, device)

    model = model.cpu().float()
    bpc = bits_per_token(model.eval(), held_out)
    text_sample = sample(model, tok, "The ", 300)
    print(f"held-out bpc {bpc:.4f}\n--- sample ---\n{text_sample}\n---", flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, out.with_suffix(".pt"))
    tok.save(out.with_suffix(".vocab.json"))
    card = {
        "family": "spikegpt",
        "config": {"n_layer": cfg.n_layer, "n_embd": cfg.n_embd, "vocab_size": cfg.vocab_size,
                   "v_threshold": cfg.v_threshold, "tau": cfg.tau},
        "parameters": cfg.parameter_count(),
        "corpus": "pydoc_data.topics of CPython " + platform.python_version() + ", topics in sorted order",
        "corpus_sha256": corpus_sha,
        "corpus_chars": len(text),
        "held_out": f"last {zoo.HELD_OUT_FRACTION:.0%} of characters ({len(held_out)} chars)",
        "held_out_bpc": round(bpc, 4),
        "train_seconds": round(seconds),
        "device": device if device == "cpu" else torch.cuda.get_device_name(),
        "command": "python " + " ".join(sys.argv),
        "sample_prompt": "The ",
        "sample": text_sample,
    }
    out.with_suffix(".card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
