"""The language-model task: what a run of a token-stream model *means*.

Token ids in, logits out, one token per step.  The task owns the tokenizer, the calibration text, sampling
(float reference and integer engine), bits per character (token) and the report's unit, per token.  The
Program below it knows nothing of text; the model families that make token models (SpikeGPT) use it.
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import UserError
from ...graph import FloatRun, context, steps_per_token
from ...models import zoo
from ...ops import Tally
from ...task import totals as run_totals
from ...tokenizers import Tokenizer

if TYPE_CHECKING:
    from ...build import Build

UNIT = "token"  # the report's unit: per token = per step
CALIBRATION_STREAMS = 8


def vocab_size(program) -> int:
    """Token ids a program takes: rows of the code table its token input feeds."""
    source = next(n.name for n in program.nodes.values() if not n.inputs)
    table = next(n for n in program.nodes.values() if source in n.inputs)
    return int(table.q.table.shape[0])


def probe(program) -> np.ndarray:
    return np.array([0, vocab_size(program) - 1])  # the first and the last token id


def _progress(message: str, quiet: bool) -> None:
    """Progress on stderr: only on a terminal (a script or a log gets results and errors, not chatter)."""
    if not quiet and sys.stderr.isatty():
        print(f"[neurocompile] {message}", file=sys.stderr, flush=True)


SAMPLED_TOKENS = 1024  # calibration tokens sampled from the float model when no text fits (all streams together)


def calibration_windows(tokenizer: Tokenizer, text: str | None, source: str, n_tokens: int,
                        model=None) -> tuple[torch.Tensor, dict]:
    """Token windows to calibrate on: the user's text, else the zoo corpus's training part, else -- when that text
    does not fit the model's vocabulary -- text the float model samples itself (said in the manifest)."""
    if text is None:  # the zoo corpus, training part only (the held-out part is for evaluation)
        corpus = zoo.corpus()
        text, source = corpus[: zoo.split_point(len(corpus))], "zoo corpus (pydoc_data.topics), training part"
        try:
            ids = tokenizer.encode(text)
        except UserError as exc:
            if model is None:
                raise UserError(f"the default calibration text does not fit this model's vocabulary ({exc}); "
                                f"pass --calibration FILE with text in the model's language") from None
            return sampled_windows(model, min(n_tokens, SAMPLED_TOKENS), f"the default text does not fit ({exc})")
    else:
        ids = tokenizer.encode(text)
    streams = CALIBRATION_STREAMS
    per_stream = max(1, min(n_tokens, len(ids)) // streams)
    if len(ids) < CALIBRATION_STREAMS * 2:
        raise UserError(f"calibration text too short: {len(ids)} tokens, need at least {CALIBRATION_STREAMS * 2}")
    context = model.config.context if model is not None else None
    if context is not None and per_stream > context:  # a bounded context: more, shorter windows, each from position 0
        per_stream = context
        streams = max(CALIBRATION_STREAMS, min(math.ceil(min(n_tokens, len(ids)) / context), len(ids) // context))
    # evenly spaced windows across the text
    starts = np.linspace(0, len(ids) - per_stream, streams).astype(int)
    windows = torch.tensor(np.stack([ids[s : s + per_stream] for s in starts]))
    info = {"source": source, "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "streams": streams, "tokens_per_stream": per_stream}
    return windows, info


def sampled_windows(model, n_tokens: int, why: str) -> tuple[torch.Tensor, dict]:
    """Calibration windows the float model writes itself: one stream per window, each from token 0, sampled at
    temperature 0.8 and top-p 0.9 with its own seed (reproducible)."""
    per_stream = max(2, n_tokens // CALIBRATION_STREAMS)
    if model.config.context is not None:
        per_stream = min(per_stream, model.config.context)
    windows = torch.tensor([list(generate(model, [], per_stream, seed=s)) for s in range(CALIBRATION_STREAMS)])
    info = {"source": f"sampled from the float model ({why}): {CALIBRATION_STREAMS} streams from token 0, "
                      f"temperature 0.8, top-p 0.9, seeds 0-{CALIBRATION_STREAMS - 1}",
            "sha256": hashlib.sha256(windows.numpy().tobytes()).hexdigest(),
            "streams": CALIBRATION_STREAMS, "tokens_per_stream": per_stream, "sampled": True}
    return windows, info


# --------------------------------------------------------------------------------------------------
# The float reference
# --------------------------------------------------------------------------------------------------


def check_context(limit: int | None, n_tokens: int, what: str) -> None:
    """A model with a bounded context (SpikeDecoder: max_len positions) refuses a longer run before it starts."""
    if limit is not None and n_tokens > limit:
        raise UserError(f"{what} needs {n_tokens} positions, but the model's context is {limit} (its config's "
                        f"max_len); ask for fewer")


PROMPT_CHUNK = 256  # prompt tokens the float model reads at once (its parallel form holds activations per token)


@torch.no_grad()  # (a generator: torch keeps grad off across its yields) -- else the state drags the prompt's graph
def generate(model, prompt_ids: list[int], n_tokens: int, temperature: float = 0.8,
             top_p: float = 0.9, seed: int = 0) -> Iterator[int]:
    """Yield `n_tokens` sampled token ids (temperature 0 means greedy); deterministic for a given seed."""
    gen = torch.Generator().manual_seed(seed)
    state = model.initial_state(1)
    if prompt_ids:
        for start in range(0, len(prompt_ids), PROMPT_CHUNK):  # bounded chunks: memory flat in the prompt's length
            logits, state = model.forward_with_state(torch.tensor([prompt_ids[start:start + PROMPT_CHUNK]]), state)
        last = logits[0, -1]
    else:  # no prompt: condition on token 0, as upstream does for an empty context
        last, state = model.step(torch.tensor([0]), state)
        last = last[0]
    for i in range(n_tokens):
        token = sample_token(last, temperature, top_p, gen)
        yield token
        if i + 1 < n_tokens:  # the last token's own step would only feed a token nobody asks for
            last, state = model.step(torch.tensor([token]), state)
            last = last[0]


def sample_token(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator) -> int:
    if temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.double() / temperature, -1)
    sorted_probs, order = probs.sort(descending=True)
    keep = sorted_probs.cumsum(0) - sorted_probs < top_p  # the smallest set whose mass reaches top_p
    sorted_probs = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))
    return int(order[torch.multinomial(sorted_probs, 1, generator=gen)])


@torch.no_grad()
def bits_per_token(model, ids: torch.Tensor, window: int = 512) -> float:
    """Mean next-token cross-entropy in bits over `ids` (1-D), streaming the state across windows; a model with a
    bounded context (SpikeDecoder) is scored on windows of its context, each from position 0 (fresh state)."""
    if ids.numel() < 2:
        raise ValueError("need at least two tokens to score a prediction")
    limit = model.config.context
    window = window if limit is None else min(window, limit)
    state = model.initial_state(1)
    total, count = 0.0, 0
    for start in range(0, ids.numel() - 1, window):
        chunk = ids[start : start + window + 1]
        if chunk.numel() < 2:
            break
        if limit is not None:
            state = model.initial_state(1)
            logits = model(chunk[None, :-1])  # the whole window at once (the matrix form: the same function)
        else:
            logits, state = model.forward_with_state(chunk[None, :-1], state)
        total += F.cross_entropy(logits[0].double(), chunk[1:], reduction="sum").item()
        count += chunk.numel() - 1
    return total / count / math.log(2)


# --------------------------------------------------------------------------------------------------
# Running a build
# --------------------------------------------------------------------------------------------------


def simulator_for(build: Build, batch: int, record: tuple[str, ...] = ()):
    from ...targets.cpu.simulator import Simulator

    return Simulator(build.program, batch, record)


def lif_nodes(build: Build) -> list[str]:
    from ...ops import LIF

    return [name for name, node in build.program.nodes.items() if issubclass(node.op_class, LIF)]


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
    window: int | None = None  # tokens per stream when the model's context bounds it (each from position 0)
    warmup: int = 0  # tokens read before each window, not scored
    parts: int = 1  # the windows were scored in this many tasks

    @property
    def ratio(self) -> float:
        return self.int_bpc / self.float_bpc


def token_bits(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """-log2 p(target) for each row of `logits` [N, V]."""
    shifted = logits - logits.max(1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(1))
    return (lse - shifted[np.arange(len(targets)), targets]) / math.log(2)


def evaluation_ids(tokenizer: Tokenizer, text: str | None, max_tokens: int = 0) -> tuple[list[int], str]:
    """The token ids to score (at most `max_tokens` + 1; 0: all) and where they come from (default: the zoo
    corpus's held-out part)."""
    if text is None:
        corpus = zoo.corpus()
        text, source = corpus[zoo.split_point(len(corpus)):], "zoo corpus held-out part"
    else:
        source = "the given text"
    ids = tokenizer.encode(text)
    return (ids[: max_tokens + 1] if max_tokens > 0 else ids), source


def windows(ids: list[int], streams: int, metadata: dict, warmup: int = 0) -> tuple[np.ndarray, np.ndarray, int | None]:
    """`ids` as (inputs [S, warmup + L], next tokens [S, L], the window when the model's context bounds it): `streams`
    consecutive stretches of L scored tokens, each fed from `warmup` tokens before it (read, not scored: the first
    `warmup` tokens of the text are never scored), or (a bounded context) consecutive windows of at most the context,
    each from position 0."""
    window = context(metadata)
    if warmup and window is not None:
        raise UserError(f"--warmup {warmup}: this model's context is bounded ({window} tokens): each window starts at "
                        f"position 0, with no state to warm up")
    scored = len(ids) - 1 - warmup  # tokens with a prediction after the warm-up
    streams = max(1, min(streams, scored // 8))
    length = scored // streams
    if window is not None and length >= 1:  # every stream starts at position 0: windows of at most the context
        length = min(length, window)
        streams = (len(ids) - 1) // length
        window = length
    if length < 1:
        raise UserError(f"the text has {len(ids)} tokens: at least {warmup + 2} are needed to score a prediction"
                        + (f" after a warm-up of {warmup}" if warmup else ""))
    starts = np.arange(streams) * length
    x = np.asarray(ids)[starts[:, None] + np.arange(warmup + length)]
    y = np.asarray(ids)[starts[:, None] + warmup + 1 + np.arange(length)]
    return x, y, window


@dataclass(frozen=True)
class Scores:
    """Sums over a set of windows, each window's kept apart (so that any split of the windows over machines
    combines to the same numbers): bits of the integer and the float model, per LIF the (step, neuron) pairs where
    they agree; saturations and wraps of the set."""

    windows: list[int]  # their indices
    int_bits: list[float]
    float_bits: list[float]
    agree: dict[str, list[int]]
    saturations: int
    wraps: int


def score_windows(build: Build, x: np.ndarray, y: np.ndarray, indices: list[int], warmup: int,
                  progress: Callable[[int], None] = lambda t: None) -> Scores:
    """The windows `x` [S, warmup + L] -> `y` [S, L] run side by side on the integer engine and the float graph
    (one batch of S streams); each window's sums."""
    streams, length = y.shape
    lifs = tuple(lif_nodes(build))
    sim = simulator_for(build, streams)
    run = FloatRun(build.lowered, streams)
    bits_int, bits_float = np.zeros(streams), np.zeros(streams)
    agree = {name: np.zeros(streams, np.int64) for name in lifs}
    for t in range(warmup + length):
        for _ in range(sim.per_input):  # every (synthetic) step of the token
            li = sim.step(x[:, t]) * sim.logit_scale
            lf = run.step(torch.from_numpy(x[:, t])).numpy()
            if t >= warmup:
                for name in lifs:
                    agree[name] += (sim.values[name] == run.values[name].numpy()).sum(1)
        if t >= warmup:
            bits_int += token_bits(li, y[:, t - warmup])
            bits_float += token_bits(lf, y[:, t - warmup])
        progress(t)
    counts = sim.totals
    return Scores(list(indices), bits_int.tolist(), bits_float.tolist(), {k: v.tolist() for k, v in agree.items()},
                  int(counts[:, Tally.FIELDS.index("saturations")].sum()), int(counts[:, Tally.FIELDS.index("wraps")].sum()))


PART_FORMAT = "neurocompile.report/evaluation-part-1"  # a part's scores, kept in the build (ours: carries our mark)
PARTS = "evaluation"  # the build's folder of parts


def score_part(build_path: str, x: np.ndarray, y: np.ndarray, indices: list[int], warmup: int) -> dict:
    """One part of a scaled-out evaluation, in a worker process or a Ray task: the build read from its folder (on
    every node: the same path), the part's windows scored; JSON-ready."""
    from dataclasses import asdict

    from ...build import read_build

    return {"format": PART_FORMAT, **asdict(score_windows(read_build(Path(build_path)), x, y, indices, warmup))}


def evaluate(build: Build, ids: list[int], streams: int = 16, quiet: bool = False, *, warmup: int = 0, workers: int = 1,
             ray_address: str | None = None, progress: Callable[[str], None] | None = None) -> Evaluation:
    """Bits per token of the float graph and of the integer simulation, side by side, on `ids`: `streams`
    consecutive windows, each warmed up on the `warmup` tokens before it.  A model with a bounded context
    (SpikeDecoder) is scored on consecutive windows of its context, each from position 0.

    With `workers` > 1 (local processes) or `ray_address` (Ray tasks), the windows are split into that many parts
    (Ray: one part per window unless `workers` says otherwise), each scored as a task; each part's scores are kept in
    the build (``evaluation/``), so an interrupted evaluation resumes where it stopped.  Each window's sums do not
    depend on the split, and they are combined in one exactly rounded sum (``math.fsum``): the same windows give the
    same bits per token on one machine and on many."""
    x, y, window = windows(ids, streams, build.program.metadata, warmup)
    streams, length = y.shape
    say = progress or (lambda message: _progress(message, quiet))
    split = workers > 1 or ray_address is not None
    if not split:
        step = max(1, (warmup + length) // 5)
        parts = [score_windows(build, x, y, list(range(streams)), warmup,
                               lambda t: t % step or say(f"evaluate: {max(0, t - warmup) * streams}/{length * streams} "
                                                         f"tokens"))]
    else:
        parts = _scaled_out(build, x, y, warmup, workers if workers > 1 or ray_address is None else streams,
                            ray_address, say)
    by_window: dict[int, tuple] = {}
    for part in parts:
        for k, i in enumerate(part.windows):
            by_window[i] = (part.int_bits[k], part.float_bits[k], {name: v[k] for name, v in part.agree.items()})
    ordered = [by_window[i] for i in range(streams)]
    n = streams * length
    lifs = tuple(lif_nodes(build))
    width = {name: build.program.nodes[name].q.n for name in lifs}
    steps = n * steps_per_token(build.program.metadata)
    agree = {name: sum(w[2][name] for w in ordered) / (steps * width[name]) for name in lifs}
    return Evaluation(n, streams, math.fsum(w[1] for w in ordered) / n, math.fsum(w[0] for w in ordered) / n, agree,
                      sum(p.saturations for p in parts), sum(p.wraps for p in parts), window, warmup, len(parts))


def _scaled_out(build: Build, x: np.ndarray, y: np.ndarray, warmup: int, n_parts: int, ray_address: str | None,
                say: Callable[[str], None]) -> list[Scores]:
    """The windows split into `n_parts` consecutive parts, each scored as a task or read from the build's kept
    parts (the same program, the same windows and warm-up)."""
    from ... import files
    from .parallel import map_tasks

    streams = y.shape[0]
    bounds = np.linspace(0, streams, min(n_parts, streams) + 1).round().astype(int)
    todo, done = [], {}
    for a, b in zip(bounds[:-1], bounds[1:]):
        key = hashlib.sha256(f"{build.program_sha256}:{warmup}:{a}".encode() + x[a:b].tobytes() + y[a:b].tobytes())
        path = build.path / PARTS / f"{key.hexdigest()[:24]}.json"
        if path.is_file() and files.owned_file(path):
            done[a] = _scores(json.loads(path.read_text(encoding="utf-8")))
        else:
            todo.append((a, b, path))
    say(f"evaluate: {len(bounds) - 1} parts of {streams} windows, {len(done)} kept from an earlier run, {len(todo)} "
        f"to score" + (f" on Ray ({ray_address})" if ray_address else ""))
    args = [(str(build.path), x[a:b], y[a:b], list(range(a, b)), warmup) for a, b, _ in todo]
    for (a, b, path), part in zip(todo, map_tasks(score_part, args, len(args), ray_address)):
        files.write_text(path, json.dumps(part) + "\n", "the build's evaluation parts")
        done[a] = _scores(part)
        say(f"evaluate: windows {a}..{b - 1} scored")
    return [done[a] for a in sorted(done)]


def _scores(part: dict) -> Scores:
    return Scores(*(part[f] for f in ("windows", "int_bits", "float_bits", "agree", "saturations", "wraps")))


@dataclass
class Simulation:
    """A run of the integer engine: what it generated, its counters, and the files it wrote."""

    generated: int  # tokens sampled
    steps: int  # tokens stepped through, the prompt's included
    complete: bool  # False: ended early by `stop`
    seconds: float
    table: list[dict]  # per node: counters summed over the run (Simulator.table)
    totals: dict[str, int]  # summed over nodes
    run_file: Path
    spikes_file: Path | None
    engine: str = "cpu"
    check: dict | None = None  # a target's engine (``Target.engines``): what ran and whether it agreed, when asked for
    lines: list[str] = field(default_factory=list)  # what that engine says of its run, to print
    completion: str = ""  # the generated text, when collected

    UNITS: ClassVar[str] = "totals: summed over the whole run; per_step: per token step, prompt included"

    @property
    def per_step(self) -> dict[str, float]:
        return {k: v / self.steps for k, v in self.totals.items()}

    @property
    def lava(self) -> dict | None:
        """The check of a run on Lava (loihi2's engine); None for other engines."""
        return self.check if self.engine == "lava" else None




def simulate(build: Build, prompt_ids: list[int], n_tokens: int, temperature: float = 0.8, top_p: float = 0.9,
             seed: int = 0, *, engine: str = "cpu", spikes_out: Path | None = None,
             on_token: Callable[[int], None] = lambda token: None, stop: Callable[[], bool] = lambda: False,
             collect: bool = False) -> Simulation:
    """Generate on the bit-accurate engine, store the counters in the build (``run.npz``), optionally stream every
    LIF's spikes to `spikes_out` and replay the run through a target's own engine (``Target.engines``; lava: every
    spike and logit compared).

    Memory stays flat in `n_tokens` (unless `collect` keeps the text); `stop()` ends the run early, keeping
    the counters of the steps run (marked incomplete)."""
    from ... import files
    from ...runs import RUN_FILE, TEXT_HEAD
    from ...target import target_engine

    files.check_file_target(build.path / RUN_FILE, "the run file")  # before the run, not after it
    check_context(context(build.program.metadata), len(prompt_ids or [0]) + n_tokens,
                  f"the prompt ({len(prompt_ids)} tokens) and {n_tokens} generated")
    lifs = lif_nodes(build)
    external = target_engine(engine)
    record = ()
    if external is not None:  # what its check compares: spikes, logits, and what the engine asks for besides
        record = tuple(dict.fromkeys((*lifs, build.program.output.name, *external.records(build.program))))
    spikes = None
    if spikes_out is not None:
        spikes = files.NpzStream(spikes_out, {"tokens": ((), "int64"),
                                              **{name: ((build.program.width(name),), "uint8") for name in lifs}},
                                 "neurocompile.spikes/1", "--spikes-out")
    head = list(prompt_ids or [0])
    replay = list(prompt_ids or [0])  # the stepped tokens, kept only for a target's engine to replay
    text = []
    start = time.perf_counter()
    try:
        sim, stream = generate_int(build, prompt_ids, n_tokens, temperature, top_p, seed, record, stop)
        if spikes is not None:
            step = sim.step

            def step_and_record(tokens, step=step):
                out = step(tokens)
                spikes.append({"tokens": tokens[0], **{name: sim.values[name][0] for name in lifs}})
                return out

            sim.step = step_and_record
        generated = 0
        for token in stream:
            generated += 1
            if external is not None:
                replay.append(token)
            if len(head) < TEXT_HEAD:
                head.append(token)
            if collect:
                text.append(build.tokenizer.decode([token]))
            on_token(token)
        seconds = time.perf_counter() - start
        complete = not stop()
        run_file = build.save_run(sim, head, seed, complete, generated=max(0, sim.steps - len(prompt_ids or [0])))
        spikes_file = spikes.close({}) if spikes is not None else None
    finally:
        if spikes is not None:
            spikes.discard()
    table = sim.table()
    totals = run_totals(table)
    check, lines = (external.run_language(build, sim, replay[: sim.steps]) if external is not None and complete
                    else (None, []))
    return Simulation(generated, sim.steps, complete, seconds, table, totals, run_file, spikes_file, engine, check, lines,
                      "".join(text))


# --------------------------------------------------------------------------------------------------
# The task: what the build reads beside its program, the API's verbs
# --------------------------------------------------------------------------------------------------


def read_tokenizer(path: Path, manifest: dict, program) -> Tokenizer:
    """A language build's tokenizer, as its manifest names it, checked against the program's token ids."""
    from ...tokenizers import SAVED_KINDS, TOKENIZER_FILE

    again = "export it again"
    entry = manifest.get("tokenizer")
    if not isinstance(entry, dict) or entry.get("kind") not in SAVED_KINDS:
        raise UserError(f"{path / 'manifest.json'}: its tokenizer entry is damaged; {again}")
    if entry["kind"] != "bytes" and entry.get("file") != TOKENIZER_FILE:
        raise UserError(f"{path / 'manifest.json'}: its tokenizer entry names {entry.get('file')!r}, not "
                        f"{TOKENIZER_FILE}; export again")
    tokenizer = SAVED_KINDS[entry["kind"]](path / TOKENIZER_FILE)
    vocab = vocab_size(program)
    if tokenizer.vocab_size != vocab:
        raise UserError(f"{path}: the tokenizer has {tokenizer.vocab_size} entries but program.h5 takes {vocab} "
                        f"token ids; {again}")
    return tokenizer


def simulate_api(build: Build, prompt: str = "The ", tokens: int = 200, temperature: float = 0.8, top_p: float = 0.9,
                 seed: int = 0, engine: str = "cpu", spikes_out: Path | None = None, **spike_train) -> Simulation:
    """``Build.simulate`` of a language build: generate after `prompt`, its options checked as the CLI checks them."""
    from ...options import check

    given = sorted(k for k, v in spike_train.items() if v is not None)
    if given:
        raise UserError(f"{', '.join(given)}: for spike-train builds; {build.path} is a language model (give prompt=)")
    if not isinstance(prompt, str):
        raise UserError(f"prompt: text (a str), got {type(prompt).__name__}")
    tokens, temperature, top_p, seed = (check(name, value) for name, value in
                                        (("tokens", tokens), ("temperature", temperature), ("top_p", top_p),
                                         ("seed", seed)))
    return simulate(build, build.tokenizer.encode(prompt), tokens, temperature, top_p, seed, engine=engine,
                    spikes_out=spikes_out, collect=True)


def evaluate_api(build: Build, text: str | None = None, max_tokens: int = 0, streams: int = 16, warmup: int = 0,
                 workers: int = 1, ray: str | None = None, **spike_train) -> Evaluation:
    """``Build.evaluate`` of a language build: bits per character of the float and the integer model on `text`."""
    from ...options import check

    if text is not None and not isinstance(text, str):
        raise UserError(f"text: text (a str) or None for the zoo corpus, got {type(text).__name__}")
    if ray is not None and not isinstance(ray, str):
        raise UserError(f"ray: a cluster's address (a str), got {type(ray).__name__}")
    ids = evaluation_ids(build.tokenizer, text, check("max_tokens", max_tokens))[0]
    return evaluate(build, ids, check("streams", streams), quiet=True, warmup=check("warmup", warmup),
                    workers=check("workers", workers), ray_address=ray)
