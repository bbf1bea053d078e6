"""``vireid synth``: write the synthetic VI-ReID benchmark in an official layout.

Example::

    vireid synth --layout sysu --out data/synth-sysu --num-ids 80 --seed 0 --difficulty 0.5
    vireid synth --layout sysu --out data/synth-sysu-paper --scale paper   # SYSU-MM01's counts
"""

from __future__ import annotations

import argparse

from vireid.cli._common import declare, finite, integer, seed
from vireid.core.params import MAX_WORKERS
from vireid.data.synth import DEFAULT_HEIGHT_RANGE, DEFAULT_NUM_IDS, LAYOUTS, generate
from vireid.errors import ConfigError
from vireid.utils.outputs import DATASET
from vireid.utils.paths import shown


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "synth",
        help="generate the synthetic VI-ReID dataset (SYSU-MM01, RegDB or LLCM layout)",
        description="Generate a synthetic visible-infrared re-id dataset in an official layout. "
        "Same seed, same bytes. Written to a temporary folder and renamed at the end.",
    )
    p.add_argument("--layout", required=True, choices=LAYOUTS, help="folder layout to write")
    p.add_argument(
        "--out", required=True, help="output folder (new or empty; with --force a synthetic dataset vireid wrote)"
    )
    p.add_argument(
        "--scale",
        default=None,
        metavar="paper|FRACTION",
        help="the official dataset's identity, camera and image counts and crop sizes (paper), or a "
        "fraction of its counts (e.g. 0.1); fixes --num-ids, --images-per-id-per-cam, --num-test-ids "
        "and the heights",
    )
    p.add_argument("--num-ids", type=integer(1), default=None, help=f"number of identities (default {DEFAULT_NUM_IDS})")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default %(default)s)")
    p.add_argument(
        "--difficulty",
        type=finite,
        default=0.5,
        help="0..1: jitter, noise, occlusion, colour/emissivity decorrelation (default %(default)s)",
    )
    p.add_argument(
        "--images-per-id-per-cam",
        type=integer(1),
        default=None,
        help="images per identity and camera (default: sysu 4, regdb 8, llcm 3)",
    )
    p.add_argument(
        "--min-height",
        type=integer(1),
        default=None,
        help=f"smallest crop height (px, default {DEFAULT_HEIGHT_RANGE[0]})",
    )
    p.add_argument(
        "--max-height",
        type=integer(1),
        default=None,
        help=f"largest crop height (px, default {DEFAULT_HEIGHT_RANGE[1]})",
    )
    p.add_argument(
        "--num-test-ids",
        type=integer(1),
        default=None,
        help="test identities (default: the layout's share, 40 %% for sysu/llcm, half for regdb)",
    )
    p.add_argument(
        "--workers",
        type=integer(1, MAX_WORKERS),
        default=None,
        help="rendering processes, same bytes for any number (default 1; with --scale every core)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a synthetic dataset vireid wrote at --out (only its own files; refused if you added any)",
    )
    declare(
        p,
        outputs={"out": DATASET},
        example=(
            "synth",
            "--layout",
            "sysu",
            "--out",
            "{out}",
            "--num-ids",
            "6",
            "--num-test-ids",
            "2",
            "--images-per-id-per-cam",
            "1",
            "--min-height",
            "40",
            "--max-height",
            "48",
        ),
        rerun=("--force",),
        overwrite_help="the same as --force: a dataset is a folder, and vireid never deletes files it did not write",
    )
    return p


def _height_range(args: argparse.Namespace) -> tuple[int, int] | None:
    if args.min_height is None and args.max_height is None:
        return None
    if args.scale is not None:
        raise ConfigError(
            "--scale takes the official dataset's crop sizes; --min-height/--max-height cannot be set with it"
        )
    return (
        DEFAULT_HEIGHT_RANGE[0] if args.min_height is None else args.min_height,
        DEFAULT_HEIGHT_RANGE[1] if args.max_height is None else args.max_height,
    )


def _check_options(args: argparse.Namespace) -> tuple[int, int] | None:
    """The generator's declared ranges (:func:`vireid.data.synth.generator.resolve_params`), checked
    before any work and named as this command's options (not ``synth.height_range``); returns the
    height range to generate with."""
    from vireid.core.checks import check_value
    from vireid.core.params import declared_params
    from vireid.data.synth.generator import resolve_params

    params = declared_params(resolve_params, skip=("layout",)).params
    for dest in ("num_ids", "seed", "difficulty", "images_per_id_per_cam", "num_test_ids", "scale"):
        check_value(getattr(args, dest), params[dest].annotation, "--" + dest.replace("_", "-"))
    heights = _height_range(args)
    check_value(heights, params["height_range"].annotation, "--min-height/--max-height")
    return heights


def run(args: argparse.Namespace) -> int:
    import os

    heights = _check_options(args)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1) if args.scale is not None else 1
    summary = generate(
        args.out,
        args.layout,
        num_ids=args.num_ids,
        seed=args.seed,
        difficulty=args.difficulty,
        images_per_id_per_cam=args.images_per_id_per_cam,
        height_range=heights,
        num_test_ids=args.num_test_ids,
        scale=args.scale,
        workers=workers,
        force=args.force or args.overwrite,
        option="--out",
    )
    print(
        f"wrote {summary.num_images} images ({summary.num_visible} visible, {summary.num_infrared} infrared, "
        f"{summary.num_low_light} low-light, {summary.num_occluded} occluded) of {summary.num_ids} identities "
        f"in the {summary.layout} layout to {shown(summary.root)} "
        f"[{summary.seconds:.1f} s, {summary.images_per_second:.0f} images/s]"
    )
    return 0
