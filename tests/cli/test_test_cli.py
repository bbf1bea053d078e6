"""`vireid test`: full protocol, metrics.json layout, checkpoint errors."""

import json

import pytest
import torch

from tests.engine.tiny import CONFIGS, TinyReID, tiny_dataset
from vireid.cli.main import main
from vireid.config import build, load_config
from vireid.engine.checkpoint import save_weights
from vireid.engine.run import checkpoint_metadata

TINY = str(CONFIGS / "test_tiny.yaml")


def _tiny_run(tmp_path):
    """A tiny synthetic dataset and a random tiny model saved as a run's best checkpoint."""
    root = tiny_dataset(tmp_path / "data")
    cfg = load_config(TINY, [f"data.root={root}"])
    torch.manual_seed(0)
    model = build.build_model(cfg.model, num_classes=5)
    ckpt = tmp_path / "run" / "checkpoints" / "best.safetensors"
    save_weights(model, ckpt, checkpoint_metadata(model, cfg))
    return root, ckpt


def test_full_protocol_metrics_json(tmp_path, capsys):
    root, ckpt = _tiny_run(tmp_path)
    assert main(["test", "--config", TINY, "--checkpoint", str(ckpt), f"data.root={root}"]) == 0
    out = capsys.readouterr().out
    assert "trial 9" in out and "mean ± std" in out
    m = json.loads((tmp_path / "run" / "test" / "metrics.json").read_text())  # default: RUN/test/
    assert m["protocol"] == "sysu" and list(m["directions"]) == ["infrared_to_visible"]
    d = m["directions"]["infrared_to_visible"]
    assert d["num_trials"] == 10 and len(d["trials"]) == 10
    for k in ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP"):
        assert m["mean"][k] == pytest.approx(sum(t[k] for t in d["trials"]) / 10)
        assert 0.0 <= m["mean"][k] <= 1.0
    assert m["mean"]["rank1"] <= m["mean"]["rank5"] <= m["mean"]["rank20"]


def test_checkpoint_errors_exit_2(tmp_path, capsys):
    root = tiny_dataset(tmp_path / "data")
    assert (
        main(["test", "--config", TINY, "--checkpoint", str(tmp_path / "nope.safetensors"), f"data.root={root}"]) == 2
    )
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["test", "--config", TINY, "--checkpoint", str(tmp_path), f"data.root={root}"]) == 2
    assert "no checkpoint found" in capsys.readouterr().err
    save_weights(TinyReID(), tmp_path / "other.safetensors")
    assert (
        main(["test", "--config", TINY, "--checkpoint", str(tmp_path / "other.safetensors"), f"data.root={root}"]) == 2
    )
    assert "not a vireid model checkpoint" in capsys.readouterr().err


def test_model_is_rebuilt_from_the_checkpoint_not_the_config(tmp_path):
    """The config on the command line says a different model size; the checkpoint's metadata wins."""
    from vireid.engine.testing import run_test

    root, ckpt = _tiny_run(tmp_path)
    cfg = load_config(TINY, [f"data.root={root}", "model.args.base_channels=8"])
    result = run_test(cfg, ckpt, out=tmp_path / "out")
    assert result.summary["checkpoint"] == str(ckpt) and (tmp_path / "out" / "metrics.json").is_file()
    assert build.build_model(cfg.model, num_classes=5).config["base_channels"] == 8  # would not load
    torch.manual_seed(0)
    same = build.build_model(load_config(TINY, [f"data.root={root}"]).model, num_classes=5)
    from vireid.data.datasets import build_dataset
    from vireid.engine.context import evaluate_model, make_context

    base = load_config(TINY, [f"data.root={root}"])
    _, ref = evaluate_model(same, build_dataset("sysu", root), base, make_context(base, "cpu", quiet=True))
    assert result.summary["mean"] == ref["mean"]


def test_viz_writes_pictures(tmp_path, capsys):
    from vireid.evaluation.features import load_features

    root, ckpt = _tiny_run(tmp_path)
    out = tmp_path / "out"
    assert (
        main(["test", "--config", TINY, "--checkpoint", str(ckpt), "--out", str(out), "--viz", f"data.root={root}"])
        == 0
    )
    for name in ("ranks.png", "tsne.png", "distances.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert (out / "metrics.json").is_file()
    q = load_features(out / "features_query.safetensors")
    g = load_features(out / "features_gallery.safetensors")
    assert q.meta["protocol"] == "sysu" and q.meta["metric"] == "inner" and q.meta["trial"] == 0
    assert q.modality == "infrared" and g.modality == "visible" and len(q.paths) == len(q)
    assert "features_query.safetensors" in capsys.readouterr().out


def test_protocol_distances_equal_authors_fusion(tmp_path):
    """vireid test scores -(sum over embeddings of pool and BN inner products), as DEEN's test.py."""
    from vireid.data.datasets import build_dataset
    from vireid.engine.evaluator import run_splits

    root = tiny_dataset(tmp_path / "data")
    cfg = load_config(TINY, [f"data.root={root}"])
    torch.manual_seed(0)
    model = build.build_model(cfg.model, num_classes=5).eval()
    split = next(iter(build_dataset("sysu", root).eval_splits(trials=[0])))
    (ev,) = run_splits(model, [split], **build.eval_kwargs(cfg))
    distmat = ev.distmat
    torch.testing.assert_close(distmat, -(ev.query_feats @ ev.gallery_feats.T), rtol=0, atol=0)
    from vireid.data.loaders import build_test_loader

    def six(records, modal):
        images = torch.cat(
            [b[0] for b in build_test_loader(records, height=cfg.data.height, width=cfg.data.width, batch_size=64)]
        )
        x = images if modal == 1 else None
        y = images if modal == 2 else None
        with torch.no_grad():
            a = model(x, y, modal)
            b = model(None if x is None else x.flip(3), None if y is None else y.flip(3), modal)
        pool, bn = a.feat + b.feat, a.feat_bn + b.feat_bn
        return pool.chunk(3), bn.chunk(3)

    qp, qb = six(split.query, 2)
    gp, gb = six(split.gallery, 1)
    ref = -sum(qp[i] @ gp[i].T + qb[i] @ gb[i].T for i in range(3))
    torch.testing.assert_close(distmat, ref, rtol=1e-4, atol=1e-4)


def test_rerank_option(tmp_path, capsys):
    """--rerank changes the distances (k-reciprocal) and is recorded in metrics.json."""
    root, ckpt = _tiny_run(tmp_path)
    plain, rr = tmp_path / "plain", tmp_path / "rr"
    assert main(["test", "--config", TINY, "--checkpoint", str(ckpt), "--out", str(plain), f"data.root={root}"]) == 0
    assert (
        main(["test", "--config", TINY, "--checkpoint", str(ckpt), "--out", str(rr), "--rerank", f"data.root={root}"])
        == 0
    )
    a = json.loads((plain / "metrics.json").read_text())
    b = json.loads((rr / "metrics.json").read_text())
    assert b["rerank"] is True and a["rerank"] is False
    assert 0.0 <= b["mean"]["mAP"] <= 1.0


def test_rerank_distances_are_k_reciprocal(tmp_path):
    import torch.nn.functional as F

    from vireid.data.datasets import build_dataset
    from vireid.engine.evaluator import extract_features, run_splits
    from vireid.evaluation.distance import pairwise_distance
    from vireid.evaluation.rerank import re_rank

    root, _ = _tiny_run(tmp_path)
    cfg = load_config(TINY, [f"data.root={root}"])
    torch.manual_seed(0)
    model = build.build_model(cfg.model, num_classes=5).eval()
    split = next(iter(build_dataset("sysu", root).eval_splits(trials=[0])))
    (ev,) = run_splits(model, [split], rerank=True, **build.eval_kwargs(cfg))
    dist = ev.distmat
    q = F.normalize(extract_features(model, split.query, **build.eval_kwargs(cfg)), dim=1)
    g = F.normalize(extract_features(model, split.gallery, **build.eval_kwargs(cfg)), dim=1)
    ref = re_rank(pairwise_distance(q, g), pairwise_distance(q, q), pairwise_distance(g, g))
    torch.testing.assert_close(dist, torch.from_numpy(ref).float(), rtol=1e-5, atol=1e-5)
    plain = run_splits(model, [split], **build.eval_kwargs(cfg))[0].distmat
    assert not torch.allclose(dist, plain)


def test_run_folder_default_and_save_features(tmp_path, capsys):
    """--run: the run's config and best checkpoint, results in RUN/test/ (training's metrics.json untouched);
    --save-features: files that vireid evaluate turns back into the same metrics, and visualize draws."""
    from vireid.config import save_config

    root, ckpt = _tiny_run(tmp_path)
    run = ckpt.parent.parent
    save_config(load_config(TINY, [f"data.root={root}"]), run / "config.yaml")
    (run / "metrics.json").write_text('{"training": "mine"}')
    assert main(["test", "--run", str(run), "--save-features"]) == 0
    assert (run / "metrics.json").read_text() == '{"training": "mine"}'
    got = json.loads((run / "test" / "metrics.json").read_text())
    assert got["checkpoint"] == str(ckpt)
    feats = run / "test" / "features" / "infrared_to_visible"
    galleries = sorted(feats.glob("gallery_trial*.safetensors"), key=lambda p: int(p.stem.split("trial")[1]))
    assert len(galleries) == 10 and (feats / "query.safetensors").is_file()
    capsys.readouterr()
    out = tmp_path / "again.json"
    assert (
        main(
            [
                "evaluate",
                "--query",
                str(feats / "query.safetensors"),
                "--gallery",
                *map(str, galleries),
                "--protocol",
                "sysu",
                "--metric",
                "inner",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    again = json.loads(out.read_text())
    for k in ("rank1", "mAP", "mINP"):
        assert again[k] == pytest.approx(got["mean"][k], abs=1e-6)
    assert (
        main(
            [
                "visualize",
                "ranks",
                "--query",
                str(feats / "query.safetensors"),
                "--gallery",
                str(galleries[0]),
                "--out",
                str(tmp_path / "ranks.png"),
            ]
        )
        == 0
    )
    assert (tmp_path / "ranks.png").read_bytes()[:4] == b"\x89PNG"


def test_overrides_anywhere_after_the_subcommand(tmp_path):
    root, ckpt = _tiny_run(tmp_path)
    assert (
        main(
            [
                "test",
                "--checkpoint",
                str(ckpt),
                "eval.flip=false",
                "--out",
                str(tmp_path / "o"),
                f"data.root={root}",
                "--config",
                TINY,
                "eval.trials=1",
            ]
        )
        == 0
    )
    assert (tmp_path / "o" / "metrics.json").is_file()


def test_a_config_that_contradicts_the_checkpoints_run_is_warned_about(tmp_path, capsys):
    root, ckpt = _tiny_run(tmp_path)
    assert (
        main(
            [
                "test",
                "--checkpoint",
                str(ckpt),
                "--config",
                TINY,
                f"data.root={root}",
                "eval.combine=bn",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "warning: eval.combine is 'bn' here but 'all' in the checkpoint's training run" in err
    assert (
        main(["test", "--checkpoint", str(ckpt), "--config", TINY, f"data.root={root}", "--out", str(tmp_path / "o")])
        == 0
    )
    assert "warning" not in capsys.readouterr().err
