"""Export benchmark for a 216M-shaped SpikeGPT (L18 C768 V50277, random weights made here, never committed).

    python tools/bench_export.py [--layers 18] [--embd 768] [--vocab 50277] [--calibration-tokens 1024]

Writes the random checkpoint (float32 state_dict, upstream key names), a word-level tokenizer of the same
vocabulary and a calibration text into a temporary folder, then runs
``neurocompile export ckpt --target loihi2`` in a child process and reports wall time, the child's peak
resident memory against the checkpoint size, and the cores and chips the partition needs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from neurocompile.models.spikegpt import SpikeGPT, SpikeGPTConfig


def make_checkpoint(folder: Path, layers: int, embd: int, vocab: int) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    torch.manual_seed(0)
    model = SpikeGPT(SpikeGPTConfig(n_layer=layers, n_embd=embd, vocab_size=vocab))
    path = folder / "spikegpt-216m-random.pt"
    torch.save(model.state_dict(), path)
    words = {f"w{i}": i for i in range(vocab)}
    tok = Tokenizer(models.WordLevel(words, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "spikegpt-216m-random.tokenizer.json"))
    gen = torch.Generator().manual_seed(1)
    (folder / "calibration.txt").write_text(" ".join(f"w{i}" for i in torch.randint(0, vocab, (8192,), generator=gen).tolist()))
    return path


def measure(layers: int, embd: int, vocab: int, calibration_tokens: int) -> dict:
    """Export a random checkpoint of this shape in a child process: seconds, the child's peak RSS, the partition."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ckpt = make_checkpoint(folder, layers, embd, vocab)
        size = ckpt.stat().st_size
        argv = ["export", str(ckpt), "--target", "loihi2", "--json", "--calibration", str(folder / "calibration.txt"),
                "--calibration-tokens", str(calibration_tokens), "-o", str(folder / "build")]
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(proc.stderr)
        peak = int(proc.stderr.strip().splitlines()[-1].split()[-1]) * 1024  # the child's own maximum resident set
    return {"seconds": seconds, "checkpoint_bytes": size, "peak_rss_bytes": peak, "peak_rss_over_checkpoint": peak / size,
            "partition": json.loads(proc.stdout)["partition"]}


# the export in a child process that reports its own peak resident set (KB) as the last line of stderr: VmHWM, the
# high-water mark of its own address space (getrusage's ru_maxrss would also count what the forked parent had
# resident before exec: Linux carries the larger of the two across execve)
CHILD = ("import sys\nfrom neurocompile.cli import main\nrc = main(sys.argv[1:])\n"
         "hwm = next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
         "print('peak_kb', hwm, file=sys.stderr)\nsys.exit(rc)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=18)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=50277)
    ap.add_argument("--calibration-tokens", type=int, default=1024)
    args = ap.parse_args()
    r = measure(args.layers, args.embd, args.vocab, args.calibration_tokens)
    p, size, peak = r["partition"], r["checkpoint_bytes"], r["peak_rss_bytes"]
    print(f"| L{args.layers} C{args.embd} V{args.vocab} | {size / 1e6:,.0f} MB | {r['seconds']:.0f} s | {peak / 1e9:.2f} GB "
          f"({peak / size:.1f}x) | {p['cores']:,} cores ({p['lower_bound_cores']:,} bound), {p['chips']} chip(s): "
          f"{p['system']} |")

if __name__ == "__main__":
    main()
