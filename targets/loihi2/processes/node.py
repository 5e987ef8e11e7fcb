"""A Lava process for every neurocompile node that Lava has no process for.

``NodeProcess`` runs one node's integer semantics, ``Op.int_step`` from ``neurocompile.ops`` — the code the
CPU simulator runs — inside a Python ProcessModel tagged ``fixed_pt``.  So the extension ops (LayerNorm,
WKV, sigmoid, products, residual adds, token shifts, the spike embedding, the receiving side of a Dense)
compute the same integers in both engines by construction; Dense and LIF are Lava's own processes.

Pipelining: the node only starts computing at step ``1 + depth`` (the step at which token 0 reaches it
through the Lava Dense delays); before that it sends zeros and leaves its state untouched.  Inputs that
arrive earlier than the node's depth are held back by ``input_delays`` steps (delay balancing).

Failure: Lava has no way to carry an exception out of a running process (the run would wait for the process's
messages forever).  A node whose integer step raises records the Lava time step in ``failed``, sends zeros from
then on, and the engine reports it after the run (``lava_engine.run_lava``).

Lava discovers ProcessModels by importing, as top-level modules, the files beside a process's module: this
folder holds nothing else, and this file uses absolute imports only.
"""
from __future__ import annotations

from collections import deque

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

MAX_INPUTS = 3  # ProcessModels declare their ports statically: every NodeProcess has in0..in2


class NodeProcess(AbstractProcess):
    def __init__(self, *, kind: str, arithmetic: str, q, in_shapes: list[tuple[int, ...]], out_shape: tuple[int, ...],
                 depth: int, input_delays: list[int], steps: int, accumulate_only: bool = False,
                 rows: tuple[int, int] | None = None, name: str | None = None):
        """`rows`: the core slice this process computes (an op whose channels are independent, ``Op.slice_q``): it
        reads those channels of its full-width inputs and sends a full-width vector, zeros outside them, so that
        the readers' ports, which sum what arrives, see the slices joined; None: every channel."""
        super().__init__(kind=kind, arithmetic=arithmetic, q=q, n_in=len(in_shapes), depth=depth,
                         input_delays=list(input_delays), accumulate_only=accumulate_only, rows=rows, name=name)
        if len(in_shapes) > MAX_INPUTS:
            raise ValueError(f"{name}: {len(in_shapes)} inputs, NodeProcess takes at most {MAX_INPUTS}")
        for i in range(MAX_INPUTS):
            setattr(self, f"in{i}", InPort(shape=in_shapes[i] if i < len(in_shapes) else (1,)))
        self.out = OutPort(shape=out_shape)
        self.history = Var(shape=(steps,) + tuple(out_shape), init=np.zeros((steps,) + tuple(out_shape), np.int64))
        self.failed = Var(shape=(1,), init=np.zeros(1, np.int64))  # the Lava step its integer step raised at (0: none)


@implements(proc=NodeProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyNodeModelFixed(PyLoihiProcessModel):
    in0: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    in1: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    in2: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64)
    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64)
    history: np.ndarray = LavaPyType(np.ndarray, np.int64)
    failed: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        from neurocompile.ops import Op, integer_form

        p = proc_params
        self.form = integer_form(Op.registry[p["kind"]], p["arithmetic"])  # the int_step the node runs
        self.q, self.n_in, self.depth = p["q"], p["n_in"], p["depth"]
        self.accumulate_only = p["accumulate_only"]
        self.rows = p["rows"]
        if self.rows is not None:
            self.q = self.form.slice_q(self.q, *self.rows)
        self.state = self.form.int_initial_state(self.q, 1)
        self.pending = [deque([None] * d) for d in p["input_delays"]]

    def run_spk(self):
        from neurocompile.ops import Tally

        inputs = []
        for i in range(self.n_in):
            x = getattr(self, f"in{i}").recv().astype(np.int64)
            self.pending[i].append(x)
            inputs.append(self.pending[i].popleft())
        shape = self.out.shape
        if self.time_step < 1 + self.depth or self.failed[0]:  # token 0 has not reached this node yet, or it failed
            y = np.zeros(shape, np.int64)
        else:
            try:
                if self.accumulate_only:  # the receiving side of Lava Dense processes (at the stream's step)
                    y = self.form.accumulate(self.q, inputs[0][None], Tally(), self.time_step - 1 - self.depth)[0]
                elif self.rows is not None:  # this core slice's channels, in place in a full-width vector
                    start, end = self.rows
                    part, self.state = self.form.int_step(self.q, [x[None, start:end] for x in inputs], self.state, Tally())
                    y = np.zeros(shape, np.int64)
                    y[start:end] = part[0]
                else:
                    y, self.state = self.form.int_step(self.q, [x[None] for x in inputs], self.state, Tally())
                    y = y[0]
            except Exception:  # noqa: BLE001 -- reported by the engine after the run; raising here would hang it
                self.failed[0] = self.time_step
                y = np.zeros(shape, np.int64)
        if self.time_step <= self.history.shape[0]:
            self.history[self.time_step - 1] = y
        self.out.send(y)
