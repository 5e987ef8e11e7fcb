"""Design-space sweeps: each point is the build it names, scored and priced as the tools would score and price that
build by themselves; the cache resumes; bad grids and foreign files are refused before anything runs."""
from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from neurocompile import export
from neurocompile.cli import main
from neurocompile.energy import load_energy_model
from neurocompile.report import make_report
from neurocompile.runs import Run
from neurocompile.tasks.language.semantics import evaluation_ids, windows
from neurocompile.targets.cpu.simulator import ReferenceSimulator

ARGS = ["--max-tokens", "160", "--calibration-tokens", "256", "--workers", "1"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    grid = folder / "grid.toml"
    grid.write_text('payload_bits = 12\ntoken_shift = ["fold", "delay"]\nenergy = ["hw-45nm", "snn-paper-45nm"]\n')
    assert main(["sweep", "--grid", str(grid), "-o", str(folder / "out"), *ARGS, "--json"]) == 0
    return folder


def _reference(token_shift: str, tmp_path) -> tuple[float, dict]:
    """The same build exported by itself, scored with the numpy engine and torch's cross entropy, priced by report."""
    build = export(target="loihi2", output=tmp_path / token_shift, calibration_tokens=256, payload_bits=12,
                   token_shift=token_shift)
    ids, _ = evaluation_ids(build.tokenizer, None, 160)
    x, y, _ = windows(ids, 16, build.program.metadata)
    sim = ReferenceSimulator(build.program, x.shape[0])
    bits = 0.0
    for t in range(x.shape[1]):
        logits = torch.from_numpy(sim.step(x[:, t]) * sim.logit_scale)
        bits += float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[:, t]), reduction="sum"))
    run = Run(sim.totals, sim.steps, [], sim.batch)
    energy = {name: make_report(build.program, build.manifest, run, load_energy_model(name), placement=build.partition,
                                tokenizer=build.tokenizer).totals["energy_pj_per_step"]
              for name in ("hw-45nm", "snn-paper-45nm")}
    return bits / math.log(2) / y.size, energy


def test_each_point_is_the_build_it_names(swept, tmp_path):
    with open(swept / "out" / "sweep.csv") as fh:
        assert fh.readline().startswith("# neurocompile.report/sweep-1")
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {r["energy_model"] for r in rows} == {"hw-45nm", "snn-paper-45nm"}
    for mode in ("fold", "delay"):
        bpc, energy = _reference(mode, tmp_path)
        for row in (r for r in rows if r["token_shift"] == mode):
            assert float(row["bpc"]) == pytest.approx(bpc, abs=1e-9)
            assert float(row["pj_per_token"]) == pytest.approx(energy[row["energy_model"]], rel=1e-9)
    for model in ("hw-45nm", "snn-paper-45nm"):  # the mix on a neuron program sends each value to one matrix, not two
        fold, delay = (float(next(r for r in rows if r["energy_model"] == model and r["token_shift"] == m)["pj_per_token"])
                       for m in ("fold", "delay"))
        assert delay < 0.8 * fold
    for row in rows:  # the Pareto flag, recomputed: no point of the same energy model both cheaper and better
        dominated = any(o["energy_model"] == row["energy_model"] and float(o["pj_per_token"]) <= float(row["pj_per_token"])
                        and float(o["bpc"]) <= float(row["bpc"]) and o is not row
                        and (float(o["pj_per_token"]), float(o["bpc"])) != (float(row["pj_per_token"]), float(row["bpc"]))
                        for o in rows)
        assert (row["pareto"] == "True") == (not dominated)
    assert (swept / "out" / "pareto.pdf").stat().st_size > 0 and (swept / "out" / "pareto.png").exists()


def test_a_second_run_resumes_from_the_cache(swept, capsys):
    points = sorted((swept / "out" / "points").iterdir())
    stamps = [p.stat().st_mtime_ns for p in points]
    before = json.loads((swept / "out" / "sweep.json").read_text())
    capsys.readouterr()
    assert main(["sweep", "--grid", str(swept / "grid.toml"), "-o", str(swept / "out"), *ARGS]) == 0
    assert "2 cached, 0 to run" in capsys.readouterr().err
    assert [p.stat().st_mtime_ns for p in points] == stamps and len(points) == 2
    assert json.loads((swept / "out" / "sweep.json").read_text()) == before


@pytest.mark.parametrize("grid,message", [
    ("payload_bits = [12, 99]\n", "payload_bits = 99: each value must be a int in 2..24"),
    ("payload = [12]\n", "unknown key(s) payload"),
    ('energy = ["nope"]\n', "nope"),
    ('system = ["mars"]\n', "system = 'mars'"),
    ('token_shift = ["fold", "later"]\n', "token_shift = 'later': choose fold or delay"),
    ('extension_ops = ["LayerNorm=x86", "fpga"]\n', "extension_ops = 'fpga': give neuron, x86, auto, or KIND=MODE"),
    ("payload_bits = []\n", "empty list"),
    ("payload_bits = [", "not a TOML grid"),
    ('target = ["loihi2", "loihi3"]\n', "target: unknown target 'loihi3'"),
    ('target = ["cpu"]\nsystem = ["oheo-gulch"]\n', "system = 'oheo-gulch' for target cpu: known systems are none"),
])
def test_bad_grids_are_refused(tmp_path, capsys, grid, message):
    (tmp_path / "g.toml").write_text(grid)
    assert main(["sweep", "--grid", str(tmp_path / "g.toml"), "-o", str(tmp_path / "out"), *ARGS]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_foreign_file_in_the_output_is_left_alone(tmp_path, capsys):
    (tmp_path / "g.toml").write_text("payload_bits = 16\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sweep.csv").write_text("my data\n")
    assert main(["sweep", "--grid", str(tmp_path / "g.toml"), "-o", str(tmp_path / "out"), *ARGS]) == 2
    assert "not written by neurocompile" in capsys.readouterr().err
    assert (tmp_path / "out" / "sweep.csv").read_text() == "my data\n" and not (tmp_path / "out" / "points").exists()


def test_the_same_sweep_on_a_ray_cluster(swept, ray_cluster, tmp_path, capsys):
    capsys.readouterr()
    assert main(["sweep", "--grid", str(swept / "grid.toml"), "-o", str(tmp_path / "ray"), *ARGS,
                 "--ray", ray_cluster, "--json"]) == 0
    on_ray = json.loads(capsys.readouterr().out)["rows"]
    local = json.loads((swept / "out" / "sweep.json").read_text())["rows"]
    assert on_ray == local  # the same numbers, computed by Ray's workers


def test_no_ray_cluster_at_the_address(swept, tmp_path, capsys):
    assert main(["sweep", "--grid", str(swept / "grid.toml"), "-o", str(tmp_path / "r"), *ARGS,
                 "--ray", "127.0.0.1:1"]) == 2
    assert "no Ray cluster there" in capsys.readouterr().err


def test_not_a_checkpoint_is_refused_before_any_point_runs(tmp_path, capsys):
    (tmp_path / "g.toml").write_text("payload_bits = 16\n")
    (tmp_path / "m.pt").write_text("not a model\n")
    assert main(["sweep", str(tmp_path / "m.pt"), "--grid", str(tmp_path / "g.toml"), "-o", str(tmp_path / "out"),
                 *ARGS]) == 2
    err = capsys.readouterr().err
    assert "not a PyTorch checkpoint" in err and "sweep:" not in err and not (tmp_path / "out").exists()


def test_the_target_is_a_choice_of_the_grid(tmp_path):
    """A grid may name targets (loihi2 by default): each is its own point, and its defaults are part of the key."""
    from neurocompile.tasks.language.sweep import point_key, read_grid

    (tmp_path / "g.toml").write_text('target = ["loihi2", "cpu"]\npayload_bits = [12, 16]\n')
    grid = read_grid(tmp_path / "g.toml")
    assert [p["target"] for p in grid.points] == ["loihi2", "loihi2", "cpu", "cpu"]
    keys = {point_key("sha", p, 100, 256, ["hw-45nm"]) for p in grid.points}
    assert len(keys) == 4
    assert point_key("sha", {"payload_bits": 12}, 100, 256, ["hw-45nm"]) == \
        point_key("sha", {"target": "loihi2", "payload_bits": 12}, 100, 256, ["hw-45nm"])
