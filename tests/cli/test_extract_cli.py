"""``vireid extract``: features file contents (= the API's descriptors), manifests, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import vireid
from tests.inference.tiny import deen_checkpoint, write_gallery
from vireid.cli.main import main
from vireid.evaluation.features import load_features


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return deen_checkpoint(tmp_path_factory.mktemp("ckpt"))


def test_extract_folder(tmp_path, ckpt, capsys):
    paths = write_gallery(tmp_path / "ir", pids=(3, 1), cams=(4,), gray=True)
    out = tmp_path / "feats.safetensors"
    rc = main(
        [
            "extract",
            "--checkpoint",
            str(ckpt),
            "--input",
            str(tmp_path / "ir"),
            "--modality",
            "infrared",
            "--out",
            str(out),
            "--batch-size",
            "1",
            "--no-progress",
        ]
    )
    assert rc == 0 and "2 infrared descriptors" in capsys.readouterr().out
    fs = load_features(out)
    assert fs.modality == "infrared" and fs.pids.tolist() == [1, 3] and fs.camids.tolist() == [4, 4]
    assert fs.paths == sorted(str(p.resolve()) for p in paths)
    ref = vireid.load_model(ckpt).embed(fs.paths, "infrared")
    assert np.allclose(fs.feats, ref.numpy(), atol=1e-6)
    assert fs.meta["model"]["checkpoint_sha256"] == vireid.load_model(ckpt).model_id["checkpoint_sha256"]


def test_extract_manifest(tmp_path, ckpt):
    paths = write_gallery(tmp_path / "imgs", pids=(1,), cams=(1, 2))
    (tmp_path / "m.csv").write_text(f"path,pid,camid,modality\n{paths[0]},9,1,visible\n{paths[1]},9,2,infrared\n")
    out = tmp_path / "f.safetensors"
    assert (
        main(
            [
                "extract",
                "--checkpoint",
                str(ckpt),
                "--input",
                str(tmp_path / "m.csv"),
                "--modality",
                "visible",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    fs = load_features(out)
    assert fs.pids.tolist() == [9] and fs.paths == [str(paths[0])]


def test_extract_bad_input_exits_2_and_writes_nothing(tmp_path, ckpt, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "f.safetensors"
    base = ["extract", "--checkpoint", str(ckpt), "--modality", "visible", "--out", str(out), "--no-progress"]
    assert main(base + ["--input", str(tmp_path / "empty")]) == 2
    assert "no images found" in capsys.readouterr().err
    write_gallery(tmp_path / "mixed", pids=(1, 2), cams=(1,))
    (tmp_path / "mixed" / "cam1" / "0002" / "broken.jpg").write_text("this is not a JPEG")
    assert main(base + ["--input", str(tmp_path / "mixed")]) == 2
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "cannot decode" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".f.safetensors*"))
    assert main(base[:2] + [str(tmp_path / "nope.safetensors")] + base[3:] + ["--input", str(tmp_path / "mixed")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_a_dataset_root_gives_each_camera_its_layouts_modality(tmp_path, capsys):
    """extract over a SYSU-MM01 root embeds only the cameras of --modality (said on stderr); camera ids come
    from the layout even from a camera folder; a camera of the other modality is refused."""
    from tests.engine.tiny import tiny_dataset
    from vireid.evaluation.features import load_features

    root = tmp_path / "sysu"
    tiny_dataset(root)
    ckpt = deen_checkpoint(tmp_path)
    out = tmp_path / "vis.safetensors"
    assert (
        main(
            [
                "extract",
                "--checkpoint",
                str(ckpt),
                "--input",
                str(root),
                "--modality",
                "visible",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "skipped" in capsys.readouterr().err
    feats = load_features(out)
    assert set(feats.camids.tolist()) <= {1, 2, 4, 5} and len(feats) == len(list(root.glob("cam[1245]/*/*.jpg")))
    assert (
        main(
            [
                "extract",
                "--checkpoint",
                str(ckpt),
                "--input",
                str(root / "cam1"),
                "--modality",
                "RGB",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert set(load_features(out).camids.tolist()) == {1}
    assert (
        main(
            [
                "extract",
                "--checkpoint",
                str(ckpt),
                "--input",
                str(root / "cam6"),
                "--modality",
                "visible",
                "--out",
                str(tmp_path / "no.safetensors"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "infrared images only" in capsys.readouterr().err and not (tmp_path / "no.safetensors").exists()
