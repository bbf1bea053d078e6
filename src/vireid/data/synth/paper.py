"""The official datasets' counts, for ``vireid synth --scale paper`` (or a fraction of them).

A *paper-scale* synthetic dataset has the real dataset's identities, cameras, training and test
image counts, splits and crop sizes, in its official layout, so that everything that grows with
the data (indexing, the sampler's epoch, evaluation, file sizes) can be rehearsed without the
real images.  ``scale`` in (0, 1] multiplies the identity and image counts (each rounded, at
least one identity per split and one image per identity and camera present).

**SYSU-MM01** (Wu et al., ICCV 2017; the split of ``exp/{train,val,test}_id.txt`` that DEEN's
and AGW's ``pre_process_sysu.py`` / ``data_manager.py`` read):

* 491 identities: 296 train + 99 val (trained on together: 395) and 96 test;
* training: 22,258 visible images (cameras 1, 2, 4, 5) and 11,909 infrared (cameras 3, 6) --
  the counts the authors' ``train.py`` prints (``visible | 395 | 22258``, ``thermal | 395 |
  11909``);
* test: 3,803 infrared query images of the 96 ids (``query | 96 | 3803``) and 6,775 visible
  images (the 384 + 6,391 visible test images the Market-format conversions of SYSU-MM01
  list); an all-search single-shot gallery of 301 images per trial (``gallery | 96 | 301``:
  301 (identity, visible camera) pairs) and an indoor gallery of 112 (56 identities seen by
  both indoor cameras 1 and 2);
* crops: heights 192-448 px, about 2:1 (an estimate of the released crops' spread).

**RegDB** (Nguyen et al., Sensors 2017; the ten-trial protocol of Ye et al.): 412 identities,
each with 10 visible and 10 thermal images (simultaneous pairs), 64 x 128 px; each trial splits
the ids 206 train / 206 test (``visible | 206 | 2060``, ``query | 206 | 2060``).

**LLCM** (Zhang & Wang, CVPR 2023; ``github.com/ZYK100/LLCM``): 1,064 identities and 46,767
images from 9 cameras (README); 713 training ids with 30,921 images (16,946 visible + 13,975
near-infrared) and 351 test ids with 15,846 (8,680 visible + 7,166 near-infrared); visible
cameras 1-9, near-infrared cameras 1, 2, 4-9 (``DEEN/data_manager.py``); crops 128-384 px high.

Verified against the authors' code or printed logs: SYSU-MM01's 395 / 22,258 / 11,909 training,
96 / 3,803 query and 96 / 301 gallery counts, RegDB's 206 / 2,060 per split, LLCM's 1,064 ids,
46,767 images and camera lists.  Not verified here (no copy of the datasets or the paper's
table was reachable): SYSU-MM01's 6,775 visible test images and 112-image indoor gallery, LLCM's
per-modality split (16,946 / 13,975 / 8,680 / 7,166), and every crop size.  Which identity
appears in which camera is modelled (SYSU: 56 of 96 test ids indoors, as the indoor gallery
implies; LLCM: each camera with probability 0.55), not copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vireid.data.synth.layouts import ImageJob, Plan, _ids_line, _presence, _rng, _split_ids, cameras_of, plan_regdb
from vireid.errors import ConfigError


@dataclass(frozen=True)
class PaperCounts:
    """One layout's counts at ``scale`` (what :func:`paper_plan` writes)."""

    layout: str
    num_ids: int
    train_ids: int
    test_ids: int
    train_visible: int
    train_infrared: int
    test_visible: int
    test_infrared: int
    height_range: tuple[int, int]
    width: int | None = None  # a fixed crop width (RegDB), else about height / 2
    val_ids: int = 0  # SYSU-MM01: part of the training ids, listed in exp/val_id.txt

    @property
    def num_images(self) -> int:
        return self.train_visible + self.train_infrared + self.test_visible + self.test_infrared


# (ids, train ids, test ids, train visible, train infrared, test visible, test infrared) at scale 1
_FULL = {
    "sysu": (491, 395, 96, 22258, 11909, 6775, 3803),
    "regdb": (412, 206, 206, 2060, 2060, 2060, 2060),
    "llcm": (1064, 713, 351, 16946, 13975, 8680, 7166),
}
SYSU_VAL_IDS = 99  # of the 395 training ids (exp/val_id.txt)
SYSU_INDOOR_SHARE = 56 / 96  # test ids seen by the indoor cameras (112-image indoor gallery)
SYSU_MISSING_OUTDOOR = 3  # (id, camera 4 or 5) pairs absent among the test ids: 2 * 96 + 112 - 301
HEIGHTS = {"sysu": (192, 448), "regdb": (128, 128), "llcm": (128, 384)}
WIDTHS = {"regdb": 64}
REGDB_IMAGES_PER_ID = 10


def parse_scale(value: object) -> float:
    """``"paper"`` -> 1.0; a number in (0, 1] as it is; anything else a :class:`ConfigError`."""
    if isinstance(value, str) and value.strip().lower() == "paper":
        return 1.0
    try:
        scale = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"scale must be 'paper' or a fraction in (0, 1], got {value!r}") from None
    if not 0.0 < scale <= 1.0:
        raise ConfigError(f"scale must be 'paper' or a fraction in (0, 1], got {value!r}")
    return scale


def _n(value: int, scale: float, least: int = 1) -> int:
    return max(least, int(round(value * scale)))


def paper_counts(layout: str, scale: float = 1.0) -> PaperCounts:
    """The counts :func:`paper_plan` writes for ``layout`` at ``scale``."""
    if layout not in _FULL:
        raise ConfigError(f"unknown layout {layout!r}; expected one of {', '.join(_FULL)}")
    ids, tr, te, tv, ti, sv, si = _FULL[layout]
    if layout == "regdb":  # ids split in half per trial; 10 + 10 images each
        half = _n(ids // 2, scale, least=2)
        n = REGDB_IMAGES_PER_ID * half
        return PaperCounts(layout, 2 * half, half, half, n, n, n, n, HEIGHTS[layout], WIDTHS[layout])
    n_tr, n_te = _n(tr, scale, least=2), _n(te, scale)
    return PaperCounts(
        layout,
        n_tr + n_te,
        n_tr,
        n_te,
        _n(tv, scale),
        _n(ti, scale),
        _n(sv, scale),
        _n(si, scale),
        HEIGHTS[layout],
        WIDTHS.get(layout),
        val_ids=min(n_tr - 1, max(1, int(round(SYSU_VAL_IDS * scale)))) if layout == "sysu" else 0,
    )


class _TooFew(ValueError):
    """Fewer images than the pairs that need one (a fraction of the counts too small)."""


def allocate(total: int, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` counts >= 1 summing to ``total`` (>= ``n``), spread around the mean by seeded weights."""
    if n < 1 or total < n:
        raise _TooFew(f"{total} images for {n} (identity, camera) pairs that need one each")
    weights = rng.uniform(0.5, 1.5, n)
    raw = weights / weights.sum() * (total - n)
    counts = np.floor(raw).astype(np.int64)
    rest = int(total - n - counts.sum())
    counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
    return [int(c) + 1 for c in counts]


def _jobs(
    pairs: list[tuple[int, int, str]], total: int, rng: np.random.Generator, path_of, code: int
) -> list[ImageJob]:
    """Images of (pid, camera, modality) ``pairs``, ``total`` in all; ``path_of(pid, cam, modality, k)``."""
    jobs = []
    for (pid, cam, modality), count in zip(pairs, allocate(total, len(pairs), rng), strict=True):
        m = 0 if modality == "visible" else 1
        for k in range(1, count + 1):
            jobs.append(
                ImageJob(
                    path_of(pid, cam, modality, k),
                    pid,
                    cam,
                    modality,
                    pose_key=(16, code, pid, cam * 2 + m, k),
                    photo_key=(17, code, pid, cam * 2 + m, k),
                )
            )
    return jobs


def _sysu_pairs(ids: list[int], modality: str, indoor: set[int], missing: set[tuple[int, int]]) -> list:
    cams = {"visible": ((1, 2), (4, 5)), "infrared": ((3,), (6,))}[modality]
    return [
        (pid, cam, modality)
        for pid in ids
        for cam in (cams[0] if pid in indoor else ()) + cams[1]
        if (pid, cam) not in missing
    ]


def plan_sysu_paper(seed: int, scale: float) -> Plan:
    """SYSU-MM01 at ``scale``: ids 1..N, test / val / train split, indoor ids in cameras 1, 2, 3."""
    c = paper_counts("sysu", scale)
    ids = list(range(1, c.num_ids + 1))
    train, val, test = _split_ids(seed, 11, ids, 0.0, c.val_ids / c.num_ids, num_test=c.test_ids)
    rng = _rng(seed, 12)
    indoor: set[int] = set()
    for group in (train + val, test):  # a seeded share of each split is seen indoors too
        k = _n(len(group), SYSU_INDOOR_SHARE)
        indoor.update(int(p) for p in rng.permutation(group)[:k])
    indoor_test = [p for p in test if p in indoor]
    n_missing = min(int(round(SYSU_MISSING_OUTDOOR * scale)), len(indoor_test))
    missing = {(int(p), 4 + int(rng.integers(2))) for p in rng.permutation(indoor_test)[:n_missing]}

    def path(pid: int, cam: int, modality: str, k: int) -> str:
        return f"cam{cam}/{pid:04d}/{k:04d}.jpg"

    learn = sorted(train + val)
    jobs = []
    for group, modality, total in (
        (learn, "visible", c.train_visible),
        (learn, "infrared", c.train_infrared),
        (test, "visible", c.test_visible),
        (test, "infrared", c.test_infrared),
    ):
        pairs = _sysu_pairs(group, modality, indoor, missing if group is test else set())
        jobs += _jobs(pairs, total, rng, path, code=1)
    texts = {"exp/train_id.txt": _ids_line(train), "exp/val_id.txt": _ids_line(val), "exp/test_id.txt": _ids_line(test)}
    return Plan(
        sorted(jobs, key=lambda j: j.relpath), texts, {cam: 0.0 for cam in cameras_of("sysu")}, train, test, val
    )


def plan_llcm_paper(seed: int, scale: float) -> Plan:
    """LLCM at ``scale``: each id in each camera with probability 0.55 (at least one per modality)."""
    c = paper_counts("llcm", scale)
    ids = list(range(1, c.num_ids + 1))
    train, _, test = _split_ids(seed, 13, ids, 0.0, num_test=c.test_ids)
    vis_cams = [cam for cam, m in cameras_of("llcm") if m == "visible"]
    nir_cams = [cam for cam, m in cameras_of("llcm") if m == "infrared"]
    cams = [(cam, "visible") for cam in vis_cams] + [(cam, "infrared") for cam in nir_cams]
    light_rng = _rng(seed, 9)
    low_light = {cam: float(light_rng.uniform(0.15, 0.6)) for cam in vis_cams}
    label_of = {pid: i for i, pid in enumerate(train)}
    rng = _rng(seed, 14)

    def path(pid: int, cam: int, modality: str, k: int) -> str:
        tag = "vis" if modality == "visible" else "nir"
        prefix = "train" if pid in label_of else "test"
        return f"{prefix}_{tag}/cam{cam}/{pid:04d}/{pid:04d}_c{cam:02d}_f{k:04d}_{tag}.jpg"

    jobs = []
    for group, modality, total in (
        (train, "visible", c.train_visible),
        (train, "infrared", c.train_infrared),
        (test, "visible", c.test_visible),
        (test, "infrared", c.test_infrared),
    ):
        pairs = [(pid, cam, m) for pid in group for cam, m in _presence(seed, 15, pid, cams, 0.55) if m == modality]
        jobs += _jobs(pairs, total, rng, path, code=3)
    jobs.sort(key=lambda j: j.relpath)
    lines = {
        m: [f"{j.relpath} {label_of[j.pid]}" for j in jobs if j.modality == m and j.pid in label_of]
        for m in ("visible", "infrared")
    }
    texts = {
        "idx/train_vis.txt": "\n".join(lines["visible"]) + "\n",
        "idx/train_nir.txt": "\n".join(lines["infrared"]) + "\n",
        "idx/test_id.txt": _ids_line(test),
    }
    cameras = {(cam, "visible"): low_light[cam] for cam in vis_cams}
    cameras.update({(cam, "infrared"): 0.0 for cam in nir_cams})
    return Plan(jobs, texts, cameras, train, test)


def paper_plan(layout: str, seed: int, scale: float) -> Plan:
    """The file plan of ``layout`` at ``scale`` of the official counts (:func:`paper_counts`); a
    fraction too small to give every (identity, camera) pair an image is a :class:`ConfigError`."""
    if layout == "regdb":
        c = paper_counts("regdb", scale)
        return plan_regdb(seed, c.num_ids, REGDB_IMAGES_PER_ID, c.test_ids)
    try:
        return {"sysu": plan_sysu_paper, "llcm": plan_llcm_paper}[layout](seed, scale)
    except _TooFew as e:
        raise ConfigError(f"scale {scale:g}: too small for the {layout} layout ({e}); give a larger fraction") from None
