"""Notes held while a command checks its inputs: printed when the work begins or the command ends,
dropped when it is refused (the refusal is the one line)."""

from __future__ import annotations

import pytest

from vireid.utils import notes


def test_a_note_outside_a_command_is_printed_at_once(capsys):
    notes.emit("skipped 3 rows")
    assert capsys.readouterr().err == "skipped 3 rows\n"


def test_held_notes_are_printed_at_the_end_or_when_the_work_begins(capsys):
    with notes.holding():
        notes.emit("first")
        assert capsys.readouterr().err == ""  # held while the inputs are checked
        notes.release()  # the work begins
        assert capsys.readouterr().err == "first\n"
        notes.emit("second")  # during the work: at once
        assert capsys.readouterr().err == "second\n"
    with notes.holding():
        notes.emit("third")
    assert capsys.readouterr().err == "third\n"


def test_held_notes_are_dropped_when_the_command_is_refused(capsys):
    with pytest.raises(ValueError), notes.holding():
        notes.emit("a note about another input")
        raise ValueError("refused")
    assert capsys.readouterr().err == ""
    notes.emit("after")  # holding ended: at once again
    assert capsys.readouterr().err == "after\n"
