"""The NIR codec table: each NIR node type means one op class, and every op's NIR node reads back as that op.

The samples are NIR's own node classes, made as an exporter makes them (no metadata of ours); what they should
read as is NIR's definition of the type, written out here, not taken from the table under test."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurocompile import ops
from neurocompile.ops import conv
from neurocompile.graph import Graph, from_nir, to_nir
from neurocompile.nir_codec import TABLE, NirContext, decode, encode

rng = np.random.default_rng(0)
N = 4


def _v(*shape, low=0.5, high=2.0):
    return rng.uniform(low, high, shape)


# NIR type -> (an exporter's node, the context an import reads it in, the op class NIR's definition means)
SAMPLES = {
    nir.Input: (nir.Input(input_type={"input": np.array([2, 3, 3])}), NirContext(1e-3, "zero"), ops.SpikeInput),
    nir.Output: (nir.Output(output_type={"output": np.array([N])}), NirContext(1e-3, "zero", (N,)), ops.Output),
    nir.Linear: (nir.Linear(weight=_v(N, N)), NirContext(1e-3, "zero", (N,)), ops.Linear),
    nir.Affine: (nir.Affine(weight=_v(N, N), bias=_v(N)), NirContext(1e-3, "zero", (N,)), ops.Affine),
    nir.Scale: (nir.Scale(scale=_v(N)), NirContext(1e-3, "zero", (N,)), ops.Scale),
    nir.LIF: (nir.LIF(tau=_v(N, low=2e-3, high=5e-3), r=_v(N), v_leak=0 * _v(N), v_threshold=_v(N), v_reset=0 * _v(N)),
              NirContext(1e-3, "subtract", (N,)), ops.EulerLIF),
    nir.CubaLIF: (nir.CubaLIF(tau_syn=_v(N, low=2e-3, high=5e-3), tau_mem=_v(N, low=2e-3, high=5e-3), r=_v(N),
                              v_leak=0 * _v(N), v_threshold=_v(N), v_reset=0 * _v(N), w_in=_v(N)),
                  NirContext(1e-3, "zero", (N,)), ops.EulerCubaLIF),
    nir.IF: (nir.IF(r=_v(N), v_threshold=_v(N), v_reset=0 * _v(N)), NirContext(1e-3, "zero", (N,)), ops.EulerIF),
    nir.LI: (nir.LI(tau=_v(N, low=2e-3, high=5e-3), r=_v(N), v_leak=0 * _v(N)), NirContext(1e-3, "zero", (N,)),
             ops.EulerLI),
    nir.CubaLI: (nir.CubaLI(tau_syn=_v(N, low=2e-3, high=5e-3), tau_mem=_v(N, low=2e-3, high=5e-3), r=_v(N),
                            v_leak=0 * _v(N), w_in=_v(N)), NirContext(1e-3, "zero", (N,)), ops.EulerCubaLI),
    nir.I: (nir.I(r=_v(N)), NirContext(1e-3, "zero", (N,)), ops.EulerI),
    nir.Threshold: (nir.Threshold(threshold=_v(N)), NirContext(1e-3, "zero", (N,)), ops.Threshold),
    nir.Delay: (nir.Delay(delay=np.array([1e-3, 2e-3, 3e-3, 1e-3])), NirContext(1e-3, "zero", (N,)), ops.SpikeDelay),
    nir.Conv1d: (nir.Conv1d(input_shape=6, weight=_v(2, 1, 3), stride=1, padding=1, dilation=1, groups=1, bias=_v(2)),
                 NirContext(1e-3, "zero", (1, 6)), ops.Conv1d),
    nir.Conv2d: (nir.Conv2d(input_shape=(5, 5), weight=_v(2, 1, 3, 3), stride=1, padding=0, dilation=1, groups=1,
                            bias=_v(2)), NirContext(1e-3, "zero", (1, 5, 5)), ops.Conv2d),
    nir.SumPool2d: (nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
                    NirContext(1e-3, "zero", (2, 4, 4)), ops.SumPool2d),
    nir.AvgPool2d: (nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
                    NirContext(1e-3, "zero", (2, 4, 4)), conv.AvgPool2d),
    nir.Flatten: (nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0, end_dim=-1),
                  NirContext(1e-3, "zero", (2, 2, 2)), ops.Flatten),
}


def test_the_table_covers_the_samples_and_nothing_else():
    assert set(TABLE) == set(SAMPLES)


@pytest.mark.parametrize("nir_type", list(SAMPLES), ids=lambda t: t.__name__)
def test_each_nir_type_means_one_op_and_reads_back_as_it(nir_type):
    node, ctx, meaning = SAMPLES[nir_type]
    op, _ = decode(node, ctx)
    assert type(op) is meaning
    written = encode(op, ("x",))
    assert type(written) is nir_type  # AvgPool2d stays AvgPool2d, Scale a Scale (not a diagonal Linear)
    again, _ = decode(written)  # our own file: no context, the op's metadata says the rest
    assert again == op


def test_an_op_whose_nir_node_means_another_carries_its_kind():
    """SpikeGPT's discrete LIF is a nir.LIF, Heaviside a nir.Threshold, a token shift a nir.Delay: each reads back as
    itself, while the same NIR types from an exporter read as NIR's meaning."""
    ours = [ops.LIF(N, 2.0, 0.5), ops.Heaviside(N), ops.TokenShift(N), ops.Embedding(_v(5, N))]
    for op in ours:
        node = encode(op, ("x",))
        assert TABLE[type(node)] is not type(op)
        assert type(decode(node)[0]) is type(op)
        bare = type(node)(**{k: v for k, v in vars(node).items() if k not in ("metadata", "input_type", "output_type")})
        assert type(decode(bare, NirContext(1e-3, "zero", (N,) if not isinstance(op, ops.Embedding) else (5,)))[0]) \
            is TABLE[type(node)]


def test_a_graph_of_every_type_round_trips_through_a_nir_graph():
    graph = Graph(metadata={"neurocompile.family": "test"})
    graph.add("input", ops.SpikeInput(N))
    prev = "input"
    for name, nir_type in (("lin", nir.Linear), ("lif", nir.LIF), ("aff", nir.Affine), ("thr", nir.Threshold)):
        node, ctx, _ = SAMPLES[nir_type]
        op, _ = decode(node, NirContext(ctx.dt, ctx.reset, (graph.nodes[prev].op.size,)))
        prev = graph.add(name, op, prev)
    graph.add("output", ops.Output(graph.nodes[prev].op.size), prev)
    back = from_nir(to_nir(graph))
    assert list(back.nodes) == list(graph.nodes)
    assert all(back.nodes[k].op == graph.nodes[k].op and back.nodes[k].inputs == graph.nodes[k].inputs for k in graph.nodes)


def test_an_op_that_would_read_back_as_another_is_not_written():
    class Forgetful(ops.Heaviside):
        kind = "ForgetfulHeaviside"

        def to_nir(self, input_names):
            return nir.Threshold(threshold=np.zeros(self.n))  # no kind: it would read back as NIR's Threshold

    with pytest.raises(TypeError, match="reads back as Threshold"):
        encode(Forgetful(N), ("x",))
    del ops.Op.registry["ForgetfulHeaviside"]


def test_a_kind_nobody_defined_is_an_error_not_a_default():
    node = nir.LIF(tau=_v(N), r=_v(N), v_leak=0 * _v(N), v_threshold=_v(N), v_reset=0 * _v(N),
                   metadata={"neurocompile.op": "LIFF"})
    with pytest.raises(KeyError, match="no op kind 'LIFF'"):
        decode(node)


def test_an_average_pool_of_an_older_graph_nir_is_refused_not_read_as_a_sum():
    """Before AvgPool2d was its own op, our graph.nir wrote average pools as nir.AvgPool2d marked SumPool2d."""
    node = nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]),
                         metadata={"neurocompile.op": "SumPool2d", "neurocompile.in_shape": np.array([2, 4, 4])})
    with pytest.raises(ValueError, match="export the build again"):
        decode(node)
