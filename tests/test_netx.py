"""netx files: lava-dl's netx loads them and its run gives our spikes, on a Dense + LIF program."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neurocompile.build import read_build
from neurocompile.cli import main
from neurocompile.ops import QOutput
from neurocompile.targets.loihi2.arithmetic import QLIF, QDense, QSpikeEmbedding
from neurocompile.quantize import Program, QNode
from neurocompile.targets.cpu.simulator import Simulator
from neurocompile.targets.loihi2 import NUMERIC
from neurocompile.targets.loihi2.netx import dense_lif_pairs, netx_files, run_netx, write_dense_lif

pytestmark = pytest.mark.lava


def _program(exp: int) -> Program:
    rng = np.random.default_rng(exp + 5)
    n_in, n_out, vocab = 24, 10, 7
    codes = (rng.random((vocab, n_in)) < 0.5).astype(np.int64)
    halves = rng.integers(-127, 128, (1, n_out, n_in)).astype(np.int8)  # Lava's weights: twice these
    nodes = [QNode("tokens", "TokenInput", (), None, None),
             QNode("codes", "SpikeEmbedding", ("tokens",), 0, QSpikeEmbedding(codes)),
             QNode("fc", "Dense", ("codes",), 0, QDense(halves, np.full((1, n_out), exp), np.array([True]), 24, np.zeros(n_out, np.int64))),
             QNode("lif", "LIF", ("fc",), 0, QLIF(n_out, du=4095, dv=2048, vth=300 << max(exp, 0))),
             QNode("out", "Output", ("lif",), 0, QOutput(0))]
    return Program({n.name: n for n in nodes}, NUMERIC)


def test_only_representable_pairs_get_files():
    assert dense_lif_pairs(_program(0)) == [("fc", "lif")]
    assert dense_lif_pairs(_program(-1)) == []  # a floored accumulator: netx stores no exponent
    assert dense_lif_pairs(_program(2)) == []  # netx clips integer weights beyond 8 bits
    assert list(netx_files(_program(0))) == ["netx-lif.h5"]


def test_netx_run_equals_ours(tmp_path):
    _netx_equals_ours(_program(0), tmp_path)


def _netx_equals_ours(program: Program, tmp_path, tokens=None, pairs=(("fc", "lif"),)) -> None:
    """Each (Dense, LIF) pair's netx file, run by netx on the Dense's input as our engine computed it, gives our
    engine's spikes of that LIF."""
    tokens = np.random.default_rng(1).integers(0, 7, 30) if tokens is None else tokens
    inputs = {program.nodes[dense].inputs[0] for dense, _ in pairs}
    sim = Simulator(program, 1, record=[*inputs, *(lif for _, lif in pairs)])
    for t in tokens:
        sim.step(np.array([t]))
    for dense, lif in pairs:
        x = np.stack(sim.recorded[program.nodes[dense].inputs[0]])[:, 0].T
        ours = np.stack(sim.recorded[lif])[:, 0].T
        path = tmp_path / f"{lif}.h5"
        write_dense_lif(path, program, dense, lif)
        _run_netx(path, x, ours, graded=not program.nodes[dense].q.binary[0])


def _run_netx(path, x: np.ndarray, ours: np.ndarray, graded: bool) -> None:
    theirs = run_netx(path, x, graded)  # lava-dl's netx in Lava's simulator
    assert 0 < ours.sum() < ours.size
    np.testing.assert_array_equal(theirs, ours, err_msg=str(path))


def test_exponents_fold_into_the_weights_where_that_is_exact():
    """A negative exponent over weights that are all multiples of 2^-e folds into them (the floor is then exact), and
    netx gets the folded integers; otherwise the pair's status names the exponent and how many weights block it."""
    from neurocompile.targets.loihi2.netx import folded_weights, netx_status

    program = _program(-2)
    q = program.nodes["fc"].q
    status = netx_status(program)
    inexact = int(np.count_nonzero((2 * q.halves[0].astype(np.int64)) % 4))
    assert status["fc -> lif"].startswith("no file: weight exponent -2") and f"{inexact:,} of 240 weights" in status["fc -> lif"]
    odd = dataclasses.replace(q, halves=(q.halves // 2 * 2).astype(np.int8))  # multiples of 4, but W / 4 has odd values
    program.nodes["fc"] = dataclasses.replace(program.nodes["fc"], q=odd)
    assert "lose their lowest bit" in netx_status(program)["fc -> lif"]  # Lava's mixed-sign weights are even
    multiples = dataclasses.replace(q, halves=(q.halves // 4 * 4).astype(np.int8))  # 2 x halves: multiples of 8
    program.nodes["fc"] = dataclasses.replace(program.nodes["fc"], q=multiples)
    assert dense_lif_pairs(program) == [("fc", "lif")] and netx_status(program) == {"fc -> lif": "netx-lif.h5"}
    np.testing.assert_array_equal(folded_weights(program, "fc"), (2 * multiples.halves[0].astype(np.int64)) >> 2)


def test_folded_netx_file_runs_as_our_engine(tmp_path):
    """The folded pair through netx: the same spikes as our engine running the unfolded program (exponent -2)."""
    program = _program(-2)
    q = program.nodes["fc"].q
    program.nodes["fc"] = dataclasses.replace(program.nodes["fc"], q=dataclasses.replace(q, halves=(q.halves // 4 * 4).astype(np.int8)))
    _netx_equals_ours(program, tmp_path)


def test_default_zoo_build_writes_netx_files_that_netx_runs_as_our_engine(tmp_path, capsys):
    """The default loihi2 build of the zoo model: every att.output -> lif1 pair gets a netx file (its gated input
    carried so that the weight exponent is 0), and netx, fed the graded values our engine computed, fires as ours."""
    out = tmp_path / "zoo"
    assert main(["export", "--target", "loihi2", "-o", str(out), "--calibration-tokens", "512", "--json"]) == 0
    capsys.readouterr()
    build = read_build(out)
    notes = build.manifest["target_notes"]["netx"]
    assert len(notes) == 4 and all(v == f"netx-{k.split(' -> ')[1]}.h5" for k, v in notes.items()), notes
    assert sorted(p.name for p in out.glob("netx-*.h5")) == sorted(notes.values())
    assert any(a.startswith("netx: ") for a in build.manifest["approximations"])
    pairs = [tuple(k.split(" -> ")) for k in notes]
    tokens = build.tokenizer.encode("The quick brown fox reads the documentation of a module.")
    _netx_equals_ours(build.program, tmp_path, np.array(tokens), pairs)


def test_align_moves_only_graded_values_that_only_pairs_read():
    """A pair fed by spikes keeps its exponent (a spike has no fractional bits to give) and its reason."""
    from neurocompile.targets.loihi2.netx import align

    program = _program(-2)
    assert align(None, program) == (program, [])
