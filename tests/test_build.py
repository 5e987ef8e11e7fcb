"""export -> simulate / evaluate on the zoo model: fidelity, determinism, files, and every bad input."""
from __future__ import annotations

import json
import os

import nir
import numpy as np
import pytest

from neurocompile.cli import main


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "zoo"
    assert main(["export", "--json", "-o", str(out), "--calibration-tokens", "2048"]) == 0
    return out


def test_build_directory_is_complete_and_nir_loads(build):
    assert sorted(os.listdir(build)) == ["graph.nir", "manifest.json", "program.h5", "tokenizer.json"]
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["target"] == "cpu" and manifest["source"]["checkpoint"] == "spikegpt-pydoc.pt"
    assert manifest["numeric"]["weight_bits"] == 8 and manifest["approximations"]
    graph = nir.read(str(build / "graph.nir"))
    assert isinstance(graph.nodes["blocks.0.lif1"], nir.LIF)


def test_identical_inputs_give_byte_identical_builds(build, tmp_path):
    again = tmp_path / "again"
    assert main(["export", "--json", "-o", str(again), "--calibration-tokens", "2048"]) == 0
    for name in os.listdir(build):
        assert (build / name).read_bytes() == (again / name).read_bytes(), name


def test_integer_simulation_keeps_bits_per_character_within_one_percent(build, capsys):
    code, out, _ = _run(capsys, "evaluate", build, "--max-tokens", "3000", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["tokens"] >= 2900
    assert 1.0 < result["float_bpc"] < 2.5
    assert abs(result["ratio"] - 1) < 0.01, result
    assert result["spike_agreement"]["blocks.0.lif1"] > 0.97
    assert result["wraps"] == 0


def test_simulate_generates_counts_and_is_deterministic(build, capsys, tmp_path):
    args = ["simulate", build, "--tokens", "30", "--seed", "3", "--json"]
    first = json.loads(_run(capsys, *args, "--spikes-out", tmp_path / "s.npz")[1])
    second = json.loads(_run(capsys, *args)[1])
    assert first["completion"] == second["completion"] and len(first["completion"]) == 30
    assert first["steps"] == 30 + len("The ")
    lifs = [n for n in first["nodes"] if n["kind"] == "LIF"]
    assert len(lifs) == 8 and all(0 < n["firing_rate"] < 1 for n in lifs)
    assert first["totals"]["graded_events"] > 0 and first["totals"]["spikes"] == sum(
        n["spikes"] for n in first["nodes"])
    spikes = np.load(tmp_path / "s.npz")
    assert spikes["blocks.0.lif1"].shape == (34, 128) and spikes["tokens"].shape == (34,)
    assert spikes["blocks.0.lif1"].sum() == next(n["spikes"] for n in lifs if n["node"] == "blocks.0.lif1")


def test_simulate_text_output(build, capsys):
    code, out, err = _run(capsys, "simulate", build, "--prompt", "def ", "--tokens", "10")
    assert code == 0 and out.startswith("def ") and "firing rates: b0.lif1" in err


def _error(capsys, *argv) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()  # progress lines may come first; the error is one line, the last
    assert lines[-1].startswith("neurocompile: error: ") and err.count("error:") == 1 and "Traceback" not in err
    return err


def test_bad_build_directories(build, capsys, tmp_path):
    assert "not a build directory" in _error(capsys, "simulate", tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in os.listdir(build):
        (broken / name).write_bytes((build / name).read_bytes())
    (broken / "program.h5").write_bytes(b"damaged")
    assert "program.h5 does not match its hash" in _error(capsys, "simulate", broken)
    (broken / "program.h5").unlink()
    assert "program.h5 is missing" in _error(capsys, "evaluate", broken)
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["versions"]["neurocompile"] = "0.0.1"
    old = tmp_path / "old"
    old.mkdir()
    for name in os.listdir(build):
        (old / name).write_bytes((build / name).read_bytes())
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert "made by neurocompile 0.0.1" in _error(capsys, "simulate", old)


def test_bad_text_and_prompts(build, capsys, tmp_path):
    assert "outside the model's vocabulary" in _error(capsys, "simulate", build, "--prompt", "日本")
    empty = tmp_path / "e.txt"
    empty.write_text("")
    assert "the file is empty" in _error(capsys, "evaluate", build, "--text", empty)
    latin = tmp_path / "l.txt"
    latin.write_bytes(b"caf\xe9 au lait")
    assert "not UTF-8" in _error(capsys, "evaluate", build, "--text", latin)
    one = tmp_path / "one.txt"
    one.write_text("a")
    assert "at least 2" in _error(capsys, "evaluate", build, "--text", one)


def test_export_errors_leave_nothing_behind(capsys, tmp_path):
    assert "unknown target 'tpu'" in _error(capsys, "export", "--target", "tpu", "-o", tmp_path / "x")
    not_build = tmp_path / "mine"
    not_build.mkdir()
    (not_build / "notes.txt").write_text("keep me")
    assert "no manifest.json written by neurocompile, and it holds notes.txt" in _error(capsys, "export", "-o", not_build)
    assert (not_build / "notes.txt").read_text() == "keep me"
    short = tmp_path / "short.txt"
    short.write_text("abc")
    assert "calibration text too short" in _error(capsys, "export", "-o", tmp_path / "y", "--calibration", short)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "short.txt"]  # no half-written build, no temp dirs


def _copy(build, tmp_path, name: str):
    import shutil

    return shutil.copytree(build, tmp_path / name)


def test_an_evaluation_split_over_workers_gives_the_same_bits_and_resumes(build, capsys, tmp_path):
    """The same windows scored in one process and in two: the integer bits identical, the float bits equal (each
    window's sums are the same, combined in one exactly rounded sum); the parts are kept in the build, and a rerun
    scores only the part that is missing."""
    from neurocompile.build import read_build
    from neurocompile.tasks.language.semantics import evaluate, evaluation_ids

    args = ["--max-tokens", "400", "--streams", "6", "--json"]
    code, out, _ = _run(capsys, "evaluate", _copy(build, tmp_path, "one"), *args)
    one = json.loads(out)
    split = _copy(build, tmp_path, "split")
    code, out, _ = _run(capsys, "evaluate", split, *args, "--workers", "2")
    two = json.loads(out)
    assert code == 0 and (one["parts"], two["parts"]) == (1, 2) and one["streams"] == two["streams"] == 6
    assert two["int_bpc"] == one["int_bpc"] and two["spike_agreement"] == one["spike_agreement"]
    assert two["float_bpc"] == pytest.approx(one["float_bpc"], rel=1e-12)
    parts = sorted((split / "evaluation").iterdir())
    assert len(parts) == 2
    parts[1].unlink()
    b = read_build(split)
    messages = []
    again = evaluate(b, evaluation_ids(b.tokenizer, None, 400)[0], 6, workers=2, progress=messages.append)
    assert "2 parts of 6 windows, 1 kept from an earlier run, 1 to score" in messages[0]
    assert again.int_bpc == one["int_bpc"]
    code, out, err = _run(capsys, "export", "-o", split, "--calibration-tokens", "2048")
    assert code == 0, err  # the parts are ours: a new export may replace the build


def test_a_warm_up_is_read_and_not_scored(build):
    """Each window reads `warmup` tokens before it is scored: the float bits equal the upstream PyTorch model's own
    run over each window's tokens, scored from the warm-up on."""
    import math

    import torch

    from neurocompile import load_model
    from neurocompile.build import read_build
    from neurocompile.models import zoo
    from neurocompile.tasks.language.semantics import evaluate, evaluation_ids

    b = read_build(build)
    ids = evaluation_ids(b.tokenizer, None, 300)[0]
    result = evaluate(b, ids, 3, warmup=40)
    length = (len(ids) - 1 - 40) // 3
    assert (result.tokens, result.streams, result.warmup) == (3 * length, 3, 40)
    model = load_model(zoo.path())
    bits = 0.0
    with torch.no_grad():
        for k in range(3):
            chunk = torch.tensor(ids[k * length: k * length + 40 + length + 1])
            logits, _ = model.forward_with_state(chunk[None, :-1], model.initial_state(1))
            scored = torch.nn.functional.cross_entropy(logits[0, 40:].double(), chunk[41:], reduction="sum")
            bits += scored.item() / math.log(2)
    assert result.float_bpc == pytest.approx(bits / (3 * length), rel=1e-4)


def test_the_same_evaluation_as_ray_tasks(build, ray_cluster, capsys, tmp_path):
    args = ["--max-tokens", "200", "--streams", "4", "--json"]
    code, out, _ = _run(capsys, "evaluate", _copy(build, tmp_path, "local"), *args)
    local = json.loads(out)
    code, out, err = _run(capsys, "evaluate", _copy(build, tmp_path, "ray"), *args, "--ray", ray_cluster)
    assert code == 0, err
    on_ray = json.loads(out)
    assert on_ray["parts"] == 4 and on_ray["int_bpc"] == local["int_bpc"]
    assert on_ray["float_bpc"] == pytest.approx(local["float_bpc"], rel=1e-12)


def test_a_warm_up_on_a_bounded_context_is_refused():
    from neurocompile.errors import UserError
    from neurocompile.graph import CONTEXT
    from neurocompile.tasks.language.semantics import windows

    with pytest.raises(UserError, match="--warmup 5: this model's context is bounded"):
        windows(list(range(100)), 4, {CONTEXT: "32"}, warmup=5)


def test_worker_processes_leave_lavas_start_method_free():
    """A process pool fixes the default multiprocessing start method; Lava, imported later in the same process (a
    notebook that evaluates with workers, then simulates on Lava), must still be able to set 'fork'."""
    import multiprocessing

    from neurocompile.tasks.language.parallel import map_tasks

    before = multiprocessing.get_start_method(allow_none=True)  # None unless Lava was imported earlier in this run
    assert map_tasks(abs, [(-1,), (-2,)], 2) == [1, 2]
    assert multiprocessing.get_start_method(allow_none=True) == before
