"""benchmarks/_paper_runs.py: the paper configs' steps, evaluations and projection at the official counts."""

import pytest

from benchmarks import _paper_runs as paper
from vireid.config.shipped import shipped_configs


def test_runs_are_shipped_configs_and_cover_the_issue_list():
    assert set(paper.BY_KEY) == {
        "deen_sysu",
        "deen_sysu_indoor",
        "deen_regdb",
        "deen_llcm",
        "agw_sysu",
        "deen_vit_tmhee",
        "abd_sysu",
    }
    for run in paper.RUNS:
        assert run.config in shipped_configs()
        assert run.load().data.dataset in paper.NUM_CLASSES


@pytest.mark.parametrize(
    "key, steps, epochs, evals",
    [
        ("deen_sysu", 928, 151, 150),  # max(22258, 11909) // 24 + 1; every epoch but the first
        ("deen_regdb", 86, 151, 150),
        ("deen_llcm", 707, 151, 150),
        ("agw_sysu", 696, 81, 40),  # 8 x 4 ids; AGW/train.py tests at 0-based epochs 2, 4, ..., 80
        ("deen_vit_tmhee", 928, 120, 120),
    ],
)
def test_run_plan_counts(key, steps, epochs, evals):
    plan = paper.run_plan(paper.BY_KEY[key].load())
    assert (plan["steps_per_epoch"], plan["epochs"], plan["evaluations"]) == (steps, epochs, evals)
    assert plan["steps"] == steps * epochs


def test_evaluation_images_at_the_official_counts():
    sysu = paper.BY_KEY["deen_sysu"].load()
    assert paper.eval_images(sysu, final=False) == 3803 + 301  # trial 0: one image per (id, camera)
    assert 3803 + 301 < paper.eval_images(sysu, final=True) < 3803 + 6775  # ten draws overlap
    indoor = paper.BY_KEY["deen_sysu_indoor"].load()
    assert paper.eval_images(indoor, final=False) == 3803 + 112
    regdb = paper.BY_KEY["deen_regdb"].load()
    assert paper.eval_images(regdb, False) == paper.eval_images(regdb, True) == 4120
    llcm = paper.BY_KEY["deen_llcm"].load()
    assert paper.eval_images(llcm, final=True) == 8680 + 7166  # every test image is a query once
    assert 7166 < paper.eval_images(llcm, final=False) < 7166 + 8680
    plan = paper.run_plan(sysu)  # 150 selections without flip, one full protocol with flip
    assert plan["eval_forwards"] == 150 * 4104 + 2 * plan["final_images"]


def test_projection_is_steps_and_forwards_times_their_cost():
    cfg = paper.BY_KEY["agw_sysu"].load()
    plan = paper.run_plan(cfg)
    h = paper.project_hours(cfg, step_s=0.5, forward_s_per_image=0.001)
    assert h["train_h"] == pytest.approx(plan["steps"] * 0.5 / 3600)
    assert h["eval_h"] == pytest.approx(plan["eval_forwards"] * 0.001 / 3600)
    assert h["total_h"] == pytest.approx(h["train_h"] + h["eval_h"])


def test_scaled_size_keeps_the_models_granularity():
    assert paper.scaled_size(paper.BY_KEY["deen_sysu"].load(), 6) == (64, 24)
    assert paper.scaled_size(paper.BY_KEY["agw_sysu"].load(), 6) == (48, 24)
    vit = paper.BY_KEY["deen_vit_tmhee"].load()
    assert paper.scaled_size(vit, 6) == (48, 32)  # multiples of the 16-pixel patch
    assert paper.scaled_size(vit, 100) == (32, 32)  # at least two patches a side
    assert "model.args.img_size=[48,32]" in paper.size_overrides(vit, (48, 32))
