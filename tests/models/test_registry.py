"""The model registry: names, architectures, declared-argument construction, instance lookup."""

from __future__ import annotations

import pytest

from vireid.errors import ConfigError
from vireid.models import DEEN, DEENViT
from vireid.models.registry import MODELS, create_model, model_spec, spec_of


def test_names_and_architectures_resolve_to_the_classes():
    assert {"deen", "deen_vit", "agw"} <= set(MODELS.names())
    assert model_spec("deen").cls is DEEN and model_spec("DEEN").name == "deen"
    assert model_spec("DEENViT").cls is DEENViT and model_spec("deen").plugin is None
    with pytest.raises(ConfigError, match="unknown model 'resnet'.*deen"):
        model_spec("resnet")


def test_create_model_checks_the_declared_arguments():
    model = create_model("deen", {"num_classes": 3, "base_channels": 4, "layers": [1, 1, 1, 1]})
    assert isinstance(model, DEEN) and spec_of(model).name == "deen"
    assert "base_channels" in model_spec("deen").params.names()
    with pytest.raises(
        ConfigError, match=r"^model\.args\.widht: unknown argument of DEEN; expected one of: num_classes"
    ):
        create_model("deen", {"num_classes": 3, "widht": 4})
    with pytest.raises(ConfigError, match="needs num_classes"):
        create_model("deen", {})
    with pytest.raises(ConfigError, match=r"^model\.args\.variant: expected one of default, regdb, got 'sysu'$"):
        create_model("deen", {"num_classes": 3, "variant": "sysu"})
    with pytest.raises(ConfigError, match=r"^model\.args\.base_channels: expected an integer, got 'abc'$"):
        create_model("deen", {"num_classes": 3, "base_channels": "abc"})
    with pytest.raises(ConfigError, match=r"^model\.args\.base_channels: must be an even number >= 4, got 5$"):
        create_model("deen", {"num_classes": 3, "base_channels": 5})


def test_unregistered_instance_is_refused():
    from tests.engine.tiny import TinyReID

    with pytest.raises(ConfigError, match="not a registered"):
        spec_of(TinyReID())
