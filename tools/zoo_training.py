"""What the zoo's training scripts share: their common options and the training loop (warm-up, cosine decay to
55 %, gradient clipping at 1, random windows of the training ids, progress every 50 steps)."""
from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F


def common_args(ap: argparse.ArgumentParser, out: str, steps: int, lr: float) -> None:
    ap.add_argument("--out", default=out)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, train_ids: torch.Tensor, ctx: int,
          args: argparse.Namespace, device: str = "cpu") -> float:
    """Train `model` (tokens [B, ctx] -> logits) on random windows of `train_ids`; returns the seconds taken."""
    gen = torch.Generator().manual_seed(args.seed)
    warmup = max(1, min(100, args.steps // 10))
    start = time.time()
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.55 + 0.45 * math.cos(math.pi * step / args.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        offsets = torch.randint(0, len(train_ids) - ctx - 1, (args.batch,), generator=gen)
        batch = torch.stack([train_ids[o : o + ctx + 1] for o in offsets.tolist()]).to(device)
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item() / math.log(2):.3f} bpc  lr {lr:.2e}  {time.time() - start:7.0f} s",
                  flush=True)
    return time.time() - start
