import math

import pytest
import torch

from tests.engine.tiny import TinyData, TinyReID, read_metrics
from vireid.engine.checkpoint import CheckpointManager, unwrap_model
from vireid.engine.hooks import CheckpointHook, EvalHook, LoggingHook, StopAtStep
from vireid.engine.logging import MetricsLogger
from vireid.engine.trainer import NonFiniteLossError, Trainer
from vireid.objective import build_objective
from vireid.optim.optimizers import build_optimizer
from vireid.optim.schedules import LRScheduler, WarmupStep


def make_trainer(tmp_path, epochs=2, hooks_extra=(), ckpt_every=0, lr=0.1, evaluate=None):
    torch.manual_seed(0)
    model = TinyReID()
    data = TinyData()
    opt = build_optimizer(model, lr=lr)
    sched = LRScheduler(opt, WarmupStep(2, (2,), (0.1,)), data.steps_per_epoch)
    ckpts = CheckpointManager(tmp_path / "checkpoints")
    logger = MetricsLogger(tmp_path, tensorboard=False)
    hooks = [LoggingHook(logger, log_every=1, progress=False)]
    if evaluate is not None:
        hooks.append(EvalHook(evaluate, every=1, checkpoints=ckpts, logger=logger, print_fn=None))
    hooks += [CheckpointHook(ckpts, every=ckpt_every), *hooks_extra]
    trainer = Trainer(
        model, build_objective(model), opt, sched, data, epochs=epochs, device=torch.device("cpu"), hooks=hooks
    )
    return trainer, ckpts


def resume(trainer, ckpts):
    tensors, _, state = ckpts.load_last()
    unwrap_model(trainer.model).load_state_dict(tensors)
    trainer.load_state_dict(state)


@pytest.mark.parametrize("crash_at", [2, 4])  # mid-epoch (checkpoint at 2) and at an epoch boundary + 1
def test_resume_is_bitwise_exact(tmp_path, crash_at):
    ref, _ = make_trainer(tmp_path / "ref", evaluate=lambda: {"rank1": float(torch.rand(()))})
    ref.train()
    run, ckpts = make_trainer(
        tmp_path / "run",
        ckpt_every=2,
        hooks_extra=[StopAtStep(crash_at)],
        evaluate=lambda: {"rank1": float(torch.rand(()))},
    )
    with pytest.raises(StopAtStep.StopTraining):
        run.train()
    torch.manual_seed(123)  # a fresh process: unrelated RNG state
    resumed, ckpts = make_trainer(tmp_path / "run", ckpt_every=2, evaluate=lambda: {"rank1": float(torch.rand(()))})
    resume(resumed, ckpts)
    assert (resumed.epoch, resumed.iter) != (0, 0)
    resumed.train()
    assert resumed.global_step == ref.global_step == 6
    for (k, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    sa, sb = ref.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(sa[i]["momentum_buffer"], sb[i]["momentum_buffer"]) for i in sa)
    # the metrics file reads as if the run never stopped
    steps = [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "loss/total" in r]
    assert steps == list(range(1, 7))


def test_loss_terms_logged_and_lr_schedule_applied(tmp_path):
    trainer, ckpts = make_trainer(tmp_path, epochs=3)
    trainer.train()
    recs = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "loss/total" in r]
    assert {"loss/id", "loss/tri", "loss/cpm", "loss/ort"} <= set(recs[0])
    assert recs[0]["lr"] == pytest.approx(0.05)  # warm-up epoch 1 of 2
    assert recs[3]["lr"] == pytest.approx(0.1)
    assert recs[-1]["lr"] == pytest.approx(0.01)  # x0.1 from epoch index 2
    assert ckpts.last_dir().name == "step-00000009"


def test_nan_loss_stops_with_step_and_term(tmp_path):
    class NaNAt(StopAtStep):
        def before_step(self):
            if self.trainer.global_step + 1 == self.step:
                with torch.no_grad():
                    self.trainer.model.classifier.weight.fill_(float("nan"))

        def after_step(self):
            pass

    trainer, ckpts = make_trainer(tmp_path, epochs=2, hooks_extra=[NaNAt(5)])
    with pytest.raises(NonFiniteLossError, match=r"step 5 \(epoch 2, iteration 2\): loss term 'id' is nan"):
        trainer.train()
    # the last good checkpoint (end of epoch 1) is intact and finite
    tensors, meta, state = ckpts.load_last()
    assert state["step"] == 3 and all(torch.isfinite(v.float()).all() for v in tensors.values())


def test_bf16_autocast_channels_last_and_clipping_run_on_cpu(tmp_path):
    from vireid.core.device import resolve_amp

    trainer, _ = make_trainer(tmp_path, epochs=1)
    trainer.precision = resolve_amp("bf16", torch.device("cpu"))
    trainer.channels_last, trainer.grad_clip = True, 0.5
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train()
    assert all(math.isfinite(v) for v in trainer.last_losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))


def test_amp_and_device_choices():
    from vireid.core.device import resolve_amp, resolve_device
    from vireid.errors import ConfigError

    assert resolve_device("cpu").type == "cpu"
    assert resolve_amp("none", torch.device("cpu")).dtype is None
    assert resolve_amp("bf16", torch.device("cpu")).dtype is torch.bfloat16
    with pytest.raises(ConfigError, match="fp16 needs a CUDA"):
        resolve_amp("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError):
        resolve_device("tpu")


def test_progress_without_a_terminal_prints_a_line_per_tenth(tmp_path):
    import io

    from tests.engine.tiny import TinyData, TinyReID

    stream = io.StringIO()  # not a tty
    model = TinyReID()
    data = TinyData(steps=20)
    opt = build_optimizer(model, lr=0.01)
    sched = LRScheduler(opt, WarmupStep(1, (5,), (0.1,)), data.steps_per_epoch)
    logger = MetricsLogger(tmp_path, tensorboard=False)
    trainer = Trainer(
        model,
        build_objective(model),
        opt,
        sched,
        data,
        epochs=2,
        device=torch.device("cpu"),
        hooks=[LoggingHook(logger, log_every=5, progress=True, stream=stream)],
    )
    trainer.train()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and len(lines) == 20, lines
    assert lines[0].startswith("epoch 1/2  10% (2/20) id=") and lines[-1].startswith("epoch 2/2 100% (20/20)")
    steps = [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")]
    assert steps == [5, 10, 15, 20, 25, 30, 35, 40]  # appended, one record per log_every steps


def test_best_checkpoint_is_the_authors_strict_rule_from_zero(tmp_path):
    """DEEN/train.py:98,438 (AGW/train.py:97,393): ``best_acc = 0``; ``if cmc[0] > best_acc:`` save.
    A first evaluation at Rank-1 0 saves nothing, a tie saves nothing, a strict gain saves."""
    scores = iter([0.0, 0.25, 0.25, 0.5])
    trainer, ckpts = make_trainer(tmp_path, epochs=4, evaluate=lambda: {"rank1": next(scores)})
    hook = next(h for h in trainer.hooks if isinstance(h, EvalHook))
    saved = []
    real = ckpts.save_best
    ckpts.save_best = lambda model, meta: saved.append(meta["epoch"]) or real(model, meta)
    trainer.train()
    assert saved == [2, 4] and (hook.best, hook.best_epoch) == (0.5, 4)
    none, ckpts = make_trainer(tmp_path / "zero", epochs=2, evaluate=lambda: {"rank1": 0.0})
    none.train()
    assert not (tmp_path / "zero" / "checkpoints" / "best.safetensors").exists()
