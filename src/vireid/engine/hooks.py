"""The trainer's hooks: progress/metrics logging, periodic evaluation, checkpoints.

Registered in this order by :func:`vireid.engine.run.train`, so that at the end of
an epoch the evaluation (and the "best" checkpoint) comes before the "last" checkpoint,
which then records the best metric for resuming.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Mapping, TextIO

from vireid.engine.checkpoint import CheckpointManager
from vireid.engine.logging import MetricsLogger
from vireid.engine.trainer import HookBase
from vireid.errors import CheckpointError
from vireid.utils.paths import say
from vireid.utils.progress import watched


class LoggingHook(HookBase):
    """Progress (loss terms, LR, images/s) and windowed averages in ``metrics.jsonl``.

    On a terminal the progress is a tqdm bar; otherwise (a log file, a batch job) one line per
    ``report_every`` of an epoch (10 %), so logs do not fill with carriage-return updates.
    """

    def __init__(
        self,
        logger: MetricsLogger,
        log_every: int = 20,
        progress: bool = True,
        enabled: bool = True,
        stream: TextIO | None = None,
        report_every: float = 0.1,
    ) -> None:
        self.logger, self.log_every = logger, max(int(log_every), 1)
        self.progress, self.enabled = progress, enabled
        self.stream = stream
        self.reports = max(1, round(1 / float(report_every)))  # lines per epoch without a terminal
        self._last_report = 0
        self._bar = None
        self._sums: dict[str, float] = {}
        self._n = 0
        self._images = 0
        self._t0 = time.perf_counter()

    def before_train(self) -> None:
        from vireid.utils import notes

        notes.release()  # the training begins: the command's held notes are printed
        if self.enabled:
            self.logger.truncate_after(self.trainer.global_step)

    def before_epoch(self) -> None:
        t = self.trainer
        self._t0, self._images = time.perf_counter(), 0
        stream = self.stream or sys.stderr
        if self.enabled and self.progress and watched(stream):
            from tqdm import tqdm

            self._bar = tqdm(
                total=t.steps_per_epoch,
                initial=t.iter,
                desc=f"epoch {t.epoch + 1}/{t.epochs}",
                leave=False,
                dynamic_ncols=True,
                mininterval=0.5,
                file=stream,
            )
        self._last_report = t.iter * self.reports // t.steps_per_epoch

    def after_step(self) -> None:
        if not self.enabled:
            return
        t = self.trainer
        for k, v in t.last_losses.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._n += 1
        self._images += t.last_batch_size
        ips = self._images / max(time.perf_counter() - self._t0, 1e-9)
        if self._bar is not None:
            post = {k: f"{v:.3f}" for k, v in t.last_losses.items()}
            post["lr"] = f"{max(t.scheduler.lrs()):.2e}"
            post["img/s"] = f"{ips:.0f}"
            self._bar.set_postfix(post, refresh=False)
            self._bar.update(1)
        elif self.progress and t.iter * self.reports // t.steps_per_epoch > self._last_report:
            self._last_report = t.iter * self.reports // t.steps_per_epoch
            done = t.iter / t.steps_per_epoch
            terms = " ".join(f"{k}={v:.3f}" for k, v in t.last_losses.items())
            print(
                f"epoch {t.epoch + 1}/{t.epochs} {100 * done:3.0f}% ({t.iter}/{t.steps_per_epoch}) {terms} "
                f"lr={max(t.scheduler.lrs()):.2e} img/s={ips:.0f}",
                file=self.stream or sys.stderr,
                flush=True,
            )
        if t.global_step % self.log_every == 0:
            rec: dict[str, Any] = {
                "step": t.global_step,
                "epoch": t.epoch + t.iter / t.steps_per_epoch,
                "lr": max(t.scheduler.lrs()),
                "images_per_s": ips,
            }
            rec.update({f"loss/{k}": v / self._n for k, v in self._sums.items()})
            self.logger.log(rec)
            self._sums, self._n = {}, 0

    def after_epoch(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def after_train(self) -> None:
        self.after_epoch()
        if self.enabled:
            self.logger.flush()
            self.logger.close()


class EvalHook(HookBase):
    """Evaluate every ``every`` epochs (from epoch ``start``, and after the last one); keep the best.

    ``evaluate()`` returns ``{metric name: value}`` (mean over trials/directions); it runs
    on every rank (feature extraction is sharded) with training's RNG states preserved.
    The best is the authors' rule (``DEEN/train.py:98,438``, ``AGW/train.py:97,393``:
    ``best_acc = 0`` and ``if cmc[0] > best_acc``): an evaluation is saved when its metric is
    strictly above every earlier one and above 0, so a first evaluation scoring 0 saves nothing.
    """

    def __init__(
        self,
        evaluate: Callable[[], Mapping[str, float]],
        *,
        every: int = 1,
        start: int = 1,
        metric: str = "rank1",
        checkpoints: CheckpointManager | None = None,
        logger: MetricsLogger | None = None,
        metadata: Callable[[], Mapping[str, Any]] | None = None,
        is_main: bool = True,
        print_fn: Callable[[str], None] | None = say,
    ) -> None:
        self.evaluate, self.every, self.start, self.metric = evaluate, int(every), int(start), metric
        self.checkpoints, self.logger, self.metadata = checkpoints, logger, metadata
        self.is_main, self.print_fn = is_main, print_fn
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.last_metrics: dict[str, float] = {}

    def _due(self) -> bool:
        t = self.trainer
        done = t.epoch + 1
        if done == t.epochs:
            return True
        return self.every > 0 and done >= self.start and (done - self.start) % self.every == 0

    def after_epoch(self) -> None:
        if not self._due():
            return
        t = self.trainer
        metrics = dict(t.preserve_rng(self.evaluate))
        t.model.train()
        self.last_metrics = metrics
        value = metrics.get(self.metric)
        improved = value is not None and value > (self.best if self.best is not None else 0.0)
        if improved:
            self.best, self.best_epoch = float(value), t.epoch + 1
        if not self.is_main:
            return
        if self.logger is not None:
            self.logger.log(
                {
                    "step": t.global_step,
                    "epoch": t.epoch + 1,
                    **{f"eval/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))},
                }
            )
        if self.print_fn is not None:
            shown = " ".join(f"{k}={100 * v:.2f}%" for k, v in metrics.items() if isinstance(v, float))
            self.print_fn(f"epoch {t.epoch + 1}: {shown}" + ("  (best)" if improved else ""))
        if improved and self.checkpoints is not None:
            meta = dict(self.metadata()) if self.metadata else {}
            meta.update({"epoch": t.epoch + 1, "step": t.global_step, "metrics": metrics})
            self.checkpoints.save_best(t.model, meta)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: Mapping) -> None:
        best, epoch = state.get("best"), state.get("best_epoch")
        if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float)) or best != best):
            raise CheckpointError(f"the best score so far is {best!r}; expected a number or None")
        if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0):
            raise CheckpointError(f"the best score's epoch is {epoch!r}; expected an epoch number or None")
        self.best, self.best_epoch = best, epoch


class CheckpointHook(HookBase):
    """Write the "last" checkpoint at the end of every epoch and every ``every`` steps (0: never
    mid-epoch).  Collective under DDP (RNG states are gathered); rank 0 writes."""

    def __init__(
        self,
        checkpoints: CheckpointManager,
        *,
        every: int = 0,
        metadata: Callable[[], Mapping[str, Any]] | None = None,
        is_main: bool = True,
    ) -> None:
        self.checkpoints, self.every, self.metadata, self.is_main = checkpoints, int(every), metadata, is_main
        self.last_path = None

    def _save(self) -> None:
        t = self.trainer
        state = t.state_dict()  # collective: every rank calls it
        if self.is_main:
            meta = dict(self.metadata()) if self.metadata else {}
            self.last_path = self.checkpoints.save_last(t.model, state, t.global_step, meta)

    def after_step(self) -> None:
        t = self.trainer
        if self.every > 0 and t.global_step % self.every == 0 and t.iter < t.steps_per_epoch:
            self._save()

    def after_epoch(self) -> None:
        self._save()


class StopAtStep(HookBase):
    """Raise :class:`KeyboardInterrupt`-like ``StopTraining`` after ``step`` steps (tests, budgets)."""

    class StopTraining(Exception):
        pass

    def __init__(self, step: int) -> None:
        self.step = int(step)

    def after_step(self) -> None:
        if self.trainer.global_step >= self.step:
            raise self.StopTraining(f"stopped after step {self.step}")
