"""The xylo target: our integer kernels against SynSense's own simulator (``xylosim``, built from its sdist by
``make install``), event for event, on random networks that reach every corner (saturation per event, every decay
shift, weight shifts that wrap the 16-bit event value, aliases, input counts above the clip); NIR graphs made by
snnTorch exported for xylo and replayed through xylosim; and the refusals.  The goldens are xylosim's recordings,
never our own code's."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import neurocompile
from neurocompile.api import read_build
from neurocompile.cli import main
from neurocompile.models import zoo
from neurocompile.ops import Tally
from neurocompile.quantize import QNode
from neurocompile.targets.xylo import xylosim_engine
from neurocompile.targets.xylo.arithmetic import QXyloHidden, QXyloReadout, XyloHidden, XyloReadout

xylosim = pytest.importorskip("xylosim.v2", reason="make install builds xylosim from its sdist")
NIR, SAMPLE, TEST = (zoo.path(f"rleaky-patterns{ext}") for ext in (".nir", ".sample.npz", ".test.npz"))


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _network(rng: np.random.Generator):
    """A random core: sizes, sparse int8 weights, shifts (up to 15 on half the draws: events that wrap and saturate),
    decays 0..15, thresholds small and large, biases, aliases."""
    nin, n, m, s = (int(x) for x in (rng.integers(1, 20), rng.integers(1, 40), rng.integers(1, 9), rng.integers(1, 3)))
    top = 16 if rng.random() < 0.5 else 6

    def weights(shape):
        return np.where(rng.random(shape) < rng.random(), rng.integers(-128, 128, shape), 0).astype(np.int8)

    aliases = [sorted(set(rng.integers(0, n, rng.integers(0, 3)).tolist())) if rng.random() < 0.2 else []
               for _ in range(n)]
    hidden = QXyloHidden(
        weights((nin, n, s)), weights((n, n, s)), int(rng.integers(0, top)), int(rng.integers(0, top)),
        rng.integers(0, 16, (n, s)), rng.integers(0, 16, n),
        np.where(rng.random(n) < 0.5, rng.integers(1, 300, n), rng.integers(1, 32768, n)),
        np.where(rng.random(n) < 0.5, 0, rng.integers(-32768, 32768, n) >> rng.integers(0, 15, n)),
        np.cumsum([0] + [len(a) for a in aliases]), np.array([t for a in aliases for t in a], np.int64))
    readout = QXyloReadout(weights((n, m)), int(rng.integers(0, top)), rng.integers(0, 16, m), rng.integers(0, 16, m),
                           rng.integers(1, 3000, m), np.where(rng.random(m) < 0.5, 0, rng.integers(-3000, 3000, m)))
    return QNode("h", XyloHidden.kind, ("input",), 0, hidden), QNode("o", XyloReadout.kind, ("h",), 0, readout)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1))
def test_kernels_equal_xylosim_on_random_networks(seed):
    """Every spike count, current and voltage of both populations at every step, as xylosim evolves them."""
    rng = np.random.default_rng(seed)
    hidden, readout = _network(rng)
    steps, inputs = int(rng.integers(1, 40)), hidden.q.w_in.shape[0]
    raster = np.where(rng.random((steps, inputs)) < rng.random(), rng.integers(0, 25, (steps, inputs)), 0)
    theirs = xylosim_engine.run(hidden, readout, raster)
    ours = xylosim_engine.ours(hidden, readout, raster)
    for key, value in theirs.items():
        np.testing.assert_array_equal(ours[key], value, err_msg=key)


def test_the_corners_are_reached():
    """The random networks above saturate per event, clip input counts, alias and wrap the shifted weight and the
    negated decay (so the test tells those rules apart: each was seen to fail it when removed)."""
    seen = Tally()
    wrapped = clipped = aliased = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        hidden, readout = _network(rng)
        raster = rng.integers(0, 25, (30, hidden.q.w_in.shape[0]))
        hs, rs = XyloHidden.int_initial_state(hidden.q, 1), XyloReadout.int_initial_state(readout.q, 1)
        for x in raster:
            h, hs = XyloHidden.int_step(hidden.q, [x[None]], hs, seen)
            _, rs = XyloReadout.int_step(readout.q, [h], rs, seen)
            wrapped += int(np.any(hs[1] == -32768))
        clipped += int((raster > 15).any())
        aliased += int(len(hidden.q.alias_target) > 0)
        shifted = hidden.q.w_in.astype(np.int64) << hidden.q.shift_in
        wrapped += int(np.any(np.abs(shifted) > 32767))
    assert seen.saturations > 1000 and wrapped > 10 and clipped > 50 and aliased > 10


def _braille(seed: int):
    """The NIR paper's Braille network in shape (12 taxels -> recurrent CubaLIF -> 7 CubaLIF readout), made and
    exported by snnTorch (RSynaptic, Synaptic; biases everywhere)."""
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(12, 38),
        snn.RSynaptic(alpha=torch.full((38,), 0.55), beta=torch.full((38,), 0.9), linear_features=38,
                      threshold=torch.ones(38), init_hidden=True, reset_mechanism="subtract"),
        torch.nn.Linear(38, 7),
        snn.Synaptic(alpha=torch.full((7,), 0.5), beta=torch.full((7,), 0.55), threshold=torch.ones(7), init_hidden=True,
                     output=True, reset_mechanism="subtract"))
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[2].weight.mul_(6.0)
    return export_to_nir(net, torch.zeros(12))


@pytest.fixture(scope="module")
def zoo_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("xylo") / "zoo"
    neurocompile.export(NIR, target="xylo", output=out)
    return out


def test_zoo_classifier_runs_in_xylosim_identical(zoo_build, capsys):
    """The zoo's snnTorch classifier on Xylo Audio 2: the cpu engine and xylosim agree on every spike and state of
    the test rasters; the readout lags the NIR graph by a step, and the manifest says so."""
    code, out, err = _cli(capsys, "simulate", str(zoo_build), "--input-spikes", str(TEST), "--engine", "xylosim",
                          "--json")
    assert code == 0, err
    check = json.loads(out)["xylosim"]
    assert check["identical"] and check["states_identical"] == dict.fromkeys(check["states_identical"], True)
    assert len(check["spikes_identical"]) == 2
    manifest = json.loads((zoo_build / "manifest.json").read_text())
    assert manifest["partition"]["system"] == "xylo-audio2" and manifest["partition"]["used"]["hidden"] == 24
    assert any("a step after they fire" in a for a in manifest["approximations"])
    assert not any("Loihi" in a for a in manifest["approximations"]), manifest["approximations"]
    report = read_build(zoo_build).report()  # of the xylosim run: its counters are the cpu engine's
    assert report.header["energy_model"].startswith("xylo-45nm"), report.header["energy_model"]
    real_time = next(a for a in report.header["approximations"] if a.startswith("xylo real time"))
    assert "keeps real time at this activity, not in the worst case" in real_time, real_time  # ~49 / 150 us, dt 100
    assert 0 < report.totals["seconds_per_step"] < 1e-4


def test_the_timing_model_reads_the_runs_activity(zoo_build):
    """The cycle model's spiking probabilities, recovered from the counters, are the run's: the input raster's rate,
    and the fraction of hidden neurons that spiked per step (a neuron sending several spikes counted once)."""
    from neurocompile.targets.xylo.timing import activity
    from neurocompile.tasks.spikes.semantics import read_raster, run_cpu

    build = read_build(zoo_build)
    raster = read_raster(TEST, (12,), "--input-spikes")
    _, sim = run_cpu(build, raster, ("1.lif",))
    per_step = {row["node"]: {k: v / (raster.steps * raster.streams) for k, v in row.items() if isinstance(v, int)}
                for row in sim.table()}
    p_in, p_hidden = activity(build.program, per_step)
    assert p_in == pytest.approx(raster.spikes.mean(), abs=0.01)
    assert p_hidden == pytest.approx((np.stack(sim.recorded["1.lif"]) > 0).mean(), abs=0.03)


def test_braille_network_exports_for_every_system_and_runs_in_xylosim(tmp_path):
    graph = _braille(0)
    raster = (np.random.default_rng(0).random((60, 3, 12)) < 0.2).astype(np.int64)
    for system in ("xylo-audio2", "xylo-audio3", "xylo-imu"):
        build = neurocompile.export(graph, target="xylo", output=tmp_path / system, system=system)
        run = build.simulate(input_spikes=raster, engine="xylosim")
        assert run.check["identical"], run.check
        assert run.outputs["output"].shape == (60, 3, 7) and run.outputs["output"].sum() > 0


def test_refusals_name_the_rule(tmp_path, capsys):
    """SpikeGPT: one line naming the first rule and by how much, exit 2, nothing written; a hidden population over
    Xylo IMU's 496 neurons."""
    code, _, err = _cli(capsys, "export", str(zoo.path("spikegpt-pydoc.pt")), "--target", "xylo", "-o",
                        str(tmp_path / "g"))
    assert code == 2 and "not spikes" in err and "x the 37,888" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "g").exists()
    import nir

    wide = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([4])}), "fc": nir.Linear(weight=np.ones((500, 4))),
               "lif": nir.LIF(tau=np.full(500, 1e-3), r=np.ones(500), v_leak=np.zeros(500), v_threshold=np.ones(500)),
               "ro": nir.Linear(weight=np.ones((2, 500))),
               "out": nir.LIF(tau=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)),
               "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "ro"), ("ro", "out"), ("out", "output")])
    nir.write(tmp_path / "wide.nir", wide)
    code, _, err = _cli(capsys, "export", str(tmp_path / "wide.nir"), "--target", "xylo", "--system", "xylo-imu", "-o",
                        str(tmp_path / "w"))
    assert code == 2 and "500 hidden neurons, over its 496 by 4" in err, err
    assert not (tmp_path / "w").exists()
    assert _cli(capsys, "export", str(tmp_path / "wide.nir"), "--target", "xylo", "-o", str(tmp_path / "w"))[0] == 0


def test_engines_belong_to_their_targets(zoo_build, tmp_path, capsys):
    """Lava's engine on a xylo build and xylosim's on a loihi2 one: one line each, exit 2."""
    code, _, err = _cli(capsys, "simulate", str(zoo_build), "--input-spikes", str(SAMPLE), "--engine", "lava")
    assert code == 2 and "built for target 'xylo', not 'loihi2'" in err, err
    loihi = tmp_path / "l"
    assert _cli(capsys, "export", str(NIR), "--target", "loihi2", "-o", str(loihi))[0] == 0
    code, _, err = _cli(capsys, "simulate", str(loihi), "--input-spikes", str(SAMPLE), "--engine", "xylosim")
    assert code == 2 and "not 'xylo'" in err, err


@st.composite
def xylo_graphs(draw):
    """NIR graphs of the shapes a Xylo core holds: one to three hidden layers in a row (each with a loop or not), a
    spiking or a leaky-integrator readout, random sizes, time constants, thresholds, biases, LIF or CubaLIF cells,
    Linear or Affine weights."""
    import nir

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_in, n, m = draw(st.integers(1, 16)), draw(st.integers(1, 60)), draw(st.integers(1, 8))

    def cell(k):
        tau = rng.uniform(2e-4, 5e-2, k)
        if draw(st.booleans()):
            return nir.CubaLIF(tau_syn=rng.uniform(2e-4, 2e-2, k), tau_mem=tau, r=np.ones(k), v_leak=np.zeros(k),
                               v_threshold=rng.uniform(0.2, 2.0, k), w_in=np.ones(k))
        return nir.LIF(tau=tau, r=np.ones(k), v_leak=np.zeros(k), v_threshold=rng.uniform(0.2, 2.0, k))

    def weights(shape, scale):
        w = rng.normal(0, scale, shape) * (rng.random(shape) < draw(st.floats(0.2, 1.0)))
        return nir.Affine(w, rng.normal(0, 0.02, shape[0])) if draw(st.booleans()) else nir.Linear(w)

    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "output": nir.Output(output_type={"output": np.array([m])})}
    edges, prev, width = [], "input", n_in
    for k in range(draw(st.integers(1, 3))):
        size = n if k == 0 else draw(st.integers(1, 30))
        nodes[f"w{k}"], nodes[f"h{k}"] = weights((size, width), 3.0), cell(size)
        edges += [(prev, f"w{k}"), (f"w{k}", f"h{k}")]
        if draw(st.booleans()):
            nodes[f"rec{k}"] = nir.Linear(rng.normal(0, 1.0, (size, size)))
            edges += [(f"h{k}", f"rec{k}"), (f"rec{k}", f"h{k}")]
        prev, width = f"h{k}", size
    readout = draw(st.sampled_from(["spikes", "LI", "CubaLI"]))  # Xylo's Vmem output for the leaky integrators
    tau_m, tau_s = rng.uniform(2e-3, 5e-2, m), rng.uniform(2e-3, 2e-2, m)
    nodes["w_out"], nodes["out"] = weights((m, width), 3.0), {
        "spikes": lambda: cell(m), "LI": lambda: nir.LI(tau=tau_m, r=np.ones(m), v_leak=np.zeros(m)),
        "CubaLI": lambda: nir.CubaLI(tau_syn=tau_s, tau_mem=tau_m, r=np.ones(m), v_leak=np.zeros(m), w_in=np.ones(m)),
    }[readout]()
    edges += [(prev, "w_out"), ("w_out", "out"), ("out", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(xylo_graphs(), st.sampled_from(["zero", "subtract"]), st.integers(0, 99))
def test_random_nir_graphs_export_for_xylo_and_equal_xylosim(tmp_path_factory, graph, reset, seed):
    """The whole path on random graphs of Xylo's shape: export (or one refusal line), then our engine = xylosim on
    every spike and state."""
    from neurocompile.errors import UserError

    work = tmp_path_factory.mktemp("x")
    try:
        build = neurocompile.export(graph, target="xylo", output=work / "b", reset=reset, dt=1e-3, steps=64)
    except UserError as exc:
        assert "\n" not in str(exc) and "Xylo" in str(exc), str(exc)
        return
    n_in = build.program.nodes["input"].q.n
    raster = (np.random.default_rng(seed).random((40, 2, n_in)) < 0.3).astype(np.int64)
    run = build.simulate(input_spikes=raster, engine="xylosim")
    assert run.check["identical"], run.check


@pytest.mark.parametrize("dataset, value, says", [
    ("nodes/0001/q/alias_target", np.array([99]), "aliases do not name neurons"),
    ("nodes/0001/q/dash_mem", np.full(24, 16), "dash_mem holds 16"),
    ("nodes/0001/q/threshold", np.zeros(24, np.int64), "threshold holds 0"),
    ("nodes/0002/q/w_out", np.zeros((5, 3), np.int8), "24 sources into a weight bank of 5 rows"),
    ("nodes/0001/q/w_rec", np.zeros((24, 23, 1), np.int8), "do not fit 24 neurons"),
])
def test_an_edited_program_is_refused_when_read(zoo_build, tmp_path, capsys, dataset, value, says):
    """A xylo program.h5 edited and its hash put right in the manifest: one line naming what is wrong, exit 2 (the
    compiled kernels index without bounds checks, so nothing of the kind may reach them)."""
    import hashlib
    import shutil

    import h5py

    build = tmp_path / "b"
    shutil.copytree(zoo_build, build)
    if value.shape == (1,):
        with h5py.File(build / "program.h5", "r+") as f:  # one alias: neuron 0 -> 99 (of 24)
            del f["nodes/0001/q/alias_start"]
            f["nodes/0001/q/alias_start"] = np.array([0] + [1] * 24)
    with h5py.File(build / "program.h5", "r+") as f:
        del f[dataset]
        f[dataset] = value
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["files"]["program.h5"] = hashlib.sha256((build / "program.h5").read_bytes()).hexdigest()
    (build / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = _cli(capsys, "simulate", str(build), "--input-spikes", str(SAMPLE))
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err


def test_values_xylo_cannot_hold_are_refused(tmp_path, capsys):
    """A weight too large for 8 bits at the largest shift, a bias beyond 16 bits, a threshold <= 0, an unknown
    system: one line each, exit 2, nothing written."""
    import nir

    def graph(w_scale=1.0, threshold=1.0, bias=0.0):
        ones = np.ones(4)
        return nir.NIRGraph(
            nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                   "fc": nir.Affine(np.full((4, 3), w_scale), np.full(4, bias)),
                   "lif": nir.LIF(tau=ones * 1e-2, r=ones, v_leak=0 * ones, v_threshold=ones * threshold),
                   "ro": nir.Linear(np.ones((2, 4))),
                   "out": nir.LIF(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)),
                   "output": nir.Output(output_type={"output": np.array([2])})},
            edges=[("input", "fc"), ("fc", "lif"), ("lif", "ro"), ("ro", "out"), ("out", "output")])

    cases = [(graph(w_scale=1e9), [], "does not fit 8 bits at the largest shift"),
             (graph(bias=1e6), [], "does not fit 16 bits"),
             (graph(threshold=-1.0), [], "threshold"),
             (graph(), ["--system", "xylo-audio9"], "unknown system 'xylo-audio9'")]
    for k, (g, extra, says) in enumerate(cases):
        nir.write(tmp_path / f"g{k}.nir", g)
        code, _, err = _cli(capsys, "export", str(tmp_path / f"g{k}.nir"), "--target", "xylo", "-o",
                            str(tmp_path / f"b{k}"), *extra)
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1, (k, err)
        assert not (tmp_path / f"b{k}").exists()


def test_the_cycle_model_is_synsenses(monkeypatch):
    """Our time per step is SynSense's cycle-count model (Rockpool's ``syns61201.power_cycles_model``), re-derived:
    the golden is Rockpool's own function, run on a plain namespace standing in for samna's configuration (its module
    names samna's class at import: an empty stand-in module for that name, never the samna package)."""
    import importlib.util
    import sys
    import types
    from pathlib import Path as P

    from neurocompile.quantize import Program
    from neurocompile.targets.xylo import NUMERIC
    from neurocompile.targets.xylo.timing import cycles

    import rockpool

    stub = types.ModuleType("samna")
    stub.xyloCore2 = types.SimpleNamespace(configuration=types.SimpleNamespace(XyloConfiguration=object))
    monkeypatch.setitem(sys.modules, "samna", stub)
    path = P(rockpool.__file__).parent / "devices/xylo/syns61201/power_cycles_model.py"
    spec = importlib.util.spec_from_file_location("_synsense_cycles", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for seed in range(5):
        hidden, readout = _network(np.random.default_rng(seed))
        h, r = _without_aliases(hidden.q), readout.q
        w_rec = h.w_rec[:, :, 0] if h.w_rec.shape[2] == 1 else np.any(h.w_rec != 0, axis=2).astype(int)
        neurons = [types.SimpleNamespace(alias_target=None) for _ in range(len(h.threshold))]
        config = types.SimpleNamespace(input=types.SimpleNamespace(weights=h.w_in[:, :, 0]),
                                       reservoir=types.SimpleNamespace(neurons=neurons, weights=w_rec),
                                       readout=types.SimpleNamespace(weights=r.w_out), synapse2_enable=False)
        program = Program({"h": QNode("h", XyloHidden.kind, ("input",), 0, h), "o": readout}, NUMERIC, {})
        for p_in, p_hidden in ((1.0, 1.0), (0.2, 0.05), (0.0, 0.5)):
            theirs, _ = module.cycles_model(config, p_in, p_hidden, 0.0)
            assert cycles(program, p_in, p_hidden) == pytest.approx(theirs), (seed, p_in, p_hidden)


def _without_aliases(q):
    """A hidden population without aliases (Rockpool's model reads one alias target per neuron, ours a list; the
    alias terms are not compared)."""
    import dataclasses

    n = len(q.threshold)
    return dataclasses.replace(q, alias_start=np.zeros(n + 1, np.int64), alias_target=np.zeros(0, np.int64))


def test_hidden_layers_in_a_row_share_the_hidden_population(tmp_path):
    """An snnTorch MLP with two hidden layers (12 -> 32 -> 32 -> 5): both layers in Xylo's one hidden population
    (the second reads the first through a block of the recurrent bank, a step later, and graph.nir says so); the
    engine equals xylosim, and the outputs keep the float network's ranking of classes."""
    import snntorch as snn

    torch.manual_seed(0)

    def leaky(n, **kw):
        return snn.Leaky(beta=torch.full((n,), 0.9), threshold=torch.ones(n), init_hidden=True, **kw)

    net = torch.nn.Sequential(torch.nn.Linear(12, 32), leaky(32), torch.nn.Linear(32, 32), leaky(32),
                              torch.nn.Linear(32, 5), leaky(5, output=True))
    with torch.no_grad():
        for k in (0, 2, 4):
            net[k].weight.mul_(3.0)
    build = neurocompile.export(net, target="xylo", output=tmp_path / "b", sample_input=torch.zeros(12))
    assert [n.kind for n in build.program.nodes.values()] == ["SpikeInput", "XyloHidden", "XyloReadout", "Output"]
    assert build.program.nodes["xylo_hidden"].q.threshold.shape == (64,)
    assert any("each spiking layer hears the one before a step late" in a for a in build.manifest["approximations"])
    raster = (np.random.default_rng(0).random((100, 8, 12)) < 0.3).astype(np.int64)
    assert build.simulate(input_spikes=raster, engine="xylosim").check["identical"]
    scores = build.evaluate(input_spikes=raster).outputs["output"]
    assert scores["argmax_agreement"] >= 0.75 and scores["count_pearson_r"] > 0.8, scores



def test_a_leaky_integrator_readout_is_read_by_its_voltage(tmp_path):
    """A NIR LI readout (classification by membrane, as snnTorch and Norse networks often end) maps to Xylo's Vmem
    output: the readout's voltage at a power-of-two scale from the calibration raster, equal to xylosim's, and close to
    the float graph's."""
    import nir

    rng = np.random.default_rng(0)
    m, n = 4, 20
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([8])}), "w": nir.Linear(rng.normal(0, 1.5, (n, 8))),
               "h": nir.LIF(tau=np.full(n, 1e-2), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)),
               "wo": nir.Linear(rng.normal(0, 1, (m, n))),
               "li": nir.LI(tau=np.full(m, 2e-2), r=np.ones(m), v_leak=np.zeros(m)),
               "output": nir.Output(output_type={"output": np.array([m])})},
        edges=[("input", "w"), ("w", "h"), ("h", "wo"), ("wo", "li"), ("li", "output")])
    build = neurocompile.export(graph, target="xylo", output=tmp_path / "b", dt=1e-3)
    assert build.program.nodes["li"].kind == "XyloVoltageReadout" and build.program.nodes["output"].q.frac == 14
    raster = (np.random.default_rng(1).random((80, 4, 8)) < 0.3).astype(np.int64)
    run = build.simulate(input_spikes=raster, engine="xylosim")
    assert run.check["identical"] and run.outputs["output"].dtype == np.float64
    scores = build.evaluate(input_spikes=raster).outputs["output"]
    assert scores["value_pearson_r"] > 0.85 and scores["argmax_agreement"] == 1.0, scores


def test_the_scale_chosen_on_calibration_agrees_better_on_held_out_input(tmp_path):
    """A Rockpool network whose currents run high (its NIR file with the input gain Rockpool's exporter drops put
    back, tools/xylo_fidelity.py): the export chooses a coarser scale than the finest (room for more thresholds), and
    on input it was not chosen on, that program's output spikes agree with the float graph's better than the finest
    scales' (and its hidden spikes no worse)."""
    import sys
    from pathlib import Path as P

    sys.path.insert(0, str(P(__file__).resolve().parents[1] / "tools"))
    from xylo_fidelity import network, rockpool_nir

    from neurocompile.targets.xylo import NUMERIC
    from neurocompile.targets.xylo.mapping import _float_run, _program, _scores, layout

    build = neurocompile.export(rockpool_nir(network(1, 32)), target="xylo", output=tmp_path / "b",
                                reset="subtract", dt=1e-3)
    line = next(a for a in build.manifest["approximations"] if a.startswith("xylo scales: "))
    assert "chosen on the calibration raster" in line and not line.startswith("xylo scales: 2^12 per largest threshold of the hidden population, 2^12 "), line
    lowered = build.lowered
    roles = layout(lowered)
    held_out = (np.random.default_rng(7).random((8, 200, 12)) < 0.2).astype(np.int64)  # [B, T, inputs]
    hidden, readout = _float_run(lowered, roles, held_out)
    finest, _ = _program(lowered, roles, {}, NUMERIC, 12, 12)
    chosen = _scores(build.program, roles, held_out, hidden, readout)
    fine = _scores(finest, roles, held_out, hidden, readout)
    assert chosen[1] > fine[1] + 0.02 and chosen[0] >= fine[0] - 0.01, (chosen, fine)
