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
