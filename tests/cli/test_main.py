"""cli.main: overrides anywhere after the sub-command, usage errors in one line, ablate's explicit --grid/--set."""

import os

import pytest

from tests.engine.tiny import CONFIGS, tiny_dataset
from vireid.cli.main import main
from vireid.config import load_config

TINY = str(CONFIGS / "test_tiny.yaml")


def test_train_overrides_anywhere_later_ones_win(tmp_path, capsys):
    root = tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                "--out",
                str(run),
                "train.epochs=3",
                "--quiet",
                f"data.root={root}",
                "train.epochs=1",
                "optim.lr=0.01",
            ]
        )
        == 0
    ), capsys.readouterr().err
    cfg = load_config(run / "config.yaml")
    assert cfg.train.epochs == 1 and cfg.data.root == str(root) and cfg.optim.lr == 0.01


def test_configs_prints_the_resolved_config(capsys):
    assert main(["configs", "test_tiny", "train.epochs=7", "--paths", "optim.lr=0.5"]) == 0
    text = capsys.readouterr().out
    assert "epochs: 7" in text and "lr: 0.5" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--config", TINY, "--outt", "x"], "unrecognized arguments: --outt"),
        (["train", "--config", TINY, "--quiet", "epochs"], "override 'epochs' is not of the form section.key=value"),
        (["configs", "--paths", "a=1"], "a=1: an override, not a config; give the config first"),
        (["extract", "--checkpoint", "x"], "the following arguments are required"),
    ],
)
def test_usage_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_ablate_takes_axes_after_grid_and_overrides_after_set(tmp_path, monkeypatch, capsys):
    import vireid.cli.ablate as cli

    seen = {}

    def fake(base, grid, out, **kw):
        seen.update(base=base, grid=grid)
        return []

    monkeypatch.setattr(cli, "run_ablation", fake)
    monkeypatch.setattr(cli, "report_markdown", lambda rows: "")
    assert (
        main(
            [
                "ablate",
                "--config",
                TINY,
                "--grid",
                "optim.lr=0.1,0.01",
                "--set",
                "train.epochs=1",
                "--grid",
                "loss.cpm.weight=0,0.8",
                "--seeds",
                "0",
                "--set",
                "data.root=x",
                "eval.every=0",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert list(seen["grid"]) == ["optim.lr", "loss.cpm.weight"]
    assert seen["base"].train.epochs == 1 and seen["base"].data.root == "x" and seen["base"].eval.every == 0
    # a key=value outside --grid / --set could be either: refused
    assert (
        main(
            [
                "ablate",
                "--config",
                TINY,
                "--grid",
                "optim.lr=0.1,0.01",
                "--mode",
                "each",
                "train.epochs=1",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "--set" in capsys.readouterr().err
    # a one-value "axis" (what the old parser made of trailing overrides) is refused too
    assert (
        main(["ablate", "--config", TINY, "--grid", "optim.lr=0.1,0.01", "train.epochs=1", "--out", str(tmp_path)]) == 2
    )
    assert "one value" in capsys.readouterr().err


def _path_options():
    from tests.cli.world import leaves
    from vireid.cli.main import build_parser

    for path, p in leaves(build_parser()):
        decl = p.get_default("_declaration")
        for dest in [*decl.outputs, *decl.inputs]:
            action = next(a for a in p._actions if a.dest == dest)
            yield pytest.param(path, action, id=f"{' '.join(path)} {dest}")


@pytest.mark.parametrize("path, action", list(_path_options()))
def test_an_empty_path_is_refused_as_such(path, action, world, capsys):
    """Every declared input and output, given '': refused naming the option -- not read as '.'
    (pathlib's reading of '', which gave ".: file not found"; found by the fuzzer)."""
    argv = world.fill(action.container._defaults["_declaration"].example, out=world.root / "out.x")
    opt = action.option_strings[0] if action.option_strings else None
    if opt is None:  # a positional: its word in the example
        argv[_positional(argv, len(path), action.container)] = ""
    elif opt in argv:
        argv[argv.index(opt) + 1] = ""
    else:
        argv += [opt, ""]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"expected a path, got '' (see vireid {' '.join(path)} --help)"), err
    assert f"argument {action.option_strings[0] if action.option_strings else action.metavar or action.dest}" in err


def _positional(argv: list[str], start: int, parser) -> int:
    """The index in ``argv`` of the first positional word after the command's words."""
    i = start
    while argv[i].startswith("-"):
        action = next(a for a in parser._actions if argv[i] in a.option_strings)
        i += 1 if action.nargs == 0 else 2
    return i


def test_every_command_with_a_device_option_refuses_another_device(world, capsys):
    """``--device meta`` reached torch's autocast in inference (a traceback; found by the fuzzer):
    every command with ``--device`` answers one line."""
    from tests.cli.world import leaves
    from vireid.cli.main import build_parser, main

    checked = 0
    for path, p in leaves(build_parser()):
        if not any("--device" in a.option_strings for a in p._actions):
            continue
        decl = p.get_default("_declaration")
        kind = next(iter(decl.outputs.values()), None)
        out = world.root / "never" / ("out" + (kind.suffixes[0] if kind and kind.suffixes else ""))
        argv = world.fill(decl.example, out=out)
        assert main(argv + ["--device", "meta"]) == 2, " ".join(path)
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "meta" in err, err
        checked += 1
    assert checked >= 7


def _inputs():
    from tests.cli.world import leaves
    from vireid.cli.main import build_parser

    for path, p in leaves(build_parser()):
        decl = p.get_default("_declaration")
        for dest in decl.inputs:
            action = next(a for a in p._actions if a.dest == dest)
            yield pytest.param(path, action, id=f"{' '.join(path)} {dest}")


@pytest.mark.parametrize("thing", ["pipe", "dangling link"])
@pytest.mark.parametrize("path, action", list(_inputs()))
def test_an_input_that_is_a_pipe_or_a_link_to_nothing_is_one_true_line(path, action, thing, world, tmp_path, capsys):
    """Every declared input, given a named pipe (opened, it waits forever for a writer) or a link to
    nothing: one line saying what is there -- a pipe is not "not found" -- and never a hang (found
    by the fuzzer)."""
    import signal

    bad = tmp_path / f"{action.dest}-{thing.replace(' ', '-')}.yaml"  # not in the shared world: others copy it
    os.mkfifo(bad) if thing == "pipe" else os.symlink(world.root / "gone", bad)
    decl = action.container._defaults["_declaration"]
    kind = next(iter(decl.outputs.values()), None)
    argv = world.fill(
        decl.example, out=world.root / "never" / ("o" + (kind.suffixes[0] if kind and kind.suffixes else ""))
    )
    opt = action.option_strings[0] if action.option_strings else None
    if opt is None:
        argv[_positional(argv, len(path), action.container)] = str(bad)
    elif opt in argv:
        argv[argv.index(opt) + 1] = str(bad)
    else:
        argv += [opt, str(bad)]

    def hang(*_):
        raise TimeoutError(f"{' '.join(argv)}: no answer in 60 s")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    try:
        assert main(argv) == 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    if thing == "pipe":  # a folder input says it is not one (an index: not a vireid index)
        said = ("named pipe", "not a folder", "not a vireid index")
        assert "not found" not in err and any(s in err for s in said), err
    assert not (world.root / "never").exists()


def test_a_librarys_warning_is_one_line_naming_its_source(monkeypatch, capsys):
    """Python's format adds the warning's source line (two lines or more); every warning is one line."""
    import warnings

    from vireid.cli import configs

    def run(args):
        warnings.warn("No artists with labels found\nsecond line", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(configs, "run", run)
    assert main(["configs", TINY]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vireid configs: warning: No artists with labels found (UserWarning, ")


def test_a_file_pickled_with_protocol_4_is_one_line(tmp_path, capsys):
    """torch warns about the protocol before refusing or reading: only vireid's line is shown."""
    import pickle

    f = tmp_path / "c.t"
    f.write_bytes(pickle.dumps({"net": {"a": 1}}, protocol=4))
    assert main(["convert", "--official", str(f), "--out", str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(f) in err[0], err


def _repeatable_inputs():
    from tests.cli.world import leaves
    from vireid.cli.main import build_parser

    out = []
    for path, p in leaves(build_parser()):
        decl = p.get_default("_declaration")
        for a in p._actions:
            if a.dest in decl.inputs and a.nargs in ("+", "*") and a.option_strings and a.dest not in decl.repeatable:
                out.append(pytest.param(path, a.option_strings[-1], id=f"{' '.join(path)} {a.option_strings[-1]}"))
    return out


@pytest.mark.parametrize("path, option", _repeatable_inputs())
def test_a_file_given_twice_to_an_input_option_is_refused(path, option, world, tmp_path, capsys):
    """Walks every input option that takes several files: ``evaluate --gallery G G G`` counted one
    gallery as three trials, ``visualize tsne --features F F`` drew every point twice."""
    from tests.cli.world import leaves
    from vireid.cli.main import build_parser

    decl = dict(leaves(build_parser()))[path].get_default("_declaration")
    argv = world.fill(decl.example, out=tmp_path / "never" / "out.json")
    assert option in argv, f"the example of vireid {' '.join(path)} does not use {option}"
    value = argv[argv.index(option) + 1]
    other_spelling = os.path.join(os.path.dirname(value) or ".", ".", os.path.basename(value))
    argv.insert(argv.index(option) + 2, other_spelling)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"given twice to {option}" in err[0], err
    assert not (tmp_path / "never").exists()


def test_the_walk_finds_the_repeatable_inputs():
    found = {p.id for p in _repeatable_inputs()}
    assert {"evaluate --gallery", "visualize tsne --features"} <= found, found


def test_configs_given_an_override_first_says_so(capsys):
    """``vireid configs data.root=x`` said "data.root=x: config file not found"."""
    assert main(["configs", "data.root=x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "vireid configs: error: data.root=x: an override, not a config; give the config first: "
        "vireid configs NAME key=value"
    )


def test_a_positional_given_twice_names_no_option_it_lacks(tmp_path, capsys):
    """``vireid report RUN RUN`` said "given twice to --runs", an option report does not have."""
    run = tmp_path / "run"
    run.mkdir()
    assert main(["report", str(run), str(tmp_path / "." / "run"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "given twice (as " in err[0] and "--runs" not in err[0], err
