"""Energy models as data: TOML files pricing each counted event, every figure with its source and derivation.

Shipped models live in ``neurocompile/energy_models/``; ``--energy FILE`` brings one's own with the same
schema.  Energy = counted events x these constants; nothing is estimated from parameter counts.

A model states its primary figures once, as ``[inputs.NAME]`` (``value``, optional ``low``/``high``, ``unit``,
``source``, ``status``), and computes everything else from them by ``formula`` -- ``[derived.NAME]``
intermediates, the five ``[events.NAME]`` and the ``[baseline]`` entries -- so a reader changes one input and sees
every constant that depends on it move.  An event may instead give its ``pj`` directly (a measured figure, such as
Loihi 1's).  ``memory`` says which part of an event is memory access (so baselines can be priced under the same
memory model).  Each figure is evaluated three times: nominal, every input at its ``low``, every input at its
``high``; formulas must not fall when an input rises (checked), so the two are the figure's range.  A figure's
status is the weakest of its own and its inputs' (verified < secondary < unverified < assumption).
"""
from __future__ import annotations

import ast
import math
import operator
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from . import files
from .errors import UserError

EVENTS = ("binary_synaptic_op", "graded_synaptic_op", "graded_message", "neuron_update", "op_eval")
STATUSES = ("verified", "secondary", "unverified", "assumption")  # from strongest to weakest
DEFAULT = "hw-45nm"
BASELINE = ("mac_fp32_pj", "mac_int8_pj", "weight_read_fp32_pj", "weight_read_int8_pj")
ROUTING = ("hop_pj", "chip_crossing_pj")  # optional: per message per mesh hop, per message crossing chips
POINTS = ("value", "low", "high")


@dataclass(frozen=True)
class Quantity:
    """One figure of a model: its value and range, how it was obtained, and how sure it is."""

    value: float
    low: float
    high: float
    source: str
    status: str
    unit: str = "pJ"
    formula: str = ""  # how it is computed from the model's inputs ("": a primary figure)
    note: str = ""
    memory: float = 0.0  # of an event: the part of `value` that is memory access (SRAM reads and writes)

    @property
    def pj(self) -> float:
        return self.value



@dataclass(frozen=True)
class EnergyModel:
    name: str
    description: str
    events: dict[str, Quantity]
    baseline: dict[str, Quantity]
    baseline_source: str
    origin: str  # file it came from
    inputs: dict[str, Quantity] = field(default_factory=dict)
    derived: dict[str, Quantity] = field(default_factory=dict)
    routing: dict[str, Quantity] = field(default_factory=dict)  # what it prices of ROUTING (none: routing not priced)

    def cost(self, event: str) -> float:
        return self.events[event].value

    def cost_range(self, event: str) -> tuple[float, float]:
        return self.events[event].low, self.events[event].high

    @property
    def mac_fp32_pj(self) -> float:
        return self.baseline["mac_fp32_pj"].value

    @property
    def mac_int8_pj(self) -> float:
        return self.baseline["mac_int8_pj"].value


def shipped() -> list[str]:
    folder = resources.files("neurocompile") / "energy_models"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_energy_model(name_or_path: str | Path | None = None) -> EnergyModel:
    """A shipped model by name (e.g. 'hw-45nm'), or a TOML file."""
    name_or_path = name_or_path or DEFAULT
    if str(name_or_path) in shipped():
        path = Path(str(resources.files("neurocompile") / "energy_models" / f"{name_or_path}.toml"))
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise UserError(f"{path}: no such energy model file; give --energy a TOML file or a shipped model: "
                            f"{', '.join(shipped())}")
    try:
        data = tomllib.loads(files.read_user_file(path, "the energy model").decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a TOML file: {exc}") from None
    return _Parser(path).model(data)


# --------------------------------------------------------------------------------------------------
# Formulas: arithmetic on the model's names, nothing else
# --------------------------------------------------------------------------------------------------

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
FUNCTIONS = {"log": math.log, "sqrt": math.sqrt, "min": min, "max": max}
MAX_FORMULA = 2000  # characters: a price is a short derivation; a longer "formula" is refused, never walked


def evaluate(formula: str, names: dict[str, float]) -> float:
    """The formula's value: numbers, the given names, + - * / **, parentheses and log/sqrt/min/max.  Raises
    ValueError naming what it cannot evaluate."""
    if len(formula) > MAX_FORMULA:
        raise ValueError(f"a formula of {len(formula):,} characters, over the {MAX_FORMULA:,} a price's derivation "
                         f"may take; derive it in steps ([derived.NAME] figures)")
    try:
        tree = ast.parse(formula, mode="eval")
    except (SyntaxError, RecursionError, MemoryError):
        raise ValueError(f"not a formula: {formula[:80]!r}") from None

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ValueError(f"{node.id!r} is not an input or a derived figure defined above it")
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
                and not node.keywords):
            return FUNCTIONS[node.func.id](*(walk(a) for a in node.args))
        raise ValueError(f"{ast.unparse(node)!r} is not arithmetic on the model's names "
                         f"(allowed: numbers, names, + - * / **, {', '.join(FUNCTIONS)})")

    try:
        value = walk(tree)
    except RecursionError:
        raise ValueError(f"{formula[:80]!r}…: nested too deeply to evaluate; derive it in steps") from None
    except (ArithmeticError, TypeError) as exc:
        raise ValueError(f"{formula!r} cannot be evaluated: {exc}") from None
    if not isinstance(value, float) or not math.isfinite(value):
        raise ValueError(f"{formula!r} is not a finite number ({value!r})")
    return value


def names_in(formula: str) -> set[str]:
    if len(formula) > MAX_FORMULA:
        raise ValueError(f"a formula of {len(formula):,} characters, over the {MAX_FORMULA:,} a price's derivation may "
                         f"take; derive it in steps ([derived.NAME] figures)")
    try:
        tree = ast.parse(formula, mode="eval")
    except (SyntaxError, RecursionError, MemoryError):
        raise ValueError(f"not a formula: {formula[:80]!r}") from None
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(FUNCTIONS)


# --------------------------------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------------------------------

KEYS = {"": ("model", "inputs", "derived", "events", "baseline", "routing"),
        "model": ("name", "description", "base", "scale"),
        "input": ("value", "low", "high", "unit", "source", "status", "note"),
        "derived": ("formula", "unit", "source", "status", "note"),
        "event": ("pj", "low", "high", "formula", "memory", "source", "status", "note"),
        "baseline": (*BASELINE, "source"), "routing": (*ROUTING, "source")}


def _only_known(table: object, allowed: tuple[str, ...], where: str, path: Path) -> None:
    """A key we do not know is a typo that would silently leave a default in force: refuse it."""
    if not isinstance(table, dict):
        raise UserError(f"{path}: {where or 'the file'} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        prefix = f"{where}." if where else ""
        raise UserError(f"{path}: unknown key(s) {', '.join(prefix + k for k in unknown)}; "
                        f"{'keys' if where else 'tables'} accepted{' in ' + where if where else ''}: {', '.join(allowed)}")


class _Parser:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.points: dict[str, dict[str, float]] = {p: {} for p in POINTS}  # name -> value, at each point
        self.status: dict[str, str] = {}

    def fail(self, message: str) -> UserError:
        return UserError(f"{self.path}: {message}")

    def number(self, value: object, where: str, negative: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(f"{where} must be a finite number, got {value!r}")
        if value < 0 and not negative:
            raise self.fail(f"{where} is negative ({value}); energies and sizes are >= 0")
        return float(value)

    def text(self, table: dict, key: str, where: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key} is missing: every figure needs a {key}")
        return value

    def own_status(self, table: dict, where: str, required: bool) -> str:
        if "status" not in table and not required:
            return STATUSES[0]
        status = self.text(table, "status", where)
        if status not in STATUSES:
            raise self.fail(f"{where}.status is {status!r}; one of {', '.join(STATUSES)}")
        return status

    def primary(self, name: str, table: dict, where: str, key: str) -> Quantity:
        """A figure stated as a number (an input, or an event's measured pj), with its optional range."""
        if key not in table:
            raise self.fail(f"{where}.{key} is missing")
        value = self.number(table[key], f"{where}.{key}")
        low = self.number(table.get("low", value), f"{where}.low")
        high = self.number(table.get("high", value), f"{where}.high")
        if not low <= value <= high:
            raise self.fail(f"{where}: low {low} <= {key} {value} <= high {high} does not hold")
        status = self.own_status(table, where, required=True)
        self.remember(name, (value, low, high), status)
        return Quantity(value, low, high, self.text(table, "source", where), status, str(table.get("unit", "pJ")),
                        note=str(table.get("note", "")))

    def computed(self, name: str, formula: object, table: dict, where: str) -> Quantity:
        """A figure computed from the inputs: nominal, all-low and all-high, each must hold low <= value <= high."""
        if not isinstance(formula, str) or not formula.strip():
            raise self.fail(f"{where}.formula must be a formula (text), got {formula!r}")
        try:
            used = names_in(formula)
            points = [evaluate(formula, self.points[p]) for p in POINTS]
        except (ValueError, SyntaxError) as exc:
            raise self.fail(f"{where}.formula: {exc}") from None
        value, low, high = points
        if not low <= value <= high or min(points) < 0:
            raise self.fail(f"{where}.formula gives {low:g} / {value:g} / {high:g} at the inputs' low / value / high: "
                            f"it must be >= 0 and must not fall when an input rises (ranges would be wrong)")
        status = max([self.own_status(table, where, required=False), *(self.status[n] for n in used)],
                     key=STATUSES.index)
        self.remember(name, points, status)
        return Quantity(value, low, high, self.text(table, "source", where), status, str(table.get("unit", "pJ")),
                        formula, str(table.get("note", "")))

    def remember(self, name: str, points, status: str) -> None:
        if name in self.status:
            raise self.fail(f"{name!r} is defined twice (inputs, derived and events share one namespace)")
        for p, v in zip(POINTS, points):
            self.points[p][name] = v
        self.status[name] = status

    def model(self, data: dict) -> EnergyModel:
        _only_known(data, KEYS[""], "", self.path)
        model = data.get("model", {})
        _only_known(model, KEYS["model"], "model", self.path)
        data = self.based(data, model)
        inputs = {}
        for name, table in self.table(data, "inputs").items():
            _only_known(table, KEYS["input"], f"inputs.{name}", self.path)
            inputs[name] = self.primary(name, table, f"inputs.{name}", "value")
        derived = {}
        for name, table in self.table(data, "derived").items():
            _only_known(table, KEYS["derived"], f"derived.{name}", self.path)
            derived[name] = self.computed(name, table.get("formula"), table, f"derived.{name}")
        events = self.events(data)
        baseline = data.get("baseline")
        if not isinstance(baseline, dict):
            raise self.fail(f"missing [baseline] ({', '.join(BASELINE)}, source)")
        _only_known(baseline, KEYS["baseline"], "baseline", self.path)
        source = self.text(baseline, "source", "baseline")
        prices = {}
        for key in BASELINE:
            where = f"baseline.{key}"
            if key not in baseline and key.startswith("weight_read"):  # no memory model: stated as such
                prices[key] = Quantity(0.0, 0.0, 0.0, "this model prices no memory access for the baselines",
                                       "assumption")
                continue
            if key not in baseline:
                raise self.fail(f"{where} is missing")
            value = baseline[key]
            prices[key] = (self.computed(key, value, {"source": source}, where) if isinstance(value, str) else
                           self.primary(key, {"value": value, "source": source, "status": "secondary"}, where, "value"))
        routing = {}
        if "routing" in data:
            table = data["routing"]
            _only_known(table, KEYS["routing"], "routing", self.path)
            routing_source = self.text(table, "source", "routing")
            for key in ROUTING:
                if key in table:
                    value, where = table[key], f"routing.{key}"
                    routing[key] = (self.computed(key, value, {"source": routing_source}, where) if isinstance(value, str)
                                    else self.primary(key, {"value": value, "source": routing_source,
                                                            "status": "assumption"}, where, "value"))
        return EnergyModel(str(model.get("name", self.path.stem)), str(model.get("description", "")), events, prices,
                           source, self.path.name, inputs, derived, routing)

    def based(self, data: dict, model: dict) -> dict:
        """A model that names a shipped ``base`` takes its tables, each figure overridden or added by this file's own;
        ``scale`` names an input that multiplies every event's price (a calibration factor): the factor was fitted with
        the base's inputs at their values, so their ranges give way to the factor's -- the calibration's error."""
        if "base" not in model:
            if "scale" in model:
                raise self.fail("model.scale multiplies a base model's prices: name the model.base it scales")
            return data
        base = model["base"]
        if base not in shipped():
            raise self.fail(f"model.base {base!r}: a shipped model ({', '.join(shipped())})")
        text = (resources.files("neurocompile") / "energy_models" / f"{base}.toml").read_text(encoding="utf-8")
        merged = tomllib.loads(text)
        for key, table in data.items():
            if key == "model":
                continue
            if not isinstance(table, dict):
                raise self.fail(f"[{key}] must be a table")
            merged[key] = {**merged.get(key, {}), **table}
        scale = model.get("scale")
        if scale is not None:
            if not isinstance(scale, str) or scale not in merged.get("inputs", {}):
                raise self.fail(f"model.scale {scale!r}: name one of the model's inputs")
            for name, table in merged["inputs"].items():
                if name != scale:
                    merged["inputs"][name] = {k: v for k, v in table.items() if k not in ("low", "high")}
            for event, table in merged.get("events", {}).items():
                if "formula" not in table:
                    raise self.fail(f"events.{event}: model.scale multiplies computed prices; this one is a figure (pj)")
                table = dict(table)
                table["formula"] = f"({table['formula']}) * {scale}"
                if isinstance(table.get("memory"), str):
                    table["memory"] = f"({table['memory']}) * {scale}"
                table["source"] = f"{base}'s price x {scale}: {table['source']}"
                merged["events"][event] = table
        return merged

    def table(self, data: dict, key: str) -> dict:
        table = data.get(key, {})
        if not isinstance(table, dict):
            raise self.fail(f"[{key}] must be a table of tables, got {type(table).__name__}")
        return table

    def events(self, data: dict) -> dict[str, Quantity]:
        events = data.get("events")
        if not isinstance(events, dict):
            raise self.fail(f"missing [events] table (needs {', '.join(EVENTS)})")
        unknown = sorted(set(events) - set(EVENTS))
        if unknown:
            raise self.fail(f"unknown event(s) {', '.join('events.' + u for u in unknown)}; known: {', '.join(EVENTS)}")
        parsed = {}
        for event in EVENTS:
            where = f"events.{event}"
            table = events.get(event)
            if not isinstance(table, dict):
                raise self.fail(f"missing [{where}] (with pj or formula, source, status)")
            _only_known(table, KEYS["event"], where, self.path)
            if ("pj" in table) == ("formula" in table):
                raise self.fail(f"{where} needs pj (a figure) or formula (computed from the inputs), one of them")
            if "pj" in table:
                q = self.primary(event, table, where, "pj")
            else:
                if "low" in table or "high" in table:
                    raise self.fail(f"{where}: a computed figure takes its range from its inputs' (no low/high)")
                q = self.computed(event, table["formula"], table, where)
            memory = table.get("memory", 0.0)
            try:
                memory = evaluate(memory, self.points["value"]) if isinstance(memory, str) else \
                    self.number(memory, f"{where}.memory")
            except ValueError as exc:
                raise self.fail(f"{where}.memory: {exc}") from None
            if memory > q.value + 1e-12:
                raise self.fail(f"{where}.memory ({memory:g} pJ) exceeds the event's price ({q.value:g} pJ)")
            parsed[event] = Quantity(q.value, q.low, q.high, q.source, q.status, q.unit, q.formula, q.note, memory)
        return parsed
