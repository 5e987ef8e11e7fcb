"""Property-based fuzzing of the argument parser and of every file reader.

The property: whatever the input, a reader returns a valid value or raises one ``UserError`` -- never another
exception (which the command line would show as a traceback).  Fixed seed (derandomize) and a bounded
number of examples keep this fast and repeatable in CI.
"""
from __future__ import annotations

import math
import shutil
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocompile import UserError
from neurocompile.cli import _parser, main
from neurocompile.models import zoo

FUZZ = settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))

# The documented ranges (README and --help), written out here independently of the parser.
RANGES = {"tokens": (0, 10**9, False), "temperature": (0, 100, False), "top_p": (0, 1, True),
          "seed": (0, 2**63 - 1, False), "block_rows": (0, 2**24, False), "payload_bits": (2, 24, False),
          "calibration_tokens": (16, 10**8, False), "max_tokens": (0, 10**10, False), "v_threshold": (0, 1e6, True)}
OPTIONS = {"generate": ["--tokens", "--temperature", "--top-p", "--seed", "--v-threshold"],
           "simulate": ["--tokens", "--temperature", "--top-p", "--seed"],
           "export": ["--block-rows", "--payload-bits", "--calibration-tokens", "--v-threshold"],
           "evaluate": ["--max-tokens"]}
VALUES = st.one_of(st.integers(-2**70, 2**70).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["nan", "-inf", "inf", "1e309", "0x10", "", " ", "1_000", "٣", "-0", "+5", "1e3"]),
                   st.text(max_size=8))


@FUZZ
@given(st.sampled_from(sorted(OPTIONS)), st.data())
def test_parser_accepts_only_documented_ranges(command, data):
    pairs = data.draw(st.lists(st.tuples(st.sampled_from(OPTIONS[command]), VALUES), max_size=4))
    argv = [command] + (["build"] if command in ("simulate", "evaluate") else [])
    for option, value in pairs:
        argv += [f"{option}={value}"]
    try:
        args = _parser().parse_args(argv)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    for name, (lo, hi, lo_open) in RANGES.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        assert math.isfinite(value) and (value > lo if lo_open else value >= lo) and value <= hi, (name, value)


def _mutate(data: bytes, draw) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(out) - 1))
        out[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return bytes(out)


def _refused_or_fine(call) -> None:
    try:
        call()
    except UserError as exc:
        assert str(exc)


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "b"
    assert main(["export", "--target", "loihi2", "-o", str(out), "--calibration-tokens", "256", "--json"]) == 0
    assert main(["simulate", str(out), "--tokens", "4", "--json"]) == 0
    return out


def _fresh(build: Path, tmp_path: Path, name: str, data: bytes, rehash: bool) -> Path:
    import hashlib
    import json

    copy = tmp_path / "b"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(build, copy)
    (copy / name).write_bytes(data)
    if rehash:  # the hostile case: the manifest made to agree, so only the reader's own checks stand
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["files"][name] = hashlib.sha256(data).hexdigest()
        (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


@FUZZ
@given(st.data())
def test_checkpoint_reader(tmp_path_factory, data):
    from neurocompile.checkpoint import read_checkpoint
    from neurocompile.frontends import build_model

    path = tmp_path_factory.mktemp("ckpt") / "m.pt"
    path.write_bytes(_mutate(zoo.path().read_bytes(), data.draw))
    _refused_or_fine(lambda: build_model(read_checkpoint(path)))


@pytest.mark.parametrize("name", ["program.h5", "graph.nir", "partition.json", "run.npz", "tokenizer.json", "manifest.json"])
def test_build_readers(build, tmp_path, name):
    from neurocompile.build import read_build

    original = (build / name).read_bytes()

    @FUZZ
    @given(st.data())
    def check(data):
        copy = _fresh(build, tmp_path, name, _mutate(original, data.draw), rehash=name != "manifest.json")

        def read_everything():
            b = read_build(copy)
            b.graph, b.partition  # noqa: B018  (read on first use)
            b.run()

        _refused_or_fine(read_everything)

    check()


def _unparsable_npy_header(npz: bytes) -> bytes:
    """The archive with its first array's header cut inside a parenthesis: numpy's header parser (tokenize) fails."""
    import io
    import zipfile

    src, out = zipfile.ZipFile(io.BytesIO(npz)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for i, info in enumerate(src.infolist()):
            member = src.read(info)
            if i == 0:
                length = int.from_bytes(member[8:10], "little")
                header = b"{'descr': '<i8', 'fortran_order': False, 'shape': (".ljust(length - 1) + b"\n"
                member = member[:10] + header + member[10 + length:]
            dst.writestr(info.filename, member)
    return out.getvalue()


def test_array_headers_that_do_not_parse_are_refused(build, tmp_path):
    """Found by the fuzzer above: numpy raises tokenize.TokenError on such a header; both .npz readers refuse it."""
    from neurocompile.build import read_build
    from neurocompile.tasks.spikes.semantics import read_raster

    copy = _fresh(build, tmp_path, "run.npz", _unparsable_npy_header((build / "run.npz").read_bytes()), rehash=True)
    with pytest.raises(UserError, match="damaged or not a neurocompile run"):
        read_build(copy).run()
    raster = tmp_path / "in.npz"
    raster.write_bytes(_unparsable_npy_header(zoo.path("rleaky-patterns.sample.npz").read_bytes()))
    with pytest.raises(UserError, match=str(raster)):
        read_raster(raster, (12,), "--input-spikes")


@FUZZ
@given(st.data())
def test_energy_model_reader(tmp_path_factory, data):
    from neurocompile.energy import load_energy_model

    text = (resources.files("neurocompile") / "energy_models" / "hw-45nm.toml").read_text()
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(lines) - 1))
        lines[at] = data.draw(st.one_of(st.just(""), st.text(max_size=30),
                                        st.sampled_from(["pj = -1", "pj = nan", "pj = 'x'", "status = 'maybe'",
                                                         "[events.x]", "[model]", "typo = 1", "pj = inf"])))
    path = tmp_path_factory.mktemp("toml") / "m.toml"
    path.write_text("\n".join(lines))
    _refused_or_fine(lambda: load_energy_model(path))


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=4)),
    max_leaves=10).map(lambda v: __import__("json").dumps(v).encode())))
def test_tokenizer_reader(tmp_path_factory, data):
    from neurocompile.tokenizers import load_tokenizer

    path = tmp_path_factory.mktemp("tok") / "v.json"
    path.write_bytes(data)

    def load_and_use():
        tok = load_tokenizer(path)
        assert tok.vocab_size >= 1
        tok.decode(list(range(tok.vocab_size)))

    _refused_or_fine(load_and_use)


@FUZZ
@given(st.data())
def test_nir_and_raster_readers(tmp_path_factory, data):
    """A mutated NIR file through the importer, and a mutated raster through the raster reader."""
    from neurocompile.frontends.nir import import_graph, read_nir_file
    from neurocompile.lower import lower
    from neurocompile.tasks.spikes.semantics import read_raster

    folder = tmp_path_factory.mktemp("nir")
    nir_path = folder / "net.nir"
    nir_path.write_bytes(_mutate(zoo.path("rleaky-patterns.nir").read_bytes(), data.draw))
    _refused_or_fine(lambda: lower(import_graph(read_nir_file(nir_path))))
    raster = folder / "in.npz"
    raster.write_bytes(_mutate(zoo.path("rleaky-patterns.sample.npz").read_bytes(), data.draw))
    _refused_or_fine(lambda: read_raster(raster, (12,), "--input-spikes"))
