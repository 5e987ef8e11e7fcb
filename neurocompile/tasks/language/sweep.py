"""Design-space sweeps: numeric choices x systems x energy models -> energy per token against bits per token.

A grid (TOML) names lists of values; every combination of the build choices (``target``, default loihi2,
``payload_bits``, ``block_rows``, ``system``, ``token_shift``, ``extension_ops``) is exported and scored once -- bits per token of the integer program on the compiled
engine, and its counters on the same tokens -- then priced under every energy model of the grid.  Each build
point is cached in ``DIR/points/<hash>.json``, the hash of everything it depends on (checkpoint, choices,
tokens scored, calibration, neurocompile's version), so an interrupted sweep resumes where it stopped.  Points
run in local worker processes, or as Ray tasks on an existing cluster (``--ray ADDRESS``).

Outputs: ``sweep.csv`` (one row per build point and energy model), ``sweep.json`` (the same, with the grid),
``pareto.png``/``.pdf`` (energy per token against bits per token, one series per energy model, its Pareto front
drawn: no other point is both cheaper and better).
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ... import __version__, files
from ...errors import UserError
from .parallel import map_tasks

FORMAT = "neurocompile.report/sweep-1"  # files.REPORT_MARK: the sweep's files are ours to replace
POINT_FORMAT = "neurocompile.report/sweep-point-1"
BUILD_KEYS = {"target": (str, None, None), "payload_bits": (int, 2, 24), "block_rows": (int, 0, 2**24), "system": (str, None, None),
              "token_shift": (str, None, None), "extension_ops": (str, None, None)}
ENERGY_KEY = "energy"
DEFAULT_TARGET = "loihi2"
PLOT = "pareto"


@dataclass(frozen=True)
class Grid:
    points: list[dict]  # build choices, one dict per combination (keys of BUILD_KEYS present in the grid)
    energy: list[str]  # energy model names or TOML paths
    source: dict  # the grid as read


MAX_POINTS = 10_000  # build points one grid may ask for (a point is seconds to minutes: 10,000 is days of work)


def read_grid(path: Path) -> Grid:
    """The grid TOML: each key a value or a list of values; unknown keys, wrong types and values out of range are one
    UserError naming the key."""
    from ...energy import load_energy_model
    from ...lower import TOKEN_SHIFT_MODES
    from ...pipeline import parse_extension_ops
    from ...target import get_target

    raw = files.read_user_file(path, "the grid")
    try:
        grid = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: not a TOML grid ({exc})") from None
    unknown = sorted(set(grid) - set(BUILD_KEYS) - {ENERGY_KEY})
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; a grid takes {', '.join([*BUILD_KEYS, ENERGY_KEY])}")
    lists = {k: v if isinstance(v, list) else [v] for k, v in grid.items()}
    for key, values in lists.items():
        kind, lo, hi = BUILD_KEYS.get(key, (str, None, None))
        if not values:
            raise UserError(f"{path}: {key} is an empty list; give at least one value")
        for v in values:
            if type(v) is not kind or (lo is not None and not lo <= v <= hi):
                span = f" in {lo}..{hi}" if lo is not None else ""
                raise UserError(f"{path}: {key} = {v!r}: each value must be a {kind.__name__}{span}")
    count = math.prod(len(lists[k]) for k in BUILD_KEYS if k in lists)
    if count > MAX_POINTS:
        raise UserError(f"{path}: {' x '.join(str(len(lists[k])) for k in BUILD_KEYS if k in lists)} = {count:,} points "
                        f"(each an export and an evaluation, tens of seconds); a grid takes at most {MAX_POINTS:,}: "
                        f"split it, or fix the choices that matter least")
    try:
        targets = [get_target(name) for name in lists.get("target", [DEFAULT_TARGET])]
    except UserError as exc:
        raise UserError(f"{path}: target: {exc}") from None
    for target in targets:
        for system in lists.get("system", []):
            known = target.resources.systems if target.resources is not None else {}
            if system not in known:
                raise UserError(f"{path}: system = {system!r} for target {target.name}: known systems are "
                                f"{', '.join(known) or 'none (it is not partitioned)'}")
    for mode in lists.get("token_shift", []):
        if mode not in TOKEN_SHIFT_MODES:
            raise UserError(f"{path}: token_shift = {mode!r}: choose {' or '.join(TOKEN_SHIFT_MODES)}")
    for mode in lists.get("extension_ops", []):
        try:
            parse_extension_ops(mode)
        except UserError as exc:
            raise UserError(f"{path}: extension_ops = {mode!r}: {str(exc).split(': ', 1)[1]}") from None
    energy = lists.get(ENERGY_KEY, ["hw-45nm"])
    for name in energy:
        load_energy_model(name if not name.endswith(".toml") else Path(path).parent / name)  # refuses a bad one
    keys = [k for k in BUILD_KEYS if k in lists]
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(lists[k] for k in keys))]
    return Grid(points, [n if not n.endswith(".toml") else str(Path(path).parent / n) for n in energy], grid)


def point_key(checkpoint_sha: str, choices: dict, max_tokens: int, calibration_tokens: int, energy: list[str]) -> str:
    from ...target import get_target

    target = get_target(choices.get("target", DEFAULT_TARGET))
    # the defaults resolved, so that a default that changes makes a new point
    resolved = {"target": target.name, "token_shift": target.token_shift, "extension_ops": target.extension_ops,
                **choices}
    text = json.dumps({"checkpoint": checkpoint_sha, "choices": resolved, "max_tokens": max_tokens,
                       "calibration_tokens": calibration_tokens, "energy": energy, "version": __version__},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_point(model: str, choices: dict, max_tokens: int, calibration_tokens: int, energy: list[str]) -> dict:
    """Export, score and price one build point (in a worker process or a Ray task): a JSON-ready dict."""
    from ... import export
    from ...energy import load_energy_model
    from ...report import make_report
    from ...runs import Run
    from ...graph import steps_per_token
    from .semantics import evaluation_ids
    from .sensitivity import integer_bits

    with tempfile.TemporaryDirectory() as tmp:
        options = {k: v for k, v in choices.items() if k != "target"}
        build = export(model, target=choices.get("target", DEFAULT_TARGET), output=Path(tmp) / "b",
                       calibration_tokens=calibration_tokens, **options)
        ids, _ = evaluation_ids(build.tokenizer, None, max_tokens)
        bits, sim = integer_bits(build.program, ids)
        run = Run(sim.totals, sim.steps, [], sim.batch)
        per_token = steps_per_token(build.program.metadata)
        priced = {}
        for name in energy:
            report = make_report(build.program, build.manifest, run, load_energy_model(name), placement=build.partition,
                                 tokenizer=build.tokenizer)
            t = report.totals
            priced[name] = {"pj_per_token": t["energy_pj_per_step"] * per_token,
                            "pj_per_token_range": [v * per_token for v in t["energy_pj_per_step_range"]],
                            "routing_pj_per_token": t.get("routing_pj_per_step", 0.0) * per_token}
        partition = build.manifest.get("partition", {})
    return {"format": POINT_FORMAT, "choices": choices, "bpc": float(bits.mean()), "tokens": int(bits.size),
            "unit": build.tokenizer.unit, "token_shift": build.manifest["token_shift"], "cores": partition.get("cores"), "chips": partition.get("chips"),
            "energy": priced}


def sweep(model: str, checkpoint_sha: str, grid: Grid, out: Path, max_tokens: int, calibration_tokens: int,
          workers: int, ray_address: str | None = None, progress=lambda message: None) -> list[dict]:
    """Every build point of `grid`, from the cache in ``out/points`` or computed; the rows (point x energy model)."""
    cache = out / "points"
    todo, results = [], {}
    for choices in grid.points:
        key = point_key(checkpoint_sha, choices, max_tokens, calibration_tokens, grid.energy)
        path = cache / f"{key}.json"
        if path.is_file() and files.owned_file(path):
            results[key] = json.loads(path.read_text(encoding="utf-8"))
        else:
            todo.append((key, choices))
    progress(f"sweep: {len(grid.points)} build points, {len(results)} cached, {len(todo)} to run")
    args = [(model, choices, max_tokens, calibration_tokens, grid.energy) for _, choices in todo]
    for (key, _), point in zip(todo, map_tasks(run_point, args, workers, ray_address)):
        files.write_text(cache / f"{key}.json", json.dumps(point, indent=1) + "\n", "-o")
        results[key] = point
        progress(f"sweep: point {point['choices']} done: {point['bpc']:.4f} bits per {point['unit']}")
    rows = []
    for choices in grid.points:
        point = results[point_key(checkpoint_sha, choices, max_tokens, calibration_tokens, grid.energy)]
        for name in grid.energy:
            e = point["energy"][name]
            rows.append({**{k: choices.get(k, "") for k in BUILD_KEYS}, "token_shift": point["token_shift"],
                         "energy_model": Path(name).stem,
                         "bpc": point["bpc"], "tokens": point["tokens"], "unit": point["unit"],
                         "pj_per_token": e["pj_per_token"], "pj_per_token_low": e["pj_per_token_range"][0],
                         "pj_per_token_high": e["pj_per_token_range"][1],
                         "routing_pj_per_token": e["routing_pj_per_token"], "cores": point["cores"],
                         "chips": point["chips"]})
    for row in rows:
        row["pareto"] = not any(o is not row and o["energy_model"] == row["energy_model"]
                                and o["pj_per_token"] <= row["pj_per_token"] and o["bpc"] <= row["bpc"]
                                and (o["pj_per_token"] < row["pj_per_token"] or o["bpc"] < row["bpc"]) for o in rows)
    return rows


def write_outputs(rows: list[dict], grid: Grid, out: Path) -> list[Path]:
    columns = list(rows[0])
    buffer = io.StringIO()
    buffer.write(f"# {FORMAT}: energy per token against bits per token; pareto = no other point of the same energy "
                 f"model is both cheaper and better\n")
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    paths = [files.write_text(out / "sweep.csv", buffer.getvalue(), "-o"),
             files.write_text(out / "sweep.json", json.dumps({"format": FORMAT, "grid": grid.source, "rows": rows},
                                                             indent=1) + "\n", "-o")]
    return paths + write_plot(rows, out)


def write_plot(rows: list[dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    plt.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42})
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for model in dict.fromkeys(r["energy_model"] for r in rows):
        mine = sorted((r for r in rows if r["energy_model"] == model), key=lambda r: r["pj_per_token"])
        nj = [r["pj_per_token"] / 1e3 for r in mine]
        err = [[max(r["pj_per_token"] - r["pj_per_token_low"], 0) / 1e3 for r in mine],
               [max(r["pj_per_token_high"] - r["pj_per_token"], 0) / 1e3 for r in mine]]
        points = ax.errorbar(nj, [r["bpc"] for r in mine], xerr=err, fmt="o", ms=4, capsize=2, lw=0.7, label=model)
        front = [r for r in mine if r["pareto"]]
        ax.plot([r["pj_per_token"] / 1e3 for r in front], [r["bpc"] for r in front], "-", lw=1,
                color=points[0].get_color())
    unit = rows[0]["unit"]
    ax.set_xscale("log")
    ax.set_xlabel(f"energy per {unit} (nJ, log; bars: the energy model's low-high range)")
    ax.set_ylabel(f"bits per {unit} (integer program)")
    ax.set_title(f"Design space: {len({tuple((k, r[k]) for k in BUILD_KEYS) for r in rows})} builds; "
                 f"lines join each model's Pareto front", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    paths = files.write_figure(fig, out / PLOT, f"neurocompile {__version__}", "-o")
    plt.close(fig)
    return paths

