"""The only files neurocompile deletes besides its own replaced outputs: temporaries of writers that are gone."""
from __future__ import annotations

import os

from neurocompile import files


def _dead_pid() -> int:
    pid = 2**22 - 1  # above the default pid_max range used here; checked to be free
    while files._alive(pid):
        pid -= 1
    return pid


def test_sweep_removes_only_temporaries_of_dead_writers(tmp_path):
    dead, out = _dead_pid(), tmp_path / "spikes.npz"
    ours = [f".spikes.npz.neurocompile-tmp-{dead}-abcd1234.npz", f".spikes.npz.neurocompile-tmp-{dead}-k9_x0zz1"]
    kept = [f".spikes.npz.neurocompile-tmp-{dead}-notes",  # not tempfile's 8 characters: a user's name
            f".spikes.npz.neurocompile-tmp-{dead}-abcd1234.txt",  # another suffix
            f".spikes.npz.neurocompile-tmp-{os.getpid()}-abcd1234.npz",  # a live writer's
            f".other.npz.neurocompile-tmp-{dead}-abcd1234.npz",  # another output's
            "spikes.npz", "notes.txt"]
    for name in ours + kept:
        (tmp_path / name).write_text("x")
    (tmp_path / ours[1]).unlink()
    (tmp_path / ours[1]).mkdir()  # a stranded folder (export, --spikes-out): removed with its contents
    (tmp_path / ours[1] / "0.raw").write_bytes(b"\0")
    removed = files.sweep(out)
    assert sorted(p.name for p in removed) == sorted(ours)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
