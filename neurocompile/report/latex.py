"""The report in LaTeX (booktabs, siunitx): tables that compile in one- and two-column papers."""
from __future__ import annotations

from .. import __version__, files
from .pricing import Report
from .tables import Cell, _resources_line, _tables


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"), ("_", r"\_"),
                 ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"), ("…", "...")):
        s = s.replace(a, b)
    return s


def _tex_number(x: float) -> str:
    return f"{x:.10g}"


ROUNDED = "round-mode=figures, round-precision=3"  # siunitx: three significant figures, as the Markdown shows them


EXACT = "round-mode=none, group-digits=integer"  # a whole count is printed as counted: 1024, not 1020


def _tex_cell(cell: Cell, numeric: bool) -> str:
    """A cell in an S column (numeric: a bare number, siunitx sets it to three figures) or in a text column (numbers
    through \\num).  A whole number (a count) is printed exactly, whatever the column rounds to."""
    if cell is None:
        return "{--}" if numeric else "--"
    if isinstance(cell, tuple):
        return "--".join(rf"\num[{ROUNDED}]{{{_tex_number(v)}}}" for v in cell)
    if isinstance(cell, str):
        return _tex_escape(cell)
    if float(cell).is_integer() and abs(cell) < 1e15:
        exact = rf"\num[{EXACT}]{{{int(cell)}}}"
        return "{" + exact + "}" if numeric else exact
    return _tex_number(cell) if numeric else rf"\num[{ROUNDED}]{{{_tex_number(cell)}}}"


WIDE = 5  # a table of this many columns spans both columns of a two-column paper (table*, \\textwidth)


def to_latex(report: Report) -> str:
    """Tables to ``\\input`` into a paper (booktabs, siunitx, tabularx), each with a caption that names the model,
    target, energy model and run, and a label; then the energy model's figures with their sources."""
    h = report.header
    name = h["energy_model"].split(" ")[0]
    excerpt = " ".join(h["text"].split())  # one line: a blank line would end the caption's paragraph
    text = f"; text ``{_tex_escape(excerpt[:60])}{'...' if len(excerpt) > 60 else ''}''" if excerpt else ""
    run = (rf"Model \texttt{{{_tex_escape(h['model'])}}} on {_tex_escape(h['target'])}, energy model "
           rf"\texttt{{{_tex_escape(name)}}}, {h['tokens']} {h['unit']}s $\times$ {h['streams']} stream(s){text}.")
    out = [f"% {files.REPORT_FORMAT}: written by neurocompile {__version__}",
           r"% A snippet to \input into a document whose preamble loads booktabs, siunitx and tabularx:",
           r"%   \usepackage{booktabs}\usepackage{siunitx}\usepackage{tabularx}",
           "% " + _tex_escape(_resources_line(h["resources"], h["unit"])), ""]
    for title, head, rows in _tables(report):
        if not rows:
            continue
        numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) and i > 0 for i in range(len(head))]
        spec = "".join(r">{\raggedright\arraybackslash}X" if i == 0 else f"S[{ROUNDED}]" if numeric[i] else "l"
                       for i in range(len(head)))
        label = "tab:neurocompile-" + "-".join("".join(ch if ch.isalnum() else " " for ch in title.lower()).split()[:4])
        table, width = ("table*", r"\textwidth") if len(head) >= WIDE else ("table", r"\columnwidth")
        out += [rf"\begin{{{table}}}[t]", r"\centering", r"\small",
                rf"\caption{{{_tex_escape(title)}. {run}}}", rf"\label{{{label}}}",
                rf"\begin{{tabularx}}{{{width}}}{{{spec}}}", r"\toprule",
                " & ".join("{" + _tex_escape(x) + "}" if numeric[i] else _tex_escape(x) for i, x in enumerate(head)) + r" \\",
                r"\midrule"]
        out += [" & ".join(_tex_cell(c, numeric[i]) for i, c in enumerate(row)) + r" \\" for row in rows]
        out += [r"\bottomrule", r"\end{tabularx}", rf"\end{{{table}}}", ""]
    # the energy model's figures with their sources: a list, not a float -- it breaks across columns and pages (a
    # table of them is taller than a page, and LaTeX would cut it off)
    out += [rf"\paragraph{{Energy model \texttt{{{_tex_escape(name)}}}: each figure, its status and its source.}}"
            r"\label{tab:neurocompile-energy-model}", r"\begin{itemize}\footnotesize"]
    figures = {**h["constants"], **h["inputs"], **h["derived"]}
    out += [rf"\item \texttt{{{_tex_escape(k)}}} = \num[{ROUNDED}]{{{_tex_number(q['value'])}}} {_tex_escape(q.get('unit', 'pJ'))}"
            rf"{' (' + q['status'] + ')' if q.get('status') else ''}: {_tex_escape(q['source'])}" for k, q in figures.items()]
    out += [r"\end{itemize}", ""]
    out += ["% Approximations:"] + [f"%   {_tex_escape(a)}" for a in h["approximations"]] + [""]
    return "\n".join(out)
