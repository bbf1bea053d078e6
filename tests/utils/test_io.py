import os
import stat

import pytest
import torch

from vireid.errors import CheckpointError
from vireid.utils.io import (
    atomic_write,
    atomic_write_json,
    load_safetensors,
    load_state_dict_file,
    safe_torch_load,
    save_safetensors,
)


def test_atomic_write_keeps_old_file_on_crash(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(p, "w") as fh:
            fh.write("half")
            raise RuntimeError("crash")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["f.txt"]  # no temporary left behind


def test_atomic_write_permissions_follow_umask(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    mode = stat.S_IMODE(os.stat(tmp_path / "m.json").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_safetensors_round_trip(tmp_path):
    save_safetensors({"w": torch.arange(4.0)}, tmp_path / "w.safetensors", {"k": "v"})
    t, meta = load_safetensors(tmp_path / "w.safetensors")
    assert torch.equal(t["w"], torch.arange(4.0)) and meta == {"k": "v"}
    assert torch.equal(load_state_dict_file(tmp_path / "w.safetensors")["w"], torch.arange(4.0))


def test_unsafe_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    p = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, p)
    with pytest.raises(CheckpointError, match="does not unpickle"):
        safe_torch_load(p)
    with pytest.raises(CheckpointError, match="not found"):
        safe_torch_load(tmp_path / "missing.pth")


def test_a_random_file_gets_our_message_never_weights_only_false(tmp_path):
    p = tmp_path / "random.pth"
    p.write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError) as info:
        safe_torch_load(p)
    msg = str(info.value)
    assert "not a readable PyTorch weights file" in msg and "weights_only" not in msg and "\n" not in msg


def test_temporary_folders_get_ordinary_permissions(tmp_path):
    from vireid.utils.io import current_umask, make_temp_dir

    d = make_temp_dir(".x.", tmp_path)
    assert (d.stat().st_mode & 0o777) == 0o777 & ~current_umask()
