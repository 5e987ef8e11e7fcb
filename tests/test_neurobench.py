"""NeuroBench's metrics in the report, checked against the `neurobench` package itself on a network snnTorch builds.

NeuroBench runs the float snnTorch network with its own hooks; neurocompile counts the integer program's events.
Where the two runs' spikes can differ (hidden layers: the integer engine's spikes agree with the float ones to the
tolerance in docs/nir.md) the figures are held to a tolerance; where they cannot (the input layer, the weights)
they are exact.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import neurocompile

from test_nir_import import _snntorch_mlp

pytest.importorskip("neurobench")
pytest.importorskip("snntorch")


def test_report_agrees_with_the_neurobench_package(tmp_path):
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations
    from neurobench.models import SNNTorchModel
    from snntorch.export_nir import export_to_nir
    from torch.utils.data import DataLoader, TensorDataset

    net = _snntorch_mlp(0, sizes=(12, 32, 5))
    with torch.no_grad():  # planted zeros; every other weight far enough from 0 that 8 bits keep it non-zero
        for layer in (net[0], net[2]):
            w = layer.weight
            w.copy_(torch.sign(w) * torch.clamp(w.abs(), min=0.1 * w.abs().max()))
        net[0].weight[:, :3] = 0
        net[2].weight[::2, 5:9] = 0
    steps, streams = 60, 4
    raster = (np.random.default_rng(1).random((steps, streams, 12)) < 0.3).astype(np.int64)
    loader = DataLoader(TensorDataset(torch.from_numpy(raster.transpose(1, 0, 2)).float(), torch.zeros(streams)),
                        batch_size=streams)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = Benchmark(SNNTorchModel(net), loader, [], [], [[ConnectionSparsity],
                           [ActivationSparsity, SynapticOperations, MembraneUpdates]]).run(quiet=True)
        build = neurocompile.export(export_to_nir(net, torch.zeros(12)), target="cpu", output=tmp_path / "b")
    build.simulate(input_spikes=raster)
    report = build.report(energy="hw-45nm")
    ours = report.neurobench
    synops = theirs["SynapticOperations"]  # NeuroBench: per sample (a stream of `steps` steps)
    assert ours["connection_sparsity"] == pytest.approx(theirs["ConnectionSparsity"], abs=5e-4)  # it rounds to 3 places
    assert ours["dense_synops_per_step"] * steps == synops["Dense"]
    assert ours["effective_macs_per_step"] == synops["Effective_MACs"] == 0
    assert ours["effective_acs_per_step"] == pytest.approx(synops["Effective_ACs"] / steps, rel=0.03)
    assert ours["activation_sparsity"] == pytest.approx(theirs["ActivationSparsity"], abs=0.01)
    assert ours["membrane_updates_per_step"] * steps == pytest.approx(theirs["MembraneUpdates"], rel=1e-3)
    assert ours["deployed_weight_bytes"] == sum(layer.weight.numel() for layer in (net[0], net[2]))  # 8-bit weights
    # the input layer sees the same spikes in both runs: its effective ACs exactly, from the weights' non-zeros
    first = next(r for r in report.nodes if r.kind == "Dense")
    expected = (raster.reshape(-1, 12) @ (net[0].weight.detach().numpy() != 0).sum(0)).sum() / (steps * streams)
    assert first.per_step["effective_binary_events"] == pytest.approx(expected)


def test_footprint_is_neurobenchs_on_the_checkpoint(tmp_path):
    """NeuroBench's footprint is every parameter and buffer of the model at its element size: the package's own
    Footprint on the zoo SpikeGPT as loaded equals the report's (issue 23: the report printed the deployed 8-bit
    weights under that name, 865 KB against the package's 3.54 MB)."""
    from neurobench.metrics.static import Footprint
    from neurobench.models import TorchModel

    from neurocompile.models import zoo

    theirs = Footprint()(TorchModel(neurocompile.load_model(zoo.path())))
    build = neurocompile.export(target="cpu", output=tmp_path / "b", calibration_tokens=256)
    build.simulate(tokens=4)
    ours = build.report().neurobench
    assert ours["footprint"] == theirs and theirs > 3_000_000
    assert ours["deployed_weight_bytes"] < theirs / 3
