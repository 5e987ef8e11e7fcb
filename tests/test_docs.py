"""Docs from commands: the generated blocks of the docs are what their commands print (tools/doc_tables.py).

CI reruns the quick one (the zoo's energy table, ~10 s); `python tools/doc_tables.py --check` reruns them all."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import doc_tables  # noqa: E402


def test_every_doc_table_names_its_command():
    """Each doc with tables of figures has its generated blocks, and each block's command is a tool of this repo."""
    for doc in ("energy-comparison.md", "spikedecoder.md"):
        found = doc_tables.blocks((ROOT / "docs" / doc).read_text(encoding="utf-8"))
        assert found, doc
        for match in found:
            script = match["command"].split()[1]
            assert (ROOT / script).is_file(), match["command"]
            assert match["body"].strip(), f"{doc}: `{match['command']}` has no output in the doc"


def test_the_zoo_energy_table_is_what_its_command_prints():
    assert doc_tables.main(["--check", "--only", "--only zoo", str(ROOT / "docs" / "energy-comparison.md")]) == 0


def test_every_relative_link_of_the_docs_resolves():
    """README, BENCHMARKS and docs/ link to each other and to code: each such link names a file that exists."""
    import re

    pages = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = [f"{page.name}: {link}" for page in pages
              for link in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8"))
              if not link.startswith(("http://", "https://")) and not (page.parent / link).exists()]
    assert not broken
