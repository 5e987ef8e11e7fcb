"""The floors of neurocompile, lowest first: a module imports modules of its own floor or of floors below it, never
above, and no import cycle exists among modules (``tests/test_architecture.py`` walks every import statement,
function-local ones included).  docs/architecture.md says what each floor owns.

A module belongs to the floor of the longest prefix it matches.  Plug-ins are found, not imported by name:
``target.targets()`` and ``task.tasks()`` load every package under ``neurocompile.targets`` and
``neurocompile.tasks`` (a new chip, a new task: a new folder), so the contracts below them name no implementation.
"""
from __future__ import annotations

FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # what every floor uses: errors, safe files, option ranges, Lava's fixed-point arithmetic
    ("base", ("neurocompile.errors", "neurocompile.files", "neurocompile.options", "neurocompile.fixed",
              "neurocompile.floors", "neurocompile.lava_compat", "neurocompile.plugins")),
    # the compiler's core: ops (float and integer semantics), graphs, lowering, quantization into a Program, energy
    # models, the contracts of targets and tasks, NIR's codec; the upstream PyTorch models; checkpoints
    ("core", ("neurocompile.ops", "neurocompile.graph", "neurocompile.lower", "neurocompile.quantize",
              "neurocompile.energy", "neurocompile.target", "neurocompile.task", "neurocompile.nir_codec",
              "neurocompile.checkpoint", "neurocompile.models", "neurocompile.tokenizers")),
    # chips: numeric and resource specs, partitioners, engines, timing and energy anchors
    ("targets", ("neurocompile.targets",)),
    # model families and importers: checkpoint or NIR graph -> Graph
    ("frontends", ("neurocompile.frontends",)),
    # build directories and runs: checked records on disk
    ("storage", ("neurocompile.build", "neurocompile.runs")),
    # what a run means: inputs, outputs, metrics, units (language model, spike train)
    ("tasks", ("neurocompile.tasks",)),
    # counters x energy model -> tables, figures, formats
    ("report", ("neurocompile.report",)),
    # export: frontend -> lower -> calibrate -> quantize -> place -> build directory
    ("pipeline", ("neurocompile.pipeline",)),
    # what users call: the command line, its verbs (beside their tasks), the Python API, the package's facade
    ("app", ("neurocompile.cli", "neurocompile.interrupt", "neurocompile.verbs", "neurocompile.api",
             "neurocompile.tasks.language.cli", "neurocompile.tasks.language.sweep", "neurocompile.tasks.spikes.cli")),
)

ROOT = "neurocompile"  # the package itself: its lazy facade (``neurocompile.export``) is the app floor's


def floor_of(module: str) -> int:
    """The floor index of `module` (the longest matching prefix; the root package is the app floor)."""
    if module == ROOT:
        return len(FLOORS) - 1
    best, index = "", None
    for i, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, index = prefix, i
    if index is None:
        raise KeyError(f"module {module} belongs to no floor: add it to neurocompile.floors.FLOORS")
    return index
