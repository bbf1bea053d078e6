"""Rank-list pictures (and the test-run pictures built on them): borders, ordering, shapes, PNGs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vireid.data.records import Record
from vireid.errors import ShapeError
from vireid.viz import ranks
from vireid.viz.ranks import rank_list_figure
from vireid.viz.report import write_test_pictures
from vireid.viz.style import BAD, GOOD


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        p = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (50, 24, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    Image.fromarray(np.zeros((50, 24), np.uint8)).save(tmp_path / "gray.png")  # an infrared-like crop
    return paths + [str(tmp_path / "gray.png")]


def test_thumb_borders(images):
    green = ranks._thumb(images[0], (64, 32), (0, 170, 0))
    assert green.shape == (64, 32, 3) and tuple(green[0, 0]) == (0, 170, 0) and tuple(green[32, 1]) == (0, 170, 0)
    plain = ranks._thumb(images[-1], (64, 32), None)
    assert plain.shape == (64, 32, 3) and plain.max() == 0  # greyscale converted to RGB


def test_rank_list_uses_the_distance_order_and_keep_mask(images, tmp_path, monkeypatch):
    seen = []
    real = ranks._thumb
    monkeypatch.setattr(ranks, "_thumb", lambda p, s, b, where=None: seen.append((p, b)) or real(p, s, b, where))
    dist = np.array([[0.3, 0.1, 0.2, 0.9]])
    keep = np.array([[True, False, True, True]])
    out = rank_list_figure(dist, images[:1], [1], images[1:5], [1, 1, 2, 1], tmp_path / "r.png", topk=3, keep=keep)
    assert out.read_bytes()[:4] == b"\x89PNG"
    good, bad = ranks._rgb(GOOD), ranks._rgb(BAD)  # the shared style's colour-blind-safe pair
    assert seen == [
        (images[0], None),
        (images[3], bad),
        (images[1], good),
        (images[4], good),
    ]  # 0.2 (pid 2, wrong), 0.3, 0.9; 0.1 is filtered out
    assert (good, bad) == ((0, 158, 115), (213, 94, 0))


def test_rank_list_shape_mismatch(images, tmp_path):
    with pytest.raises(ShapeError, match="does not match"):
        rank_list_figure(np.zeros((2, 3)), images[:1], [1], images[:3], [1, 1, 1], tmp_path / "x.png")


def test_write_test_pictures(images, tmp_path):
    rng = np.random.default_rng(1)
    q = [Record(images[i], i % 3, 3, "infrared") for i in range(3)]
    g = [Record(images[i], i % 3, 1, "visible") for i in range(3, 7)]
    out = write_test_pictures(tmp_path / "run", rng.normal(size=(3, 8)), rng.normal(size=(4, 8)), q, g, topk=3)
    assert sorted(out) == ["distances", "ranks", "tsne"]
    for name, path in out.items():
        assert path == tmp_path / "run" / f"{name}.png" and path.stat().st_size > 1000
    with pytest.raises(ShapeError, match="records"):
        write_test_pictures(tmp_path, rng.normal(size=(2, 8)), rng.normal(size=(4, 8)), q, g)


def test_rank_lists_leave_out_what_keep_forbids():
    dist = np.array([[0.3, 0.1, 0.2, 0.9], [0.5, 0.4, 0.3, 0.2]])
    keep = np.array([[True, False, True, True], [False, False, False, True]])
    lists = ranks.rank_lists(dist, [0, 1], topk=3, keep=keep)
    assert [x.tolist() for x in lists] == [[2, 0, 3], [3]]  # fewer than topk when the rules leave fewer
    assert [x.tolist() for x in ranks.rank_lists(dist, [1], topk=2)] == [[3, 2]]
    tie = ranks.rank_lists(np.zeros((1, 4)), [0], topk=4)[0].tolist()
    assert tie == [0, 1, 2, 3]  # equal distances keep gallery order
    assert ranks.spread_queries(10, 5) == [0, 2, 4, 7, 9] and ranks.spread_queries(3, 5) == [0, 1, 2]
    assert ranks.spread_queries(1, 5) == [0]


def test_protocol_rank_figure_asks_the_protocol(images, tmp_path, monkeypatch):
    """SYSU: a camera-3 query never sees camera-2 gallery images; plain: it does."""
    seen = []
    real = ranks.rank_lists
    monkeypatch.setattr(ranks, "rank_lists", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    q = [Record(images[0], 1, 3, "infrared"), Record(images[1], 1, 6, "infrared")]
    g = [Record(images[2 + i], pid, cam, "visible") for i, (pid, cam) in enumerate([(1, 2), (2, 2), (1, 1), (2, 4)])]
    dist = np.array([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]])
    ranks.protocol_rank_figure(dist, q, g, tmp_path / "s.png", protocol="sysu", topk=4, num_queries=2)
    ranks.protocol_rank_figure(dist, q, g, tmp_path / "p.png", protocol="plain", topk=4, num_queries=2)
    (sysu3, sysu6), (plain3, _) = seen
    assert sysu3.tolist() == [2, 3] and sysu6.tolist() == [0, 1, 2, 3] and plain3.tolist() == [0, 1, 2, 3]
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "metric, rerank, shown",
    [
        ("inner", False, lambda d: f"q.g {-d:.3f}"),
        ("cosine", False, lambda d: f"cos {1 - d:.3f}"),
        ("euclidean", False, lambda d: f"L2 {d:.3f}"),
        ("inner", True, lambda d: f"rr {d:.3f}"),
    ],
)
def test_the_number_under_each_image_is_the_ordering_score_labelled(
    images, tmp_path, monkeypatch, metric, rerank, shown
):
    figs = []
    monkeypatch.setattr(ranks, "save_figure", lambda fig, out: figs.append(fig) or out)
    dist = np.array([[0.3, 0.1, 0.2, 0.9]])
    rank_list_figure(
        dist, images[:1], [1], images[1:5], [1, 2, 3, 1], tmp_path / "r.png", topk=4, metric=metric, rerank=rerank
    )
    fig = figs[0]
    labels = [ax.get_xlabel() for ax in fig.axes[1:5]]
    assert labels == [shown(d) for d in (0.1, 0.2, 0.3, 0.9)]  # in rank order, so the numbers are monotone
    caption = fig.get_supxlabel()
    assert caption.startswith("number under each image: " + labels[0].split()[0])
    assert ("higher = closer" in caption) == (metric in ("inner", "cosine") and not rerank)
