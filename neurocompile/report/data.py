"""The report as data: JSON (the field names carry the task's unit) and CSV (one row per node)."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, replace

from .. import files
from ..ops import Tally
from .pricing import Report


def _unit_keys(value, key: str):
    """Field names carry the task's unit: ``..._per_step...`` becomes ``..._per_token...`` for a language model."""
    if isinstance(value, dict):
        return {(re.sub(r"(^|_)per_step(?=$|_)", rf"\1per_{key}", k) if isinstance(k, str) else k): _unit_keys(v, key)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_unit_keys(v, key) for v in value]
    return value


def to_json(report: Report) -> str:
    import json

    plain = asdict(replace(report, figures={}))  # the figures are drawn, not stored
    del plain["figures"]
    body = _unit_keys(plain, report.header["unit_key"])
    return json.dumps({"format": files.REPORT_FORMAT, **body}, indent=2) + "\n"


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*files.CSV_MARK.rstrip(",").split(","), *Tally.FIELDS, f"energy_pj_per_{report.header['unit_key']}"])
    for r in report.nodes:
        writer.writerow([r.node, r.layer, r.kind, r.placement, r.input, *(f"{r.per_step[f]:.6g}" for f in Tally.FIELDS),
                         f"{r.energy_pj:.6g}"])
    return out.getvalue()
