"""Structure-aware fuzzing: hypothesis *builds* NIR graphs and SpikeDecoder configs, writes them as files, and runs
the real entry points on them.

The properties (issue 22): only ``UserError`` may come out (the command line's one line, exit code 2), and whatever
is accepted runs on the integer and the float engine with finite results.  Graphs are chains of every NIR node type
this importer reads -- weights, cells, thresholds, delays, loops -- of random widths, with parameters drawn from
normal, zero, negative, tiny, huge, NaN and infinite values.  Derandomized with a bounded number of examples, so CI
runs the same cases every time.
"""
from __future__ import annotations

import json
import warnings

import nir
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neurocompile
from neurocompile import UserError
from neurocompile.tasks.spikes.semantics import input_shape

from helpers import random_spikedecoder

FUZZ = settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))

SPECIAL = [0.0, -1.0, 1e-30, 1e30, -1e30, float("nan"), float("inf"), float("-inf")]


@st.composite
def values(draw, shape: tuple[int, ...], positive: bool = False, hostile: bool = True) -> np.ndarray:
    """An array of `shape`: mostly well-behaved (positive where the field is a time constant), sometimes with one of
    the hostile values planted, sometimes entirely one of them."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([0.1, 1.0, 3.0]))
    a = np.abs(rng.normal(1.0, 0.5, shape)) * 1e-3 + 2e-4 if positive else rng.normal(0, scale, shape)
    if hostile:
        mode = draw(st.sampled_from(["clean"] * 6 + ["plant", "fill"]))
        if mode == "plant" and a.size:
            a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(SPECIAL))
        elif mode == "fill":
            a[...] = draw(st.sampled_from(SPECIAL))
    return a.astype(np.float32)


CELLS = ("LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "Threshold")


@st.composite
def cell(draw, n: int, hostile: bool):
    kind = draw(st.sampled_from(CELLS))
    v = lambda positive=False: draw(values((n,), positive, hostile))  # noqa: E731
    threshold = v() if draw(st.integers(0, 6)) == 0 else np.abs(draw(values((n,), False, False))) + 0.5
    make = {
        "LIF": lambda: nir.LIF(tau=v(True), r=np.abs(v()) + 1, v_leak=v() * 0, v_threshold=threshold),
        "CubaLIF": lambda: nir.CubaLIF(tau_syn=v(True), tau_mem=v(True), r=np.abs(v()) + 1, v_leak=v() * 0,
                                       v_threshold=threshold, w_in=np.abs(v()) + 1),
        "IF": lambda: nir.IF(r=np.abs(v()) + 0.5, v_threshold=threshold),
        "LI": lambda: nir.LI(tau=v(True), r=np.abs(v()) + 1, v_leak=v() * 0),
        "CubaLI": lambda: nir.CubaLI(tau_syn=v(True), tau_mem=v(True), r=np.abs(v()) + 1, v_leak=v() * 0,
                                     w_in=np.abs(v()) + 1),
        "I": lambda: nir.I(r=np.abs(v()) + 0.1),
        "Threshold": lambda: nir.Threshold(threshold=threshold),
    }
    return kind, make[kind]()


@st.composite
def graphs(draw) -> nir.NIRGraph:
    """Input -> (weights -> cell){1..3} [-> Delay] -> Output, weights Linear / Affine / Scale, an optional loop
    through an Affine back into one spiking layer; widths 1..10 (sometimes 0)."""
    hostile = draw(st.booleans())
    width = draw(st.integers(1, 10))
    nodes: dict = {"input": nir.Input(np.array([width]))}
    edges, prev = [], "input"
    spiking: list[tuple[str, int]] = []
    for i in range(draw(st.integers(1, 3))):
        out = draw(st.integers(0 if hostile else 1, 10))
        kind = draw(st.sampled_from(["Linear", "Affine", "Scale"]))
        if kind == "Scale":
            out = width
            nodes[f"w{i}"] = nir.Scale(draw(values((width,), False, hostile)))
        elif kind == "Linear":
            nodes[f"w{i}"] = nir.Linear(draw(values((out, width), False, hostile)) * 3)
        else:
            nodes[f"w{i}"] = nir.Affine(draw(values((out, width), False, hostile)) * 3, draw(values((out,), False, hostile)))
        name, (cell_kind, node) = f"c{i}", draw(cell(out, hostile))
        nodes[name] = node
        edges += [(prev, f"w{i}"), (f"w{i}", name)]
        if cell_kind not in ("LI", "CubaLI", "I"):
            spiking.append((name, out))
        prev, width = name, out
    if spiking and draw(st.booleans()):  # a loop: a spiking layer's spikes back into itself
        name, n = draw(st.sampled_from(spiking))
        nodes["rec"] = nir.Affine(draw(values((n, n), False, hostile)), draw(values((n,), False, hostile)))
        edges += [(name, "rec"), ("rec", name)]
    if prev in dict(spiking) and draw(st.booleans()):
        steps = draw(st.sampled_from([1, 2, 5, 1e9])) if hostile else draw(st.integers(1, 4))
        nodes["delay"] = nir.Delay(np.full(width, steps * 1e-4, np.float32))
        edges.append((prev, "delay"))
        prev = "delay"
    nodes["output"] = nir.Output(np.array([width]))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _run_or_refuse(call):
    """The call's result, or None when it was refused with a UserError (with a message on one line)."""
    try:
        return call()
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)
        return None


@FUZZ
@given(graphs(), st.sampled_from(["cpu", "loihi2", "xylo"]), st.sampled_from(["zero", "subtract"]), st.data())
def test_built_nir_graphs_are_refused_or_run_finite(tmp_path_factory, graph, target, reset, data):
    """A graph written to a file and exported: refused with a UserError, or exported and run on the integer and the
    float engine with finite outputs (no warning of numpy's either: a NaN that slips through warns)."""
    work = tmp_path_factory.mktemp("g")
    path = work / "g.nir"
    try:
        nir.write(path, graph)
    except Exception:  # noqa: BLE001 -- nir itself cannot write this graph: nothing for us to read
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        build = _run_or_refuse(lambda: neurocompile.export(path, target=target, output=work / "b", reset=reset,
                                                           steps=32))
        if build is None:
            return
        shape = input_shape(build.program)
        raster = (np.random.default_rng(data.draw(st.integers(0, 99))).random((12, 2, *shape)) < 0.4).astype(np.int64)
        for engine in ("cpu", "float"):
            run = build.simulate(input_spikes=raster, engine=engine)
            for name, out in run.outputs.items():
                assert np.all(np.isfinite(out)), (engine, name)


CONFIG_VALUES = st.one_of(st.integers(-3, 70), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                          st.sampled_from(["two-hot", "learned", "static", "linear", "batch", "layer", "average",
                                           "final", "", "PowerNorm"]), st.none(), st.lists(st.text(max_size=3), max_size=3))


@pytest.fixture(scope="module")
def decoder(tmp_path_factory):
    """A small SpikeDecoder checkpoint (upstream format) and its full config."""
    work = tmp_path_factory.mktemp("sd")
    _, state, config = random_spikedecoder(3, vocab_size=32, max_len=8, encodingType="learned",  # no defaults:
                                           position_encoding_strategy="static", tok_embed_dim=8, pos_embed_dim=8,
                                           heads=4, blocks=1, timesteps=3, attention_scale=0.25, pos_bias=0.1,
                                           dim_hid=2)  # a key left out and defaulted would change the model
    torch.save(state, work / "sd.pt")
    with torch.no_grad():
        logits = neurocompile.load_model(work / "sd.pt", config=config)(TOKENS)
    return work / "sd.pt", config, logits


TOKENS = torch.tensor([[0, 1, 2, 3, 4]])


@FUZZ
@given(st.data())
def test_built_spikedecoder_configs_are_refused_or_load(decoder, tmp_path_factory, data):
    """The checkpoint's own config with keys removed, replaced by odd values, or added: loading it is refused with a
    UserError or gives a model whose logits are finite -- and a config that only lost keys loads the very model
    the full config does, or is refused (no silent default that changes the model)."""
    checkpoint, config, expected = decoder
    mutated = dict(config)
    actions = []
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["drop", "drop", "set", "add"]))
        actions.append(action)
        if action == "drop" and mutated:
            mutated.pop(data.draw(st.sampled_from(sorted(mutated))))
        elif action == "set" and mutated:
            mutated[data.draw(st.sampled_from(sorted(mutated)))] = data.draw(CONFIG_VALUES)
        else:
            mutated[data.draw(st.sampled_from(["num_heads", "embed_dim", "attn_dropout", "spiking_residuals",
                                                "learning_MSLIF", "surprise"]))] = data.draw(CONFIG_VALUES)
    work = tmp_path_factory.mktemp("cfg")
    try:
        text = json.dumps(mutated, allow_nan=True)
    except (TypeError, ValueError):
        return
    (work / "cfg.json").write_text(text)
    model = _run_or_refuse(lambda: neurocompile.load_model(checkpoint, config=work / "cfg.json"))
    if model is None:
        return
    with torch.no_grad():
        logits = model(TOKENS)
    assert torch.isfinite(logits).all()
    if set(actions) == {"drop"}:
        torch.testing.assert_close(logits, expected, rtol=0, atol=0)
