"""optim.optimizers: DEEN's two learning rates, and head module names that name something."""

import pytest
from torch import nn

from vireid.errors import ConfigError
from vireid.optim.optimizers import build_optimizer, split_parameters


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.bottleneck = nn.BatchNorm1d(4)
        self.classifier = nn.Linear(4, 3, bias=False)


def test_head_modules_split_the_groups_by_name_component():
    net = _Net()
    backbone, head = split_parameters(net, ("bottleneck", "classifier"))
    assert len(backbone) == 2 and len(head) == 3
    opt = build_optimizer(net, lr=0.1, backbone_lr_mult=0.1)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01, 0.1])
    assert split_parameters(net, ("classifier", "mfa"))[1] == [net.classifier.weight]  # mfa: an optional module
    assert split_parameters(net, ())[1] == []  # none asked for: one learning rate


def test_head_modules_that_name_no_module_are_refused():
    """``optim.head_modules=[bogus]`` trained every parameter at the backbone's LR, without a word."""
    with pytest.raises(ConfigError) as info:
        build_optimizer(_Net(), head_modules=("bogus", "classifer"))
    text = str(info.value)
    assert text.startswith("optim.head_modules: bogus, classifer name no module of _Net")
    assert "backbone, bottleneck, classifier" in text
