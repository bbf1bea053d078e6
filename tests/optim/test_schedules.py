import pytest
import torch

from vireid.optim.schedules import LRScheduler, WarmupCosine, WarmupStep


def deen_reference_lr(epoch, lr=0.1):
    """adjust_learning_rate of DEEN/train.py (the LR of the neck/classifier groups)."""
    if epoch < 10:
        return lr * (epoch + 1) / 10
    if epoch < 20:
        return lr
    if epoch < 80:
        return lr * 0.1
    return lr * 0.01


@pytest.mark.parametrize("epoch", [0, 1, 8, 9, 10, 11, 19, 20, 21, 79, 80, 81, 149])
def test_deen_step_schedule_matches_authors_at_boundaries(epoch):
    assert 0.1 * WarmupStep(10, (20, 80), (0.1, 0.01))(epoch) == pytest.approx(deen_reference_lr(epoch))


def test_step_schedule_is_constant_within_an_epoch_and_keeps_group_ratio():
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p1], "lr": 0.01}, {"params": [p2], "lr": 0.1}], lr=0.1)
    sched = LRScheduler(opt, WarmupStep(10, (20, 80), (0.1, 0.01)), steps_per_epoch=100)
    for step in (0, 50, 99):
        sched.step_to(9, step)
        assert sched.lrs() == pytest.approx([0.01, 0.1])
    sched.step_to(20, 0)
    assert sched.lrs() == pytest.approx([0.001, 0.01])
    sched.step_to(0, 0)
    assert sched.lrs() == pytest.approx([0.001, 0.01])


def test_cosine_with_warmup_boundaries():
    s = WarmupCosine(total_epochs=10, warmup_epochs=2, min_factor=0.1)
    assert s(1.0) == pytest.approx(0.5)
    assert s(2.0) == pytest.approx(1.0)  # end of warm-up: peak
    assert s(6.0) == pytest.approx(0.55)  # half-way down the cosine
    assert s(10.0) == pytest.approx(0.1)  # floor at the end
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1.0)
    sched = LRScheduler(opt, s, steps_per_epoch=4)
    sched.step_to(0, 0)
    assert sched.lrs()[0] == pytest.approx(1 / 8)  # first step: small, not zero
    sched.step_to(9, 3)
    assert sched.lrs()[0] == pytest.approx(0.1)


def test_step_schedule_rejects_bad_milestones():
    with pytest.raises(ValueError):
        WarmupStep(10, (80, 20), (0.1, 0.01))
    with pytest.raises(ValueError):
        WarmupStep(10, (20,), (0.1, 0.01))
