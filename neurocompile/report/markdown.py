"""The report in Markdown: the headline, the tables, every constant with its source and formula, the approximations."""
from __future__ import annotations

from .. import files
from .pricing import Report
from .tables import Cell, _fmt, _resources_line, _tables


def _md(cell: Cell) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, tuple):
        return f"{_fmt(cell[0])}–{_fmt(cell[1])}"
    return cell if isinstance(cell, str) else _fmt(cell)


TOKEN_SHIFT_NOTES = {"fold": "each token-shift mix folded into its weight matrix: one matrix per input",
                     "delay": "each token-shift mix computed by a neuron program in front of one weight matrix"}


def to_markdown(report: Report) -> str:
    h = report.header
    interrupted = "" if h["complete"] else f" (interrupted: the counters of the {h['unit']}s run)"
    lines = ["# neurocompile energy report", f"<!-- {files.REPORT_FORMAT} -->", "",
             f"- neurocompile {h['neurocompile']}; model `{h['model']}` (sha256 {h['model_sha256'][:16]}…), target {h['target']}",
             f"- run: {h['tokens']} {h['unit']}s x {h['streams']} stream(s){interrupted}"
             + (f"; text: {h['text']!r}" if h["text"] else ""),
             f"- units: {h['units']}", f"- energy model: {h['energy_model']}"]
    if report.headline:
        lines += ["", f"**{report.headline}**", ""]
    if h["token_shift"]:
        lines.append(f"- token shift: {h['token_shift']} ({TOKEN_SHIFT_NOTES[h['token_shift']]}); export "
                     f"--token-shift {'fold' if h['token_shift'] == 'delay' else 'delay'} builds the other, and "
                     f"`neurocompile sweep` with token_shift = [\"fold\", \"delay\"] prices both")
    for why in (h["extension_ops"] or {}).get("why", {}).values():
        lines.append(f"- where an extension op runs: {why}")
    lines += ["", "Constants (pJ per event):", ""]
    for event, c in h["constants"].items():
        lines.append(f"- `{event}` = {_figure(c)} [{c['status']}] — {c['source']}")
    base = h["baseline"]
    lines += [f"- dense baselines: fp32 MAC {_figure(base['mac_fp32_pj'])}, int8 MAC {_figure(base['mac_int8_pj'])}; weight "
              f"read per MAC fp32 {_figure(base['weight_read_fp32_pj'])}, int8 {_figure(base['weight_read_int8_pj'])} — "
              f"{base['source']}", ""]
    if h["inputs"]:
        lines += ["Inputs (the figures every constant above is computed from):", ""]
        lines += [f"- `{k}` = {_figure(q)} [{q['status']}] — {q['source']}" for k, q in h["inputs"].items()]
        lines += [f"- `{k}` = {_figure(q)} (derived) — {q['source']}" for k, q in h["derived"].items()]
        lines.append("")
    if "timing" in h:
        lines += [f"Timing (the step's bottleneck: {h['timing']['bottleneck']}):", ""]
        lines += [f"- `{k}` = {_figure(q)} [{q['status']}] — {q['source']}" for k, q in h["timing"]["figures"].items()]
        lines.append("")
    lines += ["Approximations:", ""]
    lines += [f"- {a}" for a in h["approximations"]]
    lines += ["", _resources_line(h["resources"], h["unit"]), ""]
    for title, head, rows in _tables(report):
        lines += [f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def _figure(q: dict) -> str:
    """A model's figure as text: value and unit, its range when it has one, its formula when computed."""
    unit = q.get("unit", "pJ")
    text = f"{q['value']:.4g} {unit}"
    if q["low"] != q["high"]:
        text += f" ({q['low']:.4g}–{q['high']:.4g})"
    return text + (f" = {q['formula']}" if q.get("formula") else "")
