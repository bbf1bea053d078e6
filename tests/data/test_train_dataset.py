import pytest
import torch

from tests.data.layouts import write_image
from vireid.data.loaders import build_test_loader, build_train_loader
from vireid.data.records import Record
from vireid.data.train_dataset import CrossModalTrainDataset
from vireid.data.transforms import TrainTransform
from vireid.errors import DatasetError

H, W = 32, 16


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    recs = []
    for pid in (5, 9, 12, 40):  # relabelled to 0..3
        for k in range(3):
            for modality, cam in (("visible", 1), ("infrared", 3)):
                path = root / f"{modality}_{pid}_{k}.jpg"
                write_image(path, pid * 7 + k + cam, size=(20, 40))
                recs.append(Record(str(path), pid, cam, modality))
    return recs


def _loader(records, **kw):
    args = dict(height=H, width=W, num_ids=2, num_instances=2, seed=3, num_workers=0, batches_per_epoch=3)
    args.update(kw)
    return build_train_loader(records, **args)


def _collect(loader, epoch):
    loader.sampler.set_epoch(epoch)
    return [tuple(x.clone() for x in batch) for batch in loader]


def test_batches_shapes_and_labels(records):
    loader = _loader(records)
    assert loader.dataset.num_classes == 4 and loader.dataset.pids == [5, 9, 12, 40]
    out = _collect(loader, 0)
    assert len(out) == 3
    for img_vis, img_ir, lab_vis, lab_ir in out:
        assert img_vis.shape == img_ir.shape == (4, 3, H, W) and img_vis.dtype == torch.float32
        assert lab_vis.dtype == torch.int64 and torch.equal(lab_vis, lab_ir)
        assert set(lab_vis.tolist()) <= {0, 1, 2, 3} and len(set(lab_vis.tolist())) == 2


def test_workers_do_not_change_batches(records):
    single = _collect(_loader(records, num_workers=0), 1)
    multi = _collect(_loader(records, num_workers=2), 1)
    assert len(single) == len(multi)
    for a, b in zip(single, multi, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(single[0][0], _collect(_loader(records), 2)[0][0])  # another epoch differs


def test_cache_gives_same_samples(records):
    tf = TrainTransform(height=H, width=W)
    plain = CrossModalTrainDataset(records, transform=tf, seed=1)
    cached = CrossModalTrainDataset(records, transform=tf, seed=1, cache=True)
    cached.preload()
    assert len(cached._cache) == len(records)
    for item in [(0, 0, 1, 2), (0, 5, 3, 0), (2, 5, 3, 0)]:
        assert all(
            torch.equal(torch.as_tensor(a), torch.as_tensor(b)) for a, b in zip(plain[item], cached[item], strict=True)
        )
    assert not torch.equal(plain[(0, 5, 3, 0)][0], plain[(1, 5, 3, 0)][0])  # epoch enters the seed


def test_test_loader_keeps_order(records):
    loader = build_test_loader(records, height=H, width=W, batch_size=5)
    imgs, pids, camids = zip(*loader, strict=True)
    assert torch.cat(imgs).shape == (len(records), 3, H, W)
    assert torch.cat(pids).tolist() == [r.pid for r in records]
    assert torch.cat(camids).tolist() == [r.camid for r in records]


def test_bad_training_data(records, tmp_path):
    with pytest.raises(DatasetError, match="no infrared images"):
        CrossModalTrainDataset([r for r in records if r.modality == "visible"], transform=TrainTransform())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8garbage")
    recs = [Record(str(broken), 5, 1, "visible")] + [r for r in records if r.modality == "infrared"]
    ds = CrossModalTrainDataset(recs, transform=TrainTransform(height=H, width=W))
    with pytest.raises(DatasetError, match=r"broken\.jpg: cannot decode image"):
        ds[(0, 0, 0, 0)]


def test_train_batches_resume_from_index(records):
    from vireid.data.loaders import TrainBatches

    data = TrainBatches(_loader(records, batches_per_epoch=4), seed=0)
    assert data.steps_per_epoch == 4 and data.num_classes == 4
    full = [b[0].clone() for b in data.batches(2)]
    tail = [b[0].clone() for b in data.batches(2, start=3)]
    assert len(full) == 4 and len(tail) == 1 and torch.equal(full[3], tail[0])
