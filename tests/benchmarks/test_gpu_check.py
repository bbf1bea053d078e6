"""benchmarks/gpu_check.py: the ``--dry`` run goes through every section on the CPU and reports
them; failures, missing packages, the time budget and child-process time limits degrade cleanly."""

import json
import math
import sys

import pytest
import torch

from benchmarks import _gpu_recipes, _gpu_search, _paper_runs, gpu_check
from benchmarks._gpu_common import Rows, Settings, python, stream

STEP_VARIANTS = ("authors-style fp32", "ours fp32", "ours bf16", "ours bf16 + channels_last")


def _run(tmp_path, *args):
    out = tmp_path / "out"
    rc = gpu_check.main(["--dry", "--out", str(out), "--results", str(tmp_path / "RESULTS.md"), *args])
    state = json.loads((out / "gpu_check.json").read_text())
    return rc, out, state


def test_dry_run_covers_every_section(tmp_path, monkeypatch, capsys):
    # optional packages missing: faiss (search) and tensorboard (training logs)
    monkeypatch.setitem(sys.modules, "faiss", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    repo_results = gpu_check.RESULTS.read_text()
    rc, out, state = _run(tmp_path, "--work", str(tmp_path / "work"), "--keep-work")
    assert rc == 0, state["sections"]
    assert [m["name"] for m in state["sections"]] == list(gpu_check.CAPS)
    assert all(m["status"] == "ok" for m in state["sections"])
    rows = state["rows"]
    assert {r["section"] for r in rows} == set(gpu_check.CAPS)
    assert all(r["status"] in ("ok", "skip") for r in rows)
    for r in rows:
        if r["unit"] in ("s", "ms", "img/s", "MiB", "x", "min", "h", "steps"):
            assert isinstance(r["value"], (int, float)) and math.isfinite(r["value"]) and r["value"] >= 0, r

    def find(section, start):
        hits = [r for r in rows if r["section"] == section and r["name"].startswith(start)]
        assert hits, f"no row {section}: {start}"
        return hits[0]

    for v in STEP_VARIANTS:
        assert find("step", v + " (")["unit"] == "img/s"
        assert find("step", f"memory: {v}")["unit"] == "MiB"
    assert find("step", "ours AMP fp16")["status"] == "skip"  # CUDA-only, labelled
    assert "CUDA-only" in find("step", "ours AMP fp16")["note"]
    assert find("compile", "ours bf16 + channels_last + torch.compile")["unit"] == "img/s"
    assert find("compile", "compile time")["unit"] == "s"
    assert find("projection", "SYSU-MM01 steps per epoch")["value"] == 22258 // 24 + 1
    assert find("projection", "151-epoch recipe, authors-style")["unit"] == "h"
    for name in _gpu_recipes.RECIPES + _gpu_recipes.VITS:  # every paper config's step, as shipped
        section = "vit" if name.startswith("deen_vit") else "recipes"
        for label in ("fp32", "bf16"):
            step = find(section, f"{name} step, {label} (")
            assert step["unit"] == "s" and step["data"]["run"] == name and step["data"]["kind"] == "step"
            assert find(section, f"{name} memory, {label}")["unit"] == "MiB"
        assert find(section, f"{name} fp16 + GradScaler")["status"] == "skip"  # CUDA-only
        assert find(section, f"{name} descriptor")["data"]["kind"] == "forward"
        own = [r for r in rows if r["name"].startswith(f"{name} step") and r["data"]["config_precision"]]
        assert len(own) == 1  # the precision the config trains in feeds the projection
    for run in _paper_runs.RUNS:  # every paper config's full run, in hours
        assert find("projection", f"full run, {run.key} (")["unit"] == "h"
    ddp = find("train", "DDP world size 1 (gloo)")
    assert ddp["status"] == "ok" and "process group backend gloo" in ddp["note"]
    assert "tensorboard not installed" in ddp["note"]
    assert find("train", "torchrun, 2 processes")["status"] == "skip"
    assert find("eval", "same results")["value"] == "yes"
    assert find("search", "same results")["value"] == "yes"
    assert find("search", "faiss")["status"] == "skip"
    assert find("env", "optional: faiss")["status"] == "skip"
    # the end-to-end runs wrote checkpoints (scratch kept with --keep-work)
    assert len(list((tmp_path / "work").glob("*/run-*/checkpoints/best.safetensors"))) == 2
    assert len(list((tmp_path / "work").glob("*/run-*/checkpoints/step-*/model.safetensors"))) == 2
    # report: the section in the given RESULTS.md and in --out, the repository's file untouched
    md = (out / "gpu_check.md").read_text()
    assert md.startswith(f"## {gpu_check.TITLE}") and "result: all checks passed" in md
    results = (tmp_path / "RESULTS.md").read_text()
    assert "<!-- bench:gpu_check -->" in results and md.strip() in results
    assert gpu_check.RESULTS.read_text() == repo_results
    assert (out / "gpu_check.log").read_text().count("=== step") == 1
    assert len(list(out.iterdir())) <= 8
    assert "| step | ours fp32 (" in capsys.readouterr().out  # the summary table is printed


def test_a_failing_section_is_reported_and_the_next_runs(tmp_path, monkeypatch):
    def broken(s, rows):
        raise RuntimeError("boom")

    monkeypatch.setattr(_gpu_search, "run_eval", broken)
    rc, out, state = _run(tmp_path, "--only", "eval,search", "--no-results")
    assert rc == 1
    status = {m["name"]: m["status"] for m in state["sections"]}
    assert status == {"env": "ok", "eval": "fail", "search": "ok"}
    failed = [r for r in state["rows"] if r["status"] == "fail"]
    assert len(failed) == 1 and "RuntimeError: boom" in failed[0]["note"]
    assert "FAILED: eval" in (out / "gpu_check.md").read_text()
    assert not (tmp_path / "RESULTS.md").exists()  # --no-results


def test_budget_exhausted_skips_with_a_note(tmp_path):
    rc, out, state = _run(tmp_path, "--only", "eval", "--budget", "1")
    assert rc == 1
    assert state["sections"][-1] == {**state["sections"][-1], "name": "eval", "status": "skipped (budget)"}
    assert "time budget" in state["rows"][-1]["note"]
    assert "skipped for time: eval" in (out / "gpu_check.md").read_text()


def test_isolated_section_runs_in_a_child_process(tmp_path):
    rc, out, state = _run(tmp_path, "--only", "eval", "--isolate", "--no-results")
    assert rc == 0
    assert [r["name"] for r in state["rows"] if r["section"] == "eval"][-1] == "same results CPU vs GPU"
    assert "=== eval" in (out / "gpu_check.log").read_text()


def test_stream_kills_a_child_that_runs_past_its_time():
    lines = []
    rc, tail = stream([python(), "-c", "import time; print('started', flush=True); time.sleep(60)"], 2, lines.append)
    assert rc is None and tail == ["started"] == lines


def test_search_without_a_device_path_times_the_device_part(monkeypatch):
    import vireid.search

    real = vireid.search.exact_topk

    def cpu_only(queries, gallery, k, *args, bf16=None, **kw):
        if bf16 is False:
            raise RuntimeError("Expected all tensors to be on the same device")
        return real(queries, gallery, k, *args, bf16=bf16, **kw)

    monkeypatch.setattr(vireid.search, "exact_topk", cpu_only)
    monkeypatch.setitem(sys.modules, "faiss", None)
    rows = Rows()
    _gpu_search.run_search(Settings(dry=True), rows)
    by = {r["name"]: r for r in rows}
    assert "no device path" in by["exact_topk on cpu tensors"]["note"]
    scan = next(r for r in rows if r["name"].startswith("blocked q @ g.T + topk"))
    assert scan["status"] == "ok" and scan["value"] > 0
    assert next(r for r in rows if r["name"].startswith("same results"))["value"] == "yes"


def test_compare_topk_accepts_ties_only():
    q = torch.tensor([[1.0, 0.0]])
    gal = torch.tensor([[1.0, 0.0], [0.5, 0.0], [0.5, 0.0], [0.1, 0.0]])
    ref = (torch.tensor([[1.0, 0.5]]), torch.tensor([[0, 1]]))
    assert _gpu_search.compare_topk(q, gal, ref, (torch.tensor([[1.0, 0.5]]), torch.tensor([[0, 2]])))[0]
    assert not _gpu_search.compare_topk(q, gal, ref, (torch.tensor([[1.0, 0.1]]), torch.tensor([[0, 3]])))[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA exit")
def test_without_cuda_and_without_dry_exits_2(tmp_path, capsys):
    assert gpu_check.main(["--no-results"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA device" in err[0]


def test_merge_section(tmp_path, capsys):
    section = tmp_path / "gpu_check.md"
    section.write_text(f"## {gpu_check.TITLE}\n\n| a | b |\n")
    results = tmp_path / "RESULTS.md"
    assert gpu_check.main(["--merge-section", str(section), "--results", str(results)]) == 0
    assert "<!-- bench:gpu_check -->" in results.read_text() and "| a | b |" in results.read_text()
    section.write_text("something else\n")
    assert gpu_check.main(["--merge-section", str(section), "--results", str(results)]) == 2
