"""Report stage: the counters of a run x an energy model -> tables (JSON, CSV, Markdown, LaTeX) and plots.

Every number comes from events counted in the simulation (``simulate`` stores them as ``run.npz`` in the
build directory).  Beside the counted energy, each report gives the SNN-paper convention (every synaptic
operation an accumulate, the first layer in MACs) and the same network as a dense ANN (fp32 and int8), so
a reader sees where the conventions agree and where they do not.

``pricing`` makes the ``Report``; each format has its writer (``data``: JSON and CSV; ``markdown``; ``latex``),
``plots`` its figures.
"""
from __future__ import annotations

from .data import to_csv, to_json
from .latex import to_latex
from .markdown import to_markdown
from .plots import PLOTS, check_plots, write_plots
from .pricing import NodeRow, Report, comparison, headline, layer_of, make_report, neurobench, spiking_rate

FORMATS = {"json": to_json, "csv": to_csv, "md": to_markdown, "tex": to_latex}

__all__ = ["FORMATS", "PLOTS", "NodeRow", "Report", "check_plots", "comparison", "headline", "layer_of", "make_report",
           "neurobench", "spiking_rate", "to_csv", "to_json", "to_latex", "to_markdown", "write_plots"]
