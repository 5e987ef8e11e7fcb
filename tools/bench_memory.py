"""Peak memory of `neurocompile simulate` against the number of tokens: it must be flat.

    python tools/bench_memory.py [--tokens 1000 10000 100000] [--build DIR]

Each run is its own process (the zoo model's cpu build, exported first if --build is not given); its peak
resident set size comes from the kernel (wait4's ru_maxrss), so nothing in the measured process measures
itself.  Two variants: counters only, and with --spikes-out (every LIF's spikes, streamed to disk).
"""
from __future__ import annotations

import argparse
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
    args = ap.parse_args()
    cli = [sys.executable, "-m", "neurocompile.cli"]
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


if __name__ == "__main__":
    main()
