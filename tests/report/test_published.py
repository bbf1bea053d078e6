"""The published results file: checked when read, and README's targets table is its DEEN rows."""

import re
from pathlib import Path

import pytest

from vireid.errors import VireidError
from vireid.report.published import load_published, targets_for

README = Path(__file__).resolve().parents[2] / "README.md"
#: README's "setting" cell -> the file's setting
SETTINGS = {
    ("SYSU-MM01", "all-search, single-shot"): ("sysu", "all-single"),
    ("SYSU-MM01", "indoor-search, single-shot"): ("sysu", "indoor-single"),
    ("RegDB", "visible → thermal"): ("regdb", "visible_to_infrared"),
    ("RegDB", "thermal → visible"): ("regdb", "infrared_to_visible"),
    ("LLCM", "IR → VIS"): ("llcm", "infrared_to_visible"),
    ("LLCM", "VIS → IR as published"): ("llcm", "visible_to_infrared"),
}


def test_readme_targets_are_the_files_deen_rows():
    text = README.read_text().split("Targets (Rank-1 / mAP, %)", 1)[1]
    rows = [ln for ln in text.splitlines() if re.match(r"\| (SYSU-MM01|RegDB|LLCM) \|", ln)][:6]
    deen = {(p.dataset, p.setting): p for p in load_published() if p.method == "DEEN"}
    seen = set()
    for row in rows:
        dataset, setting, rank1, mAP = [c.strip() for c in row.strip("|").split("|")]
        extra = dict(re.findall(r"Rank-(\d+) ([\d.]+)", setting))
        key = SETTINGS[(dataset, setting.split(" (")[0])]
        p = deen[key]
        assert (p.text("rank1"), p.text("mAP")) == (rank1, mAP), row
        assert {k: p.text(f"rank{k}") for k in extra} == extra, row
        seen.add(key)
    assert seen == set(deen)


def test_every_entry_names_a_source_and_agw_only_what_was_checked():
    entries = load_published()
    assert all(p.source and p.decimals in (1, 2) for p in entries)
    agw = {(p.dataset, p.setting): p.scores for p in entries if p.method == "AGW"}
    assert agw[("sysu", "all-single")] == {"rank1": 47.5, "mAP": 47.65, "mINP": 35.3}
    assert agw[("regdb", "visible_to_infrared")] == {"rank1": 70.05, "mAP": 66.37, "mINP": 50.19}
    assert ("sysu", "indoor-single") not in agw and ("regdb", "infrared_to_visible") not in agw
    assert targets_for("llcm")["AGW"]["visible_to_infrared"].text("rank1") == "63.72"
    assert targets_for("sysu")["AGW"]["all-single"].text("mINP") == "35.30"  # as printed


def test_a_bad_entry_is_refused(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "sources: {s: {text: x, decimals: 1}}\n"
        "results: [{method: M, dataset: sysu, setting: outdoor, source: s, scores: {rank1: 1}}]\n"
    )
    with pytest.raises(VireidError, match="unknown dataset/setting sysu/outdoor"):
        load_published(bad)
    bad.write_text(
        "sources: {s: {text: x, decimals: 1}}\n"
        "results: [{method: M, dataset: sysu, setting: all-single, source: t, scores: {rank1: 1}}]\n"
    )
    with pytest.raises(VireidError, match="source 't' is not listed"):
        load_published(bad)
    with pytest.raises(VireidError, match="--targets: unknown 'mine'"):
        targets_for("sysu", "mine")
