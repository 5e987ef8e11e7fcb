"""What several verbs share: the model and sampling arguments, reading a user's text, a progress line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError
from ..models import zoo
from ..options import RANGES


def sampling_args(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        p.add_argument("--prompt", default=None, help="text to continue (default 'The ')"),
        p.add_argument("--prompt-file", type=Path, default=None, metavar="FILE",
                       help="read the prompt from this UTF-8 file instead (a long prompt: memory stays flat in its length)"),
        p.add_argument("--tokens", type=RANGES["tokens"].parser(), default=200,
                       help="how many tokens to generate (default %(default)s)"),
        p.add_argument("--temperature", type=RANGES["temperature"].parser(), default=0.8,
                       help="0 for greedy (default %(default)s)"),
        p.add_argument("--top-p", type=RANGES["top_p"].parser(), default=0.9,
                       help="nucleus sampling mass, in (0, 1] (default %(default)s)"),
        p.add_argument("--seed", type=RANGES["seed"].parser(), default=0, help="sampling seed (default %(default)s)")]


def model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", type=Path, default=None,
                   help=f"checkpoint (.pt/.pth, upstream state_dict), NIR graph (.nir) or lava-dl netx network (.net); default: the zoo model {zoo.DEFAULT}")
    p.add_argument("--tokenizer", type=Path, default=None,
                   help="character vocabulary JSON or Hugging Face tokenizer.json (default: found beside the checkpoint)")
    p.add_argument("--v-threshold", type=RANGES["v_threshold"].parser(), default=None,
                   help="SpikeGPT: the LIF threshold it was trained with (not stored in upstream checkpoints; default 1.0)")
    p.add_argument("--config", type=Path, default=None,
                   help="SpikeDecoder: its hyper-parameters, JSON or TOML with upstream's SDconfig keys plus dim_hid "
                        "(default: <checkpoint stem>.json or .toml beside the checkpoint)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def load(args: argparse.Namespace, need_tokenizer: bool = True):
    from ..checkpoint import read_checkpoint
    from ..frontends import LoadOptions, build_model
    from ..tokenizers import find_tokenizer

    path = args.model if args.model is not None else zoo.path()
    ckpt = read_checkpoint(path)
    model = build_model(ckpt, LoadOptions(args.v_threshold, args.config))
    try:
        tokenizer = find_tokenizer(ckpt.path, model.config.vocab_size, args.tokenizer, getattr(model, "tokenizer", None))
    except UserError:
        if need_tokenizer or args.tokenizer is not None:
            raise
        tokenizer = None
    return ckpt, model, tokenizer


def read_text(path: Path, option: str) -> str:
    from ..files import read_user_file

    try:
        text = read_user_file(path, option).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); {option} takes UTF-8 text") from None
    if not text:
        raise UserError(f"{path}: the file is empty")
    return text


def prompt(args: argparse.Namespace) -> str:
    """--prompt, or the text of --prompt-file (one of them), or 'The '."""
    if args.prompt_file is not None:
        if args.prompt is not None:
            raise UserError("--prompt and --prompt-file exclude each other: give the prompt one way")
        return read_text(args.prompt_file, "--prompt-file")
    return "The " if args.prompt is None else args.prompt


def encode(tokenizer, text: str, option: str) -> list[int]:
    try:
        return tokenizer.encode(text)
    except UserError as exc:
        raise UserError(f"{option}: {exc}") from None


def progress(total: int, enabled: bool, unit: str = "token"):
    """tqdm's status line on stderr for a long run a person watches: only on a terminal, never with --json, never
    into a pipe (the caller decides `enabled`); it says that Ctrl-C keeps what the run has counted."""
    import threading

    from tqdm import tqdm

    # tqdm's default lock is a multiprocessing lock, which fixes the process's start method: Lava, imported later in
    # the same process (simulate --engine lava, the API), then fails to set its own ('fork').  A thread lock is enough
    # for one bar in one process.
    tqdm.set_lock(threading.RLock())
    return tqdm(total=total, unit=f" {unit}", disable=not enabled, file=sys.stderr, mininterval=0.5, leave=False,
                desc="[neurocompile] (Ctrl-C: stop, keep the counters)", dynamic_ncols=True)
