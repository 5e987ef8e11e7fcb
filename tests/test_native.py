"""The native dot products (targets/cpu/native.c) give the reference's integers: random Dense layers wide enough to
cross the int32 stretches, inputs of 1 to 3 digits, the worst-case sums, one stream's step split into parts that meet
at native.c's barrier (where they must, and only there; a part that refuses its input stops the others), several
simulators stepping at once, and the portable symbol used where no compiler is found.

The reference is each op's numpy ``int_step`` (itself checked against Lava's Dense in test_fixed.py); every
compiled run is also compared both ways in test_compiled.py's property tests."""
from __future__ import annotations

import ctypes
import os
import pickle
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocompile.ops import QTokenCode
from neurocompile.ops.io import QOutput, QSpikeInput
from neurocompile.targets.loihi2.arithmetic import QDense, QLayerNorm, QLIF
from neurocompile.quantize import Program, QNode
from neurocompile.targets.cpu import kernels, native
from neurocompile.targets.cpu.simulator import NodeFailure, ReferenceSimulator, Simulator, _Way
from neurocompile.targets.loihi2 import NUMERIC


def _dense_program(halves: np.ndarray, exps: np.ndarray, bits: int = 24) -> Program:
    ports, n_out, n_in = halves.shape
    q = QDense(halves, exps, np.zeros(ports, bool), bits, np.zeros(n_out, np.int64))
    nodes = [QNode("x", "SpikeInput", (), 0, QSpikeInput(n_in, (n_in,))), QNode("op", "Dense", ("x",) * ports, 0, q),
             QNode("out", "Output", ("op",), 0, QOutput(0))]
    return Program({node.name: node for node in nodes}, NUMERIC)


def _check(program: Program, inputs: list[np.ndarray], threads: int) -> None:
    batch = len(inputs[0])
    ours, reference = Simulator(program, batch, threads=threads, native=True, split=True), ReferenceSimulator(program, batch)
    for step, x in enumerate(inputs):
        np.testing.assert_array_equal(ours.step(x), reference.step(x), err_msg=f"step {step}")
        np.testing.assert_array_equal(ours.totals, reference.totals, err_msg=f"counters, step {step}")


@settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(n_in=st.integers(1, 1300), n_out=st.integers(1, 160), batch=st.integers(1, 6), ports=st.integers(1, 2),
       bits=st.sampled_from([8, 16, 17, 24, 31]), threads=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_wide_dense_layers_equal_the_reference(n_in, n_out, batch, ports, bits, threads, seed):
    """Fan-ins over 512 (int32 stretches), 4-stream blocks and their rest, 1-3 digits of input, up to 3 threads (one
    stream: its step is split into parts, each computing its span of the outputs; several: the streams are split)."""
    rng = np.random.default_rng(seed)
    halves = rng.integers(-128, 128, (ports, n_out, n_in)).astype(np.int8)
    exps = rng.integers(-20, 0, (ports, n_out))
    hi = (1 << (bits - 1)) - 1
    inputs = [rng.integers(-hi, hi + 1, (batch, n_in)) >> rng.integers(0, bits, (batch, n_in)) for _ in range(2)]
    inputs[1][:, rng.random(n_in) < 0.5] = hi  # the extremes
    _check(_dense_program(halves, exps, 32), inputs, threads)


def test_the_worst_sums_cross_the_int32_stretches_exactly():
    """All weights -256 (halves -128) and all inputs at the one-digit extreme -32767: each 512-input stretch sums to
    2,147,418,112, just under 2^31; a fan-in of 2,000 would wrap an int32 sum four times over."""
    n = 2000
    program = _dense_program(np.full((1, 300, n), -128, np.int8), np.full((1, 300), -24), 32)
    x = np.full((5, n), -32767, np.int64)
    x[1] = 32767
    x[2, ::2] = -32768  # two digits: -32768 is no int16 input of native.c
    _check(program, [x, x[::-1].copy()], threads=2)


def test_a_chain_of_layers_split_over_threads_gives_the_same_values():
    """One stream through five Dense layers in a row, its step split into two parts, each layer's inputs the last
    layer's 16-bit values (one or two digits); every layer's value and counter is the reference's at every step."""
    rng = np.random.default_rng(5)
    widths = [900, 700, 1200, 600, 800, 300]
    nodes = [QNode("x", "SpikeInput", (), 0, QSpikeInput(widths[0], (widths[0],)))]
    for k, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        q = QDense(rng.integers(-128, 128, (1, n_out, n_in)).astype(np.int8), rng.integers(-18, -8, (1, n_out)),
                   np.zeros(1, bool), 16, rng.integers(-99, 99, n_out))
        nodes.append(QNode(f"d{k}", "Dense", (nodes[-1].name,), 0, q))
    nodes.append(QNode("out", "Output", (nodes[-1].name,), 0, QOutput(0)))
    program = Program({node.name: node for node in nodes}, NUMERIC)
    ours, reference = Simulator(program, 1, threads=2, native=True, split=True), ReferenceSimulator(program, 1)
    for step in range(6):
        x = rng.integers(-2**15, 2**15, (1, widths[0]))
        np.testing.assert_array_equal(ours.step(x), reference.step(x))
        for name, value in reference.values.items():
            np.testing.assert_array_equal(ours.values[name], value, err_msg=f"{name}, step {step}")
        np.testing.assert_array_equal(ours.totals, reference.totals)


def test_simulators_stepping_at_once_each_get_their_own_sums():
    """Two one-stream simulators, each with its step split into parts, stepping in two threads at once (four parts
    on two cores, meeting at their own barriers): both give what they give one after the other."""
    rng = np.random.default_rng(3)
    programs = [_dense_program(rng.integers(-128, 128, (1, 400, 700)).astype(np.int8), np.full((1, 400), -12))
                for _ in range(2)]
    inputs = [[rng.integers(-30000, 30000, (1, 700)) for _ in range(30)] for _ in range(2)]

    def run(k: int) -> list[np.ndarray]:
        sim = Simulator(programs[k], 1, threads=2, native=True, split=True)
        return [sim.step(x) for x in inputs[k]]

    alone = [run(0), run(1)]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(run, [0, 1]))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_the_step_takes_the_way_that_ran_faster():
    """``_Way`` (``split=None``): the steps take the way of the smaller median time; the other is tried for two steps
    from the second and every PROBE after (the first of the two untimed), so a way that has become the faster (a busy
    core freed) is taken again."""
    way, probe = _Way(), _Way.PROBE

    def run(steps: int, split_time: float, whole_time: float) -> list[bool]:
        taken = []
        for _ in range(steps):
            taken.append(way.take())
            way.took(taken[-1], split_time if taken[-1] else whole_time)
        return taken

    taken = run(3 * probe, 5.0, 4.0)  # whole faster: whole first, split tried on steps 2 and 3, whole kept
    assert taken == [k % probe in (1, 2) for k in range(3 * probe)] and not way.split
    assert list(way.times[True]) == [5.0] * 3  # only the second step of each try: the first after a change is no measure
    taken = run(4 * probe, 3.0, 4.0)  # split faster: taken again once its median (of the last KEEP) is the smaller
    assert way.split and taken[-probe:].count(False) == 2 and taken[:probe].count(True) == 2


def test_steps_taking_either_way_give_the_same_values():
    """A simulator choosing its way as it runs (``split=None``), made to change ways every other step: every value
    and counter is the reference's, whichever way each step took."""
    program = _chain("Dense", "LIF", "Dense", "LIF", "LayerNorm", "LIF")
    sim, reference = Simulator(program, 1, threads=2), ReferenceSimulator(program, 1)
    assert sim.parts == 2 and sim._way is not None
    sim._way.PROBE = 2
    rng = np.random.default_rng(6)
    ways = set()
    for step in range(12):
        x = rng.integers(-2**15, 2**15, (1, 40))
        np.testing.assert_array_equal(sim.step(x), reference.step(x), err_msg=f"step {step}")
        np.testing.assert_array_equal(sim.totals, reference.totals)
        ways.add(sim.split)
    assert ways == {True, False}


def _chain(*kinds: str, n: int = 40) -> Program:
    """x -> each kind in turn (Dense n -> n, LIF, LayerNorm) -> Output."""
    rng = np.random.default_rng(1)
    make = {"Dense": lambda: QDense(rng.integers(-128, 128, (1, n, n)).astype(np.int8), np.full((1, n), -6),
                                    np.zeros(1, bool), 16, np.zeros(n, np.int64)),
            "LIF": lambda: QLIF(n, 4095, 410, 40),
            "LayerNorm": lambda: QLayerNorm(n, 8, 1, np.full(n, 2**10), 10, np.zeros(n, np.int64), 8, 16)}
    nodes = [QNode("x", "SpikeInput", (), 0, QSpikeInput(n, (n,)))]
    for k, kind in enumerate(kinds):
        nodes.append(QNode(f"{kind}{k}", kind, (nodes[-1].name,), 0, make[kind]()))
    nodes.append(QNode("out", "Output", (nodes[-1].name,), 0, QOutput(0)))
    return Program({node.name: node for node in nodes}, NUMERIC)


def test_the_parts_meet_only_where_one_reads_what_another_wrote():
    """The schedule of a split step, row by row: a Dense row reads all of its input (the parts meet before it, unless
    the input came from outside the step); a LIF reads the elements of the Dense row's output its own part wrote (no
    meeting); a LayerNorm runs on part 0 (after a meeting), and the LIF after it reads what part 0 wrote (a meeting)."""
    program = _chain("Dense", "LIF", "Dense", "LIF", "LayerNorm", "LIF")
    sim = Simulator(program, 1, threads=2, split=True)
    assert sim.parts == 2
    flags = {sim.nodes[row[3]].name: int(f) for row, f in zip(sim.rows, sim.kernels[:, 3])}
    S, W = kernels.SYNC, kernels.WHOLE
    assert flags == {"Dense0": 0, "LIF1": 0, "Dense2": S, "LIF3": 0, "LayerNorm4": S | W, "LIF5": S, "out": 0}
    reference = ReferenceSimulator(program, 1)
    rng = np.random.default_rng(2)
    for step in range(8):
        x = rng.integers(-2**15, 2**15, (1, 40))
        np.testing.assert_array_equal(sim.step(x), reference.step(x), err_msg=f"step {step}")
        np.testing.assert_array_equal(sim.totals, reference.totals)


def test_rows_that_need_no_meeting_run_first():
    """Two branches off one Dense row, each a LIF then a Dense row, in the program's order d0 l1 d3 l2 d4: run as
    written the parts would meet before d3 and again before d4; the schedule runs l2 first and meets once."""
    rng = np.random.default_rng(4)
    n = 40

    def dense(src: str, name: str) -> QNode:
        return QNode(name, "Dense", (src,), 0, QDense(rng.integers(-128, 128, (1, n, n)).astype(np.int8),
                                                      np.full((1, n), -6), np.zeros(1, bool), 16, np.zeros(n, np.int64)))

    nodes = [QNode("x", "SpikeInput", (), 0, QSpikeInput(n, (n,))), dense("x", "d0"),
             QNode("l1", "LIF", ("d0",), 0, QLIF(n, 4095, 410, 40)), dense("l1", "d3"),
             QNode("l2", "LIF", ("d0",), 0, QLIF(n, 4095, 300, 30)), dense("l2", "d4"),
             QNode("out", "Output", ("d4",), 0, QOutput(0))]
    program = Program({node.name: node for node in nodes}, NUMERIC)
    sim, reference = Simulator(program, 1, threads=2, split=True), ReferenceSimulator(program, 1)
    order = [(sim.nodes[row[3]].name, int(f)) for row, f in zip(sim.rows, sim.kernels[:, 3])]
    assert order == [("d0", 0), ("l1", 0), ("l2", 0), ("d3", kernels.SYNC), ("d4", 0), ("out", 0)]
    for step in range(6):
        x = rng.integers(-2**15, 2**15, (1, n))
        np.testing.assert_array_equal(sim.step(x), reference.step(x))
        for name, value in reference.values.items():
            np.testing.assert_array_equal(sim.values[name], value, err_msg=f"{name}, step {step}")
        np.testing.assert_array_equal(sim.totals, reference.totals)


def test_a_part_that_refuses_its_input_stops_the_others():
    """A token id outside the table: the token code (run by part 0 alone) refuses it while part 1 goes on to the
    next meeting -- which part 0 will not reach; part 1 stops there instead of waiting, the step fails naming the
    node, and the simulator steps on afterwards as the reference does."""
    table = np.eye(6, dtype=np.int64)[:, :4]
    nodes = [QNode("x", "SpikeInput", (), 0, QSpikeInput(1, (1,))),
             QNode("code", "TokenCode", ("x",), 0, QTokenCode(table, np.eye(3, dtype=np.int64), False, 1)),
             QNode("out", "Output", ("code",), 0, QOutput(0))]
    program = Program({node.name: node for node in nodes}, NUMERIC)
    sim, reference = Simulator(program, 1, threads=2, split=True), ReferenceSimulator(program, 1)
    assert sim.parts == 2 and list(sim.kernels[:, 3]) == [kernels.WHOLE, kernels.SYNC]
    np.testing.assert_array_equal(sim.step(np.array([2])), reference.step(np.array([2])))
    for bad in (6, -7, 6):
        for engine in (sim, reference):
            raised: list[BaseException] = []

            def step(engine=engine, bad=bad) -> None:
                try:
                    engine.step(np.array([bad]))
                except BaseException as exc:  # noqa: BLE001 -- handed to the test's thread
                    raised.append(exc)

            worker = threading.Thread(target=step, daemon=True)  # a part left waiting hangs the step: fail, not hang
            worker.start()
            worker.join(60)
            assert not worker.is_alive(), "a part waited for one that had refused its input"
            assert len(raised) == 1 and isinstance(raised[0], NodeFailure) and raised[0].node == "code", raised
    for token in (1, 5, 0):
        np.testing.assert_array_equal(sim.step(np.array([token])), reference.step(np.array([token])))


def test_the_portable_symbol_computes_the_same_products():
    """``portable_dot``: the symbol's body where the C library cannot be built."""
    rng = np.random.default_rng(0)
    W = rng.integers(-128, 128, (37, 1500)).astype(np.int8)
    X = rng.integers(-32767, 32768, (3, 1500)).astype(np.int16)
    acc = np.zeros((3, 37), np.int64)
    pointer = lambda a, t: a.ctypes.data_as(ctypes.POINTER(t))  # noqa: E731
    native.portable_dot.ctypes(pointer(W, ctypes.c_int8), 1500, 37, pointer(X, ctypes.c_int16), 3,
                               pointer(acc, ctypes.c_int64))
    np.testing.assert_array_equal(acc, X.astype(np.int64) @ W.astype(np.int64).T)


_ELSEWHERE = """
import pickle, sys
import numpy as np
from neurocompile.targets.cpu import native
from neurocompile.targets.cpu.simulator import ReferenceSimulator, Simulator
program, inputs = pickle.load(open(sys.argv[1], "rb"))
ours, reference = Simulator(program, 1, threads=2, native=True, split=True), ReferenceSimulator(program, 1)
print(native.ENGINE, all(np.array_equal(ours.step(x), reference.step(x)) for x in inputs))
"""


@pytest.mark.parametrize("setting,engine", [
    ({"NEUROCOMPILE_NATIVE": "0"}, "portable (numba; NEUROCOMPILE_NATIVE=0)"),  # the symbol numba's, as without cc
    ({"NEUROCOMPILE_NATIVE_ISA": "baseline"}, "native (baseline)"),  # the C body without the CPU's extensions
    ({"NEUROCOMPILE_NATIVE_ISA": "avx9"}, "native (baseline; NEUROCOMPILE_NATIVE_ISA=avx9 is not a variant this CPU runs)")])
def test_the_other_paths_give_the_same_values(setting, engine, tmp_path):
    """What runs where the best path does not: the portable symbol (no compiler, or switched off) and native.c's
    baseline variant; each in a process of its own, against the reference."""
    if "NEUROCOMPILE_NATIVE_ISA" in setting and not native.AVAILABLE:
        pytest.skip(f"no native library here: {native.ENGINE}")
    rng = np.random.default_rng(9)
    program = _dense_program(rng.integers(-128, 128, (2, 300, 1100)).astype(np.int8), np.full((2, 300), -16))
    inputs = [rng.integers(-2**20, 2**20, (1, 1100)) >> rng.integers(0, 20, (1, 1100)) for _ in range(3)]
    (tmp_path / "case.pkl").write_bytes(pickle.dumps((program, inputs)))
    done = subprocess.run([sys.executable, "-c", _ELSEWHERE, str(tmp_path / "case.pkl")], capture_output=True,
                          text=True, env={**os.environ, **setting}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"{engine} True"


def test_without_a_compiler_the_library_is_not_built(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("CC", "no-such-compiler")
    with pytest.raises(OSError, match="no C compiler"):
        native.build()


@pytest.mark.skipif(not native.AVAILABLE, reason=f"no native library here: {native.ENGINE}")
def test_the_library_is_built_for_this_machine_and_names_its_instructions():
    assert native.ENGINE.startswith("native (") and native.ENGINE.split("(")[1].rstrip(")") in (
        "avx512vnni", "avxvnni", "avx2", "baseline")
