"""``vireid synth`` command line: success, refusal of a non-empty --out, bad arguments."""

from __future__ import annotations

import json

import pytest

from vireid.cli.main import main

TINY = ["--num-ids", "5", "--images-per-id-per-cam", "1", "--min-height", "40", "--max-height", "48"]


def test_synth_writes_dataset(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["synth", "--layout", "regdb", "--out", str(out), "--seed", "2", *TINY]) == 0
    assert "images" in capsys.readouterr().out
    assert len(list((out / "idx").glob("*.txt"))) == 40 and any((out / "Thermal").iterdir())


def test_existing_dataset_needs_force(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["synth", "--layout", "sysu", "--out", str(out), *TINY]) == 0
    (out / "x.txt").write_text("inside the old dataset")
    assert main(["synth", "--layout", "sysu", "--out", str(out), "--seed", "4", *TINY]) == 2
    err = capsys.readouterr().err
    assert "synthetic dataset already" in err and "--force" in err and "Traceback" not in err
    assert (out / "x.txt").exists()
    # --force replaces only what vireid wrote: a file the user added stops it, named
    assert main(["synth", "--layout", "sysu", "--out", str(out), "--seed", "4", "--force", *TINY]) == 2
    err = capsys.readouterr().err
    assert "x.txt, which is not among the files vireid wrote" in err and len(err.strip().splitlines()) == 1
    assert (out / "x.txt").read_text() == "inside the old dataset"
    (out / "x.txt").unlink()
    assert main(["synth", "--layout", "sysu", "--out", str(out), "--seed", "4", "--force", *TINY]) == 0
    assert (out / "exp" / "train_id.txt").is_file() and json.loads((out / "synth.json").read_text())["params"][
        "seed"
    ] == 4


def test_unknown_layout_exits_2(tmp_path, capsys):
    assert main(["synth", "--layout", "market1501", "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert "market1501" in err and "sysu" in err
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--difficulty", "2"], "difficulty"),
        (["--num-ids", "1"], "--num-ids"),
        (["--min-height", "90", "--max-height", "60"], "--min-height/--max-height"),
        (["--workers", "0"], "workers"),
    ],
)
def test_bad_values_exit_2(tmp_path, capsys, args, message):
    assert main(["synth", "--layout", "llcm", "--out", str(tmp_path / "ds"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--max-height", "1", "--min-height/--max-height: must be >= 32 and <= 1024"),
        ("--min-height", "60", "--min-height/--max-height: must be in ascending order, got (60, 48)"),
        ("--num-ids", "2", "--num-ids: must be >= 4"),
        ("--seed", "-1", "argument --seed: a seed must be >= 0 and < 2^63, got -1"),  # parsed as a seed
        ("--difficulty", "nan", "argument --difficulty: expected a finite number, got 'nan'"),
        ("--difficulty", "2", "--difficulty: must be >= 0 and <= 1, got 2.0"),
        ("--images-per-id-per-cam", "0", "argument --images-per-id-per-cam: expected an integer >= 1, got '0'"),
    ],
)
def test_options_are_checked_by_the_generators_declarations_and_named_as_options(
    option, value, message, tmp_path, capsys
):
    """The generator's declared ranges, named as the options the user typed (the message named
    ``synth.height_range``; found by the fuzzer); nothing is written."""
    from vireid.cli.main import main

    argv = ["synth", "--layout", "sysu", "--out", str(tmp_path / "s"), "--min-height", "40", "--max-height", "48"]
    assert main(argv + [option, value]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"vireid synth: error: {message}" or err.startswith(f"vireid synth: error: {message}"), err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--num-ids", "10", "--num-test-ids", "9"], "--num-test-ids: must be <= --num-ids - 2 = 8, got 9"),
        (["--scale", "0.01", "--num-ids", "9"], "--scale '0.01' takes the official dataset's counts and crop sizes; "),
        (["--scale", "0.01", "--num-test-ids", "3"], "; --num-test-ids cannot be set with it"),
    ],
)
def test_options_that_clash_are_named_as_options(tmp_path, capsys, args, message):
    """Cross-option rules named the generator's keywords (``synth.num_test_ids``) to a command-line
    user; a config still hears its own keys (``data.synth.*``: tests/data/synth)."""
    assert main(["synth", "--layout", "sysu", "--out", str(tmp_path / "s"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "synth." not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "s").exists()


def test_rerun_without_force_names_the_option_only(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["synth", "--layout", "sysu", "--out", str(out), *TINY]) == 0
    assert main(["synth", "--layout", "sysu", "--out", str(out), *TINY]) == 2
    assert capsys.readouterr().err.strip().endswith("holds a synthetic dataset already; pass --force to replace it")
