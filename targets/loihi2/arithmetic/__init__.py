"""How Loihi 2 computes the ops in integers: one ``IntegerForm`` per op (``neurocompile.ops`` holds the ops' float
semantics), in Lava 0.10's fixed point (``../shared/reference/lava.md``, read from Lava's fixed_pt process models).
Importing this package registers every form, each for the arithmetic ``ARITHMETIC`` (the name of Loihi 2's numeric
spec, ``numeric.NUMERIC``, which its programs carry: the cpu target's programs are Loihi 2's too).  An op family's forms live in the
module named for it: the neurons the NIR cells lower to (``cells``), the language models' LIFs and the delays
(``neurons``), the synapses (``synapses``: Lava's Dense; ``conv``: Lava's Conv), the elementwise neuron programs
(``elementwise``), LayerNorm and WKV (``norm``, ``rwkv``: embedded x86 and neuron programs in the op set assumed in
``microcode``), SpikeDecoder's attention and time sum (``attention``)."""
from __future__ import annotations

from . import attention, cells, conv, elementwise, neurons, norm, rwkv, synapses  # noqa: F401  (registers the forms)
from .attention import QAttention, QTimeSum
from .cells import QCUBA, QCUBAVoltage, QThreshold
from .conv import QConv
from .elementwise import MIX_BITS, SIGMOID_FRAC, QAdd, QMix, QProduct, QTable
from .neurons import LIF_VTH_MAX, QLIF, QDelay, QPeriodicLIF, QShift
from .numeric import ARITHMETIC, NUMERIC
from .norm import QLayerNorm, QNeuronLayerNorm
from .rwkv import QNeuronWKV, QWKV
from .synapses import QDense, QSpikeEmbedding

__all__ = ["ARITHMETIC", "NUMERIC", "QAttention", "QTimeSum", "LIF_VTH_MAX", "MIX_BITS", "SIGMOID_FRAC", "QAdd", "QMix", "QProduct", "QTable", "QCUBA", "QCUBAVoltage", "QConv", "QDelay", "QDense", "QLayerNorm", "QLIF", "QNeuronLayerNorm", "QNeuronWKV", "QPeriodicLIF", "QShift", "QSpikeEmbedding", "QThreshold", "QWKV"]
