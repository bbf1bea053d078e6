"""Every option of every command parses its value through one checked type (``vireid.cli._common``):
numbers are finite, seeds are what numpy and torch take.  Walks the parser, so a new option
with a bare ``type=float`` fails here."""

from __future__ import annotations

import argparse

import pytest

from tests.cli.world import leaves
from vireid.cli import _common
from vireid.cli.main import build_parser, main

COMMANDS = list(leaves(build_parser()))


def _options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if a.option_strings]


@pytest.mark.parametrize("path,parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_no_option_parses_a_bare_number_or_an_unchecked_seed(path, parser):
    for a in _options(parser):
        assert a.type is not float, f"vireid {' '.join(path)} {a.option_strings[0]}: use _common.finite/positive"
        assert a.type is not int, f"vireid {' '.join(path)} {a.option_strings[0]}: use _common.integer(low)"
        if "seed" in a.dest:
            assert a.type is _common.seed, f"vireid {' '.join(path)} {a.option_strings[0]}: use _common.seed"


FLOAT_OPTIONS = [
    (path, a.option_strings[-1])
    for path, parser in COMMANDS
    for a in _options(parser)
    if a.type in (_common.finite, _common.positive)
]


def test_the_walk_finds_the_float_options():
    assert {" ".join(p) + " " + o for p, o in FLOAT_OPTIONS} >= {"synth --difficulty", "visualize tsne --perplexity"}


@pytest.mark.parametrize("path,option", FLOAT_OPTIONS, ids=[" ".join(p) + " " + o for p, o in FLOAT_OPTIONS])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "abc"])
def test_a_float_option_refuses_what_is_not_a_finite_number(path, option, value, capsys):
    assert main([*path, option, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0], err
    assert repr(value) in err[0] or value.startswith("-"), err  # argparse takes '-inf' for an option


@pytest.mark.parametrize("value", ["-1", "9223372036854775808", "1.5", "x"])
def test_seeds_outside_what_numpy_takes_are_refused_naming_the_option(value, capsys):
    for argv in (["ablate", "--config", "x.yaml", "--grid", "a=1,2", "--seeds", value], ["synth", "--seed", value]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("--seed" in err[0]) and value in err[0], err


def test_positive_refuses_zero_and_below():
    for text in ("0", "-2"):
        with pytest.raises(argparse.ArgumentTypeError):
            _common.positive(text)
    assert _common.positive("0.5") == 0.5
    assert _common.seed(str(2**63 - 1)) == 2**63 - 1


@pytest.mark.parametrize(
    "option,value",
    [("--input-size", "1x1"), ("--batch-size", str(2**63)), ("--batch-size", "1000000000")],
)
def test_every_model_command_names_the_size_option_the_model_cannot_take(option, value, world, capsys):
    """A size the model's strides cannot take or a batch beyond the memory ceiling: the refusal
    names the option (it said 'input size 1x1' -- found by the fuzzer), for every command that
    loads a model."""
    checked = 0
    for path, p in COMMANDS:
        if not any(option in a.option_strings for a in p._actions):
            continue
        decl = p.get_default("_declaration")
        kind = next(iter(decl.outputs.values()), None)
        out = world.root / "never" / ("out" + (kind.suffixes[0] if kind and kind.suffixes else ""))
        argv = world.fill(decl.example, out=out)
        assert main(argv + [option, value]) == 2, " ".join(path)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and option in err[0], (path, err)
        checked += 1
    assert checked >= 5


INT_OPTIONS = [
    (path, a.option_strings[-1], a.type.low)
    for path, parser in COMMANDS
    for a in _options(parser)
    if hasattr(a.type, "low")
]


def test_the_walk_finds_the_integer_options():
    found = {" ".join(p) + " " + o for p, o, _ in INT_OPTIONS}
    assert found >= {"search --nprobe", "search --topk", "evaluate --max-rank", "export --opset", "ablate --jobs"}


@pytest.mark.parametrize("path,option,low", INT_OPTIONS, ids=[" ".join(p) + " " + o for p, o, _ in INT_OPTIONS])
def test_an_integer_option_below_its_least_value_is_refused_naming_it(path, option, low, capsys):
    """``search --nprobe 0`` reached faiss (a traceback); ``evaluate --max-rank 0`` said
    ``max_rank must be >= 1``: every integer option refuses, naming itself, before any work."""
    for value in (str(low - 1), "1.5", "abc", ""):
        assert main([*path, option, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"argument {option}:" in err[0] and repr(value) in err[0], err


COUNT_WORDS = ("workers", "jobs", "threads", "processes")


def test_every_process_or_thread_count_is_bounded():
    """``data.workers=100000`` forked until the machine stalled and ``train.threads=100000`` crashed
    torch (a segmentation fault): every count of processes or threads -- an option of any command,
    a config key of any section -- is bounded by ``MAX_WORKERS``."""
    import dataclasses
    import typing

    from vireid.config.schema import Config
    from vireid.core.params import MAX_WORKERS, Range

    options = [
        (" ".join(path), a)
        for path, parser in COMMANDS
        for a in _options(parser)
        if any(w in a.dest for w in COUNT_WORDS)
    ]
    assert {name + " " + a.option_strings[-1] for name, a in options} >= {"synth --workers", "ablate --jobs"}
    for name, a in options:
        assert getattr(a.type, "high", None) == MAX_WORKERS, f"vireid {name} {a.option_strings[-1]}"
    keys = []
    for section in dataclasses.fields(Config):
        if not dataclasses.is_dataclass(section.default_factory):
            continue
        hints = typing.get_type_hints(section.default_factory, include_extras=True)
        for f in dataclasses.fields(section.default_factory):
            if any(w in f.name for w in COUNT_WORDS):
                ranges = [m for m in getattr(hints[f.name], "__metadata__", ()) if isinstance(m, Range)]
                assert ranges and ranges[0].hi == MAX_WORKERS, f"{section.name}.{f.name}"
                keys.append(f"{section.name}.{f.name}")
    assert set(keys) >= {"data.workers", "train.threads"}


@pytest.mark.parametrize("override", ["data.workers=257", "train.threads=100000"])
def test_a_count_beyond_the_bound_is_one_line(override, capsys):
    assert main(["configs", "test_tiny", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and override.split("=")[0] + ": must be >= 0 and <= 256" in err[0], err


PATH_OPTIONS = [
    (path, a)
    for path, parser in COMMANDS
    for a in parser._actions
    if a.dest in {**parser.get_default("_declaration").inputs, **parser.get_default("_declaration").outputs}
    if parser.get_default("_declaration") is not None
]


def test_the_walk_finds_the_path_options():
    found = {" ".join(p) + " " + (a.option_strings or [a.dest])[-1] for p, a in PATH_OPTIONS}
    assert {"test --run", "extract --out", "train --config", "index build --gallery", "report runs"} <= found


@pytest.mark.parametrize("path,action", PATH_OPTIONS, ids=[" ".join(p) + " " + a.dest for p, a in PATH_OPTIONS])
def test_every_path_option_expands_the_home_folder(path, action, monkeypatch, tmp_path):
    """``--out=~/x`` and a quoted ``'~/x'`` reach vireid as typed (the shell expands neither): every
    declared input and output expands ``~`` the same way, never making a folder named ``~``."""
    monkeypatch.setenv("HOME", str(tmp_path))
    got = action.type("~/x")
    assert str(getattr(got, "path", got)) == str(tmp_path / "x"), f"vireid {' '.join(path)} {action.dest}: {got!r}"
