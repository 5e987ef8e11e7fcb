"""The language-model task: what a run of a token-stream model *means*.

Token ids in, logits out, one token per step.  The task owns the tokenizer a build keeps, the calibration text,
sampling (float reference and integer engine), bits per character (token) and the report's unit, per token
(``semantics``); its command-line verbs are in ``cli``.  This package only names the task, and loads its semantics
when a build first uses them (the command line starts without torch).
"""
from __future__ import annotations

from ...task import Task, lazy

_SEMANTICS = f"{__name__}.semantics"

TASK = Task("language", "token", "per token = per step of the simulated run (the prompt's tokens and the generated "
            "ones), summed over the run and divided by steps x streams", lazy(_SEMANTICS, "probe"), key="token",
            read_extra=lazy(_SEMANTICS, "read_tokenizer"), generates=True, simulate=lazy(_SEMANTICS, "simulate_api"),
            evaluate=lazy(_SEMANTICS, "evaluate_api"), engines=("cpu",), verbs=f"{__name__}.cli")
