"""Trace -> graph: float semantics equal PyTorch; NIR files load in plain NIR and read back equal."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from neurocompile import load_model
from neurocompile.graph import FloatRun, Graph, read_nir, run_float, write_nir
from neurocompile.lower import lower
from neurocompile.ops import LIF, Op, TokenShift
from neurocompile.frontends import trace

from helpers import DATA, UPSTREAM, VARIANTS


@pytest.fixture(scope="module", params=VARIANTS)
def traced(request):
    model = load_model(UPSTREAM / f"{request.param}.pt").double()
    return model, trace(model)


def test_graph_float_equals_pytorch(traced):
    model, graph = traced
    tokens = torch.randint(0, model.config.vocab_size, (2, 40))
    with torch.no_grad():
        expected = model(tokens)
    assert (run_float(graph, tokens) - expected).abs().max().item() < 1e-10


def test_graph_spikes_equal_pytorch(traced):
    model, graph = traced
    golden = torch.load(UPSTREAM / f"{'RWKV-ffnPre' if model.config.ffn_pre else 'RWKV'}.golden.pt", weights_only=True)
    run = FloatRun(graph, batch=2)
    seen = {name: [] for name in golden["spikes"]}
    for t in range(golden["tokens"].shape[1]):
        run.step(golden["tokens"][:, t])
        for name in seen:
            seen[name].append(run.values[name])
    for name, expected in golden["spikes"].items():  # upstream's own spikes
        assert torch.equal(torch.stack(seen[name], 1).bool(), expected), name


def _imported_graph():
    """An imported spike-train graph holding every op the NIR frontend makes (SpikeInput, Affine, EulerLIF,
    Linear, EulerCubaLIF, Output, and the SpikeDelay of a loop)."""
    import nir

    from neurocompile.frontends.nir import import_graph

    rng, n, ones = np.random.default_rng(0), 3, np.ones(3)
    return import_graph(nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([4])}),
        "fc": nir.Affine(weight=rng.normal(size=(n, 4)), bias=rng.normal(size=n)),
        "lif": nir.LIF(tau=2e-3 * ones, r=ones, v_leak=0 * ones, v_threshold=ones, v_reset=0 * ones),
        "lin": nir.Linear(weight=rng.normal(size=(n, n))),
        "cuba": nir.CubaLIF(tau_syn=1e-3 * ones, tau_mem=2e-3 * ones, r=ones, v_leak=0 * ones, v_threshold=ones,
                            v_reset=0 * ones, w_in=ones),
        "rec": nir.Linear(weight=rng.normal(size=(n, n))),
        "output": nir.Output(output_type={"output": np.array([n])})},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "lin"), ("lin", "cuba"), ("cuba", "rec"), ("rec", "cuba"),
               ("cuba", "output")]), dt=1e-3,
        reset="subtract")


def _imported_cnn():
    """Conv2d, IF, SumPool2d, AvgPool2d, Flatten on C x H x W maps."""
    import nir

    from neurocompile.frontends.nir import import_graph

    rng = np.random.default_rng(0)
    return import_graph(nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2, 6, 6])}),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(size=(3, 2, 3, 3)), stride=1, padding=1, dilation=1,
                           groups=1, bias=rng.normal(size=3)),
        "if": nir.IF(r=np.ones((3, 6, 6)), v_threshold=np.ones((3, 6, 6)), v_reset=np.zeros((3, 6, 6))),
        "sum": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "avg": nir.AvgPool2d(kernel_size=np.array([3, 3]), stride=np.array([1, 1]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([3, 1, 1])}, start_dim=0),
        "fc": nir.Affine(weight=rng.normal(size=(2, 3)), bias=np.zeros(2)),
        "if2": nir.IF(r=np.ones(2), v_threshold=np.ones(2)),
        "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "conv"), ("conv", "if"), ("if", "sum"), ("sum", "avg"), ("avg", "flat"), ("flat", "fc"),
               ("fc", "if2"), ("if2", "output")]))


def test_every_op_kind_appears_and_round_trips(traced, tmp_path):
    from neurocompile.frontends.nir import import_graph
    from test_nir_import import _conv1d_graph, _delay_graph, _readout_graph, _threshold_graph

    _, graph = traced
    decoder = trace(load_model(DATA / "spikedecoder" / "twohot-batch-head.pt"))  # synthetic steps, attention state
    graphs = [graph, decoder, _imported_graph(), _imported_cnn(), *(import_graph(_readout_graph(0, c)) for c in ("LI", "CubaLI", "I")),
              import_graph(_conv1d_graph(0)), import_graph(_threshold_graph(0)),
              import_graph(_delay_graph(1e-3, steps=(1, 2, 3, 5)), dt=1e-3)]
    kinds = {node.op.kind for g in graphs for node in g.nodes.values()}
    expected = {kind for kind, cls in Op.registry.items() if not cls.lowered}
    assert kinds == expected, f"op kinds without a round-trip test: {expected - kinds}"
    assert {n.op.kind for n in lower(graph).nodes.values()} - kinds == {"Dense", "SpikeEmbedding"}
    for i, g in enumerate(graphs):
        path = tmp_path / f"g{i}.nir"
        write_nir(g, path)
        again = read_nir(path)
        assert again == g
        assert list(again.nodes) == list(g.nodes)
    with pytest.raises(TypeError, match="lowered op"):
        write_nir(lower(graph), tmp_path / "lowered.nir")


def test_plain_nir_sees_native_nodes_and_extension_metadata(traced, tmp_path):
    model, graph = traced
    path = tmp_path / "g.nir"
    write_nir(graph, path)
    g = nir.read(str(path))  # standard reader, type checks on
    key = g.nodes["blocks.1.att.key"]
    assert isinstance(key, nir.Linear)
    np.testing.assert_array_equal(key.weight, model.blocks[1].att.key.weight.detach().numpy())
    lif = g.nodes["blocks.1.lif1"]
    assert isinstance(lif, nir.LIF) and np.all(lif.tau == 2.0) and np.all(lif.v_threshold == 1.0)
    assert isinstance(g.nodes["blocks.1.att.shift"], nir.Delay)
    wkv = g.nodes["blocks.1.att.wkv"]
    assert isinstance(wkv, nir.NIRGraph) and wkv.metadata["neurocompile.op"] in ("WKV", b"WKV")
    np.testing.assert_array_equal(wkv.metadata["neurocompile.param.time_first"], model.blocks[1].att.time_first.detach().numpy())
    assert ("blocks.1.att.key", "blocks.1.att.wkv") in [tuple(e) for e in g.edges]
    assert ("blocks.1.att.key.mix_now", "blocks.1.att.key") in [tuple(e) for e in g.edges]


def test_round_trip_of_each_op_alone(tmp_path):
    """Small graphs, one per op, with parameters that differ from the traced model's."""
    g = Graph(metadata={"k": "v"})
    g.add("tokens", Op.registry["TokenInput"](5))
    g.add("emb", Op.registry["Embedding"](np.arange(15.0).reshape(5, 3)), "tokens")
    g.add("lif", LIF(3, 3.5, 0.25), "emb")
    g.add("shift", TokenShift(3), "lif")
    g.add("out", Op.registry["Output"](3), "shift")
    path = tmp_path / "small.nir"
    write_nir(g, path)
    assert read_nir(path) == g
    assert read_nir(path).nodes["lif"].op.tau == 3.5


def test_reading_a_foreign_nir_file_is_refused(tmp_path):
    path = tmp_path / "foreign.nir"
    nir.write(str(path), nir.NIRGraph.from_list(nir.Linear(weight=np.eye(2))))
    with pytest.raises(ValueError, match="not a neurocompile graph"):
        read_nir(path)


def test_our_nir_writer_writes_exactly_what_nir_write_writes(traced, tmp_path):
    _, graph = traced
    from neurocompile.graph import to_nir

    write_nir(graph, tmp_path / "ours.nir")
    nir.write(str(tmp_path / "theirs.nir"), to_nir(graph), compression=None)
    assert (tmp_path / "ours.nir").read_bytes() == (tmp_path / "theirs.nir").read_bytes()
