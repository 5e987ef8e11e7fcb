"""The README's Python session for spiking networks, executed exactly as written there."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.lava
def test_readme_spiking_network_session(tmp_path, monkeypatch):
    pytest.importorskip("snntorch")
    text = README.read_text()
    marker = text.index("A spiking network from snnTorch, in a notebook")
    block = re.search(r"```python\n(.*?)```", text[marker:], re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - the README's own code
    assert scope["out"].shape == (100, 4, 5) and scope["out"].sum() > 0
    assert scope["agreement"]["raster_match"] > 0.9 and scope["energy"] > 0
    assert scope["build"].manifest["task"] == "spikes"


def _readme_commands() -> list[list[str]]:
    """Every `neurocompile ...` line of the README's ```sh blocks, as argv (comments dropped)."""
    import shlex

    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    return [shlex.split(line, comments=True)[1:] for block in blocks for line in block.splitlines()
            if line.startswith("neurocompile ")]


def test_readme_commands_run_as_written(tmp_path, monkeypatch, capsys):
    """The README's command-line examples, run in order as written (from a folder where `models/` is the
    repository's, as in a checkout), each exiting 0 and writing what the README says it writes."""
    from neurocompile.cli import main

    commands = _readme_commands()
    assert [c[0] for c in commands] == ["export", "simulate", "evaluate", "report", "export", "simulate", "sweep"]
    (tmp_path / "models").symlink_to(README.parent / "models")
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        assert main(argv) == 0, argv
    out = capsys.readouterr().out
    assert "ratio" in out and "Pareto" in out
    assert "xylosim: outputs and 2 spiking populations identical" in out
    report = (tmp_path / "build/zoo/report.md").read_text()
    assert "## Per token" in report and "int8 ANN" in report
    assert (tmp_path / "build/zoo/plots").is_dir() and (tmp_path / "build/sweep/pareto.png").is_file()
