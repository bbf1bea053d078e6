"""The environment a command runs in, handled in one place (cli/main.py and the I/O helpers).

* A full disk, for every command that writes: walked from the parser with the output policy
  (``test_outputs_walk.py``); here, during a checkpoint save.
* A read-only folder: one line.
* ``vireid search ... | head -1``: no BrokenPipeError.
* ``LC_ALL=C PYTHONUTF8=0`` with file names outside ASCII: the commands run and print them.
* Another folder: a run stores absolute paths, ``test --run`` and the first-run ``search`` work
  from anywhere, an older run's relative ``data.root`` resolves against its ``config.yaml``, and
  nothing is ever generated in the current folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli.world import snapshot
from tests.conftest import fill
from vireid.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_full_disk_while_saving_a_checkpoint_keeps_the_previous_one(tmpfs):
    from tests.engine.tiny import TinyReID
    from vireid.engine.checkpoint import CheckpointManager
    from vireid.errors import OutputError

    disk = tmpfs("1m")
    model, mgr = TinyReID(), CheckpointManager(disk / "checkpoints")
    mgr.save_last(model, {"step": 1}, step=1)
    mgr.save_best(model, {"step": 1})
    fill(disk)
    before = snapshot(disk)
    with pytest.raises(OutputError, match="disk is full"):
        mgr.save_last(model, {"step": 2}, step=2)
    with pytest.raises(OutputError, match="best.safetensors: cannot write a training run's checkpoint .*previous"):
        mgr.save_best(model, {"step": 2})
    assert snapshot(disk) == before  # the pointer still names step 1, complete
    assert mgr.load_last()[1]["step"] == 1


def test_a_read_only_folder_is_one_line(world, tmpfs, capsys):
    ro = tmpfs("1m", readonly=True)
    for argv in (
        [
            "extract",
            "--checkpoint",
            world.places["checkpoint"],
            "--input",
            world.places["images"],
            "--modality",
            "visible",
            "--out",
            str(ro / "f.safetensors"),
            "--no-progress",
        ],
        [
            "train",
            "--config",
            world.places["config"],
            f"data.root={world.places['dataset']}",
            "--out",
            str(ro / "run"),
            "--quiet",
        ],
        ["synth", "--layout", "sysu", "--out", str(ro / "ds")],
    ):
        assert main(argv) == 2, argv
        assert "read-only" in one_line(capsys.readouterr().err)


def _vireid(*args: str, cwd: Path | None = None, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vireid", *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, **kw
    )


def test_search_into_a_closed_pipe_stops_quietly(world):
    queries = [world.places["image"]] * 300  # more than a pipe holds, so a write meets the closed end
    cmd = [sys.executable, "-m", "vireid", "search", "--index", world.places["index"], "--query", *queries]
    child = subprocess.Popen([*cmd, "--modality", "infrared"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = child.stdout.readline()  # | head -1
    child.stdout.close()
    err = child.stderr.read().decode()
    assert child.wait(timeout=300) in (0, 141)
    assert first.startswith(b"query ") and err == "", err


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], ["configs"], ["configs", "test_tiny"], ["synth", "--help"]], ids=" ".join
)
def test_a_full_standard_output_is_named_as_such(argv):
    """``> /dev/full``: the error names standard output (a write error names no file), and --help's,
    which argparse swallows, is not lost in silence; one line, no "Exception ignored" at exit."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        child = subprocess.run(
            [sys.executable, "-m", "vireid", *argv], stdout=full, stderr=subprocess.PIPE, timeout=120
        )
    err = one_line(child.stderr.decode())
    assert child.returncode == 2 and err.endswith("error: standard output: the disk is full"), err


def test_an_interrupt_while_the_parser_is_built_is_one_line(monkeypatch, capsys):
    """Ctrl-C in the first second (torch and the plugins importing) was a KeyboardInterrupt traceback."""
    from vireid.cli import main as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert main(["--version"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_file_names_outside_ascii_under_the_c_locale(world, tmp_path):
    """``LC_ALL=C PYTHONUTF8=0``: names are bytes the locale cannot decode; they go back out as they came.
    One interpreter runs the commands (``main`` with the locale's streams), each after a marker line."""
    gallery = tmp_path / "galerie_été"
    shutil.copytree(world.places["images"], gallery)
    out, index = tmp_path / "sortie_ü.safetensors", tmp_path / "index_ö"
    ckpt, query = world.places["checkpoint"], next((gallery / "cam3").rglob("*.png"))
    second_gallery = shutil.copy(world.places["gallery"], tmp_path / "trial_2.safetensors")  # a second trial
    runs = [
        ["extract", "--checkpoint", ckpt, "--input", gallery, "--modality", "visible", "--out", out, "--no-progress"],
        [
            "index",
            "build",
            "--checkpoint",
            ckpt,
            "--gallery",
            gallery / "cam1",
            "--modality",
            "visible",
            "--out",
            index,
            "--no-progress",
        ],
        ["search", "--index", index, "--query", query, "--modality", "infrared"],
        ["extract", "--checkpoint", ckpt, "--input", tmp_path / "absent_ñ", "--modality", "visible", "--out", out],
        ["evaluate", "--query", world.places["query"], "--gallery", world.places["gallery"], second_gallery]
        + ["--protocol", "sysu"],  # its table says "mean ± std": not ASCII either
    ]
    script = (
        "import os, sys\nfrom vireid.cli.main import main\n"
        "for argv in sys.argv[1:]:\n"
        "    args = [os.fsdecode(a) for a in argv.split('\\x1f')]\n"
        "    print('=== rc', main(args), flush=True)\n"
        "    print('=== end', file=sys.stderr, flush=True)\n"
    )
    argv = [b"\x1f".join(os.fsencode(str(a)) for a in r) for r in runs]
    c = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    done = subprocess.run([sys.executable, "-c", script, *argv], env=c, capture_output=True, timeout=600)
    assert b"Traceback" not in done.stderr and b"UnicodeEncodeError" not in done.stderr, done.stderr
    outs = done.stdout.split(b"=== rc ")
    codes = [int(part.split(b"\n", 1)[0]) for part in outs[1:]]
    assert codes == [0, 0, 0, 2, 0], done.stderr
    assert os.fsencode(f"wrote {out}") in outs[0]  # the name's bytes, as given
    assert "galerie_été".encode() in outs[2] and out.is_file() and index.is_dir()
    errors = done.stderr.split(b"=== end\n")
    assert len(errors[3].strip().splitlines()) == 1 and "absent_ñ".encode() in errors[3], errors[3]
    assert b"mean \\xb1 std" in outs[4]  # what the locale cannot encode is escaped, not a UnicodeEncodeError


def test_a_run_is_found_from_any_folder_and_nothing_appears_in_the_current_one(world, tmp_path, monkeypatch, capsys):
    saved = yaml.safe_load((Path(world.places["run"]) / "config.yaml").read_text())
    assert Path(saved["data"]["root"]).is_absolute()  # stored resolved
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["test", "--run", world.places["run"], "--out", str(tmp_path / "t")]) == 0, capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []  # no dataset generated here

    # an older run: data.root relative to the folder it was trained from (the repository root)
    repo = tmp_path / "repo"
    shutil.copytree(world.places["run"], repo / "runs" / "old", ignore=shutil.ignore_patterns(".lock", "test"))
    (repo / "data").mkdir()
    os.symlink(world.places["dataset"], repo / "data" / "tiny")
    config = repo / "runs" / "old" / "config.yaml"
    saved["data"]["root"] = "data/tiny"
    config.write_text(yaml.safe_dump(saved))  # as an older vireid wrote it: no mark, a relative path
    capsys.readouterr()
    assert main(["test", "--run", str(repo / "runs" / "old"), "--out", str(tmp_path / "t2")]) == 0, (
        capsys.readouterr().err
    )
    assert json.loads((tmp_path / "t2" / "metrics.json").read_text())["mean"]["rank1"] >= 0
    saved["data"]["root"] = "data/gone"
    config.write_text(yaml.safe_dump(saved))
    assert main(["test", "--run", str(repo / "runs" / "old"), "--out", str(tmp_path / "t3")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "config.yaml: data.root is the relative path 'data/gone'" in err and "pass data.root=PATH" in err
    assert list(elsewhere.iterdir()) == [] and not (repo / "runs" / "old" / "data").exists()


def test_the_first_run_search_works_from_any_folder(world, tmp_path, monkeypatch, capsys):
    """``index build`` given relative paths, then ``search`` from another folder."""
    monkeypatch.chdir(Path(world.places["checkpoint"]).parent)
    index = tmp_path / "g.index"
    name = Path(world.places["checkpoint"]).name
    assert (
        main(
            [
                "index",
                "build",
                "--checkpoint",
                name,
                "--gallery",
                "images/cam1",
                "--modality",
                "visible",
                "--out",
                str(index),
                "--no-progress",
            ]
        )
        == 0
    )
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert (
        main(["search", "--index", "g.index", "--query", world.places["image"], "--modality", "IR", "--topk", "2"]) == 0
    )
    assert capsys.readouterr().out.startswith("query ")


def test_a_file_name_with_a_newline_prints_one_row_and_one_error_line(world, tmp_path, capsys):
    gallery = tmp_path / "g"
    shutil.copytree(Path(world.places["images"]) / "cam1", gallery / "cam1")
    sneaky = gallery / "cam1" / "0001" / "x\n   1   0.9999       1      1  fake.png"
    shutil.copyfile(next((gallery / "cam1" / "0001").glob("*.png")), sneaky)
    index = tmp_path / "g.index"
    argv = ["index", "build", "--checkpoint", world.places["checkpoint"], "--gallery", str(gallery)]
    assert main([*argv, "--modality", "visible", "--out", str(index), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["search", "--index", str(index), "--query", world.places["image"], "--modality", "ir"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2 + 4 and sum("fake.png" in r for r in rows) == 1  # header lines + one row per image
    assert any("x\\n   1   0.9999" in r for r in rows)
    assert (
        main(
            [
                "extract",
                "--checkpoint",
                str(sneaky),
                "--input",
                str(gallery),
                "--modality",
                "visible",
                "--out",
                str(tmp_path / "f.safetensors"),
            ]
        )
        == 2
    )
    assert "x\\n" in one_line(capsys.readouterr().err)  # the error names it on one line too


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 91 GB"
        ),
        RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB"),
    ],
    ids=["MemoryError", "torch-cpu", "torch-cuda"],
)
def test_out_of_memory_is_one_line(error, monkeypatch, capsys):
    """A config within the validator's ceiling can still exceed this machine: one line naming what to
    lower, not a traceback (found by the fuzzer, whose cases run under a memory limit)."""
    import vireid.cli.configs as configs

    def run(args):
        raise error

    monkeypatch.setattr(configs, "run", run)
    assert main(["configs"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("vireid configs: error: out of memory") and "data.height" in line and "--batch-size" in line


def test_other_runtime_errors_are_not_taken_for_memory(monkeypatch):
    import vireid.cli.configs as configs

    def run(args):
        raise RuntimeError("a vireid bug")

    monkeypatch.setattr(configs, "run", run)
    with pytest.raises(RuntimeError, match="a vireid bug"):
        main(["configs"])
