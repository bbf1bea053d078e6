"""``vireid visualize ranks|tsne|distances|attention``: PNGs from features files / a checkpoint, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from tests.inference.tiny import engine_checkpoint, tiny_deen, write_gallery
from vireid.cli.main import main
from vireid.evaluation.features import save_features

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def features(tmp_path):
    rng = np.random.default_rng(0)
    out = {}
    for modality, cams in (("visible", (1, 2)), ("infrared", (3,))):
        paths = write_gallery(tmp_path / modality, pids=(1, 2, 3, 4), cams=cams, gray=modality == "infrared")
        pids = [int(p.parent.name) for p in paths]
        feats = rng.normal(size=(len(paths), 16)) + 3 * np.eye(16)[np.array(pids) - 1]  # identity clusters
        out[modality] = tmp_path / f"{modality}.safetensors"
        save_features(
            out[modality],
            feats.astype(np.float32),
            pids,
            [3] * len(pids),
            paths=[str(p) for p in paths],
            modality=modality,
        )
    return out


def test_ranks_tsne_distances(features, tmp_path, capsys):
    vis, ir = str(features["visible"]), str(features["infrared"])
    jobs = {
        "ranks": ["--query", ir, "--gallery", vis, "--topk", "3", "--num-queries", "2"],
        "tsne": ["--features", vis, ir],
        "distances": ["--features", vis, ir],
    }
    for picture, args in jobs.items():
        out = tmp_path / "pics" / f"{picture}.png"
        assert main(["visualize", picture, *args, "--out", str(out)]) == 0, capsys.readouterr().err
        assert out.read_bytes()[:8] == PNG


def test_attention_from_a_checkpoint(tmp_path, capsys):
    kw = dict(abd_cam=True, abd_attention_branch=True)
    ckpt = engine_checkpoint(tmp_path / "abd.safetensors", tiny_deen(0, **kw), args=kw)
    (img,) = write_gallery(tmp_path / "img", pids=(1,), cams=(1,))
    out = tmp_path / "att.png"
    assert (
        main(
            [
                "visualize",
                "attention",
                "--checkpoint",
                str(ckpt),
                "--image",
                str(img),
                "--modality",
                "visible",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_bytes()[:8] == PNG
    plain = engine_checkpoint(tmp_path / "plain.safetensors", tiny_deen(0))
    assert (
        main(
            [
                "visualize",
                "attention",
                "--checkpoint",
                str(plain),
                "--image",
                str(img),
                "--modality",
                "visible",
                "--out",
                str(tmp_path / "no.png"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no CAM/PAM" in err and not (tmp_path / "no.png").exists()
    assert f"{plain}: this DEEN has no CAM/PAM" in err  # the checkpoint it came from


def test_bad_features_files(features, tmp_path, capsys):
    save_features(tmp_path / "nopaths.safetensors", np.zeros((2, 16), np.float32), [1, 2], [1, 1])
    assert (
        main(
            [
                "visualize",
                "ranks",
                "--query",
                str(tmp_path / "nopaths.safetensors"),
                "--gallery",
                str(features["visible"]),
                "--out",
                str(tmp_path / "r.png"),
            ]
        )
        == 2
    )
    assert "no image paths" in capsys.readouterr().err
    assert (
        main(
            [
                "visualize",
                "ranks",
                "--query",
                str(features["infrared"]),
                "--gallery",
                str(features["visible"]),
                "--query-index",
                "0",
                "9",
                "--out",
                str(tmp_path / "r.png"),
            ]
        )
        == 2
    )
    assert "out of range" in capsys.readouterr().err
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    assert (
        main(["visualize", "tsne", "--features", str(tmp_path / "junk.safetensors"), "--out", str(tmp_path / "t.png")])
        == 2
    )
    assert "junk.safetensors" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("which", ["query", "gallery"])
def test_an_image_a_features_file_lists_that_is_gone_is_named_with_the_file(which, features, tmp_path, capsys):
    """A features file whose ``paths`` name an image that is not there: the one line names the
    features file (and the image), not only ``abc: image file not found``."""
    from vireid.evaluation.features import load_features

    src = features["infrared" if which == "query" else "visible"]
    f = load_features(src)
    moved = tmp_path / f"moved_{which}.safetensors"
    save_features(moved, f.feats, list(f.pids), list(f.camids), paths=["abc"] * len(f.pids), modality=f.modality)
    files = {"query": features["infrared"], "gallery": features["visible"], which: moved}
    argv = ["visualize", "ranks", "--query", str(files["query"]), "--gallery", str(files["gallery"])]
    assert main([*argv, "--topk", "2", "--out", str(tmp_path / "r.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{moved}: an image its 'paths' metadata lists -- abc" in err[0], err
    assert not (tmp_path / "r.png").exists()
