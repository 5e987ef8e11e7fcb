"""lava-dl netx HDF5 networks (``.net``: lava-dl's SLAYER ``export_hdf5``, Intel's own networks) -> a spike-train build.

A netx file is already in Loihi's fixed point: its integers *are* the program, so nothing is calibrated or quantized
again.  Each layer becomes what ``netx.hdf5.Network`` builds in Lava (lava-dl 0.6.0, ``netx/hdf5.py``):

* a synapse -- the layer's integer weights as Lava's bit-accurate Dense uses them: netx rescales them
  (``optimize_weight_bits``: shifted left by ``s`` bits, exponent ``-s``), Lava truncates what the weight bits do not
  hold and shifts the accumulated sum back (floor).  Ours is a ``Dense`` with the same weights and exponent, so the
  same sums and the same floors (``_synapse``);
* a neuron -- netx's ``CUBA``/``LOIHI`` neuron is Lava's LIF: ``du = iDecay - 1``, ``dv = vDecay``,
  ``vth = vThMant``, the layer's ``bias`` as ``bias_mant`` at ``bias_exp = 6``; ours is the ``CUBA`` op, which is that
  arithmetic (``refDelay`` is not used by netx's LIF either);
* an ``input`` layer with a neuron: that neuron fed by the network's input spikes directly (an identity synapse
  here, exact);
* Lava's Dense delivers its sums one step late (it sends at step t what it accumulated at t - 1), so each dense layer
  reads the spikes of the step before: a one-step ``SpikeDelay`` in front of its synapse.  With it the program is
  netx's timing exactly -- a biased neuron integrates its bias from step 0, before any input reaches it, as in Lava
  -- and its spikes are netx's at the same steps.

The float graph beside the program (``graph.nir``: what ``simulate --engine float`` and ``evaluate`` compare with) is
the same network read as real numbers, NIR's ``CubaLIF`` in units of Lava's state: the weights times ``2^exponent``
without the floor, decays ``(iDecay)/4096`` and ``vDecay/4096`` as Euler steps of one time step, threshold
``vThMant << 6`` -- lowering it gives back exactly the program's neuron.

This slice reads ``input``, ``conv`` (Lava's Conv on C x H x W maps, unrolled into its Dense), ``flatten`` (the maps
are flat in the order it gives them), ``dense`` and ``dense_rec`` (its own spikes through ``weight_rec``, one step
late, the two matrices rescaled together as netx does) layers with ``CUBA``/``LOIHI`` neurons and binary spikes.
A dense layer's synaptic ``delay`` (one value, per output, per input, or [out, in]: netx's ``DelayDense``) splits its
synapse by delay: the synapses of delay d read the spikes 1 + d steps late, each part's sum floored on its own (Lava's
DelayDense shifts each delay slot's sum as it accumulates it).  Everything else is refused by name, never approximated:
``pool``/``average``/``convT``/``unpool``/``concat``/``dense_comp`` (netx itself builds none of the last six), graded
spikes, ``SDNN`` and ``RF`` neurons, a decay of 0 (a current or voltage that never decays is no NIR CubaLIF).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ... import fixed, files
from ...errors import UserError
from ...graph import Graph
from ...ops import QOutput, QSpikeInput
from ...ops.base import MAX_NEURONS
from ...ops.cells import EulerCubaLIF
from ...targets.loihi2.arithmetic import QCUBA, QConv, QDelay, QDense
from ...ops.io import Output, SpikeInput
from ...ops.neurons import SpikeDelay
from ...ops.conv import Conv2d, Flatten
from ...ops.synapses import Linear

BIAS_EXP = 6  # netx: the layer's bias is Lava's bias_mant, at bias_exp 6
MAX_VALUES = 1 << 26  # what one array of a netx file may declare (a 8192 x 8192 weight matrix)
REFUSED_LAYERS = {"pool": "netx itself builds no pool layer (lava-dl 0.6.0 raises NotImplementedError)",
                  "average": "netx itself builds no average layer", "convT": "netx itself builds no convT layer",
                  "unpool": "netx itself builds no unpool layer", "concat": "netx itself builds no concat layer",
                  "dense_comp": "complex dense layers (resonate-and-fire networks) are not read"}


@dataclass(frozen=True)
class Neuron:
    """A netx CUBA neuron population in Lava's LIF units."""

    du: np.ndarray  # Lava LIF du (iDecay - 1)
    dv: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray


@dataclass(frozen=True)
class Layer:
    index: int
    kind: str  # netx's layer type: input, dense, dense_rec
    size: int
    neuron: Neuron | None  # an input layer may have none (a shape only)
    halves: np.ndarray | None = None  # [out, in] int8: Lava's effective weights over two ...
    exponent: int = 0  # ... and the exponent the accumulated sum is shifted by (floor)
    recurrent: np.ndarray | None = None  # dense_rec: [out, out] int8 halves of the weights from its own spikes
    delays: np.ndarray | None = None  # [out, in] synaptic delays in steps beyond Lava's Dense's one (netx's DelayDense)
    conv: Conv2d | None = None  # a conv layer's geometry (its ``halves`` are then the kernel's: [out, in / groups, kh, kw])
    maps: tuple = ()  # the C x H x W maps its neurons form (an input or conv layer's), when not a vector

    @property
    def name(self) -> str:
        return f"layer{self.index}"


def is_netx_file(path: str | Path | None) -> bool:
    """An HDF5 file with a top-level ``layer`` group whose members carry a ``type`` (lava-dl's netx format), or any
    HDF5 file named ``.net`` (a damaged one is then refused as a netx network, not as something else)."""
    if path is None or not Path(path).is_file():
        return False
    try:
        with Path(path).open("rb") as fh:
            if fh.read(8) != b"\x89HDF\r\n\x1a\n":
                return False
        if Path(path).suffix.lower() == ".net":
            return True
        import h5py

        with h5py.File(path, "r") as f:
            layers = f.get("layer")
            return isinstance(layers, h5py.Group) and all(isinstance(layers[k], h5py.Group) and "type" in layers[k]
                                                          for k in layers)
    except (OSError, ValueError, KeyError):
        return False


def read_netx(path: Path) -> list[Layer]:
    """The file's layers, checked: every array's declared size before it is read, every value an integer in Lava's
    range, the shapes chaining; one UserError naming the file and layer otherwise."""
    import h5py

    path = files.regular_file(Path(path), "the netx file")
    try:
        with h5py.File(path, "r") as f:
            group = f.get("layer")
            if not isinstance(group, h5py.Group) or len(group) == 0:
                raise UserError(f"{path}: no 'layer' group with layers in it: not a netx network")
            names = sorted(group, key=lambda k: int(k) if k.isdigit() else -1)
            if names != [str(i) for i in range(len(names))]:
                raise UserError(f"{path}: layers named {files.listing(names)}; netx numbers them 0, 1, 2, ...")
            return _layers(path, [group[k] for k in names])
    except UserError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a readable netx network ({str(exc).splitlines()[0]})") from None


def _text(value) -> str:
    value = value[()] if hasattr(value, "shape") else value
    value = value.reshape(-1)[0] if isinstance(value, np.ndarray) else value
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _array(path: Path, where: str, dataset) -> np.ndarray:
    size = int(np.prod(dataset.shape)) if hasattr(dataset, "shape") else 1
    if size > MAX_VALUES:
        raise UserError(f"{path}: {where} declares {size:,} values, over the {MAX_VALUES:,} one array may hold here")
    value = np.asarray(dataset[()] if hasattr(dataset, "shape") else dataset)
    if value.dtype.kind not in "biuf":
        raise UserError(f"{path}: {where} is {value.dtype}, not numbers")
    value = value.astype(np.float64)
    bad = ~np.isfinite(value) | (value != np.round(value))
    if bad.any():
        raise UserError(f"{path}: {where} holds {value[bad].flat[0]}; netx values are integers")
    return value.astype(np.int64)


def _layers(path: Path, groups) -> list[Layer]:
    layers: list[Layer] = []
    width: int | None = None  # what the previous layer sends
    maps: tuple[int, ...] | None = None  # ... as C x H x W maps (netx's shape, reversed from its x, y, c)
    for i, g in enumerate(groups):
        kind = _text(g["type"]) if "type" in g else "?"
        where = f"layer {i} ({kind})"
        if kind in REFUSED_LAYERS:
            raise UserError(f"{path}: {where}: {REFUSED_LAYERS[kind]}; this version reads input, conv, flatten, dense "
                            f"and dense_rec layers")
        if kind == "flatten":
            continue  # maps are held flat, C x H x W -- the order netx's flatten gives them (transposed from x, y, c)
        if kind not in ("input", "conv", "dense", "dense_rec"):
            raise UserError(f"{path}: {where}: not a netx layer type (netx reads input, conv, pool, convT, unpool, "
                            f"flatten, dense, dense_rec, average, concat)")
        if "delay" in g and kind != "dense":
            raise UserError(f"{path}: {where}: synaptic delays on a {kind} layer; this version reads them on dense "
                            f"layers")
        shape = _array(path, f"{where} shape", g["shape"]) if "shape" in g else None
        if shape is None or shape.size == 0 or shape.min() < 1:
            raise UserError(f"{path}: {where}: shape {None if shape is None else shape.tolist()}; every layer needs one, "
                            f"each dimension at least 1")
        size = int(np.prod(shape))
        if size > MAX_NEURONS:
            raise UserError(f"{path}: {where}: {size:,} neurons, over the {MAX_NEURONS:,} one layer may have")
        channels = int(shape[0]) if kind == "conv" and shape.size == 3 else None
        neuron = _neuron(path, where, g, size, channels) if "neuron" in g else None
        if kind == "input":
            if layers or i != 0:
                raise UserError(f"{path}: {where}: an input layer after other layers")
            if neuron is not None:  # netx's Input block applies neither the layer's weight nor its bias (a program
                # may set bias_mant after loading, as PilotNet's benchmark feeds its frame): the neuron as netx builds it
                neuron = replace(neuron, bias_mant=np.zeros(size, np.int64))
            layers.append(Layer(i, "input", size, neuron, maps=tuple(int(v) for v in shape) if shape.size == 3 else ()))
            width, maps = size, tuple(int(v) for v in shape)
            continue
        if neuron is None:
            raise UserError(f"{path}: {where}: no neuron group; netx then uses a non-leaky integrator this version "
                            f"does not read (give the layer its neuron)")
        weight = _array(path, f"{where} weight", g["weight"]) if "weight" in g else None
        if weight is None:
            raise UserError(f"{path}: {where}: no weight")
        if kind == "conv":
            conv = _conv(path, where, g, weight, maps, tuple(int(v) for v in shape))
            layers.append(Layer(i, kind, size, neuron, *_whole(path, where, np.rint(conv.weight).astype(np.int64), 0),
                                conv=conv, maps=tuple(int(v) for v in shape)))
            width, maps = size, tuple(int(v) for v in shape)
            continue
        weight = weight.reshape(size, -1) if weight.ndim == 1 else weight
        if weight.ndim != 2 or weight.shape[0] != size:
            raise UserError(f"{path}: {where}: weight of shape {list(weight.shape)} for {size} neurons; netx stores "
                            f"[out, in]")
        if width is not None and weight.shape[1] != width:
            raise UserError(f"{path}: {where}: weight reads {weight.shape[1]} inputs, but the layer before sends "
                            f"{width}")
        recurrent = None
        if kind == "dense_rec":
            recurrent = _array(path, f"{where} weight_rec", g["weight_rec"]) if "weight_rec" in g else None
            recurrent = recurrent.reshape(size, -1) if recurrent is not None and recurrent.ndim == 1 else recurrent
            if recurrent is None or recurrent.shape != (size, size):
                raise UserError(f"{path}: {where}: weight_rec of shape "
                                f"{None if recurrent is None else list(recurrent.shape)}; a recurrent layer of {size} "
                                f"neurons needs [{size}, {size}]")
        # netx rescales a recurrent layer's two matrices together: one exponent for both
        joint, exponent = _synapse(path, where, weight if recurrent is None else np.hstack([weight, recurrent]))
        halves = joint[:, :weight.shape[1]]
        delays = _delays(path, where, g["delay"], weight.shape) if "delay" in g else None
        layers.append(Layer(i, kind, size, neuron, halves, exponent,
                            None if recurrent is None else joint[:, weight.shape[1]:], delays))
        width, maps = size, None
    if not any(layer.halves is not None for layer in layers):
        raise UserError(f"{path}: no dense layer: nothing to compute")
    return layers


def _neuron(path: Path, where: str, g, size: int, channels: int | None = None) -> Neuron:
    n = g["neuron"]
    kind = _text(n["type"]) if "type" in n else "?"
    if kind not in ("CUBA", "LOIHI"):
        why = {"SDNN": "sigma-delta neurons", "RF": "resonate-and-fire neurons", "RF_IZ": "resonate-and-fire neurons"}
        raise UserError(f"{path}: {where}: neuron type {kind!r} ({why.get(kind, 'not a netx neuron')}); this version "
                        f"reads CUBA (LOIHI) neurons")
    if "gradedSpike" in n and bool(np.asarray(n["gradedSpike"][()]).reshape(-1)[0]) or \
            "messageBits" in n and int(np.asarray(n["messageBits"][()]).reshape(-1)[0]) > 0:
        raise UserError(f"{path}: {where}: graded spikes; this version reads binary spikes")
    values = {}
    for key in ("iDecay", "vDecay", "vThMant"):
        if key not in n:
            raise UserError(f"{path}: {where}: neuron has no {key}")
        v = _array(path, f"{where} neuron {key}", n[key]).reshape(-1)
        if v.size not in (1, size):
            raise UserError(f"{path}: {where}: neuron {key} has {v.size} values for {size} neurons")
        values[key] = np.broadcast_to(v, (size,)).copy()
    bias = _array(path, f"{where} bias", g["bias"]).reshape(-1) if "bias" in g else np.zeros(1, np.int64)
    if channels is not None and bias.size == channels and size != channels:  # a conv layer's bias per channel
        bias = np.repeat(bias, size // channels)
    if bias.size not in (1, size):
        raise UserError(f"{path}: {where}: bias has {bias.size} values for {size} neurons")
    # vDecay 0: a voltage that never decays (PilotNet's output layer), exact in the program, read in the float graph
    # with Loihi's smallest leak (``_float_neuron``); a current that never decays (iDecay 0) has no Lava du
    limits = {"iDecay": (1, fixed.DECAY_UNITY), "vDecay": (0, fixed.DECAY_UNITY), "vThMant": (1, (1 << 17) - 1)}
    for key, (low, high) in limits.items():
        bad = (values[key] < low) | (values[key] > high)
        if bad.any():
            never = "" if values[key][bad][0] != 0 else " (a current that never decays: Lava's du = iDecay - 1 would " \
                "be -1)" if key != "vThMant" else " (a threshold of 0 fires whenever v > 0: this version's " \
                "neurons take a threshold of at least 1)"
            raise UserError(f"{path}: {where}: neuron {key} is {int(values[key][bad][0])}; Lava takes {low}..{high}"
                            f"{never}")
    if np.abs(bias).max() >= 1 << 12:
        raise UserError(f"{path}: {where}: bias {int(bias[np.abs(bias).argmax()])} is beyond Lava's 13-bit bias "
                        f"mantissa")
    return Neuron(values["iDecay"] - 1, values["vDecay"], values["vThMant"], np.broadcast_to(bias, (size,)).copy())


MAX_DELAY = 62  # netx clamps larger delays to 62 (with a warning)


def _delays(path: Path, where: str, dataset, shape: tuple[int, int]) -> np.ndarray:
    """netx's delay matrix [out, in] (``create_dense``): one value for all synapses, one per output neuron (checked
    first, as netx does), one per input, or the whole matrix; refused beyond what netx keeps unclamped."""
    delay = _array(path, f"{where} delay", dataset)
    if delay.ndim == 0 or delay.size == 1:
        delay = np.full(shape, int(delay.reshape(-1)[0]), np.int64)
    elif delay.ndim == 1 and delay.size == shape[0]:
        delay = np.repeat(delay[:, None], shape[1], 1)
    elif delay.ndim == 1 and delay.size == shape[1]:
        delay = np.repeat(delay[None, :], shape[0], 0)
    elif delay.shape != shape:
        raise UserError(f"{path}: {where}: delay of shape {list(delay.shape)} for weights {list(shape)}; netx takes "
                        f"one value, one per output neuron, one per input, or [out, in]")
    if delay.min() < 0 or delay.max() > MAX_DELAY:
        raise UserError(f"{path}: {where}: delays {int(delay.min())}..{int(delay.max())}; netx clamps them to "
                        f"0..{MAX_DELAY} (this version refuses what it cannot read exactly)")
    return delay


def _conv(path: Path, where: str, g, weight: np.ndarray, maps: tuple[int, ...] | None,
          shape: tuple[int, ...]) -> Conv2d:
    """A conv layer as netx builds it: Lava's Conv process on the file's kernel (netx flips it and Lava convolves:
    PyTorch's correlation on C x H x W, the kernel as the file holds it [out, in / groups, kh, kw]), the integer
    weights as they are (Lava's Conv applies no exponent and no truncation), its sum one step late: the convolution
    with the file's integers as its weights, held as its kernel (``ConvSynapse``)."""
    if maps is None or len(maps) != 3:
        raise UserError(f"{path}: {where}: a convolution needs the C x H x W maps before it (give the file an input "
                        f"layer with its shape, as netx then needs input_shape too)")
    if weight.ndim == 5 and weight.shape[-1] == 1:
        weight = weight[..., 0]
    if weight.ndim != 4:
        raise UserError(f"{path}: {where}: weight of shape {list(weight.shape)}; a conv kernel is [out, in, kh, kw]")
    geometry = {}
    for key, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
        v = _array(path, f"{where} {key}", g[key]).reshape(-1) if key in g else np.array([default])
        if v.size not in (1, 2) or v.min() < (0 if key == "padding" else 1):
            raise UserError(f"{path}: {where}: {key} {v.tolist()}")
        geometry[key] = (int(v[0]), int(v[-1]))
    groups = int(_array(path, f"{where} groups", g["groups"]).reshape(-1)[0]) if "groups" in g else 1
    if groups < 1 or maps[0] != weight.shape[1] * groups:
        raise UserError(f"{path}: {where}: the kernel reads {weight.shape[1] * groups} channels, the maps before it "
                        f"have {maps[0]}")
    if np.abs(weight).max() > 256:
        raise UserError(f"{path}: {where}: weights beyond Lava's 8-bit range ({int(np.abs(weight).max())})")
    op = Conv2d(weight.astype(np.float64), np.zeros(weight.shape[0]), maps, geometry["stride"],
                geometry["padding"], geometry["dilation"], groups)
    if min(op.shape) < 1 or tuple(op.shape) != shape:
        raise UserError(f"{path}: {where}: the convolution gives maps {list(op.shape)}, the file says {list(shape)}")
    return op


def _whole(path: Path, where: str, lava: np.ndarray, s: int) -> tuple[np.ndarray, int]:
    """Lava's integer weights, their sum shifted by ``-s``, as our Dense holds them: ``2 h 2^e`` with the same real
    sum, so the same floor -- h = lava / 2^(j + 1), e = j - s, for the first j whose h is a whole 8-bit mantissa."""
    for j in range(-1, 9):
        h = lava >> (j + 1)
        if np.all(lava % (1 << (j + 1)) == 0) and h.min() >= -128 and h.max() <= 127:
            return h.astype(np.int8), j - s
    raise UserError(f"{path}: {where}: weights {int(lava.min())}..{int(lava.max())} need 9 bits as this version holds "
                    f"them (odd weights beyond -128..127)")


def _synapse(path: Path, where: str, weight: np.ndarray) -> tuple[np.ndarray, int]:
    """netx's ``optimize_weight_bits`` and Lava's bit-accurate Dense, as integers: the weights it shifts left by ``s``
    (and clips, and truncates to the bits it keeps), the sum shifted back by ``-s`` -- as our Dense holds them
    (8-bit ``halves`` times 2 and an exponent: the same real sum before the same floor).  Refused where netx would
    clip."""
    top, bottom = int(weight.max()), int(weight.min())
    if (top > 254 or bottom < -256) if bottom < 0 < top else (top > 255 or bottom < -255):
        raise UserError(f"{path}: {where}: weights span {bottom}..{top}; netx clips them to 8 bits (this version "
                        f"refuses what it cannot read exactly)")
    if top == 0 and bottom == 0:
        return np.zeros(weight.shape, np.int8), 0
    mixed = bottom < 0 < top
    if mixed:
        scale = min(127 / top, -128 / bottom)
    elif top > 0:
        scale = 255 / top
    else:
        scale = -256 / bottom
    s = int(np.floor(np.log2(scale))) + (1 if mixed else 0)
    n = 8
    while n > 0 and np.any(weight % (1 << n)):
        n -= 1
    n -= 1 if mixed else 0
    bits = 8 - s - n
    shifted = weight << s if s >= 0 else weight >> -s
    return _whole(path, where, fixed.effective_weights(shifted, bits), s)  # what Lava's Dense keeps, shifted by -s


def import_netx(path: Path, reset_interval: int | None = None, reset_offset: int = 0):
    """(the float graph, the integer program, what the manifest says of the network).  `reset_interval`,
    `reset_offset`: netx's (``netx.hdf5.Network``'s arguments, not the file's): Lava's LIFReset for every layer, the
    k-th layer built cleared before each step t with t = reset_offset + k (mod reset_interval) -- netx offsets each
    layer one step more, as the frame's first spikes reach it one step later."""
    from ...quantize import Program, QNode
    from ...targets.loihi2 import NUMERIC

    layers = read_netx(path)
    graph = Graph(metadata={"neurocompile.family": "netx", "neurocompile.dt": "1.0", "neurocompile.reset": "zero"})
    first = next(layer for layer in layers if layer.halves is not None)
    width = layers[0].size if layers[0].halves is None else int(np.prod(first.conv.in_shape)) if first.conv else int(first.halves.shape[1])
    maps = layers[0].maps if layers[0].halves is None else first.conv.in_shape if first.conv else ()
    graph.add("input", SpikeInput(width, maps))
    nodes = [QNode("input", "SpikeInput", (), 0, QSpikeInput(width, tuple(maps) or (width,)))]
    prev, built = "input", 0
    for layer in layers:
        if layer.neuron is None:
            continue  # an input layer of a shape only
        synapse = f"{layer.name}.synapse"
        if layer.halves is None and layer.maps:  # an input layer: the input reaches the neuron as it is -- an
            # identity synapse: on maps a one-by-one kernel, channel to same channel (a weight of 1: halves 1 at
            # exponent -1; not grouped, which NIR's type inference does not follow)
            eye = np.eye(layer.maps[0])[:, :, None, None]
            identity = Conv2d(eye, np.zeros(layer.maps[0]), layer.maps)
            graph.add(synapse, identity, prev)
            nodes.append(QNode(synapse, "ConvSynapse", (prev,), 0, _kernel(identity, eye.astype(np.int8), -1)))
            synapses = (synapse,)
        elif layer.halves is None:  # ... on a vector, the identity matrix
            graph.add(synapse, Linear(np.eye(layer.size)), prev)
            nodes.append(QNode(synapse, "Dense", (prev,), 0, _dense(np.eye(layer.size, dtype=np.int8), -1)))
            synapses = (synapse,)
        else:  # Lava's Dense and Conv: one step late; a DelayDense: the synapses of delay d, d steps later still
            synapses = ()
            width = graph.nodes[prev].op.size
            reads, flat = (layer.conv.in_shape if layer.conv else ()), prev
            if not layer.conv and len(getattr(graph.nodes[prev].op, "shape", ())) > 1:  # maps read as a vector (the
                flat = graph.add(f"{layer.name}.flatten", Flatten(tuple(graph.nodes[prev].op.shape)), prev)  # float graph's NIR types)
            exponent = layer.exponent
            parts = _delay_parts(layer) if layer.conv is None else [(0, layer.halves)]
            for d, part in parts:
                suffix = f"{d}" if d else ""
                delayed, name = f"{layer.name}.delay{suffix}", f"{synapse}{suffix}"
                graph.add(delayed, SpikeDelay(width, 1.0, np.full(width, 1 + d), reads), flat)
                real = 2.0 * part.astype(np.float64) * 2.0 ** exponent
                graph.add(name, Linear(real) if layer.conv is None else replace(layer.conv, weight=real), delayed)
                nodes += [QNode(delayed, "SpikeDelay", (prev,), 0, QDelay(np.full(width, 1 + d, np.int64))),
                          QNode(name, "Dense", (delayed,), 0, _dense(part, exponent)) if layer.conv is None else
                          QNode(name, "ConvSynapse", (delayed,), 0, _kernel(layer.conv, part, exponent))]
                synapses += (name,)
        if layer.recurrent is not None:  # its own spikes, one step late (Lava's Dense), through the second matrix
            loop, recurrent = f"{layer.name}.recurrent.delay", f"{layer.name}.recurrent"
            graph.add(loop, SpikeDelay(layer.size, 1.0), layer.name)
            graph.add(recurrent, Linear(2.0 * layer.recurrent.astype(np.float64) * 2.0 ** exponent), loop)
            nodes += [QNode(loop, "SpikeDelay", (layer.name,), 0, QDelay(np.ones(layer.size, np.int64))),
                      QNode(recurrent, "Dense", (loop,), 0, _dense(layer.recurrent, exponent))]
            synapses += (recurrent,)
        period, phase = (reset_interval, (reset_offset + built) % reset_interval) if reset_interval else (0, 0)
        built += 1
        graph.add(layer.name, replace(_float_neuron(layer.neuron, layer.maps), period=period, phase=phase), *synapses)
        n = layer.neuron
        nodes.append(QNode(layer.name, "CUBA", synapses, 0, QCUBA(n.du, n.dv, n.vth, n.bias_mant,
                                                                  np.full(layer.size, BIAS_EXP, np.int64), False,
                                                                  period, phase)))
        prev = layer.name
    graph.add("output", Output(graph.nodes[prev].op.size), prev)
    nodes.append(QNode("output", "Output", (prev,), 0, QOutput(0)))
    program = Program({node.name: node for node in nodes}, NUMERIC, {"family": "netx"})
    info = {**({"reset_interval": reset_interval, "reset_offset": reset_offset} if reset_interval else {}),
            "layers": [{"layer": layer.index, "type": layer.kind, "neurons": layer.size,
                        **({"weight_exponent": layer.exponent} if layer.halves is not None else {})} for layer in layers],
            "float_graph": [f"layer {layer.index}: vDecay 0 (a voltage that never decays, exact in the integer program) "
                            f"is read in graph.nir with Loihi's smallest leak, 1/4096 per step (NIR's CubaLIF has no "
                            f"non-leaky form)" for layer in layers if layer.neuron is not None and not layer.neuron.dv.all()]}
    return graph, program, info


def _delay_parts(layer: Layer) -> list[tuple[int, np.ndarray]]:
    """A dense layer's synapses by delay: (d, the halves of the synapses of delay d, the others zero)."""
    delays = np.zeros(layer.halves.shape, np.int64) if layer.delays is None else layer.delays
    return [(int(d), np.where(delays == d, layer.halves, 0).astype(np.int8))
            for d in np.unique(np.where(layer.halves != 0, delays, 0))]


def _kernel(conv: Conv2d, halves: np.ndarray, exponent: int) -> QConv:
    """A conv layer on spikes: Lava's integer kernel (2 x halves), the sum shifted by `exponent`."""
    geometry = np.array([*conv.in_shape, *conv.stride, *conv.padding, *conv.dilation, conv.groups], np.int64)
    return QConv(halves, exponent, geometry, fixed.STATE_BITS, np.zeros(halves.shape[0], np.int64))


def _dense(halves: np.ndarray, exponent: int) -> QDense:
    """A Dense on spikes: Lava's weights (2 x halves), the sum shifted by `exponent`, unclipped to Lava's 24 bits."""
    n = halves.shape[0]
    return QDense(halves[None], np.full((1, n), exponent, np.int64), np.array([True]), fixed.STATE_BITS,
                  np.zeros(n, np.int64))


def _float_neuron(n: Neuron, maps: tuple = ()) -> EulerCubaLIF:
    """The netx neuron as NIR's CubaLIF at dt = 1 step, in Lava's units: ``a_s = (du + 1) / 4096``,
    ``a_m = dv / 4096``, the input gain ``2^6`` (Lava's ``a_in << 6``), ``v_leak a_m`` = the bias, threshold
    ``vth << 6`` -- whose ``neuron_form`` is the program's CUBA neuron."""
    a_s = (n.du + 1) / fixed.DECAY_UNITY
    a_m = np.maximum(n.dv, 1) / fixed.DECAY_UNITY  # no leak (vDecay 0): NIR's CubaLIF has none; the smallest, 1/4096
    ones = np.ones(n.du.shape[0])
    bias = (n.bias_mant << BIAS_EXP).astype(np.float64)
    return EulerCubaLIF(tau_syn=1 / a_s, tau_mem=1 / a_m, r=1 / a_m, v_leak=bias / a_m,
                        v_threshold=(n.vth << fixed.VTH_SHIFT).astype(np.float64), v_reset=0 * ones,
                        w_in=(1 << fixed.ACT_SHIFT) / a_s, dt=1.0, reset="zero", shape=tuple(maps))


__all__ = ["Layer", "Neuron", "import_netx", "is_netx_file", "read_netx"]
