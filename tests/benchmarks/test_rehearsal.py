"""benchmarks/rehearsal.py: a tiny rehearsal runs every phase of a paper config through the real
commands; the phase runner measures time, memory and bytes and interrupts on cue."""

import json
import sys

import pytest

from benchmarks import _rehearsal_run as runner
from benchmarks import rehearsal


def test_run_phase_measures_a_child(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    code = (
        "import time, sys; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
        f"open({str(out / 'f.bin')!r}, 'wb').write(b'0' * 3 * 2**20); "
        "t = time.process_time(); exec('while time.process_time() - t < 0.3: pass'); print('done')"
    )
    p = runner.run_phase("child", [sys.executable, "-c", code], log=tmp_path / "log.txt", outputs=[out])
    assert p.rc == 0 and not p.interrupted
    assert p.cpu_s >= 0.3 and p.wall_s >= p.cpu_s * 0.5
    assert p.peak_rss_mib > 200 and p.written_mib == pytest.approx(3.0, abs=0.01)
    assert runner.stamped_lines(p.log)[-1][1] == "done"


def test_run_phase_interrupts_when_asked(tmp_path):
    flag = tmp_path / "ready"
    code = (
        "import sys, time\n"
        f"open({str(flag)!r}, 'w').close()\n"
        "try:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('interrupted'); sys.exit(130)\n"
    )
    p = runner.run_phase(
        "stop", [sys.executable, "-c", code], log=tmp_path / "log.txt", interrupt_when=flag.exists, poll=0.05
    )
    assert p.interrupted and p.rc == 130 and p.wall_s < 30
    assert "interrupted" in runner.tail(p.log)


def test_tiny_rehearsal_runs_every_phase(tmp_path):
    results_md = tmp_path / "RESULTS.md"
    argv = ["--tiny", "--configs", "deen_sysu", "--data", str(tmp_path / "data"), "--work", str(tmp_path / "work")]
    assert rehearsal.main([*argv, "--results", str(results_md)]) == 0
    state = json.loads((tmp_path / "work" / "rehearsal.json").read_text())
    run = state["configs"]["deen_sysu"]
    assert run["failed"] is None
    phases = {p["name"]: p for p in run["phases"]}
    assert list(phases) == ["train (interrupted)", "train --resume", "test", "index build", "report"]
    assert phases["train (interrupted)"]["interrupted"] and phases["train (interrupted)"]["rc"] == 130
    assert "epoch 2, step 6" in phases["train --resume"]["resumed"]
    assert all(p["cpu_s"] > 0 and p["peak_rss_mib"] > 50 for p in phases.values())
    assert any("10 trial(s)" in c for c in run["checks"]) and any(c.startswith("index:") for c in run["checks"])
    lib = run["library"]
    assert lib["sampler_steps"] == max(89, 48) // 4 + 1 and lib["final_splits"] == 10
    section = results_md.read_text()
    assert "<!-- bench:rehearsal -->" in section and "| deen_sysu | train --resume |" in section
    # a second run keeps the dataset (same settings) and, with --resume, the finished config
    assert rehearsal.main([*argv, "--resume", "--no-write"]) == 0
    again = json.loads((tmp_path / "work" / "rehearsal.json").read_text())
    assert again["datasets"]["sysu"]["reused"] and again["configs"]["deen_sysu"]["phases"] == run["phases"]


def test_the_section_sums_the_phases_and_names_runs_kept_from_other_commits():
    """A rehearsal resumed in sittings: its total is the phases' own time, not the hours between
    sittings; runs kept from another commit are named with it, and so is a report they lack; the
    ABD finding quotes the two runs' test times."""
    from benchmarks import _rehearsal_report as report
    from benchmarks._rehearsal_findings import finding_facts

    def phases(test_cpu):
        common = {"rc": 0, "wall_s": 1800.0, "peak_rss_mib": 1.0, "tree_pss_mib": 1.0, "written_mib": 0.0, "log": "-"}
        return [{**common, "name": "train", "cpu_s": 900.0}, {**common, "name": "test", "cpu_s": test_cpu}]

    results = {
        "settings": {"data_scale": "paper", "steps": 3, "factor": 6.0, "threads": 1, "tiny": False},
        "started": 0.0,
        "finished": 10 * 3600.0,
        "commit": "new",
        "datasets": {},
        "configs": {
            "deen_sysu": {"commit": "new", "phases": phases(100.0)},
            "abd_sysu": {"commit": "old", "phases": phases(700.0), "report": "skipped"},
        },
    }
    body = report.section_body(results, None)
    assert "Total: 2.00 h wall" in body and "(abd_sysu at old)" in body
    assert "vireid report: skipped for abd_sysu, rehearsed at a commit without it" in body
    facts = finding_facts(results)
    assert "700 s of CPU against deen_sysu's 100 s (7.0 times)" in facts["abd_eval"]
