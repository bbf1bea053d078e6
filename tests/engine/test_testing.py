"""engine.testing: the run folder default, features files of a split, and one ranking in every picture.

``vireid test --viz``, the demo's ``ranking.png`` and ``vireid visualize ranks`` on the test run's
features files must draw the same rank lists (the scored distances, the protocol's rules).
"""

from __future__ import annotations

from pathlib import Path
from unittest.mock import MagicMock

import numpy as np
import pytest
import torch

from tests.engine.tiny import CONFIGS, tiny_dataset
from vireid.cli.main import main
from vireid.config import build, load_config
from vireid.core.checkpoints import run_folder
from vireid.engine.checkpoint import save_weights
from vireid.engine.run import checkpoint_metadata
from vireid.engine.testing import run_test
from vireid.evaluation.features import load_features
from vireid.viz import ranks

TINY = str(CONFIGS / "test_tiny.yaml")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("testing")
    root = tiny_dataset(tmp / "data")
    cfg = load_config(TINY, [f"data.root={root}"])
    torch.manual_seed(0)
    model = build.build_model(cfg.model, num_classes=5)
    ckpt = tmp / "run" / "checkpoints" / "best.safetensors"
    save_weights(model, ckpt, checkpoint_metadata(model, cfg))
    return cfg, ckpt, tmp


def test_default_out_is_the_run_folder(tmp_path):
    assert run_folder(tmp_path / "run" / "checkpoints" / "best.safetensors") == tmp_path / "run"
    assert run_folder(tmp_path / "run" / "checkpoints" / "step-9" / "model.safetensors") == tmp_path / "run"
    assert run_folder(tmp_path / "elsewhere" / "model.safetensors") == tmp_path / "elsewhere"


class _FakePyplot:
    """Stands in for matplotlib so the test compares rank lists without paying for drawing
    (the PNGs themselves are checked by the tests of ``vireid test --viz`` and ``visualize``)."""

    @staticmethod
    def subplots(rows, cols, **kw):
        axes = np.empty((rows, cols), dtype=object)
        for i in range(rows):
            for j in range(cols):
                axes[i, j] = MagicMock()
        return MagicMock(), axes


def _no_drawing(monkeypatch):
    import vireid.viz.distances
    import vireid.viz.projection

    monkeypatch.setattr(ranks, "pyplot", lambda: _FakePyplot)
    monkeypatch.setattr(ranks, "save_figure", lambda fig, out: Path(out))
    monkeypatch.setattr(vireid.viz.projection, "tsne_figure", lambda feats, pids, mods, out, **kw: Path(out))
    monkeypatch.setattr(
        vireid.viz.distances, "distance_histogram_figure", lambda feats, pids, mods, out, **kw: Path(out)
    )


@pytest.mark.parametrize("rerank", [False, True])
def test_test_demo_and_visualize_draw_the_same_rank_lists(run, rerank, monkeypatch, capsys):
    from vireid.engine.demo import ranking_picture

    cfg, ckpt, tmp = run
    drawn: list[dict[int, list[int]]] = []
    real = ranks.rank_lists

    def spy(distmat, query_indices, topk, keep=None):
        lists = real(distmat, query_indices, topk, keep)
        drawn.append({int(q): g.tolist() for q, g in zip(query_indices, lists, strict=True)})
        return lists

    monkeypatch.setattr(ranks, "rank_lists", spy)
    _no_drawing(monkeypatch)
    out = tmp / f"test-{rerank}"
    result = run_test(cfg, ckpt, out=out, viz=True, rerank=rerank)  # vireid test --viz
    ev = result.evaluations[0]
    assert ranking_picture(ev, out / "ranking.png") == out / "ranking.png"  # the demo's picture
    tested, demo = drawn
    wanted = sorted(set(tested) | set(demo))
    assert (
        main(
            [
                "visualize",
                "ranks",
                "--query",
                str(out / "features_query.safetensors"),
                "--gallery",
                str(out / "features_gallery.safetensors"),
                "--query-index",
                *map(str, wanted),
                "--topk",
                "10",
                "--out",
                str(out / "again.png"),
            ]
        )
        == 0
    ), capsys.readouterr().err
    again = drawn[2]
    assert set(tested) & set(demo)  # the pictures share queries (first and last at least)
    assert {q: again[q] for q in tested} == tested and {q: again[q] for q in demo} == demo

    # the lists are the scored ranking under SYSU's rule, which matters here: camera-3 queries
    # never see camera-2 gallery images, which they would see without the protocol
    split = ev.split
    cam3 = [q for q in tested if split.query[q].camid == 3]
    assert cam3 and all(split.gallery[g].camid != 2 for q in cam3 for g in tested[q])
    unfiltered = real(ev.distmat.numpy(), cam3, 10)
    assert any(split.gallery[g].camid == 2 for lst in unfiltered for g in lst)
    keep = ev.keep()
    for q, lst in tested.items():
        d = ev.distmat[q].numpy()
        allowed = np.flatnonzero(keep[q])
        assert lst == allowed[np.argsort(d[allowed], kind="stable")][:10].tolist()


def test_features_files_hold_the_scored_descriptors(run, monkeypatch):
    _no_drawing(monkeypatch)
    cfg, ckpt, tmp = run
    out = tmp / "feats"
    result = run_test(cfg, ckpt, out=out, viz=True)
    ev = result.evaluations[0]
    q = load_features(out / "features_query.safetensors")
    g = load_features(out / "features_gallery.safetensors")
    assert np.array_equal(q.feats, ev.query_feats.numpy()) and np.array_equal(g.feats, ev.gallery_feats.numpy())
    assert q.paths == [r.path for r in ev.split.query] and g.pids.tolist() == [r.pid for r in ev.split.gallery]
    assert q.meta == {
        "protocol": "sysu",
        "metric": "inner",
        "rerank": False,
        "trial": 0,
        "direction": "infrared_to_visible",
    }
    assert sorted(result.written) == [
        "cmc",
        "distances",
        "gallery_features",
        "metrics",
        "query_features",
        "ranks",
        "tsne",
    ]


@pytest.mark.parametrize("rerank", [False, True])
def test_evaluations_keep_no_distance_matrices_and_give_back_the_scored_one(run, rerank):
    """An evaluation holds its descriptors once (shared by all splits) and no per-split distance
    matrix (30 LLCM splits of ~7,000 x 1,700 would hold GBs); ``distmat`` is the scored one."""
    import dataclasses

    from vireid.engine.context import evaluate_model, make_context
    from vireid.evaluation import evaluate

    cfg, ckpt, _ = run
    model = build.build_model(cfg.model, num_classes=5)
    results, _ = evaluate_model(model, build.build_dataset(cfg.data), cfg, make_context(cfg, "cpu"), rerank=rerank)
    assert len(results) == 10 and all(e.features is results[0].features for e in results)
    for e in results:
        held = [getattr(e, f.name) for f in dataclasses.fields(e)]
        assert [t for t in held if isinstance(t, torch.Tensor) and t.dim() == 2] == [e.features]
        s = e.split
        again = evaluate(
            e.distmat.numpy(),
            [r.pid for r in s.query],
            [r.pid for r in s.gallery],
            [r.camid for r in s.query],
            [r.camid for r in s.gallery],
            protocol=s.protocol,
        )
        assert np.array_equal(again.cmc, e.result.cmc) and again.mAP == e.result.mAP


def test_diverged_weights_are_named_not_blamed_on_the_distances(run):
    """NaN weights give NaN descriptors: said so, instead of 'distmat: non-finite entry'."""
    from vireid.engine.context import evaluate_model, make_context
    from vireid.errors import VireidError

    cfg, _, _ = run
    model = build.build_model(cfg.model, num_classes=5)
    with torch.no_grad():
        model.bottleneck.weight.fill_(float("nan"))
    with pytest.raises(
        VireidError, match="descriptors of .* images are NaN or inf.*weights are not finite.*bottleneck"
    ):
        evaluate_model(model, build.build_dataset(cfg.data), cfg, make_context(cfg, "cpu", quiet=True))


def test_run_folder_inputs(run, tmp_path):
    """vireid test --run: the run's config.yaml and best checkpoint; --config / --checkpoint replace them."""
    from vireid.config import save_config
    from vireid.engine.testing import test_inputs
    from vireid.errors import ConfigError

    cfg, ckpt, tmp = run
    folder = ckpt.parent.parent
    save_config(cfg, folder / "config.yaml")
    got_cfg, got_ckpt = test_inputs(folder, overrides=["eval.flip=false"])
    assert got_ckpt == ckpt and got_cfg.data.root == cfg.data.root and got_cfg.eval.flip is False
    carried, _ = test_inputs(checkpoint=ckpt)  # no --config: the run config the checkpoint carries
    assert carried == cfg
    with pytest.raises(ConfigError, match="give --run RUN_DIR"):
        test_inputs()
    with pytest.raises(ConfigError, match="holds no config.yaml"):
        test_inputs(tmp_path)


def test_the_rank_list_numbers_are_the_same_in_test_viz_and_visualize(run, monkeypatch):
    """The number under an image is the same score (q.g, labelled) in test --viz and visualize ranks."""
    cfg, ckpt, tmp = run
    grids = []

    class Recording(_FakePyplot):
        @staticmethod
        def subplots(rows, cols, **kw):
            fig, axes = _FakePyplot.subplots(rows, cols, **kw)
            grids.append(axes)
            return fig, axes

    _no_drawing(monkeypatch)
    monkeypatch.setattr(ranks, "pyplot", lambda: Recording)
    out = tmp / "numbers"
    run_test(cfg, ckpt, out=out, viz=True)
    drawn = ranks.spread_queries(len(load_features(out / "features_query.safetensors")), 5)
    assert (
        main(
            [
                "visualize",
                "ranks",
                "--query",
                str(out / "features_query.safetensors"),
                "--gallery",
                str(out / "features_gallery.safetensors"),
                "--query-index",
                *map(str, drawn),
                "--out",
                str(out / "again.png"),
            ]
        )
        == 0
    )

    def labels(axes):
        return [[ax.set_xlabel.call_args[0][0] for ax in row[1:] if ax.set_xlabel.called] for row in axes]

    tested, again = labels(grids[0]), labels(grids[1])
    assert tested == again and all(text.startswith("q.g ") for row in tested for text in row)


def test_a_setting_train_would_refuse_for_this_model_is_refused_before_any_work(run, tmp_path):
    """``test`` reads a training config: a loss or optimiser setting ``train`` refuses for the
    checkpoint's model (a weight for a loss it lacks, head modules it lacks) is refused too, before
    the dataset is read; with another model's config the training settings are not this model's,
    and are not judged."""
    from vireid.config import apply_overrides
    from vireid.engine.testing import run_test
    from vireid.errors import ConfigError

    cfg, ckpt, _ = run
    for override, said in (
        ("loss.ort.weights.foo=2", "loss.ort.weights: foo not among the model's losses"),
        ("optim.head_modules=[nothing]", "optim.head_modules: nothing name no module"),
    ):
        with pytest.raises(ConfigError, match=said):
            run_test(apply_overrides(cfg, [override]), ckpt, out=tmp_path / "t")
        assert not (tmp_path / "t").exists()
    other = apply_overrides(cfg, ["model.args.base_channels=8", "loss.ort.weights.foo=2"])
    done = run_test(other, ckpt, out=tmp_path / "o")  # another model's config: its training settings unjudged
    assert (tmp_path / "o" / "metrics.json").is_file() and done.evaluations
