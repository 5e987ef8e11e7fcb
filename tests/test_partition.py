"""Partition into Loihi 2 cores and chips: limits respected, near the lower bound, traffic by construction, DRC errors."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from neurocompile import UserError
from neurocompile.cli import main
from neurocompile.targets.loihi2.partition import chip_traffic, partition
from neurocompile.quantize import calibrate, quantize
from neurocompile.targets.loihi2 import NUMERIC, RESOURCES

from helpers import tiny_program


def _tiny(**resources):
    g = tiny_program()
    program = quantize(g, NUMERIC, calibrate(g, torch.tensor([[0, 1, 1, 0]])))
    return program, dataclasses.replace(RESOURCES, **resources)


def test_traffic_and_placement_by_construction():
    # fc: 2 rows x 4 inputs x 1 byte; lif: 2 neurons; head: 3 rows x 2 bytes; 8 bytes and 4 neurons per core
    program, spec = _tiny(synaptic_memory_bytes=8, neurons_per_core=4, cores_per_chip=2, systems={"one": 1})
    placed = partition(program, spec, "one")
    assert [[(s.node, s.rows) for s in c.slices] for c in placed.cores] == [
        [("fc", (0, 2)), ("lif", (0, 2))], [("head", (0, 3))]]
    assert placed.lower_bound == 2  # 14 bytes / 8
    # codes (host) sends its 4 values to fc's one core; logits (host) receives head's 3
    assert placed.traffic == {"same_core": 2, "across_cores": 2, "across_chips": 0, "to_cpu_or_host": 3,
                              "from_cpu_or_host": 4, "mesh_hops": 2}  # cores 0 and 1: neighbours on the mesh
    assert placed.host == ["tokens", "codes", "logits"]


def _two_layers(tail):
    """codes -> fc1 (4 rows) -> lif1 -> fc2 (4 rows) -> `tail(graph)`, quantized: each Dense is 16 bytes of weights."""
    from neurocompile.graph import Graph
    from neurocompile.ops import LIF, Dense, SpikeEmbedding
    from neurocompile.ops import TokenInput

    g = Graph()
    g.add("tokens", TokenInput(2))
    g.add("codes", SpikeEmbedding(np.array([[1, 0, 1, 0], [0, 1, 1, 1]], bool)), "tokens")
    g.add("fc1", Dense(np.eye(4), np.ones((1, 4))), "codes")
    g.add("lif1", LIF(4, 2.0, 0.5), "fc1")
    g.add("fc2", Dense(np.eye(4)[::-1].copy(), np.ones((1, 4))), "lif1")
    tail(g)
    return quantize(g, NUMERIC, calibrate(g, torch.tensor([[0, 1, 1, 0]])))


def test_neuron_programs_sit_next_to_what_feeds_them():
    """codes -> fc1 (4 rows) -> lif1 -> fc2 (4 rows) -> lif2 -> out, each weight matrix filling one core: the best
    placement by construction puts each LIF's rows on the core holding the same rows of the Dense that feeds it, so
    every Dense -> LIF value stays within its core (packing neuron programs from core 0 put lif2 beside fc1)."""
    from neurocompile.ops import LIF, Output

    program = _two_layers(lambda g: (g.add("lif2", LIF(4, 2.0, 0.5), "fc2"), g.add("out", Output(4), "lif2")))
    spec = dataclasses.replace(RESOURCES, synaptic_memory_bytes=16, neurons_per_core=16, cores_per_chip=4,
                               systems={"one": 1})
    placed = partition(program, spec, "one")
    assert [[(s.node, s.rows) for s in c.slices] for c in placed.cores] == [
        [("fc1", (0, 4)), ("lif1", (0, 4))], [("fc2", (0, 4)), ("lif2", (0, 4))]]
    # fc1 -> lif1 and fc2 -> lif2 within their cores; lif1 -> fc2 the one crossing
    assert placed.traffic["same_core"] == 8 and placed.traffic["across_cores"] == 4
    assert placed.traffic["mesh_hops"] == 4  # one hop each
    far = partition(program, dataclasses.replace(spec, mesh_columns=1), "one")  # a 1 x 4 column: still neighbours
    assert far.traffic["mesh_hops"] == 4
    from neurocompile.targets.loihi2.partition import traffic_by_source

    by_source = traffic_by_source(program, placed)
    assert by_source["lif1"]["mesh_hops"] == 4 and by_source["lif1"]["across_cores"] == 4  # the one crossing's sender
    assert sum(c["mesh_hops"] for c in by_source.values()) == placed.traffic["mesh_hops"]


def test_mesh_hops_are_manhattan_within_a_chip():
    spec = dataclasses.replace(RESOURCES, cores_per_chip=6, mesh_columns=3)  # 3 x 2: cores 0 1 2 / 3 4 5
    assert [spec.hops(0, b) for b in range(6)] == [0, 1, 2, 1, 2, 3]
    assert spec.hops(2, 3) == 3 and spec.hops(7, 11) == spec.hops(1, 5) == 2  # chip-local positions


def test_rows_split_across_cores_and_chips():
    program, spec = _tiny(synaptic_memory_bytes=4, neurons_per_core=4, cores_per_chip=1, systems={"big": 8})
    placed = partition(program, spec, "big")
    assert [(s.node, s.rows) for c in placed.cores for s in c.slices if s.node == "fc"] == [("fc", (0, 1)), ("fc", (1, 2))]
    assert placed.chips == len(placed.cores) == 4 and placed.traffic["across_chips"] > 0


def test_design_rule_errors_name_layer_limit_and_excess():
    program, spec = _tiny(synaptic_memory_bytes=3)
    with pytest.raises(UserError, match=r"layer fc: one neuron's synapses need 4 bytes, over the 3 bytes .* by 1"):
        partition(program, spec, "oheo-gulch")
    program, spec = _tiny(synaptic_memory_bytes=4, cores_per_chip=1, systems={"one": 1, "four": 4, "two": 2})
    with pytest.raises(UserError, match=r"needs 4 cores on 4 chips; one has 1 chip.*short by 3 chip\(s\); use --system four"):
        partition(program, spec, "one")
    with pytest.raises(UserError, match="graded payloads of 16 bits exceed loihi2's 8"):
        partition(program, dataclasses.replace(spec, max_payload_bits=8), "four")
    with pytest.raises(UserError, match="unknown system"):
        partition(program, spec, "moon")


def test_zoo_model_on_loihi2(capsys, tmp_path):
    out = tmp_path / "b"
    assert main(["export", "--target", "loihi2", "-o", str(out), "--calibration-tokens", "512", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    summary = manifest["partition"]
    assert summary["system"] == "oheo-gulch" and summary["chips"] == 1
    assert summary["cores"] <= 1.05 * summary["lower_bound_cores"]
    placed = json.loads((out / "partition.json").read_text())
    program_rows = {}
    for core in placed["cores"]:
        assert core["neurons"] <= RESOURCES.neurons_per_core and core["synaptic_bytes"] <= RESOURCES.synaptic_memory_bytes
        for s in core["slices"]:
            program_rows.setdefault(s["node"], []).append(tuple(s["rows"]))
    for node, rows in program_rows.items():  # every population placed exactly once, contiguous
        rows.sort()
        assert rows[0][0] == 0 and all(a[1] == b[0] for a, b in zip(rows, rows[1:])), node
    assert "blocks.3.ffn.value" in program_rows and "blocks.3.lif2" in program_rows
    assert main(["simulate", str(out), "--tokens", "5", "--json"]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--format", "json", "--plots", str(tmp_path / "p")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["header"]["resources"]["cores"] == summary["cores"]
    assert (tmp_path / "p" / "placement.png").is_file()


def test_system_option_errors(capsys, tmp_path):
    assert main(["export", "--system", "hala-point", "-o", str(tmp_path / "x")]) == 2
    assert "applies to partitioned targets" in capsys.readouterr().err
    assert main(["export", "--target", "loihi2", "--system", "moon", "-o", str(tmp_path / "x")]) == 2
    assert "unknown system 'moon'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_time_per_step_is_the_slowest_core_at_published_rates():
    """The tiny program on two cores (fc + lif on core 0, head on core 1, as placed above): each core's time is its
    synaptic ops over Hala Point's per-core rate (380e12 / 140,544 per second) plus its neuron work over the neuron
    rate (240e12 / 140,544); the step takes the slower core plus the fixed cost every step pays (111.2 µs, 85.5-120.2,
    fitted on PilotNet: targets/loihi2/calibration.py); static energy is 0.232 W x chips x that time."""
    from neurocompile.targets.cpu.simulator import Simulator
    from neurocompile.targets.loihi2.timing import timing

    program, spec = _tiny(synaptic_memory_bytes=8, neurons_per_core=4, cores_per_chip=2, systems={"one": 1})
    placed = partition(program, spec, "one")
    sim = Simulator(program, 1)
    for token in (1, 1, 0, 1):
        sim.step(np.array([token]))
    per_step = {row["node"]: {k: v / 4 for k, v in row.items() if isinstance(v, (int, float))} for row in sim.table()}
    syn, neu = 380e12 / 140_544, 240e12 / 140_544
    core0 = (per_step["fc"]["graded_events"] + per_step["fc"]["binary_events"]) / syn + per_step["lif"]["neuron_updates"] / neu
    core1 = (per_step["head"]["graded_events"] + per_step["head"]["binary_events"]) / syn
    t = timing(program, placed, per_step)
    overhead = 111.2e-6
    assert t["seconds_per_step"] == pytest.approx(overhead + max(core0, core1)) and core0 > 0 and core1 > 0
    assert t["bottleneck"] == ("neurocore 0" if core0 > core1 else "neurocore 1")
    assert t["static_pj_per_step"] == pytest.approx(0.232078 * 1 * t["seconds_per_step"] * 1e12)  # PilotNet: 0.232078 W
    fast, slow = t["seconds_per_step_range"]  # the fixed cost's low end at peak rates; its high end at half of them
    assert fast == pytest.approx(85.5e-6 + max(core0, core1)) and slow == pytest.approx(120.2e-6 + 2 * max(core0, core1))


def test_x86_ops_run_on_the_chip_where_their_input_lives():
    """fc1 fills chip 0, fc2 fills chip 1 (one core per chip); the LayerNorm reading fc2 runs on chip 1's x86 cores,
    so fc2's values reach it without crossing chips, and its output crosses once, to fc3 back on chip 2."""
    from neurocompile.ops import Dense, LayerNorm, Output
    from neurocompile.targets.loihi2.timing import TIMING, timing

    program = _two_layers(lambda g: (g.add("ln", LayerNorm(np.ones(4), np.zeros(4)), "fc2"),
                                     g.add("fc3", Dense(np.ones((4, 4)), np.ones((1, 4))), "ln"),
                                     g.add("out", Output(4), "fc3")))
    spec = dataclasses.replace(RESOURCES, synaptic_memory_bytes=16, neurons_per_core=16, cores_per_chip=1,
                               systems={"three": 3})
    placed = partition(program, spec, "three")
    assert [c.chip for c in placed.cores for s in c.slices if s.node.startswith("fc")] == [0, 1, 2]
    assert placed.x86_chip == {"ln": 1}
    # fc2 -> ln stays on chip 1 (4 values to x86); ln -> fc3 crosses to chip 2 (4 values); lif1 -> fc2 crosses (4)
    assert placed.traffic["to_cpu_or_host"] == 4 + 4  # fc2 -> ln, fc3 -> out (host)
    assert placed.traffic["across_chips"] == 4 + 4
    assert chip_traffic(program, placed) == {(0, 1): 4, (1, 2): 4}  # lif1 -> fc2, then ln (chip 1's x86) -> fc3
    per_step = {n: {"binary_events": 0, "graded_events": 0, "neuron_updates": 0, "op_evals": 0} for n in program.nodes}
    per_step["ln"]["op_evals"] = 6000  # x86 work, split across the chip's 6 x86 cores
    t = timing(program, placed, per_step)
    assert t["bottleneck"] == "the x86 cores of chip 1"
    assert t["seconds_per_step"] == pytest.approx(TIMING.step_overhead_seconds.value  # + the fixed cost per step
                                                  + 6000 * TIMING.x86_cycles_per_op_eval.value / TIMING.x86_hz.value / 6)


def test_the_placement_picture_shows_each_core_by_layer_and_the_chip_traffic():
    """fc1, fc2, fc3 each fill the one core of their own chip (as above): each core is coloured solid by the layer of
    its weights (the neuron programs beside them do not change it); chip 1's x86 strip takes ln's colour; one arrow
    per pair of chips that exchange values, the title giving their sum."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import FancyArrowPatch

    from neurocompile.ops import Dense, LayerNorm, Output
    from neurocompile.targets.loihi2.figure import placement_figure

    program = _two_layers(lambda g: (g.add("ln", LayerNorm(np.ones(4), np.zeros(4)), "fc2"),
                                     g.add("fc3", Dense(np.ones((4, 4)), np.ones((1, 4))), "ln"),
                                     g.add("out", Output(4), "fc3")))
    spec = dataclasses.replace(RESOURCES, synaptic_memory_bytes=16, neurons_per_core=16, cores_per_chip=1,
                               mesh_columns=1, systems={"three": 3})
    placed = partition(program, spec, "three")
    fig = placement_figure(program, placed, lambda name: name, "token")
    image = fig.axes[0].images[0].get_array()
    layers = list(program.nodes)
    cmap = matplotlib.colormaps["turbo"].resampled(len(layers))
    per_row, block_w, block_h = 2, 6 + 2, 1 + 4  # ceil(sqrt(3)) chips per row; 1 x 1 mesh, 6 x86 cores, gaps
    assert [c.chip for c in placed.cores] == [0, 1, 2]
    for core in placed.cores:
        weights = max((s for s in core.slices if s.synaptic_bytes), key=lambda s: s.synaptic_bytes)
        y, x = (core.chip // per_row) * block_h + 1, (core.chip % per_row) * block_w + 1
        np.testing.assert_allclose(image[y, x], cmap(layers.index(weights.node)))
    ln_strip = image[(1 // per_row) * block_h + 1 + 1 + 1, (1 % per_row) * block_w + 1]
    np.testing.assert_allclose(ln_strip, cmap(layers.index("ln")))
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(chip_traffic(program, placed)) == 2
    assert "8 messages per token between chips" in fig.axes[0].get_title()


def test_auto_places_wkv_where_the_timing_model_is_faster(monkeypatch):
    """WKV of 128 channels: on a neurocore 128 x 86/6 neuron ops at 240e12 / 140,544 per second; on a chip's 6 x86
    cores 128 x 100 cycles at 400 MHz; auto takes the shorter, and follows the model when the x86 cores get faster."""
    import importlib

    from neurocompile.ops import WKV

    timing = importlib.import_module("neurocompile.targets.loihi2.timing")  # the module (the package exports its function)

    op = WKV(np.zeros(128), np.zeros(128))
    neuron = 128 * (86 / 6) / (240e12 / 140_544)
    x86 = 128 * 100 / (400e6 * 6)
    where, why = timing.extension_placement(op, 128, 6)
    assert where == "neuron" and f"{neuron * 1e6:.2f} µs" in why and f"{x86 * 1e6:.2f} µs" in why
    fast = dataclasses.replace(timing.TIMING.x86_hz, value=1e12)
    monkeypatch.setattr(timing, "TIMING", dataclasses.replace(timing.TIMING, x86_hz=fast))
    assert timing.extension_placement(op, 128, 6)[0] == "x86"


def test_extension_ops_per_kind_and_the_latency_a_layernorm_on_neurocores_adds():
    """`--extension-ops` per kind: a kind named takes its mode, the others auto; a LayerNorm on neurocores is faster
    per step but its 4 synaptic stages lengthen every generated token's path, which auto's reason says; a kind the
    model lacks, or a mode that is not one, is refused naming what there is."""
    from neurocompile import UserError, load_model
    from neurocompile.frontends import trace
    from neurocompile.models import zoo
    from neurocompile.pipeline import resolve_extension_ops
    from neurocompile.targets.loihi2 import TARGET

    graph = trace(load_model(zoo.path()))
    kinds, info = resolve_extension_ops(TARGET, graph, "LayerNorm=x86")
    assert kinds == {"WKV"} and info["placement"] == {"LayerNorm": "x86", "WKV": "neuron"}
    assert info["why"]["LayerNorm"] == "--extension-ops LayerNorm=x86"
    kinds, info = resolve_extension_ops(TARGET, graph, None)  # the default: auto for both
    assert kinds == {"WKV", "LayerNorm"}
    assert "4 synaptic stages add 4 steps" in info["why"]["LayerNorm"] and "stages" not in info["why"]["WKV"]
    for bad, says in (("Attention=x86", "no Attention op; its ops with a neuron-program form: LayerNorm, WKV"),
                      ("LayerNorm=gpu", "KIND=MODE pairs"), ("fpga", "KIND=MODE pairs")):
        with pytest.raises(UserError, match=says):
            resolve_extension_ops(TARGET, graph, bad)


def test_sums_follow_the_pipeline_and_programs_fed_by_x86_sit_beside_their_reader():
    """fc1 and fc2 fill cores 0 and 1 (chip 0); fc3's 8 rows fill cores 2 and 3 (chip 1).  res = lif1 + lif2 sits
    beside lif2, the producer furthest along (a residual sum follows its block, not the stream); ln (x86) runs on chip
    0 where res lives; sig, fed only by ln, sits beside its reader fc3 on core 2, so only ln's 4 values cross chips
    (packed from core 0 instead, sig would send its 4 values to both of fc3's cores on the other chip: 8)."""
    from neurocompile.ops import LIF, Add, Dense, LayerNorm, Output, Sigmoid

    program = _two_layers(lambda g: (g.add("lif2", LIF(4, 2.0, 0.5), "fc2"), g.add("res", Add(4), "lif1", "lif2"),
                                     g.add("ln", LayerNorm(np.ones(4), np.zeros(4)), "res"),
                                     g.add("sig", Sigmoid(4), "ln"),
                                     g.add("fc3", Dense(np.ones((8, 4)), np.ones((1, 4))), "sig"),
                                     g.add("out", Output(8), "fc3")))
    spec = dataclasses.replace(RESOURCES, synaptic_memory_bytes=16, neurons_per_core=16, cores_per_chip=2,
                               systems={"two": 2})
    placed = partition(program, spec, "two")
    where = {s.node: c.index for c in placed.cores for s in c.slices}
    assert where["res"] == where["lif2"] == where["fc2"] == 1 and where["sig"] == 2 and placed.x86_chip == {"ln": 0}
    assert chip_traffic(program, placed) == {(0, 1): 4}  # ln -> sig only


def test_abreus_operating_points_solve_for_their_static_and_dynamic_split():
    """Issue 23: the docs read as if Abreu et al. reported 0.232 W static per chip; their two generation points (24
    chips: 41.5 tokens/s at 405 mJ; one chip: 71.3 tokens/s at 59 mJ), with E = E_dyn + chips x P / rate, give
    0.61 W and ~50 mJ (all 32 chips powered: 0.46 W, ~53 mJ) -- solved here as a linear system, apart from anchors.py."""
    from neurocompile.targets.loihi2.anchors import abreu_split
    from neurocompile.targets.loihi2.timing import TIMING

    for chips in (24, 32):
        a = np.array([[1.0, chips / 41.5 * 1e3], [1.0, 1 / 71.3 * 1e3]])  # mJ = E_dyn + chips * W / rate * 1e3
        dynamic, watts = np.linalg.solve(a, np.array([405.0, 59.0]))
        assert abreu_split(chips) == (pytest.approx(watts), pytest.approx(dynamic))
    assert abreu_split(24)[0] == pytest.approx(0.613, abs=1e-3) and abreu_split(32)[0] == pytest.approx(0.457, abs=1e-3)
    static = TIMING.static_watts_per_chip
    assert (static.value, static.low) == (0.232078, 0.232078) and static.high == pytest.approx(abreu_split(24)[0])
