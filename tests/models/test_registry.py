"""The model registry: names, architectures, signature-checked construction, instance lookup."""

from __future__ import annotations

import pytest

from vireid.errors import ConfigError
from vireid.models import DEEN, DEENViT
from vireid.models.registry import constructor_arguments, create_model, model_names, model_spec, spec_of


def test_names_and_architectures_resolve_to_the_classes():
    assert {"deen", "deen_vit"} <= set(model_names())
    assert model_spec("deen").load_class() is DEEN and model_spec("DEEN").name == "deen"
    assert model_spec("DEENViT").load_class() is DEENViT
    with pytest.raises(ConfigError, match="unknown model 'resnet'.*deen"):
        model_spec("resnet")


def test_create_model_checks_the_constructor_signature():
    model = create_model("deen", {"num_classes": 3, "base_channels": 4, "layers": [1, 1, 1, 1]})
    assert isinstance(model, DEEN) and spec_of(model).name == "deen"
    assert "base_channels" in constructor_arguments("deen")
    with pytest.raises(ConfigError, match=r"model.args: unknown argument\(s\) widht for deen"):
        create_model("deen", {"num_classes": 3, "widht": 4})
    with pytest.raises(ConfigError, match="needs num_classes"):
        create_model("deen", {})
    with pytest.raises(ConfigError, match="variant"):
        create_model("deen", {"num_classes": 3, "variant": "sysu"})


def test_unregistered_instance_is_refused():
    from tests.engine.tiny import TinyReID

    with pytest.raises(ConfigError, match="not a registered"):
        spec_of(TinyReID())
