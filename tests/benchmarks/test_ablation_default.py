"""The default ablation grid: each value applies to the base config; it covers the open questions (docs/deen_vit.md)."""

from vireid.config import apply_overrides, load_config
from vireid.config.build import build_model
from vireid.engine.ablation import combinations, overrides

from benchmarks.ablation_default import BASE, GRID


def test_every_grid_value_builds_a_model():
    base = load_config(BASE)
    combos = combinations(GRID, "each")
    assert len(combos) == 6 + 3 + 3 + 4 + 2
    expansions = set()
    for combo in combos:
        cfg = apply_overrides(base, overrides(combo))
        model = build_model(cfg.model, num_classes=5)  # constructor checks every argument
        expansions.add(cfg.model.args["expansion"])
        assert tuple(cfg.model.args["img_size"]) == (cfg.data.height, cfg.data.width)
        if cfg.model.args["expansion"] == "ssdec":
            assert cfg.loss.infonce_weight > 0
        assert sum(p.numel() for p in model.parameters()) > 0
    assert expansions == {"none", "dee", "dee1d", "tmhee", "cmatm", "ssdec"}
