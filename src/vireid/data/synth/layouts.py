"""File plans for the three official layouts, mirrored from the real datasets.

A plan lists every image to render (relative path, identity, camera, modality, index) and the
text of every index file.  Layouts:

The cameras of each layout are the dataset class's (``SYSUMM01.cameras``, ``LLCM.cameras``).

* **SYSU-MM01** ``cam{1..6}/{pid:04d}/{nnnn}.jpg`` (visible 1, 2, 4, 5; infrared 3, 6) and
  ``exp/{train_id,val_id,test_id}.txt``, one comma-separated line each.  An identity appears in
  each camera with probability 0.9 (at least one camera per modality), as in the real set where
  not every person passes every camera.
* **RegDB** ``Visible/{pid}/{gender}_{view}_v_{serial:05d}_{pid}.bmp`` and
  ``Thermal/{pid}/{gender}_{view}_t_{serial:05d}_{pid}.bmp`` (names follow the real files, e.g.
  ``Visible/1/female_back_v_06341_1.bmp``); visible/thermal image ``k`` of a person are a
  simultaneous pair (same pose and serial), viewpoints front/back only as in RegDB.
  ``idx/{train,test}_{visible,thermal}_{1..10}.txt`` hold ``relative/path label`` lines; each
  trial is its own random half/half identity split and, as in the released files, labels are
  relabelled 0..C-1 within each split (the folder keeps the dataset's own id).
* **LLCM** ``idx/train_vis.txt`` / ``idx/train_nir.txt`` (``path label``, paths relative to the
  root like ``train_vis/cam3/0007/0007_c03_f0001_vis.jpg``, labels 0..C-1 over the training ids),
  ``idx/test_id.txt`` (one comma-separated line) and test images under
  ``test_vis/cam{1..9}/{pid:04d}/`` and ``test_nir/cam{1,2,4..9}/{pid:04d}/`` — the camera lists of
  the authors' ``DEEN/data_manager.py`` (no infrared cam3).  Each visible camera has its own
  probability of low-light captures (0.15–0.6).

Identity splits are seeded permutations: SYSU 40 % test / 10 % val / 50 % train, RegDB half/half
per trial, LLCM 40 % test.  (The real SYSU tests on ~20 % of its ids; a larger test share keeps
the gallery of a small synthetic preset meaningful.)  ``num_test`` fixes the number of test
identities instead (e.g. the demo: 160 ids, 32 for test, the rest to learn from).  Ids are 1..N.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LAYOUTS: tuple[str, ...] = ("sysu", "regdb", "llcm")
DEFAULT_IMAGES_PER_ID_PER_CAM = {"sysu": 4, "regdb": 8, "llcm": 3}
REGDB_TRIALS = range(1, 11)


def cameras_of(layout: str) -> list[tuple[int, str]]:
    """``(camera id, modality)`` of every camera of the dataset class ``layout`` (its ``cameras``), by
    camera id then visible first.  Imported here, not at the top: rendering workers import this
    module and must not import torch."""
    from vireid.data.datasets import DATASETS

    cams = DATASETS.get(layout).cameras
    return sorted(
        ((c, m) for m in ("visible", "infrared") for c in cams[m]), key=lambda cm: (cm[0], cm[1] != "visible")
    )


@dataclass(frozen=True)
class ImageJob:
    """One image to render: where, who, which camera, and the keys of its random streams."""

    relpath: str
    pid: int
    camid: int
    modality: str
    pose_key: tuple[int, ...]  # seeds the geometry stream (shared by a RegDB pair)
    photo_key: tuple[int, ...]  # seeds the photographic stream
    viewpoints: tuple[str, ...] = ("front", "back", "side")


@dataclass
class Plan:
    jobs: list[ImageJob]
    texts: dict[str, str]
    cameras: dict[tuple[int, str], float]  # (camid, modality) -> low-light probability
    train_ids: list[int]
    test_ids: list[int]
    val_ids: list[int] = field(default_factory=list)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, key)]))


def _split_ids(
    seed: int, tag: int, ids: list[int], test_fraction: float, val_fraction: float = 0.0, num_test: int | None = None
) -> tuple[list[int], list[int], list[int]]:
    perm = [ids[i] for i in _rng(seed, 3, tag).permutation(len(ids))]
    n_test = max(1, int(round(test_fraction * len(ids)))) if num_test is None else int(num_test)
    n_val = int(round(val_fraction * len(ids)))
    test, val, train = perm[:n_test], perm[n_test : n_test + n_val], perm[n_test + n_val :]
    return sorted(train), sorted(val), sorted(test)


def _presence(seed: int, tag: int, pid: int, cams: list[tuple[int, str]], p: float) -> list[tuple[int, str]]:
    """Cameras in which ``pid`` appears: each with probability ``p``, at least one per modality."""
    rng = _rng(seed, 4, tag, pid)
    keep = [cam for cam, r in zip(cams, rng.random(len(cams)), strict=True) if r < p]
    for modality in ("visible", "infrared"):
        of_mod = [cam for cam in cams if cam[1] == modality]
        if not any(cam[1] == modality for cam in keep):
            keep.append(of_mod[int(rng.integers(len(of_mod)))])
    return sorted(keep)


def _ids_line(ids: list[int]) -> str:
    return ",".join(str(i) for i in ids) + "\n"


def plan_sysu(seed: int, num_ids: int, per_cam: int, num_test: int | None = None) -> Plan:
    ids = list(range(1, num_ids + 1))
    train, val, test = _split_ids(seed, 1, ids, test_fraction=0.4, val_fraction=0.1, num_test=num_test)
    cams = cameras_of("sysu")
    jobs = []
    for pid in ids:
        for cam, modality in _presence(seed, 1, pid, cams, 0.9):
            for k in range(1, per_cam + 1):
                jobs.append(
                    ImageJob(
                        f"cam{cam}/{pid:04d}/{k:04d}.jpg",
                        pid,
                        cam,
                        modality,
                        pose_key=(6, 1, pid, cam, k),
                        photo_key=(7, 1, pid, cam, k),
                    )
                )
    texts = {"exp/train_id.txt": _ids_line(train), "exp/val_id.txt": _ids_line(val), "exp/test_id.txt": _ids_line(test)}
    return Plan(jobs, texts, {cam: 0.0 for cam in cams}, train, test, val)


def plan_regdb(seed: int, num_ids: int, per_cam: int, num_test: int | None = None) -> Plan:
    ids = list(range(1, num_ids + 1))
    from vireid.data.synth.identity import sample_identity  # gender is part of the file name

    jobs, names = [], {}
    serial = 0
    for pid in ids:
        gender = sample_identity(seed, pid).gender  # the gender draw does not depend on difficulty
        view_rng = _rng(seed, 8, pid)
        for k in range(1, per_cam + 1):
            serial += 1
            view = "front" if view_rng.random() < 0.5 else "back"
            for camid, modality, folder, letter in ((1, "visible", "Visible", "v"), (2, "infrared", "Thermal", "t")):
                rel = f"{folder}/{pid}/{gender}_{view}_{letter}_{serial:05d}_{pid}.bmp"
                names.setdefault((pid, modality), []).append(rel)
                jobs.append(
                    ImageJob(
                        rel,
                        pid,
                        camid,
                        modality,
                        pose_key=(6, 2, pid, 0, k),
                        photo_key=(7, 2, pid, camid, k),
                        viewpoints=(view,),
                    )
                )
    texts = {}
    for trial in REGDB_TRIALS:
        train, _, test = _split_ids(seed, 100 + trial, ids, test_fraction=0.5, num_test=num_test)
        for split, split_ids in (("train", train), ("test", test)):
            for modality, word in (("visible", "visible"), ("infrared", "thermal")):
                lines = [f"{rel} {label}" for label, pid in enumerate(split_ids) for rel in names[(pid, modality)]]
                texts[f"idx/{split}_{word}_{trial}.txt"] = "\n".join(lines) + "\n"
    train1, _, test1 = _split_ids(seed, 101, ids, test_fraction=0.5, num_test=num_test)
    return Plan(jobs, texts, {(1, "visible"): 0.0, (2, "infrared"): 0.0}, train1, test1)


def plan_llcm(seed: int, num_ids: int, per_cam: int, num_test: int | None = None) -> Plan:
    ids = list(range(1, num_ids + 1))
    train, _, test = _split_ids(seed, 3, ids, test_fraction=0.4, num_test=num_test)
    test_set = set(test)
    vis_cams = [c for c, m in cameras_of("llcm") if m == "visible"]
    nir_cams = [c for c, m in cameras_of("llcm") if m == "infrared"]
    cams = [(c, "visible") for c in vis_cams] + [(c, "infrared") for c in nir_cams]
    light_rng = _rng(seed, 9)
    low_light = {cam: float(light_rng.uniform(0.15, 0.6)) for cam in vis_cams}
    label_of = {pid: i for i, pid in enumerate(train)}
    jobs, lines = [], {"visible": [], "infrared": []}
    for pid in ids:
        for cam, modality in _presence(seed, 3, pid, cams, 0.55):
            mod_tag = "vis" if modality == "visible" else "nir"
            prefix = "test" if pid in test_set else "train"
            for k in range(1, per_cam + 1):
                rel = f"{prefix}_{mod_tag}/cam{cam}/{pid:04d}/{pid:04d}_c{cam:02d}_f{k:04d}_{mod_tag}.jpg"
                mcode = 0 if modality == "visible" else 1
                jobs.append(
                    ImageJob(
                        rel,
                        pid,
                        cam,
                        modality,
                        pose_key=(6, 3, pid, cam * 2 + mcode, k),
                        photo_key=(7, 3, pid, cam * 2 + mcode, k),
                    )
                )
                if prefix == "train":
                    lines[modality].append(f"{rel} {label_of[pid]}")
    texts = {
        "idx/train_vis.txt": "\n".join(lines["visible"]) + "\n",
        "idx/train_nir.txt": "\n".join(lines["infrared"]) + "\n",
        "idx/test_id.txt": _ids_line(test),
    }
    cameras = {(c, "visible"): low_light[c] for c in vis_cams}
    cameras.update({(c, "infrared"): 0.0 for c in nir_cams})
    return Plan(jobs, texts, cameras, train, test)


def make_plan(layout: str, seed: int, num_ids: int, per_cam: int, num_test: int | None = None) -> Plan:
    """The layout's plan; ``num_test`` test identities instead of the default share."""
    return {"sysu": plan_sysu, "regdb": plan_regdb, "llcm": plan_llcm}[layout](seed, num_ids, per_cam, num_test)
