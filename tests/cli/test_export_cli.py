"""``vireid export``: an ONNX file whose descriptors equal the API's for the same image files."""

from __future__ import annotations

import warnings

import numpy as np

import vireid
from tests.inference.tiny import deen_checkpoint, write_gallery
from vireid.cli.main import main


def test_export_cli_parity_and_metadata(tmp_path, capsys):
    from vireid.export import onnx_metadata, run_onnx

    ckpt = deen_checkpoint(tmp_path)
    out = tmp_path / "onnx" / "deen_ir.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["export", "--checkpoint", str(ckpt), "--modality", "infrared", "--out", str(out)])
    assert rc == 0 and "(batch, 3, 64, 32)" in capsys.readouterr().out
    model = vireid.load_model(ckpt)
    paths = write_gallery(tmp_path / "imgs", pids=(1, 2), cams=(1,), gray=True)
    got = run_onnx(out, model.preprocess(paths))  # the caller normalises (not in the graph)
    assert np.abs(got - model.embed(paths, "infrared").numpy()).max() <= 1e-4
    meta = onnx_metadata(out)
    assert meta["modality"] == "infrared" and meta["preprocessing_in_graph"] == "false"
    assert model.model_id["checkpoint_sha256"] in meta["model_id"]


def test_export_cli_bad_out(tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path / "none.safetensors"), "--modality", "visible",
                 "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
