"""Loihi 2 (Intel), simulated through Lava 0.10's bit-accurate process models.

Numeric facts (../shared/reference/lava.md, read from Lava's fixed_pt models): 8-bit weight mantissa with a
shared exponent per Dense (``num_weight_bits``, ``weight_exp``), 24-bit u/v state, 12-bit decays, LIF input
added as ``a_in << 6``.  Graded spikes carry up to 24 bits in Lava's processes (Loihi 2 is reported to
allow up to 32); 16 bits is our default payload for real-valued activations, a parameter.
"""
from neurocompile.target import NumericSpec, Target

NUMERIC = NumericSpec(name="loihi2", weight_bits=8, state_bits=24, payload_bits=16, lif_input_bits=18, decay_bits=12)

TARGET = Target(
    name="loihi2",
    description="Intel Loihi 2 through Lava (process graph, core and chip map)",
    numeric=NUMERIC,
)
