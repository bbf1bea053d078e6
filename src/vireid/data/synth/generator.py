"""``generate`` / ``ensure_dataset``: write a synthetic VI-ReID dataset in an official layout.

Determinism: every image draws from two numpy Generators seeded by ``SeedSequence`` keys derived
from ``(seed, layout, identity, camera, image index)`` — one for geometry, one for photography —
so the files are byte-identical for a seed whatever the number of worker processes (given
the same numpy and Pillow versions: their generators and JPEG encoder define the bytes).

Atomicity: the dataset is rendered into a private staging folder next to ``out`` and renamed
into place at the end, so an interrupted run (or a full disk) never leaves a half dataset.  The staging folder
*is* the atomic unit: images inside it are written directly (an fsync per image, as
:func:`vireid.utils.io.atomic_write` does, would make generation I/O-bound), while the index
files and ``synth.json`` go through :func:`~vireid.utils.io.atomic_write_text`.
``synth.json`` records the generator parameters; :func:`ensure_dataset` uses it as a cache key.
``synth_files.txt`` lists every file written: replacing the dataset (``force``) removes those and
refuses when anything else is there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Sequence

import numpy as np
from PIL import Image

from vireid.core.checks import check_kwargs
from vireid.core.params import MAX_WORKERS, Ascending, Check, Params, Range, declared_params
from vireid.data.synth.camera import Camera, make_camera
from vireid.data.synth.identity import Identity, sample_identity
from vireid.data.synth.layouts import DEFAULT_IMAGES_PER_ID_PER_CAM, LAYOUTS, ImageJob, make_plan
from vireid.data.synth.render import render, sample_pose
from vireid.errors import ConfigError, DatasetError

# vireid.utils.io imports torch (3 s); it is imported inside generate() so that spawned
# rendering workers, which import this module, start in a fraction of a second.

GENERATOR_VERSION = 3  # part of the cache key: bump whenever the bytes written for given parameters change
META_FILE = "synth.json"
FILES_LIST = "synth_files.txt"  # every file the generator wrote, one relative path a line
DEFAULT_NUM_IDS = 80
DEFAULT_HEIGHT_RANGE = (96, 160)


@dataclass
class SynthSummary:
    """What :func:`generate` wrote (``cached`` when :func:`ensure_dataset` reused it)."""

    root: Path
    layout: str
    params: dict[str, Any]
    num_ids: int
    num_images: int
    num_visible: int
    num_infrared: int
    num_low_light: int
    num_occluded: int
    train_ids: list[int]
    test_ids: list[int]
    val_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False

    @property
    def images_per_second(self) -> float:
        return self.num_images / self.seconds if self.seconds > 0 else float("nan")

    def to_json(self) -> dict[str, Any]:
        keys = (
            "layout",
            "params",
            "num_ids",
            "num_images",
            "num_visible",
            "num_infrared",
            "num_low_light",
            "num_occluded",
            "train_ids",
            "test_ids",
            "val_ids",
        )
        return {k: getattr(self, k) for k in keys}


def _is_scale(value: Any) -> bool:
    from vireid.data.synth.paper import parse_scale

    try:
        parse_scale(value)
    except ConfigError:
        return False
    return True


_OPTION_NAMES = {"height_range": "--min-height/--max-height"}


def param_name(key: str, option: str = "data.root") -> str:
    """A generator parameter as its caller spells it: ``synth.num_test_ids`` in a config, the
    option ``--num-test-ids`` when ``option`` (what names the output) is a command-line option."""
    if option.startswith("--"):
        return _OPTION_NAMES.get(key, "--" + key.replace("_", "-"))
    return f"synth.{key}"


def _paper_params(layout: str, checked: dict[str, Any], option: str) -> dict[str, Any]:
    """The cache key of a paper-scale dataset (``scale`` given; the counts it fixes not given)."""
    from vireid.data.synth.paper import paper_counts, parse_scale

    fixed = ("num_ids", "images_per_id_per_cam", "height_range", "num_test_ids")
    clash = [param_name(k, option) for k in fixed if checked.get(k) is not None]
    if clash:
        raise ConfigError(
            f"{param_name('scale', option)}{' ' if option.startswith('--') else '='}{checked['scale']!r} takes the "
            f"official dataset's counts and crop sizes; {', '.join(clash)} cannot be set with it"
        )
    scale = parse_scale(checked["scale"])
    counts = paper_counts(layout, scale)
    params = {
        "layout": layout,
        "scale": scale,
        "seed": int(checked["seed"]),
        "difficulty": float(checked["difficulty"]),
        "height_range": list(counts.height_range),
        "version": GENERATOR_VERSION,
    }
    if counts.width is not None:
        params["width"] = counts.width
    return params


def resolve_params(
    layout: str,
    num_ids: Annotated[int | None, Range(4, 9999)] = None,
    seed: Annotated[int, Range(0, 2**63, hi_open=True)] = 0,
    difficulty: Annotated[float, Range(0, 1)] = 0.5,
    images_per_id_per_cam: Annotated[int | None, Range(1, 10000)] = None,
    height_range: Annotated[tuple[int, int] | None, Range(32, 1024), Ascending()] = None,
    num_test_ids: Annotated[int | None, Range(1)] = None,
    scale: Annotated[str | float | None, Check(_is_scale, "'paper' or a fraction in (0, 1]")] = None,
) -> dict[str, Any]:
    """Validate the generator parameters (their declared types and ranges, named ``synth.<key>`` in
    errors; :func:`generate` names them as its caller's options) and return them normalised (the
    cache key).  ``num_ids`` defaults to
    :data:`DEFAULT_NUM_IDS` and ``height_range`` to :data:`DEFAULT_HEIGHT_RANGE`.

    ``scale`` (``"paper"`` or a fraction in (0, 1]) takes the official dataset's counts and crop
    sizes (:mod:`vireid.data.synth.paper`); it fixes ``num_ids``, ``images_per_id_per_cam``,
    ``height_range`` and ``num_test_ids``, which may then not be given.
    """
    return _resolve(layout, num_ids, seed, difficulty, images_per_id_per_cam, height_range, num_test_ids, scale)


def _resolve(
    layout, num_ids, seed, difficulty, images_per_id_per_cam, height_range, num_test_ids, scale, option="data.root"
) -> dict[str, Any]:
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    given = dict(
        num_ids=int(num_ids) if isinstance(num_ids, np.integer) else num_ids,
        seed=int(seed) if isinstance(seed, np.integer) else seed,
        difficulty=difficulty,
        images_per_id_per_cam=images_per_id_per_cam,
        height_range=height_range,
        num_test_ids=num_test_ids,
        scale=scale,
    )
    checked = check_kwargs(declared_params(resolve_params, skip=("layout",)), given, "synth")
    seed, difficulty = checked["seed"], checked["difficulty"]
    if checked["scale"] is not None:
        return _paper_params(layout, checked, option)
    num_ids = DEFAULT_NUM_IDS if checked["num_ids"] is None else checked["num_ids"]
    per_cam = DEFAULT_IMAGES_PER_ID_PER_CAM[layout] if images_per_id_per_cam is None else images_per_id_per_cam
    lo, hi = DEFAULT_HEIGHT_RANGE if checked["height_range"] is None else checked["height_range"]
    if num_test_ids is not None and not int(num_test_ids) <= int(num_ids) - 2:
        raise ConfigError(
            f"{param_name('num_test_ids', option)}: must be <= {param_name('num_ids', option)} - 2 = "
            f"{int(num_ids) - 2}, got {num_test_ids!r}"
        )
    params = {
        "layout": layout,
        "num_ids": int(num_ids),
        "seed": int(seed),
        "difficulty": float(difficulty),
        "images_per_id_per_cam": int(per_cam),
        "height_range": [lo, hi],
        "version": GENERATOR_VERSION,
    }
    if num_test_ids is not None:  # absent by default: datasets cached before this option stay valid
        params["num_test_ids"] = int(num_test_ids)
    return params


def make_params_plan(params: dict[str, Any]):
    """The file plan of normalised ``params`` (:func:`resolve_params`)."""
    if "scale" in params:
        from vireid.data.synth.paper import paper_plan

        return paper_plan(params["layout"], params["seed"], params["scale"])
    return make_plan(
        params["layout"], params["seed"], params["num_ids"], params["images_per_id_per_cam"], params.get("num_test_ids")
    )


def scene_shape(height_range: Sequence[int]) -> tuple[int, int]:
    """Camera scenes are larger than any crop (height up to max, width up to max / 1.8)."""
    hi = int(height_range[1])
    return hi + 24, 2 * (int(np.ceil(hi / 1.8)) + 1) + 24


_IDENTITIES: dict[tuple, Identity] = {}
_CAMERAS: dict[tuple, Camera] = {}


def _identity(seed: int, pid: int, difficulty: float) -> Identity:
    key = (seed, pid, difficulty)
    if key not in _IDENTITIES:
        if len(_IDENTITIES) > 20000:
            _IDENTITIES.clear()
        _IDENTITIES[key] = sample_identity(seed, pid, difficulty)
    return _IDENTITIES[key]


def _camera(params: dict, camid: int, modality: str, low_light: float) -> Camera:
    key = (
        params["seed"],
        params["layout"],
        camid,
        modality,
        params["difficulty"],
        tuple(params["height_range"]),
        low_light,
    )
    if key not in _CAMERAS:
        if len(_CAMERAS) > 256:
            _CAMERAS.clear()
        _CAMERAS[key] = make_camera(
            params["seed"],
            params["layout"],
            camid,
            modality,
            params["difficulty"],
            scene_shape(params["height_range"]),
            low_light,
        )
    return _CAMERAS[key]


def render_job(params: dict, job: ImageJob, low_light: float) -> tuple[np.ndarray, dict]:
    """Render one planned image (pure function of ``params`` and ``job``)."""
    seed, difficulty = params["seed"], params["difficulty"]
    pose_rng = np.random.default_rng(np.random.SeedSequence([seed, *job.pose_key]))
    photo_rng = np.random.default_rng(np.random.SeedSequence([seed, *job.photo_key]))
    pose = sample_pose(pose_rng, tuple(params["height_range"]), difficulty, job.viewpoints, params.get("width"))
    return render(
        _identity(seed, job.pid, difficulty),
        _camera(params, job.camid, job.modality, low_light),
        pose,
        photo_rng,
        difficulty,
    )


def _render_chunk(
    params: dict, staging: str, jobs: list[ImageJob], low_light: dict[tuple[int, str], float]
) -> tuple[int, int]:
    n_low = n_occ = 0
    for job in jobs:
        img, info = render_job(params, job, low_light[(job.camid, job.modality)])
        path = os.path.join(staging, job.relpath)
        if job.relpath.endswith(".bmp"):
            Image.fromarray(img).save(path, format="BMP")
        else:
            Image.fromarray(img).save(path, format="JPEG", quality=92)
        n_low += info["low_light"]
        n_occ += info["occluded"]
    return n_low, n_occ


def written_files(params: dict[str, Any]) -> list[str]:
    """Every file a dataset with ``params`` holds, as relative paths (what ``--force`` may delete)."""
    plan = make_params_plan(params)
    return sorted({job.relpath for job in plan.jobs} | set(plan.texts) | {META_FILE, FILES_LIST})


def dataset_files(root: Path) -> set[str] | None:
    """The files vireid wrote in the synthetic dataset ``root`` (its ``synth_files.txt``; for a
    dataset of an older vireid without one, the generator's plan for its settings), or None when
    ``root`` is not one or the list cannot be known."""
    from vireid.utils.outputs import is_temporary

    meta = read_meta(root)
    if meta is None:
        return None
    try:
        listed = (root / FILES_LIST).read_text(encoding="utf-8").splitlines()
        files = {ln for ln in listed if ln and not ln.startswith(("/", "../")) and "/../" not in ln}
    except FileNotFoundError:
        params = meta.get("params")
        if not isinstance(params, dict) or params.get("version") != GENERATOR_VERSION:
            return None
        try:
            files = set(written_files(params))
        except (KeyError, TypeError, ValueError):
            return None
    except (OSError, UnicodeDecodeError):
        return None
    return files | {META_FILE} | {p.name for p in root.iterdir() if is_temporary(p.name)}


def _check_out(out: Path, force: bool, option: str = "out") -> set[str]:
    """The output policy for a dataset folder (:func:`vireid.utils.outputs.check_folder`): a new or
    empty folder, or with ``force`` a synthetic dataset vireid wrote holding nothing else; returns
    the files of that dataset (what replacing it removes)."""
    from vireid.utils.outputs import DATASET, check_folder

    if out.is_dir() and read_meta(out) is not None:
        if not force:
            how = "pass --force" if option.startswith("--") else "set force=True"
            raise DatasetError(f"{out}: holds a synthetic dataset already; {how} to replace it")
        if dataset_files(out) is None:
            raise DatasetError(
                f"{out}: holds a synthetic dataset of an older vireid that kept no list of its files; vireid "
                "cannot tell its files from yours, so it does not replace it -- delete it yourself or choose another "
                f"{option}"
            )
    return check_folder(out, DATASET, option=option, owned=dataset_files)


def _swap_into_place(staging: Path, out: Path, owned: set[str]) -> None:
    """Rename ``staging`` to ``out``; an earlier dataset there loses only its own files."""
    from vireid.utils.outputs import remove_owned, staging_dir

    old = None
    if out.exists():
        old = staging_dir(f".{out.name}.", out.parent, suffix=".old")
        os.replace(out, old / "data")
    os.replace(staging, out)
    if old is not None:
        remove_owned(old / "data", owned)
        with contextlib.suppress(OSError):
            old.rmdir()  # left in place (named .NAME.XXXXXXXX.old) only if something else appeared meanwhile


def generate(
    out: str | os.PathLike,
    layout: str = "sysu",
    *,
    num_ids: int | None = None,
    seed: int = 0,
    difficulty: float = 0.5,
    images_per_id_per_cam: int | None = None,
    height_range: Sequence[int] | None = None,
    num_test_ids: int | None = None,
    scale: str | float | None = None,
    workers: int = 1,
    force: bool = False,
    made_by: str = "vireid synth",
    option: str = "out",
) -> SynthSummary:
    """Write a synthetic dataset in ``layout`` ("sysu" | "regdb" | "llcm") to ``out``.

    Writes into a new or empty ``out``; with ``force`` it also replaces a synthetic dataset vireid
    wrote (one holding ``synth.json``), deleting only the files it lists (``synth_files.txt``) and
    refusing, named, anything else found there; never any other folder (the output policy,
    :mod:`vireid.utils.outputs`; ``option`` names ``out`` in its messages).  ``workers`` > 1
    renders in that many spawned processes (same bytes as ``workers=1``).  ``num_test_ids`` sets
    the number of test identities (default: the layout's share, see :mod:`vireid.data.synth.layouts`);
    ``scale`` (``"paper"`` or a fraction) the official dataset's counts instead
    (:mod:`vireid.data.synth.paper`).  Returns a :class:`SynthSummary`.
    """
    from vireid.utils.io import atomic_write_json, atomic_write_text
    from vireid.utils.outputs import STAGED, SYNTH_META, staging_dir, write_failed

    params = _resolve(
        layout, num_ids, seed, difficulty, images_per_id_per_cam, height_range, num_test_ids, scale, option
    )
    if not 1 <= int(workers) <= MAX_WORKERS:
        raise ConfigError(f"workers must be >= 1 and <= {MAX_WORKERS}, got {workers!r}")
    out = Path(out)
    owned = _check_out(out, force, option)
    start = time.perf_counter()
    plan = make_params_plan(params)
    staging = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = staging_dir(f".{out.name}.synth-", out.parent)  # ordinary permissions once renamed
        for folder in sorted({os.path.dirname(job.relpath) for job in plan.jobs}):
            (staging / folder).mkdir(parents=True, exist_ok=True)
        n_low, n_occ = _run_jobs(params, staging, plan.jobs, plan.cameras, int(workers))
        for rel, text in plan.texts.items():
            atomic_write_text(staging / rel, text, kind=STAGED)
        atomic_write_text(staging / FILES_LIST, "".join(f + "\n" for f in written_files(params)), kind=STAGED)
        summary = SynthSummary(
            root=out,
            layout=layout,
            params=params,
            num_ids=len(plan.train_ids) + len(plan.val_ids) + len(plan.test_ids),
            num_images=len(plan.jobs),
            num_visible=sum(j.modality == "visible" for j in plan.jobs),
            num_infrared=sum(j.modality == "infrared" for j in plan.jobs),
            num_low_light=n_low,
            num_occluded=n_occ,
            train_ids=plan.train_ids,
            test_ids=plan.test_ids,
            val_ids=plan.val_ids,
        )
        atomic_write_json(
            staging / META_FILE,
            {"generator": "vireid.data.synth", "made_by": made_by, **summary.to_json()},
            kind=SYNTH_META,
        )
        owned = _check_out(out, force, option)  # someone may have filled it meanwhile
        _swap_into_place(staging, out, owned)
    except BaseException as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)  # the staging folder: all vireid's
        if isinstance(exc, OSError):
            raise write_failed(out, exc, what="a synthetic dataset", intact=bool(owned)) from None
        raise
    summary.seconds = time.perf_counter() - start
    return summary


def _run_jobs(
    params: dict, staging: Path, jobs: list[ImageJob], low_light: dict[tuple[int, str], float], workers: int
) -> tuple[int, int]:
    if workers == 1 or len(jobs) < 64:
        return _render_chunk(params, str(staging), jobs, low_light)
    from vireid.utils.workers import run_in_workers

    n_chunks = 4 * workers
    chunks = [jobs[i::n_chunks] for i in range(n_chunks)]
    results: list[tuple[int, int]] = []  # an interrupt stops every worker before the staging folder goes
    run_in_workers(
        [(_render_chunk, (params, str(staging), chunk, low_light)) for chunk in chunks],
        workers,
        on_result=lambda i, r: results.append(r),
    )
    return sum(r[0] for r in results), sum(r[1] for r in results)


def read_meta(root: str | os.PathLike, *, strict: bool = True) -> dict[str, Any] | None:
    """The ``synth.json`` of a generated dataset, or None when there is none (or another generator's);
    one that is there but not vireid's is a :class:`DatasetError` naming it
    (:func:`vireid.utils.paths.synth_meta`, the one reader, which says what ``strict`` changes)."""
    from vireid.utils.paths import synth_meta

    return synth_meta(root, strict=strict)


def settings_diff(meta: dict[str, Any], wanted: dict[str, Any]) -> str:
    """``"num_ids 16 (wanted 80), seed 1 (wanted 0)"``: how a dataset's settings differ from ``wanted``."""
    have = meta.get("params") if isinstance(meta.get("params"), dict) else {}
    keys = [k for k in wanted if have.get(k) != wanted[k]] + [k for k in have if k not in wanted]
    return ", ".join(f"{k} {have.get(k, 'unset')} (wanted {wanted.get(k, 'unset')})" for k in keys)


def ensure_dataset(
    root: str | os.PathLike,
    layout: str = "sysu",
    *,
    workers: Annotated[int, Range(1, MAX_WORKERS)] = 1,
    force: bool = False,
    **params: Any,
) -> SynthSummary:
    """Return the synthetic dataset at ``root``, generating it only where there is none.

    The dataset's ``synth.json`` records its settings (the normalised generator parameters):
    the same settings are reused as they are.  A synthetic dataset with other settings is
    replaced only with ``force`` (the config's ``data.synth.force: true``); otherwise a
    :class:`DatasetError` says what differs.  A non-empty folder that is not a synthetic
    dataset is never touched.
    """
    wanted = resolve_params(layout, **params)
    root = Path(root)
    meta = read_meta(root)
    if meta is not None and meta.get("params") == wanted:
        fields = {k: meta[k] for k in SynthSummary.__dataclass_fields__ if k in meta}
        return SynthSummary(root=root, cached=True, **fields)
    if meta is None and root.is_dir() and any(root.iterdir()):
        raise DatasetError(
            f"{root}: exists, is not empty and holds no {META_FILE} vireid wrote; refusing to overwrite it "
            "with a synthetic dataset"
        )
    if meta is not None and not force:
        raise DatasetError(
            f"{root}: holds a synthetic dataset made with other settings "
            f"({settings_diff(meta, wanted)}); vireid does not replace it unless asked: "
            "use another data.root, train on it as it is with data.synth=null, or replace "
            "it with data.synth.force=true"
        )
    return generate(root, layout, force=True, workers=workers, made_by="config", option="data.root", **params)


def synth_options() -> Params:
    """What a config's ``data.synth`` may hold: :func:`ensure_dataset`'s keywords and the generator
    parameters of :func:`resolve_params`, with their declared types and ranges."""
    own = declared_params(ensure_dataset, skip=("root", "layout"))
    gen = declared_params(resolve_params, skip=("layout",))
    return Params("the synthetic generator", {**gen.params, **own.params})
