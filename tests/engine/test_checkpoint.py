import json
import random

import numpy as np
import pytest
import torch

from tests.engine.tiny import TinyReID
from vireid.core.checkpoints import resolve_checkpoint
from vireid.engine import checkpoint as ck
from vireid.errors import CheckpointError


def state(step):
    return {"step": step, "optimizer": {"m": torch.full((3,), float(step))}}


def test_save_and_load_last_and_best(tmp_path):
    model = TinyReID()
    mgr = ck.CheckpointManager(tmp_path)
    mgr.save_last(model, state(1), step=1, metadata={"kwargs": {"num_classes": 4}})
    mgr.save_last(model, state(2), step=2)
    assert [p.name for p in tmp_path.glob("step-*")] == ["step-00000002"]  # older one pruned
    tensors, meta, st = mgr.load_last()
    assert meta["step"] == 2 and torch.equal(st["optimizer"]["m"], torch.full((3,), 2.0))
    assert all(torch.equal(tensors[k], v) for k, v in model.state_dict().items())
    best = mgr.save_best(model, {"metrics": {"rank1": 0.5}})
    assert ck.read_weights(best)[1]["metrics"] == {"rank1": 0.5}
    assert resolve_checkpoint(tmp_path) == best
    assert resolve_checkpoint(tmp_path / "last.json") == tmp_path / "step-00000002" / ck.WEIGHTS


def test_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = TinyReID()
    mgr = ck.CheckpointManager(tmp_path)
    mgr.save_last(model, state(1), step=1)
    real_save = torch.save

    def crashing_save(obj, fh, *a, **k):
        fh.write(b"half a checkpoint")  # partial bytes, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crashing_save)
    original = model.classifier.weight.detach().clone()
    with torch.no_grad():
        model.classifier.weight.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        mgr.save_last(model, state(2), step=2)
    monkeypatch.setattr(torch, "save", real_save)
    # the pointer still names step 1, which is complete and unchanged
    assert json.loads((tmp_path / "last.json").read_text())["step"] == 1
    tensors, meta, st = ck.CheckpointManager(tmp_path).load_last()
    assert meta["step"] == 1 and st["step"] == 1
    assert torch.equal(tensors["classifier.weight"], original)
    assert not list(tmp_path.rglob("*.tmp"))  # no temporary files left behind
    # the next save at the same step replaces the debris
    mgr.save_last(model, state(2), step=2)
    assert ck.CheckpointManager(tmp_path).load_last()[1]["step"] == 2


def test_incomplete_pointer_target_is_an_error(tmp_path):
    (tmp_path / "step-00000005").mkdir()
    (tmp_path / "last.json").write_text('{"dir": "step-00000005", "step": 5}')
    with pytest.raises(CheckpointError, match="incomplete"):
        ck.CheckpointManager(tmp_path).load_last()


def test_rng_states_round_trip_with_weights_only_load(tmp_path):
    gen = torch.Generator().manual_seed(3)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    saved = ck.rng_state({"g": gen})
    from vireid.utils.io import atomic_torch_save, safe_torch_load

    atomic_torch_save(saved, tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1), torch.rand(1, generator=gen))
    random.seed(9), np.random.seed(9), torch.manual_seed(9), gen.manual_seed(9)
    ck.set_rng_state(safe_torch_load(tmp_path / "rng.pt"), {"g": gen})
    got = (random.random(), np.random.rand(), torch.rand(1), torch.rand(1, generator=gen))
    assert got[0] == expected[0] and got[1] == expected[1]
    assert torch.equal(got[2], expected[2]) and torch.equal(got[3], expected[3])


def test_architecture_mismatch_is_reported(tmp_path):
    ck.save_weights(TinyReID(num_classes=4), tmp_path / "m.safetensors")
    tensors, _ = ck.read_weights(tmp_path / "m.safetensors")
    with pytest.raises(
        CheckpointError, match=r"shape-mismatched key\(s\): classifier.weight: checkpoint \(4, 8\) vs model \(5, 8\)"
    ):
        ck.load_weights_into(TinyReID(num_classes=5), tensors, "m.safetensors")


@pytest.mark.parametrize("pointer", ['{"dir": "../../elsewhere", "step": 1}', "[1, 2]", '{"step": 1}'])
def test_a_pointer_that_names_no_step_folder_is_refused(tmp_path, pointer):
    (tmp_path / "last.json").write_text(pointer)
    with pytest.raises(CheckpointError, match="last.json"):
        ck.CheckpointManager(tmp_path).last_dir()


@pytest.mark.parametrize(
    ("pointer", "said"),
    [
        ("{garbage", r"not valid JSON \(Expecting property name enclosed in double quotes at line 1 column 2\)"),
        ("[1, 2]", r"not a vireid checkpoint pointer \(an array\)"),
        ('{"step": 1}', r"not a vireid checkpoint pointer \(an object without 'dir'\)"),
        (b"\xff\xfe{", r"not text \(not UTF-8\)"),
    ],
)
def test_an_unreadable_pointer_says_what_it_is_and_what_was_expected(tmp_path, pointer, said):
    path = tmp_path / "last.json"
    path.write_bytes(pointer if isinstance(pointer, bytes) else pointer.encode())
    with pytest.raises(CheckpointError, match=rf"last\.json: {said}; expected the checkpoint pointer vireid writes"):
        ck.CheckpointManager(tmp_path).last_dir()
