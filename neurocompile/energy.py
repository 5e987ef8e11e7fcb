"""Energy models as data: TOML files with a cost per counted event, each constant with its source.

Shipped models live in ``neurocompile/energy_models/``; ``--energy FILE`` brings one's own with the same
schema.  Energy = counted events x these constants; nothing is estimated from parameter counts.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import UserError

EVENTS = ("binary_synaptic_op", "graded_synaptic_op", "graded_message", "neuron_update", "op_eval")
STATUSES = ("verified", "secondary", "unverified", "assumption")
DEFAULT = "hw-45nm"


@dataclass(frozen=True)
class Constant:
    pj: float
    source: str
    status: str
    note: str = ""


@dataclass(frozen=True)
class EnergyModel:
    name: str
    description: str
    events: dict[str, Constant]
    mac_fp32_pj: float
    mac_int8_pj: float
    baseline_source: str
    origin: str  # file it came from

    def cost(self, event: str) -> float:
        return self.events[event].pj


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
        if not path.is_file():
            what = "a folder, not a file" if path.is_dir() else "no such energy model file"
            raise UserError(f"{path}: {what}; give --energy a TOML file or a shipped model: {', '.join(shipped())}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a TOML file: {exc}") from None
    return _parse(data, path)


def _number(value: object, where: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UserError(f"{path}: {where} must be a finite number of picojoules, got {value!r}")
    if value < 0:
        raise UserError(f"{path}: {where} is negative ({value}); energies are >= 0")
    return float(value)


def _text(table: dict, key: str, where: str, path: Path) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{path}: {where}.{key} is missing: every constant needs a {key}")
    return value


KEYS = {"": ("model", "events", "baseline"), "model": ("name", "description"),
        "event": ("pj", "source", "status", "note"), "baseline": ("mac_fp32_pj", "mac_int8_pj", "source")}


def _only_known(table: object, allowed: tuple[str, ...], where: str, path: Path) -> None:
    """A key we do not know is a typo that would silently leave a default in force: refuse it."""
    if not isinstance(table, dict):
        raise UserError(f"{path}: {where or 'the file'} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        prefix = f"{where}." if where else ""
        raise UserError(f"{path}: unknown key(s) {', '.join(prefix + k for k in unknown)}; "
                        f"{'keys' if where else 'tables'} accepted{' in ' + where if where else ''}: {', '.join(allowed)}")


def _parse(data: dict, path: Path) -> EnergyModel:
    _only_known(data, KEYS[""], "", path)
    model = data.get("model", {})
    _only_known(model, KEYS["model"], "model", path)
    events = data.get("events")
    if not isinstance(events, dict):
        raise UserError(f"{path}: missing [events] table (needs {', '.join(EVENTS)})")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise UserError(f"{path}: unknown event(s) {', '.join('events.' + u for u in unknown)}; known: {', '.join(EVENTS)}")
    parsed = {}
    for event in EVENTS:
        where = f"events.{event}"
        table = events.get(event)
        if not isinstance(table, dict):
            raise UserError(f"{path}: missing [{where}] (with pj, source, status)")
        _only_known(table, KEYS["event"], where, path)
        if "pj" not in table:
            raise UserError(f"{path}: {where}.pj is missing")
        status = _text(table, "status", where, path)
        if status not in STATUSES:
            raise UserError(f"{path}: {where}.status is {status!r}; one of {', '.join(STATUSES)}")
        parsed[event] = Constant(_number(table["pj"], f"{where}.pj", path), _text(table, "source", where, path),
                                 status, str(table.get("note", "")))
    baseline = data.get("baseline")
    if not isinstance(baseline, dict):
        raise UserError(f"{path}: missing [baseline] (mac_fp32_pj, mac_int8_pj, source)")
    _only_known(baseline, KEYS["baseline"], "baseline", path)
    for key in ("mac_fp32_pj", "mac_int8_pj"):
        if key not in baseline:
            raise UserError(f"{path}: baseline.{key} is missing")
    return EnergyModel(
        name=str(model.get("name", path.stem)), description=str(model.get("description", "")), events=parsed,
        mac_fp32_pj=_number(baseline["mac_fp32_pj"], "baseline.mac_fp32_pj", path),
        mac_int8_pj=_number(baseline["mac_int8_pj"], "baseline.mac_int8_pj", path),
        baseline_source=_text(baseline, "source", "baseline", path), origin=path.name)
