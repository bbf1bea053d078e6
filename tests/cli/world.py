"""A small world of inputs for running every command: a dataset, a config, a checkpoint, images,
features files, a trained run, an index and an authors' checkpoint -- the placeholders of the
commands' declared examples (:func:`vireid.cli._common.declare`)."""

from __future__ import annotations

import argparse
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.engine.tiny import CONFIGS, tiny_dataset
from tests.inference.tiny import deen_checkpoint, write_gallery
from vireid.cli.main import main


@dataclass
class World:
    root: Path
    places: dict[str, str]

    def fill(self, argv: tuple[str, ...] | list[str], **extra: object) -> list[str]:
        """The example ``argv`` with its ``{placeholders}`` filled."""
        values = {**self.places, **{k: str(v) for k, v in extra.items()}}
        return [a.format(**values) for a in argv]


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """``(command words, parser)`` of every leaf command of ``vireid``'s parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from leaves(sub, path + (name,))
            return
    if path:
        yield path, parser


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (or ``root`` itself) with the hash of its bytes."""
    if root.is_file():
        return {".": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def make_world(root: Path) -> World:
    """Build the inputs under ``root`` (about 10 s: a tiny training run is the longest part)."""
    from tests.models.test_official import read_fixture, write_t
    from vireid.evaluation.features import save_features

    root.mkdir(parents=True, exist_ok=True)
    dataset = Path(tiny_dataset(root / "dataset"))
    config = str(root / "tiny.yaml")
    shutil.copyfile(CONFIGS / "test_tiny.yaml", config)  # an input of the world, watched like the others
    checkpoint = deen_checkpoint(root, abd_cam=True)  # with CAM: visualize attention draws it
    images = root / "images"
    paths = write_gallery(images, pids=(1, 2, 3), cams=(1, 3))
    rng = np.random.default_rng(0)
    q = [p for p in paths if "cam3" in p.parts]
    g = [p for p in paths if "cam1" in p.parts]
    save_features(
        root / "query.safetensors",
        rng.normal(size=(len(q), 8)),
        [1, 2, 3],
        [3, 3, 3],
        paths=[str(p) for p in q],
        modality="infrared",
    )
    save_features(
        root / "gallery.safetensors",
        rng.normal(size=(len(g), 8)),
        [1, 2, 3],
        [1, 1, 1],
        paths=[str(p) for p in g],
        modality="visible",
    )
    run = root / "run"
    assert (
        main(["train", "--config", config, f"data.root={dataset}", "--out", str(run), "--quiet", "train.epochs=1"]) == 0
    )
    index = root / "gallery.index"
    assert (
        main(
            [
                "index",
                "build",
                "--checkpoint",
                str(checkpoint),
                "--gallery",
                str(images / "cam1"),
                "--modality",
                "visible",
                "--out",
                str(index),
                "--no-progress",
            ]
        )
        == 0
    )
    net, _, _ = read_fixture("regdb")
    official = write_t(root / "authors_best.t", net)
    places = {
        "config": config,
        "dataset": str(dataset),
        "checkpoint": str(checkpoint),
        "images": str(images),
        "image": str(q[0]),
        "query": str(root / "query.safetensors"),
        "gallery": str(root / "gallery.safetensors"),
        "run": str(run),
        "metrics": str(run / "metrics.json"),
        "log": str(run / "metrics.jsonl"),
        "index": str(index),
        "official": str(official),
    }
    return World(root, places)
