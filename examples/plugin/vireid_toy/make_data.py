"""Write a toy dataset from vireid's synthetic generator: ``python -m vireid_toy.make_data DIR``.

The synthetic SYSU-MM01 layout is generated into a temporary folder and its images are copied into
the toy layout (``train/``, ``query/`` infrared, ``gallery/`` visible; ``<pid>_c<camera>_<n>.jpg``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from vireid.data.synth import generate


def make_toy_data(out: str | Path, num_ids: int = 12, num_test_ids: int = 4, seed: int = 0) -> Path:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out}: exists and is not empty")
    with tempfile.TemporaryDirectory() as tmp:
        s = generate(
            Path(tmp) / "sysu", "sysu", num_ids=num_ids, num_test_ids=num_test_ids, seed=seed,
            images_per_id_per_cam=2, height_range=(64, 96),
        )  # fmt: skip
        test = set(s.test_ids)
        for image in sorted(Path(s.root).glob("cam*/*/*.jpg")):
            cam, pid = int(image.parent.parent.name[3:]), int(image.parent.name)
            folder = "train" if pid not in test else ("query" if cam in (3, 6) else "gallery")
            (out / folder).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, out / folder / f"{pid:04d}_c{cam}_{image.stem}.jpg")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--num-ids", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(make_toy_data(args.out, args.num_ids, seed=args.seed))


if __name__ == "__main__":
    main()
