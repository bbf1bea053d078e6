"""Ctrl-C is never lost: an interrupt Python drops (at-fork hooks, ``__del__``) is raised again."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from vireid.utils.interrupt import raise_if_interrupted, reliable_interrupts, terminate_as_interrupt


@pytest.fixture(autouse=True)
def _default_sigint():
    """Python's own SIGINT handler for each test: a shell starts background jobs with SIGINT
    ignored, and vireid rightly leaves an ignored SIGINT alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _dropped_interrupt() -> None:
    """SIGINT whose KeyboardInterrupt is swallowed, as in logging's at-fork hook when a
    DataLoader forks its workers ("Exception ignored in: <function _releaseLock ...>")."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler runs here
    except KeyboardInterrupt:
        pass


def test_a_dropped_interrupt_is_raised_again():
    with reliable_interrupts():
        _dropped_interrupt()
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    raise_if_interrupted()  # outside the block: nothing pending
    _dropped_interrupt()
    raise_if_interrupted()  # without the block a dropped interrupt stays dropped (the old behaviour)


def test_nested_blocks_and_foreign_handlers_are_left_alone():
    with reliable_interrupts(), reliable_interrupts():
        _dropped_interrupt()
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # e.g. under nohup
    try:
        with reliable_interrupts():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_vireid_train_stops_on_an_interrupt_dropped_at_an_epoch_start(tmp_path, monkeypatch, capsys):
    from vireid.cli.main import main
    from vireid.data.loaders import TrainBatches

    original = TrainBatches.batches

    def batches(self, epoch, start=0):
        if epoch == 1:  # the second epoch's loader starts: the interrupt lands and is dropped
            _dropped_interrupt()
        yield from original(self, epoch, start)

    monkeypatch.setattr(TrainBatches, "batches", batches)
    run = tmp_path / "run"
    argv = ["train", "--config", "test_tiny", "--out", str(run), f"data.root={tmp_path / 'data'}", "--quiet"]
    assert main(argv) == 130
    assert "interrupted" in capsys.readouterr().err
    last = json.loads((run / "checkpoints" / "last.json").read_text())
    assert last["step"] == 2  # epoch 1's checkpoint (2 steps per epoch); epoch 2 never stepped
    assert not (run / "metrics.json").exists()


def test_sigterm_interrupts_only_within_terminate_as_interrupt():
    """While a command has worker processes, SIGTERM is an interrupt: its clean-up (stopping the
    workers) runs instead of the process dying on the spot."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("SIGTERM has a handler here; terminate_as_interrupt leaves it alone")
    with terminate_as_interrupt(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler runs here
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
