"""Tiny datasets in the official layouts, written by the tests themselves.

Folder contents are deterministic (fixed ids, counts and missing folders) so
that golden gallery lists produced by the authors' code stay valid
(``tests/fixtures/data_gallery_golden.json``).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

SYSU_TRAIN, SYSU_VAL, SYSU_TEST = [3, 1, 2, 4], [5], [10, 6, 8, 7]
LLCM_TEST = [12, 3, 1]
LLCM_TRAIN = {20: 0, 21: 1, 22: 2}


def write_image(path: Path, value: int = 0, size: tuple[int, int] = (4, 8), mode: str = "RGB") -> None:
    """A small solid image (width, height) whose colour encodes ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = ((value * 37) % 256, (value * 91) % 256, (value * 53) % 256)
    Image.new("RGB", size, color).convert(mode).save(path)


def sysu_count(pid: int, cam: int) -> int:
    """Images of (pid, cam); 0 means the folder does not exist."""
    if (pid + cam) % 7 == 0:
        return 0
    return 1 + (pid * 7 + cam * 3) % 5


def make_sysu(root: Path) -> Path:
    exp = root / "exp"
    exp.mkdir(parents=True, exist_ok=True)
    for name, ids in (("train_id", SYSU_TRAIN), ("val_id", SYSU_VAL), ("test_id", SYSU_TEST)):
        (exp / f"{name}.txt").write_text(",".join(str(i) for i in ids) + "\n")
    for pid in SYSU_TRAIN + SYSU_VAL + SYSU_TEST:
        for cam in range(1, 7):
            for k in range(1, sysu_count(pid, cam) + 1):
                write_image(root / f"cam{cam}" / f"{pid:04d}" / f"{k:04d}.jpg", pid * 10 + cam)
    return root


def llcm_count(pid: int, cam: int, modality: str) -> int:
    if modality == "infrared" and cam == 3:
        return 0
    if (pid + cam) % 5 == 0:
        return 0
    return 1 + (pid * 3 + cam + (modality == "infrared")) % 4


def make_llcm(root: Path) -> Path:
    idx = root / "idx"
    idx.mkdir(parents=True, exist_ok=True)
    (idx / "test_id.txt").write_text(",".join(str(i) for i in LLCM_TEST) + "\n")
    for top, modality in (("test_vis", "visible"), ("test_nir", "infrared")):
        for pid in LLCM_TEST:
            for cam in range(1, 10):
                for k in range(1, llcm_count(pid, cam, modality) + 1):
                    name = f"{pid:04d}_c{cam:02d}_{k:03d}.jpg"
                    write_image(root / top / f"cam{cam}" / f"{pid:04d}" / name, pid + cam)
    (root / "test_nir" / "cam4" / "0001").mkdir(parents=True, exist_ok=True)  # exists but empty
    for name, top in (("train_vis", "train_vis"), ("train_nir", "train_nir")):
        lines = []
        for pid, label in LLCM_TRAIN.items():
            for k in range(3):
                rel = f"{top}/cam{1 + k}/{pid:04d}/{k:03d}.jpg"
                write_image(root / rel, pid)
                lines.append(f"{rel} {label}")
        (idx / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root


def make_regdb(root: Path, trials=(1, 2), ids_per_split: int = 3, per_id: int = 2) -> Path:
    idx = root / "idx"
    idx.mkdir(parents=True, exist_ok=True)
    all_ids = list(range(2 * ids_per_split))
    for trial in trials:
        # each trial takes a different half of the ids for training
        train = [i for i in all_ids if (i + trial) % 2 == 0]
        test = [i for i in all_ids if (i + trial) % 2 == 1]
        for split, ids in (("train", train), ("test", test)):
            for folder, modal in (("Visible", "visible"), ("Thermal", "thermal")):
                lines = []
                for label, pid in enumerate(ids) if split == "train" else ((p, p) for p in ids):
                    for k in range(per_id):
                        rel = f"{folder}/{pid + 1}/{modal}_{pid + 1}_{k}.bmp"
                        if not (root / rel).exists():
                            write_image(root / rel, pid)
                        lines.append(f"{rel} {label}")
                (idx / f"{split}_{modal}_{trial}.txt").write_text("\n".join(lines) + "\n")
    return root
