"""The default ablation grid: every value applies to the base config, builds a model that loads the
pretraining stand-in's weights, and the grid holds the axes the DEEN-ViT design questions need."""

import dataclasses

import pytest

from vireid.config import apply_overrides, load_config
from vireid.config.build import build_model
from vireid.engine.ablation import combinations, overrides
from vireid.models.vit import VisionTransformer
from vireid.utils.io import save_safetensors

from benchmarks.ablation_default import BASE, BASE_VALUES, GRID, QUESTIONS, SIZE, pretrained_settings
from benchmarks.vit_pretrain import PretrainSettings


@pytest.fixture(scope="module")
def fake_pretrained(tmp_path_factory):
    """A randomly initialised ViT with the pretraining stand-in's architecture, in timm names."""
    vit = VisionTransformer(num_classes=0, global_pool="", **PretrainSettings().vit_kwargs())
    path = tmp_path_factory.mktemp("pt") / "vit.safetensors"
    save_safetensors(vit.state_dict(), path)
    return path


def test_every_grid_value_builds_a_model_from_the_pretrained_weights(fake_pretrained):
    base = load_config(BASE)
    combos = combinations(GRID, "each")
    assert len(combos) == 6 + 3 + 3 + 3 + 4
    expansions, sizes = set(), set()
    for combo in combos:
        cfg = apply_overrides(base, overrides(combo))
        model_cfg = dataclasses.replace(cfg.model, pretrained=str(fake_pretrained))
        model = build_model(model_cfg, num_classes=5)  # constructor checks + strict pretrained load
        expansions.add(cfg.model.args["expansion"])
        sizes.add((cfg.data.height, cfg.data.width))
        assert tuple(cfg.model.args["img_size"]) == (cfg.data.height, cfg.data.width)
        assert cfg.data.height == 2 * cfg.data.width  # the aspect-ratio policy: 2:1 person crops
        if cfg.model.args["expansion"] == "ssdec":
            assert cfg.loss.infonce_weight > 0
        if cfg.model.args["svdo_ow_blocks"]:  # O.W. targets the stage-4 block
            assert all(i >= len(model.blocks) for i in cfg.model.args["svdo_ow_blocks"])
        # the pretrained blocks were loaded: equal to the file's, not a fresh initialisation
        want = VisionTransformer(num_classes=0, global_pool="", **PretrainSettings().vit_kwargs())
        from vireid.utils.io import load_safetensors

        want.load_state_dict(load_safetensors(fake_pretrained)[0])
        assert model.blocks[0].attn.qkv.weight.equal(want.blocks[0].attn.qkv.weight)
        assert model.patch_embed_infrared.proj.weight.equal(want.patch_embed.proj.weight)
    assert expansions == {"none", "dee", "dee1d", "tmhee", "cmatm", "ssdec"}
    assert len(sizes) == 3


def test_base_values_resolve_to_the_base_config():
    base = load_config(BASE)
    assert set(BASE_VALUES) == set(GRID) == set(QUESTIONS)
    for axis, value in BASE_VALUES.items():
        assert value in GRID[axis]
        assert apply_overrides(base, overrides({axis: value})) == base, axis
    for axis, values in GRID.items():  # every other value changes the config
        for v in values:
            if v != BASE_VALUES[axis]:
                assert apply_overrides(base, overrides({axis: v})) != base, (axis, v)
    assert SIZE in GRID


def test_base_config_loads_the_pretraining_stand_in():
    base = load_config(BASE)
    settings = pretrained_settings(base)
    assert base.model.pretrained == str(settings.default_path())
    vit = base.model.args["vit"]
    assert (vit["embed_dim"], vit["depth"], vit["num_heads"], vit["patch_size"]) == (
        settings.embed_dim, settings.depth, settings.num_heads, settings.patch_size)
    # the pretraining set is another synthetic population than the benchmark's
    assert settings.synth_seed != base.data.synth["seed"] and settings.root != base.data.root
