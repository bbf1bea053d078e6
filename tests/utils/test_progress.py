"""vireid.utils.progress: a bar only on a terminal (a redirected stderr got carriage-return lines)."""

from __future__ import annotations

import io

from vireid.utils.progress import progress_bar, watched


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_unless_a_terminal_watches():
    assert progress_bar(True, io.StringIO(), total=3) is None
    assert progress_bar(False, _Tty(), total=3) is None
    tty = _Tty()
    bar = progress_bar(True, tty, total=3, desc="x")
    bar.update(3)
    bar.close()
    assert "x" in tty.getvalue()


def test_a_closed_or_odd_stream_is_not_watched():
    closed = io.StringIO()
    closed.close()
    assert not watched(closed) and not watched(object())  # type: ignore[arg-type]


def test_extract_into_a_file_draws_no_bar(tmp_path, capfd):
    from tests.inference.tiny import deen_checkpoint, write_gallery
    from vireid.cli.main import main

    ckpt = deen_checkpoint(tmp_path)
    write_gallery(tmp_path / "g", pids=(1, 2), cams=(1,))
    argv = ["extract", "--checkpoint", str(ckpt), "--input", str(tmp_path / "g"), "--modality", "visible"]
    assert main([*argv, "--out", str(tmp_path / "f.safetensors")]) == 0
    assert "\r" not in capfd.readouterr().err
