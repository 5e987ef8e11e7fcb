"""The Python API: the command line's verbs from a notebook, on the zoo model."""
from __future__ import annotations

import pytest

import neurocompile
from neurocompile import UserError


def test_export_simulate_evaluate_report(tmp_path):
    build = neurocompile.export(target="loihi2", output=tmp_path / "b", calibration_tokens=256)
    assert build.manifest["target"] == "loihi2" and build.partition is not None
    run = build.simulate(prompt="The ", tokens=12, seed=1)
    assert run.generated == 12 and len(run.completion) == 12 and run.steps == 16 and run.complete
    assert run.run_file.is_file() and run.totals["spikes"] == sum(r["spikes"] for r in run.table)
    again = build.simulate(prompt="The ", tokens=12, seed=1)
    assert again.completion == run.completion
    result = build.evaluate(max_tokens=64)
    assert result.tokens > 0 and 0.9 < result.ratio < 1.1
    report = build.report(energy="snn-paper-45nm")
    assert report.steps == 16 and report.totals["energy_pj_per_step"] > 0


def test_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="takes a checkpoint or .nir path"):
        neurocompile.export(object(), output=tmp_path / "x")
    with pytest.raises(UserError, match="no such file"):
        neurocompile.export(tmp_path / "missing.pt", output=tmp_path / "x")
    build = neurocompile.export(target="cpu", output=tmp_path / "c", calibration_tokens=256)
    with pytest.raises(UserError, match="outside the model's vocabulary"):
        build.simulate(prompt="日本", tokens=2)
    with pytest.raises(UserError, match="no run to report on"):
        build.report()
