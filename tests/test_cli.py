"""The command line on the zoo model: inspect, generate, and their errors."""
from __future__ import annotations

import json

import pytest

from neurocompile.cli import main
from neurocompile.models import zoo


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "inspect" in out and "generate" in out


def test_inspect_measures_which_inputs_are_spikes(capsys):
    code, out, _ = _run(capsys, "inspect", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["family"] == "spikegpt" and report["tokenizer"] == "spikegpt-pydoc.vocab.json"
    ops = {op["name"]: op for op in report["ops"]}
    assert ops["blocks.0.ln0"]["measured_input"] == "binary"  # the Heaviside embedding code
    linears = [op for op in report["ops"] if op["op"] == "Linear"]
    assert linears and all(op["measured_input"] == "real" for op in linears)  # upstream feeds real values
    rates = [op["firing_rate"] for op in report["ops"] if op["op"] == "LIF"]
    assert len(rates) == 2 * report["config"]["n_layer"] and any(r > 0 for r in rates)
    card = json.loads(zoo.path().with_suffix(".card.json").read_text())
    assert report["parameters"] == card["parameters"]


def test_inspect_text_output(capsys):
    code, out, _ = _run(capsys, "inspect", str(zoo.path()))
    assert code == 0
    assert "SpikeGPT" in out and "blocks.0.att.wkv" in out and "fires" in out


def test_generate_is_deterministic_per_seed(capsys):
    args = ["generate", "--prompt", "The ", "--tokens", "40", "--json"]
    first = json.loads(_run(capsys, *args, "--seed", "1")[1])
    again = json.loads(_run(capsys, *args, "--seed", "1")[1])
    other = json.loads(_run(capsys, *args, "--seed", "2")[1])
    assert first["completion"] == again["completion"] and len(first["completion"]) == 40
    assert other["completion"] != first["completion"]
    assert first["tokens"] == 40 and first["engine"].startswith("float")


def test_generate_streams_text(capsys):
    code, out, err = _run(capsys, "generate", "--prompt", "def ", "--tokens", "20", "--temperature", "0")
    assert code == 0 and out.startswith("def ") and len(out.rstrip("\n")) >= 4 + 20 - 5
    assert "tokens/s" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--prompt", "λx", "--tokens", "3"], "outside the model's vocabulary"),
        (["generate", "--tokens", "-1"], "argument --tokens: must be in 0..1000000000, got -1"),
        (["generate", "--top-p", "0"], "argument --top-p: must be a finite number in (0, 1], got 0"),
        (["inspect", "--v-threshold", "0"], "argument --v-threshold: must be a finite number in (0, 1e+06], got 0"),
    ],
)
def test_bad_options(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_inspect_bad_text_files(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    assert _run(capsys, "inspect", "--text", str(empty))[2].endswith("the file is empty\n")
    code, _, err = _run(capsys, "inspect", "--text", str(latin))
    assert code == 2 and "not UTF-8" in err


def test_the_progress_line_leaves_lavas_start_method_free():
    """simulate's progress bar (tqdm) is made before Lava is imported in the same process (--engine lava, the API);
    Lava sets multiprocessing's start method when imported, which fails once anything has fixed it."""
    import subprocess
    import sys

    code = ("from neurocompile.verbs.common import progress\nprogress(10, False).close()\n"
            "import multiprocessing\nassert multiprocessing.get_start_method(allow_none=True) is None\n"
            "import lava.proc.dense.process\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
