"""utils.paths: the same path through any spelling, the dataset a path lies in, and printing paths
on one line (control characters escaped)."""

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

import vireid.data.datasets  # noqa: F401  (the dataset classes register their layouts)
from vireid.errors import DatasetError
from vireid.utils.paths import dataset_root, is_within, same_path, shown, synth_meta


def test_same_path_sees_through_spellings_and_links(tmp_path):
    f = tmp_path / "a" / "x.bin"
    f.parent.mkdir()
    f.write_bytes(b"1")
    os.symlink(f, tmp_path / "link.bin")
    assert same_path(f, tmp_path / "a" / ".." / "a" / "x.bin")
    assert same_path(f, tmp_path / "link.bin")
    assert not same_path(f, tmp_path / "a" / "y.bin")
    assert is_within(f, tmp_path / "a") and not is_within(tmp_path, f)


def test_dataset_root_finds_every_official_layout_and_synthetic_datasets(tmp_path):
    sysu = tmp_path / "sysu"
    (sysu / "exp").mkdir(parents=True)
    (sysu / "cam3" / "0001").mkdir(parents=True)
    llcm = tmp_path / "llcm"
    (llcm / "idx").mkdir(parents=True)
    (llcm / "test_nir").mkdir()
    regdb = tmp_path / "regdb"
    (regdb / "Visible").mkdir(parents=True)
    (regdb / "Thermal").mkdir()
    synth = tmp_path / "synth"
    synth.mkdir()
    (synth / "synth.json").write_text(json.dumps({"generator": "vireid.data.synth", "layout": "regdb", "params": {}}))
    assert dataset_root(sysu / "cam3" / "0001" / "0001.jpg") == (sysu, "sysu")  # need not exist
    assert dataset_root(llcm / "test_nir" / "x" / "new.png") == (llcm, "llcm")
    assert dataset_root(regdb) == (regdb, "regdb")
    assert dataset_root(synth / "a" / "b") == (synth, "regdb")
    assert dataset_root(tmp_path / "runs" / "x") is None
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "synth.json").write_text('{"generator": "someone else"}')  # not vireid's
    assert dataset_root(tmp_path / "other" / "f.png") is None


def test_synth_meta_is_none_only_where_no_vireid_synth_json_is_there(tmp_path):
    assert synth_meta(tmp_path) is None
    good = {"generator": "vireid.data.synth", "layout": "sysu", "params": {"seed": 0}}
    (tmp_path / "synth.json").write_text(json.dumps(good))
    assert synth_meta(tmp_path) == good
    (tmp_path / "synth.json").write_text('{"generator": "someone else"}')
    assert synth_meta(tmp_path) is None  # another tool's
    (tmp_path / "synth.json").write_text(" " * (2 << 20))
    with pytest.raises(DatasetError, match=r"synth\.json: \d+ bytes; not a vireid synth\.json"):
        synth_meta(tmp_path)
    (tmp_path / "synth.json").unlink()
    (tmp_path / "synth.json").mkdir()
    with pytest.raises(DatasetError, match=r"synth\.json: is a folder, not a synth\.json$"):
        synth_meta(tmp_path)
    assert dataset_root(tmp_path / "sub" / "f.png") is None  # a folder above, of no dataset's layout: not vireid's
    (tmp_path / "exp").mkdir()
    (tmp_path / "cam1").mkdir()  # a SYSU-MM01 layout: its synth.json is asked for
    with pytest.raises(DatasetError, match=r"synth\.json: is a folder"):
        dataset_root(tmp_path / "sub" / "f.png")  # every command asking where a path lies
    (tmp_path / "synth.json").rmdir()
    (tmp_path / "exp").rmdir()
    (tmp_path / "synth.json").write_text('{"generator": "vireid.data.synth", "layout": "sysu"}')
    with pytest.raises(DatasetError, match=r"no 'params' object"):  # it says it is vireid's: always asked for
        dataset_root(tmp_path / "sub" / "f.png")


def test_shown_escapes_what_would_break_a_line():
    assert shown("runs/a\nrank 1 0.99 fake.jpg") == "runs/a\\nrank 1 0.99 fake.jpg"
    assert shown("a\tb\rc\x1b[31mred\x00") == "a\\tb\\rc\\x1b[31mred\\x00"
    assert shown("caf\u00e9/\u202eevil") == "caf\u00e9/\\u202eevil"  # printable text kept, a bidi override escaped
    assert shown(os.path.join("d", "f.png")) == "d/f.png"


@given(st.text())
def test_shown_is_always_one_printable_line(text):
    out = shown(text)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in out)
    if all(c.isprintable() for c in text):
        assert out == text  # what is already printable is left as it is


def test_file_problem_says_what_is_there_instead_of_a_file(tmp_path):
    """The one answer every reader gives for a path that is not a readable file: a folder, a named
    pipe (a read would wait forever) or a link to nothing was each called "not found"."""
    from vireid.utils.paths import file_problem

    (tmp_path / "f.yaml").write_text("a: 1\n")
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "p.yaml")
    os.symlink(tmp_path / "gone", tmp_path / "l.yaml")
    assert file_problem(tmp_path / "f.yaml") is None
    assert file_problem(tmp_path / "nope.yaml", "config file") == "config file not found"
    assert file_problem(tmp_path / "f.yaml" / "x", "config file") == "config file not found"
    assert file_problem(tmp_path / "d", "image file") == "is a folder, not an image file"
    assert file_problem(tmp_path / "p.yaml", "config file") == "is a named pipe, not a config file"
    assert file_problem(tmp_path / "l.yaml") == f"is a link to {tmp_path / 'gone'}, which does not exist"
    assert file_problem("/dev/zero", "file") == "is a device, not a file"


def test_found_file_tells_absent_from_unreadable(tmp_path):
    import pytest

    from vireid.errors import VireidError
    from vireid.utils.paths import found_file

    assert found_file(tmp_path / "absent.yaml", "config") is False
    (tmp_path / "c.yaml").write_text("a: 1\n")
    assert found_file(tmp_path / "c.yaml", "config") is True
    os.mkfifo(tmp_path / "p.yaml")
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "nowhere")
    for name, said in (("p.yaml", "is a named pipe, not a config"), ("dangling.yaml", "which does not exist")):
        with pytest.raises(VireidError, match=said):
            found_file(tmp_path / name, "config")


def test_progress_lines_escape_control_characters(capsys):
    """A path with an escape sequence in a progress line (``ablate --out 'a\\x1b[31mb'``) is
    printed escaped, as errors are."""
    from vireid.utils.paths import say

    say("[1/2] base seed 0 -> /runs/a\x1b[31mb")
    assert capsys.readouterr().out == "[1/2] base seed 0 -> /runs/a\\x1b[31mb\n"


def test_no_library_function_reports_through_bare_print():
    """Every library function that reports as it goes (a ``log`` or ``print_fn`` parameter, a
    dataclass ``log`` field) defaults to :func:`vireid.utils.paths.say`, never ``print``: walked
    over every module of the package."""
    import dataclasses
    import importlib
    import inspect
    import pkgutil

    import vireid

    bare = []
    for info in pkgutil.walk_packages(vireid.__path__, "vireid."):
        if info.name.startswith(("vireid.__main__", "vireid.cli")):
            continue  # the CLI is where printing belongs
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != info.name:
                continue
            callables = [obj] if inspect.isfunction(obj) else []
            if inspect.isclass(obj):
                callables += [f for f in vars(obj).values() if inspect.isfunction(f)]
                if dataclasses.is_dataclass(obj):
                    bare += [f"{info.name}.{name}.{f.name}" for f in dataclasses.fields(obj) if f.default is print]
            for f in callables:
                for p in inspect.signature(f).parameters.values():
                    if p.name in ("log", "print_fn") and p.default is print:
                        bare.append(f"{info.name}.{f.__qualname__}({p.name})")
    assert not bare, bare


def test_a_name_holding_a_nul_byte_is_a_problem_not_a_traceback(tmp_path):
    """A dataset list line naming ``nul\\x00.bmp`` reached ``os.stat`` (ValueError, a traceback)."""
    from vireid.utils.paths import file_problem

    assert file_problem(tmp_path / "nul\x00.bmp", "image file") == (
        "is a name holding a NUL byte, which no file can have; expected an image file"
    )
