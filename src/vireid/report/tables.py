"""The report's table as Markdown (``report.md``) and LaTeX (``table.tex``, booktabs).

Both come from one :class:`Table`: a column group per setting (:mod:`vireid.report.settings`),
five scores each (R1, R10, R20, mAP, mINP, in %), the published rows first (when asked for),
then one row per group of runs with its count ``n``.  A run row prints ``mean ± std`` (sample std
over its n runs) with two decimals, a single run its value; a published row prints its source's
numbers as printed there.  The best value of a column is bold when two rows or more have one.
Settings whose numbers are not computed as the authors computed them carry a mark (†, ‡) and a
note under the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from vireid.report.group import Row
from vireid.report.published import Published
from vireid.report.settings import SCORES, Setting

MARKS = ("†", "‡", "§", "¶")
DASH = "–"


@dataclass(frozen=True)
class Line:
    """One table row: a label, ``n`` per setting (None for published rows), and per setting and
    score ``(value in %, text)`` -- the value ranks cells for bold, the text is printed."""

    label: str
    n: dict[str, int] | None
    cells: dict[str, dict[str, tuple[float, str, str | None]]]  # setting -> score -> (value, mean text, std text)
    published: bool = False


@dataclass(frozen=True)
class Table:
    title: str
    settings: tuple[Setting, ...]
    lines: tuple[Line, ...]
    what_n_counts: str

    def marks(self) -> dict[str, str]:
        """Setting key -> its footnote mark, for the settings that carry a note."""
        noted = [s for s in self.settings if s.note]
        return {s.key: MARKS[i % len(MARKS)] for i, s in enumerate(noted)}

    def best(self) -> dict[tuple[str, str], float]:
        """(setting, score) -> the best value, where two rows or more have one."""
        out = {}
        for s in self.settings:
            for m, _ in SCORES:
                values = [ln.cells[s.key][m][0] for ln in self.lines if m in ln.cells.get(s.key, {})]
                if len(values) > 1:
                    out[(s.key, m)] = max(values)
        return out


def build_table(
    title: str,
    settings: Sequence[Setting],
    rows: Sequence[Row],
    labels: Sequence[str],
    published: dict[str, dict[str, Published]] | None = None,
    what_n_counts: str = "runs",
) -> Table:
    lines = []
    for method, by_setting in (published or {}).items():
        cells = {
            k: {m: (p.scores[m], p.text(m) or DASH, None) for m, _ in SCORES if m in p.scores}
            for k, p in by_setting.items()
        }
        lines.append(Line(f"{method} (published)", None, cells, published=True))
    for row, label in zip(rows, labels, strict=True):
        cells = {}
        for k, cell in row.cells.items():
            spread = cell.n > 1
            cells[k] = {
                m: (100 * cell.mean[m], f"{100 * cell.mean[m]:.2f}", f"{100 * cell.std[m]:.2f}" if spread else None)
                for m, _ in SCORES
            }
        lines.append(Line(label, {k: c.n for k, c in row.cells.items()}, cells))
    return Table(title, tuple(settings), tuple(lines), what_n_counts)


def _n_text(line: Line, settings: Sequence[Setting]) -> str:
    if line.n is None:
        return DASH
    counts = [line.n.get(s.key) for s in settings if s.key in line.n]
    return str(counts[0]) if len(set(counts)) == 1 else " / ".join(str(c) for c in counts)


# ----------------------------------------------------------------------------------- Markdown
def markdown(table: Table) -> str:
    marks, best = table.marks(), table.best()
    head = ["method", "n"]
    for s in table.settings:
        # the group's name on its first column only: Markdown has one header row
        head += [f"{s.title}{marks.get(s.key, '')}: {h}" if i == 0 else h for i, (_, h) in enumerate(SCORES)]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|" + "---:|" * (len(head) - 2)]
    for ln in table.lines:
        cells = [markdown_escape(ln.label), _n_text(ln, table.settings)]
        for s in table.settings:
            for m, _ in SCORES:
                got = ln.cells.get(s.key, {}).get(m)
                if got is None:
                    cells.append(DASH)
                    continue
                value, mean, std = got
                text = mean + (f" ± {std}" if std is not None else "")
                cells.append(f"**{text}**" if best.get((s.key, m)) == value else text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_escape(text: str) -> str:
    """``text`` as Markdown that prints it (a table cell or a list item: ``|``, ``*``, ``_`` escaped)."""
    return "".join("\\" + c if c in "|*_`[]\\" else c for c in text)


def notes(table: Table) -> list[str]:
    """The table's footnotes: what n counts, and each marked setting's note."""
    out = [
        f"Scores in %. A row of several runs shows mean ± sample standard deviation over its n {table.what_n_counts}; "
        "each run's own number is the mean over its protocol's trials. Bold: the best value of a column."
    ]
    marks = table.marks()
    out += [f"{marks[s.key]} {s.title}: {s.note}." for s in table.settings if s.key in marks]
    return out


# ----------------------------------------------------------------------------------- LaTeX
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "→": r"$\rightarrow$",
    "±": r"$\pm$",
    "–": "--",
    "†": r"$^\dagger$",
    "‡": r"$^\ddagger$",
    "§": r"\S{}",
    "¶": r"\P{}",
}


def latex_escape(text: str) -> str:
    """``text`` as LaTeX source that prints it (specials escaped, arrows and marks as math)."""
    return "".join(_LATEX_SPECIALS.get(c, c) for c in text)


def latex(table: Table, label: str = "tab:vireid") -> str:
    """A complete ``table`` environment (booktabs rules, one column group per setting)."""
    marks, best = table.marks(), table.best()
    k = len(SCORES)
    spec = "l" + "c" + "".join("r" * k for _ in table.settings)
    groups = " & ".join(
        rf"\multicolumn{{{k}}}{{c}}{{{latex_escape(s.title + marks.get(s.key, ''))}}}" for s in table.settings
    )
    rules = " ".join(rf"\cmidrule(lr){{{3 + i * k}-{2 + (i + 1) * k}}}" for i in range(len(table.settings)))
    header = " & ".join(["Method", "$n$"] + [h for _ in table.settings for _, h in SCORES])
    body = []
    for i, ln in enumerate(table.lines):
        if i and ln.published != table.lines[i - 1].published:
            body.append(r"    \midrule")
        cells = [latex_escape(ln.label), latex_escape(_n_text(ln, table.settings))]
        for s in table.settings:
            for m, _ in SCORES:
                got = ln.cells.get(s.key, {}).get(m)
                if got is None:
                    cells.append("--")
                    continue
                value, mean, std = got
                text = mean + (rf"\,$\pm$\,{std}" if std is not None else "")
                cells.append(rf"\textbf{{{text}}}" if best.get((s.key, m)) == value else text)
        body.append("    " + " & ".join(cells) + r" \\")
    caption = latex_escape(f"{table.title}. " + " ".join(notes(table)))
    return "\n".join(
        [
            "% Written by vireid report. Needs \\usepackage{booktabs} in the preamble.",
            r"\begin{table}[t]",
            r"  \centering",
            r"  \setlength{\tabcolsep}{3pt}",
            rf"  \caption{{{caption}}}",
            rf"  \label{{{label}}}",
            rf"  \begin{{tabular}}{{{spec}}}",
            r"    \toprule",
            f"    & & {groups} \\\\",
            f"    {rules}",
            f"    {header} \\\\",
            r"    \midrule",
            *body,
            r"    \bottomrule",
            r"  \end{tabular}",
            r"\end{table}",
            "",
        ]
    )
