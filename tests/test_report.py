"""Energy reports: counts x constants on graphs whose counts are known by construction; formats; bad input."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from neurocompile.build import Build
from neurocompile.cli import main
from neurocompile.energy import load_energy_model, shipped
from neurocompile.quantize import calibrate, quantize
from neurocompile.report import FORMATS, Run, make_report, to_csv, to_json, to_latex, to_markdown, write_plots
from neurocompile.targets.cpu.simulator import Simulator
from neurocompile.targets.loihi2 import NUMERIC
from neurocompile.tasks.language.tokenizers import CharTokenizer

from helpers import tiny_program

ROUND = """
[model]
name = "round"
[events.binary_synaptic_op]
pj = 1
source = "test"
status = "assumption"
[events.graded_synaptic_op]
pj = 10
source = "test"
status = "assumption"
[events.graded_message]
pj = 100
source = "test"
status = "assumption"
[events.neuron_update]
pj = 1000
source = "test"
status = "assumption"
[events.op_eval]
pj = 10000
source = "test"
status = "assumption"
[baseline]
mac_fp32_pj = 2
mac_int8_pj = 0.5
source = "test"
"""


@pytest.fixture()
def round_model(tmp_path):
    path = tmp_path / "round.toml"
    path.write_text(ROUND)
    return load_energy_model(path)


def _tiny_report(model):
    g = tiny_program()  # counts known by construction, see test_quantize
    program = quantize(g, NUMERIC, calibrate(g, torch.tensor([[0, 1, 1, 0]])))
    sim = Simulator(program, 1)
    tokens = [1, 1, 0]
    for t in tokens:
        sim.step(np.array([t]))
    manifest = {"source": {"checkpoint": "tiny.pt", "sha256": "0" * 64}, "target": "cpu", "task": "language", "numeric": {},
                "approximations": ["test"]}
    build = Build(Path("."), manifest, program, CharTokenizer(["a", "b"]), g)
    return make_report(build, Run(sim.totals, sim.steps, tokens, 1), model)


def test_energy_is_counted_events_times_constants(round_model):
    report = _tiny_report(round_model)
    # by construction (see test_quantize): 20 binary synaptic ops, 6 neuron updates, 3 look-ups in 3 tokens
    assert report.totals["binary_events"] == pytest.approx(20 / 3)
    assert report.totals["energy_pj_per_step"] == pytest.approx((20 * 1 + 6 * 1000 + 3 * 10000) / 3)
    assert report.by_placement["synapse"] == pytest.approx(20 / 3)
    assert report.by_placement["neuron"] == pytest.approx(6000 / 3)
    assert report.by_placement["host"] == pytest.approx(10000)
    assert report.firing_rates["lif"] == pytest.approx(2 / 6)
    rows = {r.node: r for r in report.nodes}
    assert rows["fc"].input == "binary" and rows["fc"].energy_pj == pytest.approx(14 / 3)
    paper, _, counted, ann32, ann8 = report.comparison
    # paper convention: 4.6 pJ x 8 MACs of the first layer + 0.9 pJ x the other synaptic ops (6 in 3 tokens)
    assert paper["energy_pj_per_step"] == pytest.approx(4.6 * 8 + 0.9 * 6 / 3)
    assert counted["energy_pj_per_step"] == report.totals["energy_pj_per_step"]
    assert ann32["energy_pj_per_step"] == pytest.approx(2 * (8 + 6)) and ann8["energy_pj_per_step"] == pytest.approx(0.5 * 14)


def test_every_format(round_model, tmp_path):
    report = _tiny_report(round_model)
    data = json.loads(to_json(report))
    assert data["header"]["constants"]["neuron_update"]["pj"] == 1000 and data["steps"] == 3
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert [r["node"] for r in rows] == [n.node for n in report.nodes] and float(rows[3]["neuron_updates"]) == 2
    md = to_markdown(report)
    assert "## Conventions compared" in md and "round (round.toml)" in md and "| lif | 33.3 |" in md
    tex = to_latex(report)
    assert tex.count(r"\begin{") == tex.count(r"\end{") and r"\toprule" in tex and r"\usepackage{booktabs}" in tex
    for spec, body in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", tex, re.S):
        for line in body.splitlines():
            if line.endswith(r"\\"):
                assert line.count(" & ") == len(spec) - 1, line
    if shutil.which("pdflatex"):
        (tmp_path / "r.tex").write_text(tex)
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "r.tex"], cwd=tmp_path, check=True, capture_output=True)
    paths = write_plots(report, tmp_path / "plots")
    for pdf in (p for p in paths if p.suffix == ".pdf"):  # embedded TrueType fonts, no Type 3 (publishers refuse them)
        data = pdf.read_bytes()
        assert b"/Type3" not in data and (b"/TrueType" in data or b"/CIDFontType2" in data), pdf.name
    assert sorted(p.name for p in paths) == ["energy_by_layer.pdf", "energy_by_layer.png", "firing_rates.pdf", "firing_rates.png"]
    assert all(p.read_bytes()[:4] in (b"\x89PNG", b"%PDF") for p in paths)


def test_shipped_energy_models_carry_sources():
    assert set(shipped()) == {"hw-45nm", "snn-paper-45nm", "loihi1-proxy"}
    paper = load_energy_model("snn-paper-45nm")
    assert (paper.cost("binary_synaptic_op"), paper.cost("graded_synaptic_op")) == (0.9, 4.6)
    loihi = load_energy_model("loihi1-proxy")
    assert loihi.cost("binary_synaptic_op") == 23.6 and "Davies" in loihi.events["binary_synaptic_op"].source


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace("pj = 1000", "pj = -1"), "events.neuron_update.pj is negative"),
    (lambda s: s.replace('pj = 10\n', ''), "events.graded_synaptic_op.pj is missing"),
    (lambda s: s.replace('source = "test"\nstatus = "assumption"\n[events.graded_message]', 'status = "assumption"\n[events.graded_message]'),
     "events.graded_synaptic_op.source is missing"),
    (lambda s: s + "\n[events.teleport]\npj = 1\n", "unknown event(s) events.teleport"),
    (lambda s: s.replace("mac_int8_pj = 0.5\n", ""), "baseline.mac_int8_pj is missing"),
    (lambda s: s.replace('status = "assumption"', 'status = "trust me"', 1), "status is 'trust me'"),
    (lambda s: s + "[[[", "not a TOML file"),
])
def test_energy_file_errors_name_the_key(capsys, tmp_path, edit, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(edit(ROUND))
    assert main(["report", str(tmp_path), "--energy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.toml" in err and "Traceback" not in err


def test_report_cli_on_the_zoo_model(capsys, tmp_path):
    build = tmp_path / "b"
    assert main(["export", "--json", "-o", str(build), "--calibration-tokens", "512"]) == 0
    capsys.readouterr()
    assert main(["report", str(build)]) == 2
    assert "no run to report on" in capsys.readouterr().err
    assert main(["simulate", str(build), "--tokens", "20", "--json"]) == 0
    capsys.readouterr()
    assert main(["report", str(build), "--format", "xml"]) == 2
    assert "argument --format: invalid choice: 'xml'" in capsys.readouterr().err
    a_file = tmp_path / "plots.txt"
    a_file.write_text("x")
    assert main(["report", str(build), "--plots", str(a_file)]) == 2
    assert "needs a folder" in capsys.readouterr().err
    for fmt in FORMATS:
        out = tmp_path / f"r.{fmt}"
        assert main(["report", str(build), "--format", fmt, "-o", str(out), "--energy", "loihi1-proxy"]) == 0
        assert out.stat().st_size > 500
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["steps"] == 24 and data["header"]["model"] == "spikegpt-pydoc.pt"
    dense = [n for n in data["nodes"] if n["kind"] == "Dense"]
    assert dense and all(n["input"] == "real-valued" for n in dense)  # measured: upstream feeds real values
    assert sum(data["by_layer"].values()) == pytest.approx(data["totals"]["energy_pj_per_token"])
