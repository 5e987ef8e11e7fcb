"""The house has one-way stairs: no import cycle, and no module importing a floor above its own.

Every import statement of every module is read (function-local ones included: they hide cycles, they do not break
them); the floors are declared once, in ``neurocompile/floors.py``."""
from __future__ import annotations

import ast
from pathlib import Path

from neurocompile.floors import FLOORS, ROOT, floor_of

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"neurocompile": REPO / "neurocompile", "neurocompile.models": REPO / "models",
            "neurocompile.targets": REPO / "targets"}  # pyproject's package-dir


def modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package)."""
    found = {}
    for prefix, folder in PACKAGES.items():
        for file in folder.rglob("*.py"):
            parts = [p for p in file.relative_to(folder).with_suffix("").parts if p != "__init__"]
            name = ".".join([prefix, *parts])
            if prefix == "neurocompile" and parts and f"{prefix}.{parts[0]}" in PACKAGES:
                continue
            found[name] = (file, file.name == "__init__.py")
    return found


def imports(name: str, file: Path, package: bool, known: dict) -> set[str]:
    """The project's modules `name` imports (a name imported from a package counts as that package, or as its
    module when it is one)."""
    out = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = name.split(".") if package else name.split(".")[:-1]
            if node.level:
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" for a in node.names] or [module]
            targets = [t if t in known else module for t in targets]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, file, package, known) for name, (file, package) in known.items()}


def test_every_module_has_a_floor():
    for name in modules():
        floor_of(name)


def test_no_module_imports_a_floor_above_its_own():
    upward = []
    for name, deps in graph().items():
        for dep in deps:
            if ROOT in (name, dep):  # the root package's body imports errors only; its lazy facade
                continue  # (neurocompile.export, load_model) is the app floor's and imports on first use
            if floor_of(dep) > floor_of(name):
                upward.append(f"{name} ({FLOORS[floor_of(name)][0]}) imports {dep} ({FLOORS[floor_of(dep)][0]})")
    assert not upward, "\n".join(sorted(upward))


def test_there_is_no_import_cycle():
    edges = {name: {d for d in deps if d != ROOT} for name, deps in graph().items() if name != ROOT}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles[:20])


# the ops `lower` replaces (by a Dense, a CUBA, a ConvSynapse) or removes: no program holds them, so no target gives
# them an integer form
LOWERED_AWAY = {"Affine", "AvgPool2d", "Conv1d", "Conv2d", "Embedding", "EulerCubaLI", "EulerCubaLIF", "EulerI",
                "EulerIF", "EulerLI", "EulerLIF", "Flatten", "Heaviside", "Linear", "Scale", "SumPool2d"}
INTERFACE = {"SpikeInput", "Output", "TokenInput", "TokenCode"}  # exact on every target: their forms are the core's


def test_integer_forms_are_the_targets():
    """How a chip computes an op lives in its target's folder: no op module names a chip; the core registers forms
    only for the program's interface, for every arithmetic; a target's forms name their arithmetic; every other op
    a program may hold has a form some target registered."""
    import re

    from neurocompile.ops import IntegerForm, Op, integer_forms

    for path in sorted((REPO / "neurocompile" / "ops").glob("*.py")):
        named = re.findall(r"lava|loihi|xylo", path.read_text(), re.I)
        assert not named, f"{path.name} names {sorted(set(named))}: a chip's arithmetic belongs in targets/<chip>"
    forms = integer_forms()  # every target loaded (their ops join the registry)
    formed = {op for op, _ in forms}
    formless = {kind for kind, cls in Op.registry.items() if cls not in formed and not issubclass(cls, IntegerForm)}
    assert formless == LOWERED_AWAY, f"ops without an integer form: {sorted(formless ^ LOWERED_AWAY)}"
    in_core = {op.__name__: arithmetic for (op, arithmetic), form in forms.items()
               if form.__module__.startswith("neurocompile.ops")}
    assert in_core == dict.fromkeys(INTERFACE), in_core
    assert all(arithmetic for (_, arithmetic), form in forms.items() if form.__module__.startswith("neurocompile.targets"))


def test_two_chips_may_compute_one_op_two_ways():
    """Forms are keyed by (op, arithmetic): a second chip registers its own form of an op Loihi 2 computes, without
    touching Loihi 2's; a second form in one arithmetic, or beside an interface op's, is refused."""
    import pytest

    from neurocompile.ops import CUBA, IntegerForm, Output, integer_form, integer_forms

    integer_forms()
    loihi2 = integer_form(CUBA, "loihi2")

    class OtherChipCUBA(IntegerForm, op=CUBA, arithmetic="other-chip"):
        pass

    try:
        assert integer_form(CUBA, "other-chip") is OtherChipCUBA and integer_form(CUBA, "loihi2") is loihi2
        assert integer_form(CUBA, "a-third-chip") is IntegerForm  # no form there: quantize refuses the op
        with pytest.raises(TypeError, match="two integer forms"):
            type("Again", (IntegerForm,), {}, op=CUBA, arithmetic="other-chip")
        with pytest.raises(TypeError, match="two integer forms"):
            type("OwnOutput", (IntegerForm,), {}, op=Output, arithmetic="other-chip")
    finally:
        del IntegerForm.forms[CUBA, "other-chip"]
