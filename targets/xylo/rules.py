"""Xylo's resources and design rules, checked with our own errors (SynSense's hardware check, ``validate_configuration``,
exists only inside ``samna``, which is not installed here).

Sizes per chip from Rockpool 3.1.0's mappers (``max_hidden_neurons``, ``max_output_neurons`` of
``rockpool/devices/xylo/syns61201|syns63300|syns65302/xylo_mapper.py``), the 16 input channels and the currents per
hidden neuron from its XyloSim modules, the input- and output-expansion limits (128 hidden neurons receive the input
weights; 128 feed the readout) from the rule names of the IMU and Audio 3 mappers (``le_128_input_expansion_neurons``,
``le_128_output_expansion_neurons``: empty bodies in 3.1.0) and Audio 3's register map (``syns65302/ram.py``: 31,744
recurrent weights, 4,096 readout weights).  Unverified against a datasheet: the expansion limits, the weight
memories, and that Audio 2 has no expansion limit (its mapper has no such rule).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from neurocompile.errors import UserError

from .arithmetic import populations

INPUTS = 16


@dataclass(frozen=True)
class System:
    chip: str
    hidden: int
    outputs: int
    currents: int  # synaptic currents per hidden neuron
    input_expansion: int | None = None  # hidden neurons that may receive input weights (None: every one)
    output_expansion: int | None = None  # hidden neurons that may feed the readout
    recurrent_weights: int | None = None  # nonzero recurrent weights the chip stores (None: not published here)
    readout_weights: int | None = None


@dataclass(frozen=True)
class XyloResources:
    systems: dict[str, System]
    sources: dict[str, str] = field(default_factory=dict)


RESOURCES = XyloResources(
    systems={
        "xylo-audio2": System("Xylo Audio 2 (SYNS61201)", hidden=1000, outputs=8, currents=2),
        "xylo-imu": System("Xylo IMU (SYNS63300)", hidden=496, outputs=16, currents=1, input_expansion=128,
                           output_expansion=128),
        "xylo-audio3": System("Xylo Audio 3 (SYNS65302)", hidden=992, outputs=32, currents=2, input_expansion=128,
                              output_expansion=128, recurrent_weights=31_744, readout_weights=4_096),
    },
    sources={
        "hidden, outputs": "Rockpool 3.1.0 mappers' max_hidden_neurons / max_output_neurons (matching the hardware, "
                           "their docstrings say)",
        "inputs": "16 input channels: Rockpool's XyloSim modules and xylo_drc (a warning above 16)",
        "currents": "Rockpool's XyloSim: two synaptic currents per hidden neuron on Audio 2 and 3, one on IMU",
        "expansion": "le_128_input/output_expansion_neurons rules (IMU, Audio 3 mappers; empty in 3.1.0): unverified",
        "weights": "Audio 3 register map (syns65302/ram.py): 31,744 recurrent, 4,096 readout weights: unverified",
    },
)
DEFAULT_SYSTEM = "xylo-audio2"


def usage(program) -> dict[str, int]:
    """What the program uses of each limited resource."""
    hidden, readout = populations(program)
    h, r = hidden.q, readout.q
    return {"inputs": int(h.w_in.shape[0]), "hidden": int(h.w_in.shape[1]), "outputs": int(r.w_out.shape[1]),
            "currents": int(h.dash_syn.shape[1]),
            "input_expansion": int(np.count_nonzero(np.any(h.w_in != 0, axis=(0, 2)))),
            "output_expansion": int(np.count_nonzero(np.any(r.w_out != 0, axis=1))),
            "recurrent_weights": int(np.count_nonzero(h.w_rec)), "readout_weights": int(np.count_nonzero(r.w_out))}


def limits(system: System) -> dict[str, int | None]:
    return {"inputs": INPUTS, "hidden": system.hidden, "outputs": system.outputs, "currents": system.currents,
            "input_expansion": system.input_expansion, "output_expansion": system.output_expansion,
            "recurrent_weights": system.recurrent_weights, "readout_weights": system.readout_weights}


WHAT = {"inputs": "input channels", "hidden": "hidden neurons", "outputs": "readout neurons",
        "currents": "synaptic currents per hidden neuron", "input_expansion": "hidden neurons receiving input weights",
        "output_expansion": "hidden neurons feeding the readout", "recurrent_weights": "nonzero recurrent weights",
        "readout_weights": "nonzero readout weights"}


@dataclass(frozen=True)
class XyloPlacement:
    """A program on one Xylo core of `system`: every resource's use beside its limit (all within)."""

    system: str
    used: dict[str, int]

    def summary(self) -> dict:
        system = RESOURCES.systems[self.system]
        within = ", ".join(f"{self.used[k]:,} of {v:,} {WHAT[k]}" for k, v in limits(system).items() if v is not None)
        return {"line": f"one core of {system.chip}: {within}", "system": self.system, "chip": RESOURCES.systems[self.system].chip, "chips": 1, "cores": 1,
                "lower_bound_cores": 1, "used": dict(self.used), "limits": limits(RESOURCES.systems[self.system])}

    def report(self) -> dict:
        """What the energy report says of the placement: the summary, and ``text``, its sentence."""
        s = self.summary()
        return {**s, "text": s["line"]}

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "resources": {k: asdict(v) for k, v in RESOURCES.systems.items()}}


def check(program, name: str) -> XyloPlacement:
    """The program on `name`'s core, or one UserError naming the first limit it breaks and by how much."""
    system = RESOURCES.systems[name]
    used = usage(program)
    for key, limit in limits(system).items():
        if limit is not None and used[key] > limit:
            raise UserError(f"this network does not fit {system.chip} (--system {name}): {used[key]:,} "
                            f"{WHAT[key]}, over its {limit:,} by {used[key] - limit:,}"
                            + ("; try --system " + ", ".join(other for other in RESOURCES.systems if other != name)
                               if key in ("hidden", "outputs") else ""))
    return XyloPlacement(name, used)


def place(program, system: str | None) -> XyloPlacement:
    return check(program, system or DEFAULT_SYSTEM)


def read_placement(path, program) -> XyloPlacement:
    import json

    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        placement = check(program, str(stored["summary"]["system"]))
        if placement.to_dict() != stored:
            raise ValueError("it is not the placement this program gives")
    except UserError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a valid placement of this build ({type(exc).__name__}: {exc}); export again") from None
    return placement
