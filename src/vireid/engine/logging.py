"""Training logs: a JSON-lines metrics file and optional TensorBoard scalars (rank 0 only).

``metrics.jsonl`` holds one JSON object per line: first its mark (``{"vireid": {"kind":
"training-log", ...}}``, :mod:`vireid.utils.marks`), then ``{"step": ..., "epoch": ..., "lr": ...,
"loss/<term>": ...}`` for training windows and ``{"step": ..., "eval/<metric>": ...}`` for
evaluations.  Records are appended (and flushed) as
they come, so a long run costs one line per record; a crash can at worst leave a partial last
line, which readers skip.  A new run starts the file afresh; on resume the lines after the
checkpoint's step are dropped -- the one rewrite, atomic (:func:`vireid.utils.io.atomic_write_text`)
-- so the file reads as if the run had never stopped.
TensorBoard event files are written by TensorBoard itself (append-only).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from vireid.utils.io import atomic_write_text
from vireid.utils.jsonio import json_loads


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class MetricsLogger:
    """JSON-lines metrics (+ TensorBoard scalars when ``tensorboard`` is importable and enabled)."""

    def __init__(self, run_dir: str | Path | None, tensorboard: bool = False, enabled: bool = True) -> None:
        self.enabled = enabled and run_dir is not None
        self.path = Path(run_dir) / "metrics.jsonl" if run_dir is not None else None
        self._fh = None
        self._tb = None
        if self.enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # tensorboard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(str(Path(run_dir) / "tb"))

    def truncate_after(self, step: int) -> None:
        """Start the log: its first record marks it as vireid's, then the records of an earlier log
        up to ``step`` (resuming; none for a new run); rewrites the file atomically."""
        if not self.enabled:
            return
        from vireid.utils.outputs import TRAINING_LOG, json_mark

        self._close_file()
        keep = []
        if self.path.is_file():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            keep = [ln for ln in lines if (rec := _record(ln)) is not None and rec.get("step", 0) <= step]
        lines = [json.dumps(json_mark(TRAINING_LOG), sort_keys=True), *keep]
        atomic_write_text(self.path, "".join(ln + "\n" for ln in lines), kind=TRAINING_LOG)

    def log(self, record: Mapping[str, Any], flush: bool = True) -> None:
        if not self.enabled:
            return
        rec = {k: _clean(v) for k, v in record.items()}
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")
        self._fh.write(json.dumps(rec, sort_keys=True) + "\n")
        if self._tb is not None:
            step = int(record.get("step", 0))
            for k, v in record.items():
                if k not in ("step", "epoch") and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._tb.add_scalar(k, v, step)
        if flush:
            self.flush()

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()
        if self._tb is not None:
            self._tb.flush()

    def _close_file(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        self._close_file()
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _record(line: str) -> dict | None:
    """The logged record on ``line`` (not the log's mark, its first line), else None."""
    try:
        rec = json_loads(line, "metrics.jsonl")
    except ValueError:  # JSONError is a ValueError: a line that is not a record is dropped
        return None
    return rec if isinstance(rec, dict) and "vireid" not in rec else None
