"""Training logs: a JSON-lines metrics file and optional TensorBoard scalars (rank 0 only).

``metrics.jsonl`` holds one JSON object per line (``{"step": ..., "epoch": ..., "lr": ...,
"loss/<term>": ...}`` for training windows, ``{"step": ..., "eval/<metric>": ...}`` for
evaluations).  To keep the every-write-is-atomic rule, the file is rewritten through
:func:`vireid.utils.io.atomic_write_text` at each flush (it stays small: one line per
``log_every`` steps); on resume the lines after the checkpoint's step are dropped so the
file reads as if the run had never stopped.  TensorBoard event files are written by
TensorBoard itself (append-only) and are not atomic.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from vireid.utils.io import atomic_write_text


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class MetricsLogger:
    """JSON-lines metrics (+ TensorBoard scalars when ``tensorboard`` is importable and enabled)."""

    def __init__(self, run_dir: str | Path | None, tensorboard: bool = False, enabled: bool = True) -> None:
        self.enabled = enabled and run_dir is not None
        self.path = Path(run_dir) / "metrics.jsonl" if run_dir is not None else None
        self.lines: list[str] = []
        self._tb = None
        if self.enabled and self.path.is_file():
            self.lines = [ln for ln in self.path.read_text().splitlines() if _parses(ln)]
        if self.enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # tensorboard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(str(Path(run_dir) / "tb"))

    def truncate_after(self, step: int) -> None:
        """Drop records logged after ``step`` (used when resuming)."""
        if not self.enabled:
            return
        self.lines = [ln for ln in self.lines if json.loads(ln).get("step", 0) <= step]
        self.flush()

    def log(self, record: Mapping[str, Any], flush: bool = True) -> None:
        if not self.enabled:
            return
        rec = {k: _clean(v) for k, v in record.items()}
        self.lines.append(json.dumps(rec, sort_keys=True))
        if self._tb is not None:
            step = int(record.get("step", 0))
            for k, v in record.items():
                if k not in ("step", "epoch") and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._tb.add_scalar(k, v, step)
        if flush:
            self.flush()

    def flush(self) -> None:
        if self.enabled:
            atomic_write_text(self.path, "".join(ln + "\n" for ln in self.lines))
            if self._tb is not None:
                self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _parses(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def read_metrics(path: str | Path) -> list[dict]:
    """All records of a ``metrics.jsonl`` file."""
    return [json.loads(ln) for ln in Path(path).read_text().splitlines() if _parses(ln)]
