"""Loihi 2's numeric spec (Lava 0.10's fixed point, ``../shared/reference/lava.md``): 8-bit weight mantissas with a
shared exponent per Dense, 24-bit u/v state, 12-bit decays, the LIF input added as ``a_in << 6`` (18 bits of input
keep the 24-bit current), graded spikes up to 24 bits in Lava's processes (16 bits our default payload, a parameter).
Its name is the arithmetic every form of this package registers for, and every Loihi 2 program carries."""
from __future__ import annotations

from neurocompile.quantize import NumericSpec

NUMERIC = NumericSpec(name="loihi2", weight_bits=8, state_bits=24, payload_bits=16, lif_input_bits=18, decay_bits=12)
ARITHMETIC = NUMERIC.name
