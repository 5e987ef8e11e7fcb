"""SynSense Xylo: one integrate-and-fire core (a hidden population with recurrent weights, a spiking readout), 16-bit
state, 8-bit weights with one shift per weight bank, power-of-two decays.

A target of its own folder: the arithmetic (``arithmetic``: the program's ops, bit-exact with SynSense's ``xylosim``),
the mapping of a spiking graph onto the core (``mapping``), the chips' resources and design rules (``rules``), the
outside engine (``xylosim_engine``: ``simulate --engine xylosim``).  Systems: ``xylo-audio2`` (SYNS61201, the
default), ``xylo-imu`` (SYNS63300), ``xylo-audio3`` (SYNS65302).  Facts and their sources: ../shared/reference/xylo.md
and each module's doc.
"""
from pathlib import Path

from neurocompile.quantize import NumericSpec
from neurocompile.target import Engine, Target

from . import arithmetic, rules
from .mapping import layout, program, retime
from .timing import timing

# 16-bit currents and voltages; 8-bit weights; 4-bit decay shifts (payload and LIF-input widths: Xylo sends spike counts
# only, so these are the state's)
NUMERIC = NumericSpec(name="xylo", weight_bits=arithmetic.WEIGHT_BITS, state_bits=arithmetic.STATE_BITS,
                      payload_bits=arithmetic.STATE_BITS, lif_input_bits=arithmetic.STATE_BITS, decay_bits=4)


def _xylosim(build, raster, recorded):
    from .xylosim_engine import run_spikes

    return run_spikes(build, raster, recorded)


XYLOSIM = Engine("xylosim", "also run the inputs through SynSense's Xylo simulator (xylo builds) and check that spikes, "
                            "currents and voltages are identical", ("spikes",), _xylosim)

TARGET = Target(
    name="xylo",
    description="SynSense Xylo (Audio 2, IMU, Audio 3): one core, design rules, SynSense's xylosim as a check",
    numeric=NUMERIC,
    resources=rules.RESOURCES,
    program_for=program,
    structure=lambda lowered: layout(lowered).nodes(),
    retime=retime,
    place=rules.place,
    read_placement=rules.read_placement,
    placement=lambda op: "core",
    engines=(XYLOSIM,),
    timing=timing,
    energy_model=Path(__file__).with_name("xylo-45nm.toml"),
    build_files=("partition.json",),
)
