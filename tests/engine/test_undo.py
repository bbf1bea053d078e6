"""engine.undo: a command that failed before doing anything removes what it made, and only that."""

from vireid.engine.undo import FolderUndo


def _own(rel: str) -> bool:
    return rel in (".lock", "config.yaml") or rel.startswith("tb/")


def _tree(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_a_folder_it_made_goes_with_the_parents_made_for_it(tmp_path):
    run = tmp_path / "a" / "b" / "run"
    undo = FolderUndo(run, _own)
    (run / "tb").mkdir(parents=True)
    for rel in (".lock", "config.yaml", "tb/events.out"):
        (run / rel).write_text("x")
    assert undo.undo() and _tree(tmp_path) == []


def test_what_was_there_before_stays(tmp_path):
    run = tmp_path / "run"
    (run / "empty").mkdir(parents=True)
    (run / "config.yaml").write_text("the user's, overwritten by --overwrite")
    (run / "NOTES.txt").write_text("mine")
    undo = FolderUndo(run, _own)
    (run / ".lock").write_text("")
    (run / "tb").mkdir()
    (run / "tb" / "events.out").write_text("x")
    assert undo.undo()
    assert _tree(run) == ["NOTES.txt", "config.yaml", "empty"]


def test_nothing_goes_when_something_else_is_new_or_the_work_started(tmp_path):
    run = tmp_path / "run"
    undo = FolderUndo(run, _own)
    (run / "checkpoints").mkdir(parents=True)
    (run / ".lock").write_text("")
    (run / "checkpoints" / "last.json").write_text("{}")
    assert not undo.undo() and _tree(run) == [".lock", "checkpoints", "checkpoints/last.json"]
    other = tmp_path / "other"
    undo = FolderUndo(other, _own)
    other.mkdir()
    (other / ".lock").write_text("")
    undo.disarm()
    assert not undo.undo() and _tree(other) == [".lock"]
