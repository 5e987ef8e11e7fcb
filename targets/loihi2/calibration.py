"""Fitting the Loihi 2 timing and energy models to PilotNet, measured on silicon (``anchors.PILOTNET``).

The network is lava-dl's ``pilotnet_snn/network.net`` (the file Intel benchmarked), read here with h5py for its
geometry and weights.  Its activity per layer and step comes from lava-dl's own ground truth for that network
(``tests/lava/lib/dl/netx/gts/pilotnet_lif``: every layer's spikes over 24 steps of netx running the network in
Lava on one frame, ``image.npy``) -- Intel's benchmark frame is not public, so that frame stands in for it, and the
spread of the activity over the steps is the calibration's range.  From them, per layer and step: neuron updates
(every neuron, every step), spikes, and synaptic events (each input spike times the synapses it reaches: the
convolution's receptive fields, or a dense layer's outputs), all of them and those of non-zero weights.

Two fits, one free parameter each (one anchor cannot fix more):

* **time**: a step takes a fixed cost (barrier synchronisation, message transport, the host's step control --
  ``step_overhead_seconds``) plus the busiest neurocore's work at the timing model's per-core rates; on Intel's own
  placement of PilotNet (``anchors.PILOTNET.cores_per_layer``, the layer's events split evenly over its cores) the
  fixed cost is the measured step (152.9 µs) less the busiest core's work.  Its range: the busiest core's work at
  the least and most active steps.
* **energy**: one factor on every hw-45nm price, so that PilotNet's counted events cost its measured dynamic energy
  per frame (1.094 mJ over 16 steps); its range from the least and most active steps.

The held-out check (Abreu et al.'s LLM) is ``tools/calibrate_loihi2.py``'s: it runs a comparably sized SpikeGPT
through the whole pipeline with the fitted model.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .anchors import PILOTNET

# lava-dl's ground-truth files for each netx layer of PilotNet LIF (network order; the flatten has none)
GTS = {"input": "input.npy", "conv": ("conv-0.npy", "conv-1.npy", "conv-2.npy", "conv-3.npy", "conv-4.npy"),
       "dense": ("fc-0.npy", "fc-1.npy", "fc-2.npy", "fc-3-s.npy")}


@dataclass(frozen=True)
class LayerActivity:
    name: str
    kind: str  # netx's layer type: input, conv, dense
    neurons: int
    synapses: int  # stored weights (a convolution's kernel once)
    spikes: np.ndarray  # [T] spikes out per step
    synops: np.ndarray  # [T] synaptic events in per step (input spikes x synapses reached)
    effective_synops: np.ndarray  # [T] the same, over non-zero weights

    def summary(self) -> dict:
        return {"name": self.name, "kind": self.kind, "neurons": self.neurons, "synapses": self.synapses,
                "spikes_per_step": float(self.spikes.mean()), "synops_per_step": float(self.synops.mean()),
                "effective_synops_per_step": float(self.effective_synops.mean()),
                "firing_rate": float(self.spikes.mean() / self.neurons)}


def _raster(path: Path, neurons: int) -> np.ndarray:
    """A ground-truth file as [T, neurons] of 0/1 (netx's order: x, y, channel, time; or neuron, time)."""
    a = np.load(path)
    a = (a != 0).reshape(-1, a.shape[-1])  # spikes of the last layer are stored as graded values: 0 or not
    if a.shape[0] != neurons:
        raise ValueError(f"{path.name}: {a.shape[0]} neurons, the network's layer has {neurons}")
    return a.T.astype(np.float32)


def pilotnet_activity(network: Path, gts: Path, steps: int | None = None) -> list[LayerActivity]:
    """Per layer of the netx file: neurons, synapses and the activity lava-dl's ground truth records."""
    import h5py

    files = [GTS["input"], *GTS["conv"], *GTS["dense"]]
    if steps is None:  # the files' common length (the output layer's record is one step longer)
        steps = min(np.load(gts / name, mmap_mode="r").shape[-1] for name in files)
    out: list[LayerActivity] = []
    previous: np.ndarray | None = None  # the layer before's spikes, [T, C, H, W] or [T, n]
    with h5py.File(network, "r") as f:
        layers = [f["layer"][str(i)] for i in range(len(f["layer"]))]
        kinds = [layer["type"][0].decode() for layer in layers]
        if [k for k in kinds if k != "flatten"] != ["input"] + ["conv"] * 5 + ["dense"] * 4:
            raise ValueError(f"{network}: layers {kinds}, not PilotNet LIF's input, 5 conv, flatten, 4 dense")
        for layer, kind in ((layer, kind) for layer, kind in zip(layers, kinds) if kind != "flatten"):
            shape = tuple(int(v) for v in layer["shape"][()])  # netx: (C, H, W) for maps, reversed x, y, c
            neurons = int(np.prod(shape))
            name = files[len(out)]
            spikes = _raster(gts / name, neurons)[:steps]
            t = spikes.shape[0]
            if kind == "input":
                synapses, synops, effective = 0, np.zeros(t), np.zeros(t)
            elif kind == "conv":
                w = layer["weight"][()]
                # SLAYER's export: weight [out, in, kH, kW], stride and padding (H, W) -- checked against the layers'
                # shapes (conv 4: 48 x 7 x 24 -> 64 x 4 x 22 by stride (2, 1), padding (1, 0))
                stride = tuple(int(v) for v in layer["stride"][()])
                pad = tuple(int(v) for v in layer["padding"][()])
                synops, effective, out_shape = conv_events(previous, w, stride, pad)
                if out_shape != shape[1:]:
                    raise ValueError(f"{network}: layer {len(out)} makes a {out_shape} map, the file says {shape[1:]}")
                synapses = int(w.size)
            else:
                w = layer["weight"][()].reshape(shape[0] if len(shape) == 1 else neurons, -1)
                x = previous.reshape(t, -1)
                synops = x.sum(1) * w.shape[0]
                effective = (x @ (w != 0).T.astype(np.float32)).sum(1)
                synapses = int(w.size)
            out.append(LayerActivity(name.removesuffix(".npy").removesuffix("-s"), kind, neurons, synapses,
                                     spikes.sum(1), np.asarray(synops, np.float64), np.asarray(effective, np.float64)))
            c, h, w_ = (shape + (1, 1))[:3] if len(shape) == 3 else (shape[0], 1, 1)
            # netx's rasters are x, y, channel: as [T, C, H, W] (y = H) for the next convolution
            previous = spikes.reshape(t, w_, h, c).transpose(0, 3, 2, 1).copy() if len(shape) == 3 else spikes
    return out


def conv_events(x: np.ndarray, weight: np.ndarray, stride: tuple[int, int], padding: tuple[int, int]
                ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Synaptic events a convolution receives per step from input spikes `x` [T, C, H, W]: every (input spike,
    synapse it reaches) pair, all synapses ([T]) and those of non-zero weights ([T]), and the output map's (H, W).
    A spike reaches, in each output channel, the outputs whose receptive field covers it: summed over the outputs,
    that is the convolution of the spikes with a kernel of ones (with the weights' non-zero mask for the effective
    count)."""
    import torch
    import torch.nn.functional as F

    spikes = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    reach = F.conv2d(spikes, torch.ones((1, *weight.shape[1:])), stride=stride, padding=padding)
    nonzero = F.conv2d(spikes, torch.from_numpy((weight != 0).astype(np.float32)), stride=stride, padding=padding)
    return (reach.sum((1, 2, 3)).numpy().astype(np.float64) * weight.shape[0],
            nonzero.sum((1, 2, 3)).numpy().astype(np.float64), tuple(reach.shape[2:]))


def busiest_core(activity: list[LayerActivity], cores: tuple[int, ...], synops_per_s: float,
                 neuron_ops_per_s: float) -> np.ndarray:
    """[T] seconds of the busiest neurocore per step: each layer's events split evenly over its cores."""
    loads = [(layer.synops / synops_per_s + layer.neurons / neuron_ops_per_s) / n for layer, n in zip(activity, cores)]
    return np.max(np.stack(loads), axis=0)


@dataclass(frozen=True)
class Fit:
    value: float
    low: float
    high: float
    how: str


def fit_step_overhead(activity: list[LayerActivity], synops_per_s: float, neuron_ops_per_s: float,
                      measured_step: float = PILOTNET.step_seconds,
                      cores: tuple[int, ...] = PILOTNET.cores_per_layer) -> Fit:
    """The fixed cost per step that makes the model's step on Intel's placement equal the measured one: at the mean
    activity (value), and at the most and least active steps (low, high)."""
    busy = busiest_core(activity, cores, synops_per_s, neuron_ops_per_s)
    value = measured_step - float(busy.mean())
    low, high = measured_step - float(busy.max()), measured_step - float(busy.min())
    return Fit(value, low, high, f"PilotNet's measured {measured_step * 1e6:.1f} µs per step less its busiest core's "
                                 f"{busy.mean() * 1e6:.1f} µs ({busy.min() * 1e6:.1f}-{busy.max() * 1e6:.1f} over the "
                                 f"{len(busy)} steps) on Intel's {sum(cores)}-core placement")


def predicted_dynamic_j_per_step(activity: list[LayerActivity], model) -> np.ndarray:
    """[T] joules per step: the counted events at an energy model's prices (binary synaptic ops -- PilotNet's
    layers send spikes -- and every neuron's update)."""
    synops = sum(layer.synops for layer in activity)
    updates = sum(layer.neurons for layer in activity)
    return (synops * model.cost("binary_synaptic_op") + updates * model.cost("neuron_update")) * 1e-12


def fit_energy_scale(activity: list[LayerActivity], model, measured_j_per_step: float =
                     PILOTNET.dynamic_j_per_frame / PILOTNET.steps_per_frame) -> Fit:
    """The factor on every price that makes PilotNet's counted events cost its measured dynamic energy per step."""
    predicted = predicted_dynamic_j_per_step(activity, model)
    return Fit(measured_j_per_step / float(predicted.mean()), measured_j_per_step / float(predicted.max()),
               measured_j_per_step / float(predicted.min()),
               f"PilotNet's measured {measured_j_per_step * 1e6:.1f} µJ of dynamic energy per step over its counted "
               f"events at {model.name}'s prices ({predicted.mean() * 1e6:.1f} µJ; {predicted.min() * 1e6:.1f}-"
               f"{predicted.max() * 1e6:.1f} over the steps)")


def busiest_placed_core(activity: list[LayerActivity], placement, layers: list[str], synops_per_s: float,
                        neuron_ops_per_s: float) -> np.ndarray:
    """[T] seconds of the busiest neurocore per step on a real placement: each core does, of every layer it holds a
    part of, the synaptic events of the rows of the layer's synapses it holds and the updates of the layer's
    neurons it holds (a layer's events spread evenly over its rows); cores shared by layers add their work."""
    loads = []
    for core in placement.cores:
        load = np.zeros_like(activity[0].synops)
        for layer, name in zip(activity, layers):
            for s in core.slices:
                rows = s.rows[1] - s.rows[0]
                if s.node.startswith(name + ".") and s.synaptic_bytes:  # its synapses (a Dense's or a kernel's rows)
                    load = load + layer.synops * rows / layer.neurons / synops_per_s
                elif s.node == name:  # its neurons
                    load = load + rows / neuron_ops_per_s
        loads.append(load)
    return np.max(np.stack(loads), axis=0)


def placed_cores(placement, layers: list[str]) -> list[int]:
    """Neurocores per layer of a placement: for each name in `layers`, the cores holding any part of the nodes named
    ``name`` or ``name.*`` (a netx import's layer: its synapse, its delay, its neurons)."""
    out = []
    for layer in layers:
        mine = {core.index for core in placement.cores for s in core.slices
                if s.node == layer or s.node.startswith(layer + ".")}
        out.append(len(mine))
    return out


def as_dict(fit: Fit) -> dict:
    return asdict(fit)
