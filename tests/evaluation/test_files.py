"""evaluation.files: metrics of saved features files equal evaluate() on their distances, per trial."""

from __future__ import annotations

import numpy as np
import pytest

from tests.cli.test_evaluate_cli import _write_sets
from vireid.errors import VireidError
from vireid.evaluation import evaluate, load_features
from vireid.evaluation.distance import query_gallery_distance
from vireid.evaluation.files import evaluate_files


@pytest.mark.parametrize("metric,rerank", [("inner", False), ("inner", True), ("cosine", True)])
def test_each_gallery_file_is_a_trial(tmp_path, metric, rerank):
    q, galleries = _write_sets(tmp_path, trials=2)
    done = evaluate_files(q, galleries, protocol="sysu", metric=metric, rerank=rerank, max_rank=5)
    qs = load_features(q)
    for path, got in zip(galleries, done.results, strict=True):
        gs = load_features(path)
        ref = evaluate(
            query_gallery_distance(qs.feats, gs.feats, metric, rerank=rerank),
            qs.pids,
            gs.pids,
            qs.camids,
            gs.camids,
            protocol="sysu",
            max_rank=5,
        )
        assert got.as_dict() == ref.as_dict()
    assert done.names == ["g0.safetensors", "g1.safetensors"]
    s = done.summary
    assert s["num_trials"] == 2 and s["metric"] == metric and s["rerank"] is rerank and s["protocol"] == "sysu"
    assert s["rank1"] == pytest.approx(np.mean([r.cmc[0] for r in done.results]))
    assert [t["gallery"] for t in s["trials"]] == galleries


def test_plain_protocol_and_errors(tmp_path):
    q, (g,) = _write_sets(tmp_path)
    plain = evaluate_files(q, [g], protocol="plain").results[0]
    regdb = evaluate_files(q, [g], protocol="regdb").results[0]
    assert plain.as_dict() == regdb.as_dict()  # the same rules under another name
    with pytest.raises(VireidError, match="max_rank"):
        evaluate_files(q, [g], protocol="sysu", max_rank=0)
    with pytest.raises(VireidError, match="unknown evaluation protocol"):
        evaluate_files(q, [g], protocol="market")


def test_nan_is_blamed_on_the_file_that_holds_it(tmp_path):
    from vireid.errors import ShapeError
    from vireid.evaluation.features import save_features

    q, (g,) = _write_sets(tmp_path)
    qs = load_features(q)
    feats = qs.feats.copy()
    feats[2, 0] = np.nan
    save_features(tmp_path / "q_nan.safetensors", feats, qs.pids, qs.camids)
    with pytest.raises(ShapeError) as info:
        evaluate_files(tmp_path / "q_nan.safetensors", [g], protocol="sysu")
    assert str(info.value).startswith(str(tmp_path / "q_nan.safetensors")) and "descriptor 2" in str(info.value)
    assert "NaN" in str(info.value) and str(g) not in str(info.value)


@pytest.mark.parametrize("empty", ["query", "gallery"])
def test_an_empty_features_file_is_blamed_on_itself(tmp_path, empty):
    """An empty query set names the query file (not the gallery it was scored against), and the
    other way round."""
    from vireid.errors import ShapeError
    from vireid.evaluation.features import save_features

    q, (g,) = _write_sets(tmp_path)
    full = load_features(q if empty == "query" else g)
    bare = tmp_path / f"{empty}_empty.safetensors"
    save_features(bare, full.feats[:0], full.pids[:0], full.camids[:0], paths=[], modality=full.modality)
    assert len(load_features(bare)) == 0  # a valid features file, with 0 rows
    query, gallery = (bare, g) if empty == "query" else (q, bare)
    with pytest.raises(ShapeError) as info:
        evaluate_files(query, [gallery], protocol="sysu")
    text = str(info.value)
    assert text == f"{bare}: the {empty} features file holds no descriptors (0 rows); expected at least one"
    assert str(g if empty == "query" else q) not in text and "distmat" not in text


def test_query_equal_to_gallery_is_warned_about(tmp_path):
    q, (g,) = _write_sets(tmp_path)
    done = evaluate_files(q, [q], protocol="plain")
    assert done.results[0].cmc[0] == 1.0 and any("query file itself" in w for w in done.warnings)
    assert evaluate_files(q, [g], protocol="sysu").warnings == []
