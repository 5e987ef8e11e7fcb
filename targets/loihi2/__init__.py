"""Loihi 2 (Intel), simulated through Lava 0.10's bit-accurate process models.

Numeric facts (``arithmetic.numeric``; ../shared/reference/lava.md, read from Lava's fixed_pt models): 8-bit weight mantissa with a
shared exponent per Dense (``num_weight_bits``, ``weight_exp``), 24-bit u/v state, 12-bit decays, LIF input
added as ``a_in << 6``.  Graded spikes carry up to 24 bits in Lava's processes (Loihi 2 is reported to
allow up to 32); 16 bits is our default payload for real-valued activations, a parameter.

Resource facts (../shared/reference/loihi2-energy.md; status in brackets): 128 neurocores and 6 embedded
x86 cores per chip, up to 1 M neurons and 120 M synapses per chip [Intel brief, secondary] -> 8192 neurons
and ~937 k synapses per core.  Synaptic memory per core: 128 KB and 192 KB both circulate [unverified]; we
take 128 KB, a parameter of ``RESOURCES`` (the partition report shows utilisation, so the sensitivity is
visible).  Systems: Oheo Gulch 1 chip, Kapoho Point 8 chips, Hala Point 1,152 chips [secondary]; a 32-chip system
(the one Abreu et al. 2025 measured an LLM on) [secondary].
"""
from neurocompile.target import Engine, Target

from . import rules
from .arithmetic import NUMERIC  # importing it registers the ops' integer forms on Loihi 2
from .figure import placement_figure
from .partition import ResourceSpec, place, read_placement, traffic_by_source
from .timing import extension_placement, timing


RESOURCES = ResourceSpec(
    name="loihi2",
    cores_per_chip=128,
    neurons_per_core=8192,
    synaptic_memory_bytes=128 * 1024,
    embedded_cpus_per_chip=6,
    max_payload_bits=24,
    max_synaptic_delay=63,
    systems={"oheo-gulch": 1, "kapoho-point": 8, "loihi2-32": 32, "hala-point": 1152},
    sources={
        "cores_per_chip": "Intel Loihi 2 brief: 128 neuromorphic cores, 6 x86 cores per chip (secondary)",
        "neurons_per_core": "1 M neurons per chip / 128 cores (Intel brief, secondary)",
        "synaptic_memory_bytes": "128 KB per core: one of two circulating figures (128 / 192 KB), unverified; a parameter",
        "max_payload_bits": "Lava 0.10 graded spikes: 24 bits (Loihi 2 reported up to 32)",
        "max_synaptic_delay": "Lava 0.10's bit-accurate DelayDense: a 6-bit delay field, 0..63 steps beyond the first",
        "systems": "Oheo Gulch 1 chip, Kapoho Point 8 chips, Hala Point 1,152 chips (Intel, secondary); loihi2-32: the "
                   "32-chip Loihi 2 system Abreu et al. 2025 ran a 370M LLM on (24 of its chips used; arXiv 2503.18002, "
                   "via a secondary summary), for comparisons with their measurements. Intel's Hala "
                   "Point announcement (restated by eeNews Europe, 2024-04-17; secondary) gives 140,544 neuromorphic "
                   "cores and 'over 2,300' x86 processors: 122 cores and 2 x86 per chip, not 128 and 6. This spec "
                   "keeps 128 and 6 per chip for every system, so Hala Point's core count is overstated by 4.9 %",
        "mesh_columns": "assumption: a chip's cores on a 16 x 8 mesh, numbered row by row. Loihi 2's cores sit on an "
                        "asynchronous 2D mesh (Intel; Shrestha et al. 2023), but no core map is published",
    },
    mesh_columns=16,
)

def _netx_notes(program):
    from .netx import netx_status, network_status

    return {"netx": netx_status(program), "netx_network": network_status(program)}


def _align(graph, program):
    from .netx import align, align_network

    program, pairs = align(graph, program)
    program, network = align_network(graph, program)
    return program, pairs + network


def _netx_files(program):
    from .netx import NETWORK_FILE, netx_files, network_layers, write_dense_lif, write_network

    whole = {} if isinstance(network_layers(program), dict) else {NETWORK_FILE: lambda path: write_network(path, program)}
    return {**whole, **{name: (lambda path, pair=pair: write_dense_lif(path, program, *pair))
                        for name, pair in netx_files(program).items()}}


def _lava_spikes(build, raster, recorded):
    from .lava_engine import run_spikes

    return run_spikes(build, raster, recorded)


def _lava_language(build, sim, tokens):
    from .lava_engine import run_language

    return run_language(build, sim, tokens)


def _netx_records(program):
    from .netx import recorded_for_netx

    return tuple(recorded_for_netx(program))


LAVA = Engine("lava", "also run the inputs through the build's Lava process graph (loihi2 builds) and check that spikes "
                      "and outputs are identical", ("language", "spikes"), _lava_spikes, _lava_language, _netx_records)

TARGET = Target(
    name="loihi2",
    description="Intel Loihi 2: core and chip map, Lava process graph (simulate --engine lava), netx files",
    numeric=NUMERIC,
    resources=RESOURCES,
    extra_files=_netx_files,
    notes=_netx_notes,
    rescale=_align,
    build_files=("partition.json",),
    place=lambda program, system: place(program, RESOURCES, system),
    read_placement=read_placement,
    placement=rules.placement,
    timing=timing,
    traffic=traffic_by_source,
    placement_figure=placement_figure,
    choose_extension=lambda op, width: extension_placement(op, width, RESOURCES.embedded_cpus_per_chip),
    extension_ops="auto",
    engines=(LAVA,),
    token_shift="delay",  # zoo SpikeGPT: 4.0 vs 6.7 uJ per token under hw-45nm, 7 vs 11 cores (docs/energy-comparison.md)
)
