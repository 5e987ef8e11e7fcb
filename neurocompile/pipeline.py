"""The stages joined: export (load -> trace -> lower -> calibrate -> quantize -> build directory),
and what runs a build: integer generation with counters, and float-vs-integer evaluation."""
from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .build import PARTITION_FILE, Build, check_replaceable, write_build
from . import files
from .errors import UserError
from .generate import sample_token
from .graph import FloatRun
from .load import build_model, read_checkpoint
from .lower import lower
from .models import zoo
from .ops import Tally
from .quantize import calibrate, quantize
from .target import get_target
from .tokenizers import Tokenizer, find_tokenizer
from .trace import trace

CALIBRATION_STREAMS = 8


def _progress(message: str, quiet: bool) -> None:
    """Progress on stderr: only on a terminal (a script or a log gets results and errors, not chatter)."""
    if not quiet and sys.stderr.isatty():
        print(f"[neurocompile] {message}", file=sys.stderr, flush=True)


def _calibration_ids(tokenizer: Tokenizer, text: str | None, source: str, n_tokens: int) -> tuple[torch.Tensor, dict]:
    if text is None:  # the zoo corpus, training part only (the held-out part is for evaluation)
        corpus = zoo.corpus()
        text, source = corpus[: zoo.split_point(len(corpus))], "zoo corpus (pydoc_data.topics), training part"
        try:
            ids = tokenizer.encode(text)
        except UserError as exc:
            raise UserError(f"the default calibration text does not fit this model's vocabulary ({exc}); "
                            f"pass --calibration FILE with text in the model's language") from None
    else:
        ids = tokenizer.encode(text)
    per_stream = max(1, min(n_tokens, len(ids)) // CALIBRATION_STREAMS)
    if len(ids) < CALIBRATION_STREAMS * 2:
        raise UserError(f"calibration text too short: {len(ids)} tokens, need at least {CALIBRATION_STREAMS * 2}")
    # evenly spaced windows across the text
    starts = np.linspace(0, len(ids) - per_stream, CALIBRATION_STREAMS).astype(int)
    windows = torch.tensor(np.stack([ids[s : s + per_stream] for s in starts]))
    info = {"source": source, "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "streams": CALIBRATION_STREAMS, "tokens_per_stream": per_stream}
    return windows, info


def export(checkpoint: Path, target_name: str, out: Path, *, v_threshold: float = 1.0, tokenizer_path: Path | None = None,
           calibration_text: str | None = None, calibration_source: str = "", calibration_tokens: int = 4096,
           payload_bits: int | None = None, block_rows: int | None = None, system: str | None = None,
           quiet: bool = False) -> dict:
    target = get_target(target_name)
    if system is not None and target.resources is None:
        raise UserError(f"--system applies to partitioned targets (loihi2), not {target.name}")
    if system is not None and system not in target.resources.systems:
        raise UserError(f"unknown system {system!r}; known: {', '.join(target.resources.systems)}")
    files.check_parent(Path(out), "-o")
    check_replaceable(Path(out))
    spec = target.numeric
    if payload_bits is not None:
        spec = replace(spec, payload_bits=payload_bits)
    if block_rows is not None:
        spec = replace(spec, block_rows=block_rows)
    start = time.perf_counter()
    ckpt = read_checkpoint(checkpoint)
    model = build_model(ckpt, v_threshold)
    tokenizer = find_tokenizer(ckpt.path, model.config.vocab_size, tokenizer_path)
    _progress(f"loaded {ckpt.path.name}: SpikeGPT L{model.config.n_layer} C{model.config.n_embd} V{model.config.vocab_size}", quiet)
    windows, cal_info = _calibration_ids(tokenizer, calibration_text, calibration_source, calibration_tokens)
    graph = trace(model)
    lowered = lower(graph)
    _progress(f"traced {len(graph.nodes)} nodes, lowered to {len(lowered.nodes)}", quiet)
    peaks = calibrate(lowered, windows)
    _progress(f"calibrated on {windows.numel()} tokens of {cal_info['source']}", quiet)
    program = quantize(lowered, spec, peaks, {"family": model.family, "target": target.name})
    del lowered  # its folded float weights are the largest thing held; the program replaces them
    extra_files = {}
    placement = None
    if target.place is not None:
        placement = target.place(program, system)
        text = json.dumps(placement.to_dict(), indent=1, sort_keys=True) + "\n"
        extra_files[PARTITION_FILE] = lambda path, text=text: path.write_text(text)
        extra_files.update(target.extra_files(program))
        s = placement.summary()
        _progress(f"partitioned onto {s['cores']} cores ({s['chips']} chip(s) of {s['system']}), lower bound "
                  f"{s['lower_bound_cores']}", quiet)
    manifest = {
        "target": target.name,
        "source": {"checkpoint": ckpt.path.name, "sha256": ckpt.sha256},
        "model": {"family": model.family, "n_layer": model.config.n_layer, "n_embd": model.config.n_embd,
                  "vocab_size": model.config.vocab_size, "v_threshold": v_threshold, "tau": model.config.tau},
        "numeric": asdict(spec),
        "calibration": cal_info,
        "approximations": APPROXIMATIONS,
    }
    if placement is not None:
        manifest["partition"] = placement.summary()
    write_build(out, graph, program, tokenizer, manifest, extra_files)
    _progress(f"wrote {out} in {time.perf_counter() - start:.1f} s", quiet)
    return manifest


# Named in every manifest: where the integer program departs from the float model, by design.
APPROXIMATIONS = [
    "weights: 8-bit mantissa, one power-of-two exponent per weight block (numeric.block_rows; 0 = per matrix)",
    "activations: fixed point with per-node power-of-two scales from calibration text, saturating (counted)",
    "LIF: Lava's strict v > vth instead of spikingjelly's v >= vth (differs only when v lands exactly on the threshold)",
    "LIF decay: dv = round(4096 / tau) (exact for tau = 2)",
    "sigmoid: 4096-entry table over [-8, 8), output Q0.15",
    "WKV exp: 16384-entry table exp(-x), x in [0, 16), step 2^-10, Q0.15; one rounded division per channel",
    "LayerNorm: integer square root and rounded division (embedded CPU)",
]


# --------------------------------------------------------------------------------------------------
# Running a build
# --------------------------------------------------------------------------------------------------


def simulator_for(build: Build, batch: int, record: tuple[str, ...] = ()):
    from .targets.cpu.simulator import Simulator

    return Simulator(build.program, batch, record)


def lif_nodes(build: Build) -> list[str]:
    return [name for name, node in build.program.nodes.items() if node.kind == "LIF"]


def generate_int(build: Build, prompt_ids: list[int], n_tokens: int, temperature: float, top_p: float, seed: int,
                 record: tuple[str, ...] = (), stop: Callable[[], bool] = lambda: False):
    """Yield sampled token ids from the integer simulation; the simulator (with counters) is returned first.

    `stop()` is asked before every step (prompt steps included): when it says so, the stream ends early and the
    simulator holds the counters of the steps run."""
    sim = simulator_for(build, 1, record)
    gen = torch.Generator().manual_seed(seed)

    def tokens() -> Iterator[int]:
        logits = None
        for token in prompt_ids or [0]:
            if stop():
                return
            logits = sim.logits(np.array([token]))
        for _ in range(n_tokens):
            token = sample_token(torch.from_numpy(logits[0]), temperature, top_p, gen)
            yield token
            if stop():
                return
            logits = sim.logits(np.array([token]))

    return sim, tokens()


@dataclass(frozen=True)
class Evaluation:
    tokens: int
    streams: int
    float_bpc: float
    int_bpc: float
    spike_agreement: dict[str, float]  # per LIF: fraction of (token, neuron) where float and integer agree
    saturations: int
    wraps: int

    @property
    def ratio(self) -> float:
        return self.int_bpc / self.float_bpc


def _cross_entropy_bits(logits: np.ndarray, targets: np.ndarray) -> float:
    shifted = logits - logits.max(1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(1))
    return float((lse - shifted[np.arange(len(targets)), targets]).sum() / math.log(2))


def evaluate(build: Build, ids: list[int], streams: int = 16, quiet: bool = False) -> Evaluation:
    """Bits per token of the float graph and of the integer simulation, side by side, on `ids`."""
    streams = max(1, min(streams, (len(ids) - 1) // 8))
    length = (len(ids) - 1) // streams
    if length < 1:
        raise UserError(f"the text has {len(ids)} tokens: at least 2 are needed to score a prediction")
    x = np.asarray(ids[: streams * length]).reshape(streams, length)
    y = np.asarray(ids[1 : streams * length + 1]).reshape(streams, length)
    lifs = tuple(lif_nodes(build))
    sim = simulator_for(build, streams)
    run = FloatRun(lower(build.graph), streams)
    bits_int = bits_float = 0.0
    agree = {name: 0 for name in lifs}
    for t in range(length):
        li = sim.logits(x[:, t])
        lf = run.step(torch.from_numpy(x[:, t])).numpy()
        bits_int += _cross_entropy_bits(li, y[:, t])
        bits_float += _cross_entropy_bits(lf, y[:, t])
        for name in lifs:
            agree[name] += int((sim.values[name] == run.values[name].numpy()).sum())
        if t % max(1, length // 5) == 0:
            _progress(f"evaluate: {t * streams}/{length * streams} tokens", quiet)
    counts = sim.totals
    n = streams * length
    width = {name: build.program.nodes[name].q.n for name in lifs}
    return Evaluation(n, streams, bits_float / n, bits_int / n, {k: agree[k] / (n * width[k]) for k in lifs},
                      int(counts[:, Tally.FIELDS.index("saturations")].sum()),
                      int(counts[:, Tally.FIELDS.index("wraps")].sum()))
