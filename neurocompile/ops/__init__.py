"""Ops of the neurocompile graph: each defined once, in the module of its family, with its float semantics,
integer semantics, NIR encoding and quantization rules side by side (see ``base.Op``).  Importing this package
registers every op (``Op.registry``); a new op family is a new module here and one import line below.
"""
from __future__ import annotations

from .attention import QAttention, QTimeSum, SpikingAttention, TimeSum
from .cells import CUBA, CUBAVoltage, Threshold, EulerCubaLI, EulerCubaLIF, EulerI, EulerIF, EulerLI, EulerLIF
from .conv import Conv1d, Conv2d, ConvSynapse, Flatten, QConv, SumPool2d
from .base import (CALIBRATE, HEADROOM, INPUTS_KEY, NOTE_KEY, OP_KEY, PARAM_PREFIX, IntegerForm, Op, QuantContext, Tally,
                   integer_form)
from .elementwise import SIGMOID_FRAC, Add, Mix, Mul, QMix, QAdd, QProduct, QTable, Sigmoid, SquaredReLU
from .io import Output, QOutput, QSpikeInput, SpikeInput
from .neurons import LIF, PeriodicLIF, SpikeDelay, TokenShift
from .norm import LayerNorm, NeuronLayerNorm, QLayerNorm, QNeuronLayerNorm
from .rwkv import WKV, NeuronWKV, QNeuronWKV, QWKV
from .synapses import Affine, Dense, Embedding, Heaviside, Linear, Scale, SpikeEmbedding
from .tokens import QTokenCode, TokenCode, TokenInput

__all__ = ["QTokenCode", "TokenCode", "TokenInput", "QAttention", "QTimeSum", "SpikingAttention", "TimeSum", "PeriodicLIF", "CALIBRATE", "HEADROOM", "INPUTS_KEY", "NOTE_KEY", "OP_KEY", "PARAM_PREFIX", "IntegerForm", "integer_form", "Op", "QuantContext", "Tally", "NeuronLayerNorm", "QNeuronLayerNorm",
           "SIGMOID_FRAC", "Add", "Mix", "Mul", "QMix", "QAdd", "QProduct", "QTable", "Sigmoid", "SquaredReLU", "Output", "QOutput",
           "LIF", "TokenShift", "LayerNorm", "QLayerNorm", "WKV", "QWKV", "NeuronWKV", "QNeuronWKV",
           "Affine", "Threshold", "CUBAVoltage", "EulerCubaLI", "EulerLI", "Conv1d", "Conv2d", "ConvSynapse", "QConv", "Flatten", "SumPool2d", "EulerI", "EulerIF", "SpikeDelay", "CUBA", "QSpikeInput", "Dense", "Embedding", "EulerCubaLIF", "EulerLIF", "SpikeInput", "Heaviside", "Linear", "Scale", "SpikeEmbedding"]
