"""viz.files: a rank list of features files follows the protocol and distance the files record."""

from __future__ import annotations

import numpy as np
import pytest

from tests.inference.tiny import write_gallery
from vireid.errors import VireidError
from vireid.evaluation.features import save_features
from vireid.viz import files, ranks


@pytest.fixture
def sets(tmp_path):
    """Camera-3 queries whose nearest gallery images are all in camera 2."""
    q_paths = write_gallery(tmp_path / "q", pids=(1, 2), cams=(3,), gray=True)
    g_paths = write_gallery(tmp_path / "g", pids=(1, 2), cams=(2, 1))  # cam2 first: the nearest
    q = np.eye(4, dtype=np.float32)[[0, 1]]
    g = np.stack([q[0] * 0.9, q[1] * 0.9, q[0] * 0.5 + 0.1, q[1] * 0.5 + 0.1]).astype(np.float32)

    def write(meta):
        tag = "-".join(f"{k}{v}" for k, v in meta.items()) or "none"
        out = tmp_path / tag
        out.mkdir(exist_ok=True)
        save_features(
            out / "q.safetensors", q, [1, 2], [3, 3], paths=[str(p) for p in q_paths], modality="infrared", meta=meta
        )
        save_features(
            out / "g.safetensors",
            g,
            [1, 2, 1, 2],
            [2, 2, 1, 1],
            paths=[str(p) for p in g_paths],
            modality="visible",
            meta=meta,
        )
        return out / "q.safetensors", out / "g.safetensors"

    return write


@pytest.fixture
def drawn(monkeypatch):
    seen = []
    real = ranks.rank_lists

    def spy(distmat, query_indices, topk, keep=None):
        seen.append((np.asarray(distmat).copy(), [x.tolist() for x in real(distmat, query_indices, topk, keep)]))
        return real(distmat, query_indices, topk, keep)

    monkeypatch.setattr(ranks, "rank_lists", spy)
    return seen


def test_recorded_protocol_and_metric_are_the_defaults(sets, drawn, tmp_path):
    q, g = sets({"protocol": "sysu", "metric": "inner"})
    out = files.ranks_picture(q, g, tmp_path / "r.png", topk=4)
    assert out.read_bytes()[:4] == b"\x89PNG"
    dist, lists = drawn[-1]
    assert lists == [[2, 3], [3, 2]]  # camera 2 hidden from camera-3 queries (SYSU)
    assert dist[0, 0] == pytest.approx(-0.9)  # inner: -q.g
    files.ranks_picture(q, g, tmp_path / "r.png", topk=4, protocol="plain", metric="euclidean")
    dist, lists = drawn[-1]
    assert lists == [[0, 2, 3, 1], [1, 3, 2, 0]] and dist[0, 0] == pytest.approx(0.1)


def test_files_without_records_are_plain_and_inner(sets, drawn, tmp_path):
    """The distance vireid test scores, as every picture; on unit descriptors it ranks as cosine."""
    q, g = sets({})
    files.ranks_picture(q, g, tmp_path / "r.png", topk=2)
    dist, lists = drawn[-1]
    assert lists == [[0, 2], [1, 3]] and dist[0, 0] == pytest.approx(-0.9, abs=1e-6)  # -q.g


def test_conflicting_records_and_bad_indices(sets, tmp_path):
    q, _ = sets({"protocol": "sysu"})
    _, g = sets({"protocol": "llcm"})
    with pytest.raises(VireidError, match="different protocols"):
        files.ranks_picture(q, g, tmp_path / "r.png")
    files.ranks_picture(q, g, tmp_path / "r.png", protocol="plain")  # an explicit choice settles it
    with pytest.raises(VireidError, match="--query-index 5 out of range"):  # the option the user typed
        files.ranks_picture(q, g, tmp_path / "r.png", protocol="plain", query_indices=[0, 5])


def test_too_few_points_for_tsne_names_the_files(sets, tmp_path, capsys):
    """Not a bare "t-SNE needs at least 3 points": which files, how many points they hold."""
    from vireid.cli.main import main

    q, g = sets({})  # 2 query points, 4 gallery points of 2 identities
    out = tmp_path / "t.png"
    with pytest.raises(VireidError) as info:
        files.tsne_picture([q], out, perplexity=2)
    assert str(info.value) == f"{q}: 2 points; t-SNE needs at least 3"
    with pytest.raises(VireidError) as info:
        files.tsne_picture([g], out, perplexity=2, max_ids=1)  # 4 points, 2 of the one identity drawn
    assert str(info.value) == (
        f"{g}: 4 points, only 2 of them of the 1 identity drawn (--max-ids 1); t-SNE needs at least 3"
    )
    assert not out.exists()
    assert main(["visualize", "tsne", "--features", str(q), "--perplexity", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{q}: 2 points; t-SNE needs at least 3" in err
    assert files.tsne_picture([q, g], out, perplexity=2).read_bytes()[:4] == b"\x89PNG"  # 6 points together
