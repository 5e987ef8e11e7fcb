"""Ops of the neurocompile graph: each defined once, in the module of its family, with its float semantics, NIR
encoding and lowering (see ``base.Op``); how a chip computes it in integers is the chip's (``base.IntegerForm``,
registered in ``targets/<chip>/arithmetic``).  Importing this package registers every op (``Op.registry``); a new
op family is a new module here and one import line below.
"""
from __future__ import annotations

from .attention import SpikingAttention, TimeSum
from .cells import CUBA, CUBAVoltage, Threshold, EulerCubaLI, EulerCubaLIF, EulerI, EulerIF, EulerLI, EulerLIF
from .conv import Conv1d, Conv2d, ConvSynapse, Flatten, SumPool2d
from .base import (CALIBRATE, HEADROOM, INPUTS_KEY, NOTE_KEY, OP_KEY, PARAM_PREFIX, IntegerForm, Op, QuantContext, Tally,
                   integer_form, integer_forms)
from .elementwise import Add, Mix, Mul, Sigmoid, SquaredReLU
from .io import Output, QOutput, QSpikeInput, SpikeInput
from .neurons import LIF, PeriodicLIF, SpikeDelay, TokenShift
from .norm import LayerNorm, NeuronLayerNorm
from .rwkv import WKV, NeuronWKV
from .synapses import Affine, Dense, Embedding, Heaviside, Linear, Scale, SpikeEmbedding
from .tokens import QTokenCode, TokenCode, TokenInput

__all__ = ["QTokenCode", "TokenCode", "TokenInput", "SpikingAttention", "TimeSum", "PeriodicLIF", "CALIBRATE", "HEADROOM", "INPUTS_KEY", "NOTE_KEY", "OP_KEY", "PARAM_PREFIX", "IntegerForm", "integer_form", "integer_forms", "Op", "QuantContext", "Tally", "NeuronLayerNorm", "QNeuronLayerNorm",
           "Add", "Mix", "Mul", "Sigmoid", "SquaredReLU", "Output", "QOutput",
           "LIF", "TokenShift", "LayerNorm", "WKV", "NeuronWKV",
           "Affine", "Threshold", "CUBAVoltage", "EulerCubaLI", "EulerLI", "Conv1d", "Conv2d", "ConvSynapse", "Flatten", "SumPool2d", "EulerI", "EulerIF", "SpikeDelay", "CUBA", "QSpikeInput", "Dense", "Embedding", "EulerCubaLIF", "EulerLIF", "SpikeInput", "Heaviside", "Linear", "Scale", "SpikeEmbedding"]
