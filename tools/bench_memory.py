"""Peak memory of `neurocompile simulate` against the number of tokens, and of every verb that reads a prompt or a
text against its length: both must be flat.

    python tools/bench_memory.py [--tokens 1000 10000 100000] [--build DIR]
    python tools/bench_memory.py --prompts [--sizes 1000 100000 1000000]

Each run is its own process (the zoo model's cpu build, exported first if --build is not given); its peak
resident set size comes from the kernel (wait4's ru_maxrss), so nothing in the measured process measures
itself.  Tokens: two variants, counters only and with --spikes-out (every LIF's spikes, streamed to disk).
Prompts (--prompts): `generate --prompt-file` on upstream's small test checkpoint (float, 1 token after the
prompt), `evaluate --text` on the zoo build (1,000 tokens scored of a text of that size) and `simulate
--prompt-file` on the zoo build (integer engine, 1 token; sizes up to 100 kB only: a prompt is one step per
character, ~15 minutes for 1 MB); the prompt is the zoo corpus repeated to the size.
"""
from __future__ import annotations

import argparse
from collections import Counter
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one command, from the kernel's accounting of that child alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err}")
    return usage.ru_maxrss / 1024, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--build", type=Path, default=None)
    ap.add_argument("--prompts", action="store_true", help="peak RSS against the prompt's / text's size instead")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000], help="characters (--prompts)")
    args = ap.parse_args()
    cli = [sys.executable, "-m", "neurocompile.cli"]
    if args.prompts:
        return prompts(cli, args.sizes, args.build)
    with tempfile.TemporaryDirectory() as tmp:
        build = args.build or Path(tmp) / "zoo"
        if args.build is None:
            subprocess.run([*cli, "export", "-o", str(build), "--json"], check=True, stdout=subprocess.DEVNULL)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"build {build}", file=sys.stderr)
        rows = []
        for variant, extra in (("counters", []), ("counters + --spikes-out", ["--spikes-out", f"{tmp}/spikes.npz"])):
            for n in args.tokens:
                mb, seconds = peak_rss([*cli, "simulate", str(build), "--tokens", str(n), "--temperature", "0.8", *extra])
                rows.append({"variant": variant, "tokens": n, "peak_rss_mb": round(mb, 1), "seconds": round(seconds, 1)})
                print(json.dumps(rows[-1]), file=sys.stderr)
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        sizes = [r["peak_rss_mb"] for r in mine]
        listed = ", ".join(f"{r['tokens']:,} tokens {r['peak_rss_mb']} MB" for r in mine)
        print(f"{variant}: peak RSS {listed}; largest / smallest = {max(sizes) / min(sizes):.3f}")
    print(json.dumps(rows))


SIMULATE_MAX = 100_000  # characters: the integer engine steps the prompt one token per step


def prompts(cli: list[str], sizes: list[int], build: Path | None) -> None:
    from neurocompile.models import zoo

    upstream = Path(__file__).resolve().parents[1] / "tests" / "data" / "upstream" / "RWKV.pt"
    corpus = zoo.corpus()
    with tempfile.TemporaryDirectory() as tmp:
        build = build or Path(tmp) / "zoo"
        if not (build / "manifest.json").exists():
            subprocess.run([*cli, "export", "--target", "cpu", "-o", str(build), "--json"], check=True,
                           stdout=subprocess.DEVNULL)
        vocab = Path(tmp) / "RWKV.vocab.json"  # upstream's test model has 40 ids and no vocabulary: 40 characters
        alphabet = [c for c, _ in Counter(corpus).most_common(40)]
        vocab.write_text(json.dumps({str(i): c for i, c in enumerate(alphabet)}))
        letters = set(json.loads(vocab.read_text()).values())
        small = "".join(c for c in corpus if c in letters)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; build "
              f"{build}", file=sys.stderr)
        rows = []
        for n in sizes:
            text, float_text = Path(tmp) / f"text-{n}.txt", Path(tmp) / f"float-{n}.txt"
            text.write_text((corpus * (n // len(corpus) + 1))[:n], encoding="utf-8")
            float_text.write_text((small * (n // len(small) + 1))[:n], encoding="utf-8")
            runs = {"generate (float, upstream test model)": [*cli, "generate", str(upstream), "--tokenizer", str(vocab),
                                                              "--prompt-file", str(float_text), "--tokens", "1"],
                    "evaluate --text (zoo build, 1,000 tokens scored)": [*cli, "evaluate", str(build), "--text", str(text),
                                                                         "--max-tokens", "1000"]}
            if n <= SIMULATE_MAX:
                runs["simulate --prompt-file (zoo build, integer)"] = [*cli, "simulate", str(build), "--prompt-file",
                                                                      str(text), "--tokens", "1"]
            for verb, argv in runs.items():
                mb, seconds = peak_rss(argv)
                rows.append({"verb": verb, "characters": n, "peak_rss_mb": round(mb, 1), "seconds": round(seconds, 1)})
                print(json.dumps(rows[-1]), file=sys.stderr)
    for verb in dict.fromkeys(r["verb"] for r in rows):
        mine = [r for r in rows if r["verb"] == verb]
        sizes_mb = [r["peak_rss_mb"] for r in mine]
        listed = ", ".join(f"{r['characters']:,} characters {r['peak_rss_mb']} MB" for r in mine)
        print(f"{verb}: peak RSS {listed}; largest / smallest = {max(sizes_mb) / min(sizes_mb):.3f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
