"""inference.search: cross-modal checks before loading a model, the checkpoint fallback, the ranking."""

from __future__ import annotations

import pytest
import torch

from tests.inference.test_extract import RECORDS, FakeModel
from vireid.errors import VireidError
from vireid.inference.extract import build_gallery_index
from vireid.inference.search import query_checkpoint, search_images


def test_query_checkpoint():
    index = build_gallery_index(FakeModel(), RECORDS, "infrared", progress=False)
    needs = "gallery.index holds infrared images; cross-modal search needs modality visible"
    with pytest.raises(VireidError, match=needs):
        query_checkpoint(index, "infrared", "ck", where="gallery.index")
    assert query_checkpoint(index, "visible", "mine.safetensors") == "mine.safetensors"
    with pytest.raises(VireidError, match="records no checkpoint"):
        query_checkpoint(index, "visible")
    index.model_id["checkpoint"] = "/runs/a"
    assert query_checkpoint(index, "visible") == "/runs/a"


def test_search_images_ranks_the_gallery():
    model = FakeModel()
    index = build_gallery_index(model, RECORDS, "infrared", progress=False)
    result = search_images(index, model, ["q.jpg"], "visible", topk=2)
    assert model.calls[-1][:2] == (["q.jpg"], "visible")
    hits = result.hits(0)
    assert [h["path"] for h in hits] == [RECORDS[0].path, RECORDS[1].path]  # the query equals gallery row 0
    assert hits[0]["score"] == pytest.approx(1.0) and hits[0]["score"] >= hits[1]["score"]
    with pytest.raises(VireidError, match="topk"):
        search_images(index, model, ["q.jpg"], "visible", topk=0)
    assert torch.is_tensor(index.feats)
