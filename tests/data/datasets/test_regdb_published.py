"""RegDB as published: our ``*_paper`` directions equal the DEEN authors' ``test.py`` run on the same data.

``tests/fixtures/regdb_published.safetensors`` holds a small RegDB-layout dataset (10 trials) and
what the RegDB branch of their ``test.py`` computed on it with their own model (channels / 16,
the weights of ``official_deen_regdb.safetensors``), for both branches of ``if args.tvsearch:``
and both of its distance matrices (``distmat7``: all six inner products; ``distmat8``: 0.1 pool +
0.9 BN).  How it was made: ``tests/fixtures/regdb_published_README.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from tests.models.test_official import read_fixture, write_t
from vireid.config import load_config
from vireid.core.device import resolve_amp
from vireid.core.distributed import DistInfo
from vireid.data.datasets import build_dataset
from vireid.engine.context import RunContext, evaluate_model
from vireid.evaluation.protocols import PAPER_DIRECTION, PAPER_IR_TO_VIS
from vireid.models import load_official_deen

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "regdb_published.safetensors"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The dataset written out, the authors' model loaded into ours, and their results."""
    root = tmp_path_factory.mktemp("regdb_published") / "RegDB"
    with safe_open(str(FIXTURE), "pt") as fh:
        for key in fh.keys():
            path = root / key[len("image.") :]
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(fh.get_tensor(key).numpy()).save(path)
        meta = fh.metadata()
    for rel, text in json.loads(meta["index_files"]).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    net, _, _ = read_fixture("regdb")
    model = load_official_deen(write_t(root.parent / "regdb_best.t", net), "regdb")
    return root, model, json.loads(meta["expected"])


@pytest.mark.parametrize("combine", ["all", "weighted"])
def test_both_directions_equal_the_authors_test_py(published, combine):
    root, model, expected = published
    ctx = RunContext(torch.device("cpu"), resolve_amp("none", torch.device("cpu")), DistInfo(), lambda m: None)
    for trial in range(1, 11):
        cfg = load_config(
            "deen_regdb",
            [
                f"data.root={root}",
                f"data.trial={trial}",
                "data.height=32",
                "data.width=16",
                "data.workers=0",
                "model.pretrained=none",
                f"eval.combine={combine}",
            ],
        )
        results, summary = evaluate_model(model, build_dataset("regdb", root, trial=trial), cfg, ctx, final=True)
        ours = {r.split.direction: r.result for r in results}
        for direction in (PAPER_IR_TO_VIS, PAPER_DIRECTION):  # test.py's tvsearch True, False
            theirs = expected[f"{direction}.{combine}.trial{trial}"]
            got = ours[direction]
            np.testing.assert_allclose(got.cmc[: len(theirs["cmc"])], theirs["cmc"], atol=1e-6, err_msg=direction)
            assert got.mAP == pytest.approx(theirs["mAP"], abs=1e-6) and got.mINP == pytest.approx(
                theirs["mINP"], abs=1e-6
            )
        # our own-stem directions are other numbers (the stems differ), outside the published columns
        assert ours["infrared_to_visible"].mAP != pytest.approx(ours[PAPER_IR_TO_VIS].mAP, abs=1e-6)
        assert summary["paper_columns"] == {
            "visible_to_infrared": PAPER_DIRECTION,
            "infrared_to_visible": PAPER_IR_TO_VIS,
        }


def test_unpaired_test_lists_are_refused_for_the_published_directions(tmp_path):
    """Their test.py scores each list with the other's labels; we need them to be the same."""
    from tests.data.layouts import make_regdb
    from vireid.errors import DatasetError

    root = make_regdb(tmp_path / "regdb", trials=(1,))
    lines = (root / "idx" / "test_thermal_1.txt").read_text().splitlines()
    (root / "idx" / "test_thermal_1.txt").write_text("\n".join(reversed(lines)) + "\n")
    dataset = build_dataset("regdb", root, trial=1)
    assert len(list(dataset.eval_splits(directions=["visible_to_infrared", "infrared_to_visible"]))) == 2
    with pytest.raises(DatasetError, match="test_visible_1.txt and .*test_thermal_1.txt do not list the same labels"):
        list(dataset.eval_splits(directions=[PAPER_IR_TO_VIS]))
