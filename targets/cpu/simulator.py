"""Streaming bit-accurate simulator: token in, logits out, with counters per node.

Two engines with one interface, on a batch of independent streams:

* ``Simulator`` (the default) runs the program's compiled integer step (``kernels``): one numba loop over the
  nodes' kernels, data in a few batched integer arrays, no Python per node; an op without a compiled kernel runs
  its reference step in between;
* ``ReferenceSimulator`` runs each op's numpy integer semantics (``neurocompile.ops``), the same code the Lava
  engine's processes run: the readable definition the compiled one is tested against.

One token is one step through the whole program (or ``steps_per_token`` synthetic steps); a pipelined executor
(Lava) reaches the same values ``depth`` steps later.  Memory is flat in the number of steps: counters are
running sums (``totals``); values are kept per step only for the nodes named in ``record``.
"""
from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from neurocompile.errors import UserError
from neurocompile.graph import steps_per_token
from neurocompile.ops import Tally
from neurocompile.quantize import Program

from . import kernels


class NodeFailure(Exception):
    """A node's integer step raised: which node, and what it raised."""

    def __init__(self, node: str, kind: str, error: Exception):
        super().__init__(f"node {node} ({kind}): {type(error).__name__}: {error}")
        self.node, self.kind, self.error = node, kind, error


class ReferenceSimulator:
    def __init__(self, program: Program, batch: int, record: Iterable[str] = ()):
        self.program = program
        self.batch = batch
        self.nodes = list(program.nodes.values())
        self.classes = [node.op_class for node in self.nodes]
        self.forms = [program.form(node) for node in self.nodes]  # how each node's op is computed in integers
        self.state = {n.name: form.int_initial_state(n.q, batch) for n, cls, form in zip(self.nodes, self.classes, self.forms)
                      if self._reference(cls)}
        self.record = set(record)
        self.recorded: dict[str, list[np.ndarray]] = {name: [] for name in self.record}
        self.totals = np.zeros((len(self.nodes), len(Tally.FIELDS)), np.int64)  # summed over steps and streams
        self.per_input = steps_per_token(program.metadata)  # steps one input (token) takes: 1, or T synthetic steps
        self.substeps = 0
        self._values: dict[str, np.ndarray] = {}
        out = program.output  # a search of the nodes: once, not once a step (77 us a 45M step; a third of the zoo's)
        self.output, self.logit_scale = out.name, 2.0 ** -out.frac

    @staticmethod
    def _reference(cls) -> bool:
        """Whether this engine runs nodes of op class `cls` by their reference step (here: all)."""
        return True

    def step(self, x: np.ndarray) -> np.ndarray:
        """The step's input, [B] or [B, n] (token ids: [B]) -> the (first) output [B, n] (integers; every node's value
        stays in ``self.values``); this step's counters
        are added to ``self.totals``.  The program's input node (an op of arity 0) takes `x` as its value."""
        values: dict[str, np.ndarray] = {}
        delays = []
        for i, (node, cls) in enumerate(zip(self.nodes, self.classes)):
            if cls.arity == 0:
                values[node.name] = np.asarray(x, dtype=np.int64).reshape(len(x), -1)
                continue
            if not cls.feedthrough:  # its output from its state; its input at the end of the step
                values[node.name] = cls.emit(self.state[node.name])
                delays.append((i, node, cls))
                continue
            self._step(i, node, cls, values)
        for i, node, cls in delays:
            self._step(i, node, cls, values)
        for name in self.record:
            self.recorded[name].append(values[name].copy())
        self.substeps += 1
        self._values = values
        return values[self.output]

    def _step(self, i: int, node, cls, values) -> None:
        """Node `i`'s reference step on `values` (name -> [B, n]); its output is stored there."""
        tally = Tally()
        try:
            out, self.state[node.name] = self.forms[i].int_step(node.q, [values[src] for src in node.inputs],
                                                                self.state[node.name], tally)
        except (ArithmeticError, IndexError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise NodeFailure(node.name, node.kind, exc) from exc
        if cls.feedthrough:
            values[node.name] = out
        self._count(i, tally)

    def _count(self, i: int, tally: Tally) -> None:
        self.totals[i] += tally.as_array()

    @property
    def values(self) -> dict[str, np.ndarray]:
        """Every node's value of the last step, [B, n]."""
        return self._values

    @property
    def steps(self) -> int:
        """Inputs (tokens) taken whole so far: the unit counters are reported per."""
        return self.substeps // self.per_input

    def table(self) -> list[dict]:
        """The counters so far, one row per node (summed over steps and streams); neuron populations with their
        firing rate (spikes per neuron update)."""
        rows = []
        for node, row in zip(self.nodes, self.totals):
            entry = {"node": node.name, "kind": node.kind, **{f: int(v) for f, v in zip(Tally.FIELDS, row)}}
            if entry["neuron_updates"] and node.op_class.binary_output:  # a spiking population: spikes per update
                entry["firing_rate"] = entry["spikes"] / entry["neuron_updates"]
            rows.append(entry)
        return rows

    def logits(self, tokens: np.ndarray) -> np.ndarray:
        """tokens [B] -> float logits [B, V] (the integer logits times their scale), after the token's last step."""
        for _ in range(self.per_input):
            out = self.step(tokens)
        return out * self.logit_scale

    def run(self, tokens: np.ndarray) -> np.ndarray:
        """tokens [B, T] -> float logits [B, T, V]."""
        return np.stack([self.logits(tokens[:, t]) for t in range(tokens.shape[1])], 1)


class _Columns:
    """The values of one step as name -> [B, n] views of the compiled engine's value array (what ``_step`` reads and
    writes for the nodes that run their reference step)."""

    def __init__(self, V: np.ndarray, columns: dict[str, tuple[int, int]]):
        self.V, self.columns = V, columns

    def __getitem__(self, name: str) -> np.ndarray:
        first, width = self.columns[name]
        return self.V[:, first:first + width]

    def __setitem__(self, name: str, value: np.ndarray) -> None:
        first, width = self.columns[name]
        if np.shape(value) != (len(self.V), width):
            raise ValueError(f"{name} gave shape {np.shape(value)}, not {(len(self.V), width)}")
        self.V[:, first:first + width] = value


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max(cores() - 1, 1), thread_name_prefix="neurocompile-streams"))
    return _POOL[0]


class _Parts:
    """The threads that run parts 1.. of one stream's split step (``kernels.serve``; the caller's thread runs part 0
    with ``kernels.lead``): started on the simulator's arrays, in this process, with words of their own to meet at;
    ended (``close``) when the simulator is collected, at exit, or when it needs new ones."""

    def __init__(self, sim: Simulator):
        self.pid = os.getpid()
        self.arrays = sim._arrays()
        self.sync = np.zeros(kernels.SYNC_WORDS, np.int64)
        table, code, V, S, P, W, counters = self.arrays
        threads = [threading.Thread(target=kernels.serve, args=(table, code, V, S, P, W, counters[p], p, sim.parts,
                                                                 self.sync, 0), daemon=True, name=f"neurocompile-part{p}")
                   for p in range(1, sim.parts)]
        for thread in threads:
            thread.start()
        self._end = weakref.finalize(sim, _end_parts, self.sync, threads)

    def serve(self, sim: Simulator) -> bool:
        """Whether these threads run `sim`'s step as it is now (its arrays unchanged; not a forked child's copy)."""
        return self.pid == os.getpid() and all(a is b for a, b in zip(self.arrays, sim._arrays()))

    def close(self) -> None:
        if self.pid == os.getpid():
            self._end()
        else:  # a forked child: its parent's threads are not here, and the parent's words are its parent's
            self._end.detach()


def _end_parts(sync: np.ndarray, threads: list[threading.Thread]) -> None:
    kernels.stop(sync)
    for thread in threads:
        thread.join()


class _Way:
    """Whether one stream's step runs faster split over the cores or whole, here and now (``Simulator(split=None)``).
    The steps are timed; each way keeps its last ``KEEP`` times, the way not taken is tried for two steps every
    ``PROBE`` steps (a few per cent of the steps in the slower way), and the steps after take the way of the smaller
    median.  The first step after a change of way is no measure (the parts' threads waking, or starting; the other
    core clocking up: a split 45M step after 30 whole ones measured ~2x a split step after split ones).  The first step runs whole (a simulator stepped once never
    starts threads), the second and third split.  Handing a step over costs ~5-9 us (``_Parts``), meeting more, and
    which way wins is the machine's and the hour's: on this project's 2-core machine the zoo SpikeGPT (0.9 MB) ran at
    0.29 ms a step whole against 0.31-0.39 split in one hour and 1.15-1.24x faster split in another
    (``tools/bench_handoff.py --model zoo``); the 45M-shaped model runs 1.3-1.7x faster split on a quiet machine and
    2.4x slower with another process busy on one of the two cores (a part the OS has descheduled stalls the others at
    every meeting).  Either way computes the same values and counters."""

    PROBE, KEEP = 100, 5

    def __init__(self):
        self.split = False  # the faster way so far
        self.last: bool | None = None  # the way of the last step
        self.times: dict[bool, deque] = {True: deque(maxlen=self.KEEP), False: deque(maxlen=self.KEEP)}
        self.steps = 0

    def take(self) -> bool:
        """The way of the next step: the faster so far, or the other for two steps from the second, then every PROBE
        (the second of the two is timed; the first step, whole, is not, so the whole way is first timed on step 5)."""
        self.steps += 1
        return self.split != (self.steps >= 2 and (self.steps - 2) % self.PROBE < 2)

    def took(self, split: bool, seconds: float) -> None:
        if split == self.last:
            self.times[split].append(seconds)
            if self.times[True] and self.times[False]:  # (sorted, not np.median: ~1 us, not ~20, on a 0.2 ms step)
                self.split = _median(self.times[True]) <= _median(self.times[False])
        self.last = split


def _median(times: deque) -> float:
    ordered = sorted(times)
    return (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2


class Simulator(ReferenceSimulator):
    """The compiled engine: bit for bit the reference's values and counters (``tests/test_compiled.py``).

    `threads`: the streams are split into that many groups (default: one per core this process may use, at most one
    per stream), each run by the compiled kernels in its own thread (they release the GIL), with its own counters,
    summed in ``totals``.  With one group (one stream), the native library loaded and `split` not False, the step
    itself can be split into that many parts instead -- always (`split` True), or where it runs faster, here and now
    (None, the default: ``_Way`` times the steps both ways): every thread runs the whole kernel table, each kernel
    computing its span of its outputs
    (``kernels.run``), and the parts meet only before a row that reads what another part wrote (``_schedule``) -- so a
    Dense row and the neurons after it run on both cores without meeting in between.  Parts 1.. run on threads of the
    simulator's own that stay in compiled code between steps (``_Parts``: a shared pool could hold one part back behind
    another simulator's, which waits for its own; and waking a pool's thread costs ~0.1 ms a step).
    `native`: graded Dense ports on the native dot products (default: where the library is built; False: the
    event-driven path, as without it).  Every choice gives the same values and counters."""

    def __init__(self, program: Program, batch: int, record: Iterable[str] = (), threads: int | None = None,
                 native: bool | None = None, split: bool | None = None):
        super().__init__(program, batch, record)
        groups = max(1, min(threads or cores(), batch))
        edges = np.linspace(0, batch, groups + 1).astype(int)
        self.groups = list(zip(edges[:-1], edges[1:]))
        self.parts = 1
        self._counters = np.zeros((groups, *self._counters.shape[1:]), np.int64)
        self._parts: _Parts | None = None  # the threads of a split step's other parts, once it has run
        dot = kernels.native.AVAILABLE if native is None else native
        sizing = self._pack(program, kernels.Layout(dot=dot))
        rows, code, plan, delays, layout = self._pack(program, kernels.Layout(W=np.empty(sizing[-1].n_weights, np.int8),
                                                                               dot=dot))
        self.plan = [tuple(p) if isinstance(p, list) else p for p in plan]  # (first row, end row) or a node index
        self.delays = delays
        self.rows, flags = self._schedule(rows, program)
        self.kernels = np.array([(*r[:3], f) for r, f in zip(self.rows, flags)], np.int64).reshape(-1, 4)
        self._way = None  # split=None: which way the steps run faster, here and now
        self.split = False  # this step runs split
        parts = min(threads or cores(), kernels.native.MAX_THREADS)
        if groups == 1 and kernels.native.AVAILABLE and split is not False and parts > 1:
            self.parts = parts
            self._counters = np.zeros((self.parts, *self._counters.shape[1:]), np.int64)
            self._way, self.split = (_Way(), False) if split is None else (None, True)
        self.code = np.array(code, np.int64)
        self.V = np.zeros((batch, sum(w for _, w in layout.values.values())), np.int64)
        state = np.concatenate(layout.state_init) if layout.state_init else np.zeros(0, np.int64)
        self.S = np.tile(state, (batch, 1))
        self.P = np.concatenate(layout.params) if layout.params else np.zeros(0, np.int64)
        self.W = layout.W
        self.columns = _Columns(self.V, layout.values)

    def _pack(self, program: Program, layout: kernels.Layout):
        """Every compiled node's arguments into `layout`: (kernel rows, code, plan, delay nodes, the layout)."""
        for node in self.nodes:
            layout.values[node.name] = (sum(w for _, w in layout.values.values()), int(program.width(node.name)))
        rows, code, plan, delays = [], [], [], []
        for i, (node, cls) in enumerate(zip(self.nodes, self.classes)):
            if cls.arity == 0:
                self.input = node.name
            elif not cls.feedthrough:
                delays.append(i)
            elif self._reference(cls):
                plan.append(i)
            else:
                lowering = kernels.LOWERINGS[cls]
                try:
                    args = lowering.pack(node, node.q, node.inputs, layout.values[node.name][0], layout)
                except ValueError as exc:
                    raise ValueError(f"layer {node.name} ({node.kind}): {exc}") from None
                rows.append((lowering.kernel, len(code), len(code) + 1 + len(args), i))
                code += [i, *args]
                if plan and isinstance(plan[-1], list):
                    plan[-1][1] += 1
                else:
                    plan.append([len(rows) - 1, len(rows)])
        return rows, code, plan, delays, layout

    def _schedule(self, rows: list, program: Program) -> tuple[list, list[int]]:
        """The rows of each compiled stretch in the order a split step meets least, and each row's flags: WHOLE for a
        kernel that does not split; SYNC where the parts must meet first -- the row reads a value written since they
        last met by a part other than the one that will read it: anything written by a split row, except element i
        of a value as wide as a CHANNELS row's output, written by a split row as wide (the same span rule: its own
        part wrote it); a WHOLE row's output, unless part 0 alone reads it.  Every stretch starts with the parts met
        (they are joined after each).  The order: of the rows whose inputs are ready, the first (in the program's
        order) that needs no meeting, else the first -- so a block's three Mix rows run before one meeting and
        their three Dense rows, not a meeting before each Dense.  Two rows of which one reads the other keep their
        program order (a value read before its node runs is the last step's, and stays so)."""
        width = {node.name: int(program.width(node.name)) for node in self.nodes}
        ordered, flags = [], []
        for first, end in (p for p in self.plan if isinstance(p, tuple)):
            stretch = rows[first:end]
            place = {self.nodes[row[3]].name: k for k, row in enumerate(stretch)}
            before = [set() for _ in stretch]  # rows that must run before each
            for k, row in enumerate(stretch):
                for src in self.nodes[row[3]].inputs:
                    if src in place and place[src] != k:
                        j = place[src]
                        (before[k] if j < k else before[j]).add(min(j, k))
            written: dict[str, int] = {}  # value -> the width of the split that wrote it since the parts met; 0: part 0
            done: set[int] = set()

            def meets(k: int) -> bool:
                node = self.nodes[stretch[k][3]]
                split, n = kernels.LOWERINGS[self.classes[stretch[k][3]]].split, width[node.name]
                if split == kernels.WHOLE_OP:
                    return any(written.get(src, 0) for src in node.inputs)
                if split == kernels.OUTPUTS:
                    return any(src in written for src in node.inputs)
                return any(src in written and not (written[src] == n == width[src]) for src in node.inputs)

            while len(done) < len(stretch):
                ready = [k for k in range(len(stretch)) if k not in done and before[k] <= done]
                k = next((k for k in ready if not meets(k)), ready[0])
                meet = meets(k)
                if meet:
                    written = {}
                node = self.nodes[stretch[k][3]]
                whole = kernels.LOWERINGS[self.classes[stretch[k][3]]].split == kernels.WHOLE_OP
                written[node.name] = 0 if whole else width[node.name]
                done.add(k)
                ordered.append(stretch[k])
                flags.append(kernels.SYNC * meet + kernels.WHOLE * whole)
        return ordered, flags

    @staticmethod
    def _reference(cls) -> bool:
        return cls not in kernels.LOWERINGS or not cls.feedthrough

    def _arrays(self) -> tuple:
        """What a split step's threads run on (they are started anew when one of these is replaced)."""
        return self.kernels, self.code, self.V, self.S, self.P, self.W, self._counters

    @property
    def totals(self) -> np.ndarray:
        """Counters per node, summed over steps and streams (and the stream groups)."""
        return self._counters[0] if len(self._counters) == 1 else self._counters.sum(0)

    @totals.setter
    def totals(self, value: np.ndarray) -> None:  # the reference's constructor sets it
        self._counters = np.asarray(value)[None].copy()

    def _count(self, i: int, tally: Tally) -> None:
        self._counters[0, i] += tally.as_array()

    def _run(self, first: int, end: int) -> None:
        """Compiled rows first..end-1 for every stream group (groups after the first in the pool's threads), or every
        part of one stream's split step (part 0 in this thread, the others in the simulator's ``_Parts``)."""
        def group(g: int) -> int:
            lo, hi = self.groups[g]
            return kernels.run(self.kernels, first, end, self.code, self.V[lo:hi], self.S[lo:hi], self.P, self.W,
                               self._counters[g], self.substeps, 0, 1, 0)

        if self.split:
            if self._parts is None or not self._parts.serve(self):
                if self._parts is not None:
                    self._parts.close()
                self._parts = _Parts(self)
            sync = self._parts.sync
            kernels.lead(self.kernels, first, end, self.code, self.V, self.S, self.P, self.W, self._counters[0],
                         self.substeps, self.parts, sync)
            failed = sync[kernels.RESULTS:kernels.RESULTS + self.parts]
        else:
            others = [_pool().submit(group, g) for g in range(1, len(self.groups))]
            failed = [group(0)] + [f.result() for f in others]
        for row in failed:
            if row >= 0:
                node = self.nodes[self.rows[row][3]]
                raise NodeFailure(node.name, node.kind, IndexError("an input outside the op's table"))

    def step(self, x: np.ndarray) -> np.ndarray:
        columns = self.columns
        way = self._way
        if way is not None:
            self.split, start = way.take(), time.perf_counter()
        columns[self.input] = np.asarray(x, dtype=np.int64).reshape(len(x), -1)
        for i in self.delays:  # their output first, from their state
            columns[self.nodes[i].name] = self.classes[i].emit(self.state[self.nodes[i].name])
        for item in self.plan:
            if isinstance(item, tuple):
                self._run(*item)
            else:
                self._step(item, self.nodes[item], self.classes[item], columns)
        for i in self.delays:
            self._step(i, self.nodes[i], self.classes[i], columns)
        if way is not None:
            way.took(self.split, time.perf_counter() - start)
        for name in self.record:
            self.recorded[name].append(columns[name].copy())
        self.substeps += 1
        return columns[self.output].copy()

    @property
    def values(self) -> dict[str, np.ndarray]:
        """Every node's value of the last step ([B, n] views, overwritten by the next step)."""
        return {name: self.columns[name] for name in self.columns.columns}


def check_program(program: Program, path: Path, probe: Callable[[Program], np.ndarray], *,
                  what: str = "not a valid neurocompile program", advice: str = "export again") -> None:
    """Refuse a program this engine cannot run: its structure, then one step on ``probe(program)`` (the task's
    extreme inputs).  Export runs it too, so that a program the readers would refuse is never written."""
    from neurocompile.ops import Op

    where = f"{path}: {what}"
    names: set[str] = set()
    kinds = [node.kind for node in program.nodes.values()]
    inputs = [n for n in program.nodes.values() if n.kind in Op.registry and Op.registry[n.kind].arity == 0]
    if len(inputs) != 1 or "Output" not in kinds or next(iter(program.nodes)) != inputs[0].name:
        raise UserError(f"{where} (it needs one input, first, and an output); {advice}")
    for node in program.nodes.values():
        if node.kind not in Op.registry:
            raise UserError(f"{where}: node {node.name} has unknown kind {node.kind!r}; {advice}")
        undefined = [src for src in node.inputs if src not in names and (node.op_class.feedthrough or src not in program.nodes)]
        if undefined:
            raise UserError(f"{where}: node {node.name} reads {', '.join(undefined)}, not defined before it; {advice}")
        if node.q is None and node.op_class.arity != 0:
            raise UserError(f"{where}: node {node.name} has no parameters; {advice}")
        if node.q is not None:
            try:
                program.form(node).int_check(node.q)
            except ValueError as exc:
                raise UserError(f"{where}: node {node.name} ({node.kind}): {exc}; {advice}") from None
        names.add(node.name)
    try:
        inputs = probe(program)
        Simulator(program, len(inputs)).step(inputs)
    except NodeFailure as exc:
        raise UserError(f"{where}: {exc}; {advice}") from None
    except (ArithmeticError, IndexError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{where}: {type(exc).__name__}: {exc}; {advice}") from None
