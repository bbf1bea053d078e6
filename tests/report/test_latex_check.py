"""The LaTeX-free checker finds what would stop a table compiling (so a passing check means something)."""

from pathlib import Path

import pytest

from tests.report.latex_check import check_table
from vireid.report.tables import latex_escape

GOOD = Path(__file__).with_name("golden_table.tex").read_text()


def test_the_golden_table_passes():
    assert check_table(GOOD) == []


@pytest.mark.parametrize(
    "broken, problem",
    [
        (GOOD.replace(r"AGW\_ours", "AGW_ours"), "unescaped"),
        (GOOD.replace(r" & 2 / 1 &", " &"), "columns"),
        (GOOD.replace(r"\end{tabular}", ""), "environment"),
        (GOOD.replace(r"\textbf{74.7}", r"\textbf{74.7"), "unclosed"),
        (GOOD.replace(r"67.00\,$\pm$\,3.54", r"67.00\,$\pm\,3.54"), "math"),
        (GOOD.replace(r"\toprule", r"\toprul"), "unknown command"),
        (GOOD.replace(r"Scores in \%", "Scores in %"), None),  # a bare % comments out the caption's end
    ],
)
def test_broken_tables_are_caught(broken, problem):
    found = check_table(broken)
    assert found, broken
    if problem:
        assert any(problem in p for p in found), found


def test_escape_covers_every_special():
    text = latex_escape(r"a_b & c% #1 $x$ {y} ~ ^ \ → ± – † ‡")
    assert (
        check_table(
            "\\begin{table}\\caption{" + text + "}\n\\begin{tabular}{l}\n" + text + " \\\\\n\\end{tabular}\\end{table}"
        )
        == []
    )
