"""How Loihi 2 computes the ops in integers: one ``IntegerForm`` per op (``neurocompile.ops`` holds the ops' float
semantics), in Lava 0.10's fixed point (``../shared/reference/lava.md``, read from Lava's fixed_pt process models).
Importing this package registers every form; an op family's forms live in the module named for it.

Moved so far: the neurons the NIR cells lower to (``cells``), the language models' LIFs and the delays
(``neurons``), the synapses (``synapses``: Lava's Dense).  The other families still carry their integer form
on the op class itself (``ops.integer_form`` falls back to it)."""
from __future__ import annotations

from . import cells, neurons, synapses  # noqa: F401  (registers the forms)
from .cells import QCUBA, QCUBAVoltage, QThreshold
from .neurons import LIF_VTH_MAX, QLIF, QDelay, QPeriodicLIF, QShift
from .synapses import QDense, QSpikeEmbedding

__all__ = ["LIF_VTH_MAX", "QCUBA", "QCUBAVoltage", "QDelay", "QDense", "QLIF", "QPeriodicLIF", "QShift", "QSpikeEmbedding", "QThreshold"]
