"""The op set assumed for a Loihi 2 programmable neuron, which the neuron-program forms of the extension ops
(``NeuronWKV``, ``NeuronLayerNorm``) use and nothing more.

Intel publishes no microcode instruction set; Loihi 2's neurons are "fully programmable" with 24-bit state (Orchard et
al. 2021, Davies et al. 2021), so this is a named assumption: 24-bit signed registers; add, subtract, max; arithmetic
shifts (by a constant or a register); a 24 x 24-bit multiply whose 48-bit product is summed with another and shifted
right (multiply-accumulate with a shift); a count of leading zeros; and look-ups in small tables (a few hundred
entries) held in the core's memory.  Every intermediate that is stored is saturated to 24 bits (counted).  Values
that cross between neurons go through synapses and graded spikes (24-bit payloads), with Lava's Dense arithmetic.
"""
from __future__ import annotations


from neurocompile.ops import Tally
from neurocompile.ops.base import _saturated

NEURON_BITS = 24
TOP = (1 << (NEURON_BITS - 1)) - 1


def r24(x, tally: Tally):
    """A stored intermediate: saturated to the neuron's 24-bit registers (counted)."""
    return _saturated(x, NEURON_BITS, tally)
