"""Real descriptors for :mod:`benchmarks.bench_search`: a DEEN trained on the synthetic
benchmark embeds a large synthetic SYSU-MM01-layout dataset of identities it never saw.

    python -m benchmarks.search_real [--threads 1]

Each step is skipped when its output exists (everything under the git-ignored ``runs/`` and
``data/``):

1. train ``configs/synthetic.yaml`` (the demo's DEEN, 64 x 32 inputs, 3072-d descriptors) for
   4 epochs into ``runs/search-real`` (Rank-1 about 50 % infrared to visible on the synthetic
   test split);
2. generate 3000 new identities (seed 1, difficulty 0, 8 images per camera) into
   ``data/search-real/synth`` (about 130k images);
3. embed every visible image (the gallery) and 1000 random infrared images (the queries) into
   ``data/search-real/descriptors.safetensors``.

About 10 CPU-minutes in all, most of it embedding.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "runs" / "search-real"
CKPT = RUN / "checkpoints" / "best.safetensors"
SYNTH = ROOT / "data" / "search-real" / "synth"
CACHE = ROOT / "data" / "search-real" / "descriptors.safetensors"
SUMMARY = "a synthetic-benchmark DEEN, 3000 unseen identities, 1000 infrared queries x ~86k visible, 3072-d"
NUM_IDS, NUM_QUERIES = 3000, 1000


def load(quick: bool) -> tuple[torch.Tensor, torch.Tensor, str] | None:
    """(queries, gallery, note) from the cache, or None when not built; ``quick``: 200 x 20k."""
    if not CACHE.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(CACHE), framework="pt") as fh:
        q, g = fh.get_slice("queries"), fh.get_slice("gallery")
        q, g = (q[:200], g[:20_000]) if quick else (q[:], g[:])
        note = (fh.metadata() or {}).get("note", SUMMARY)
    return q, g, f"real: {note}"


def pca256(queries: torch.Tensor, gallery: torch.Tensor, dim: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """``queries`` and ``gallery`` projected onto the gallery's top ``dim`` principal components
    (randomised PCA, :func:`torch.pca_lowrank`, seeded; centred on the gallery mean) and
    L2-normalised again: the real descriptors as a 256-d head would give them."""
    torch.manual_seed(0)
    mean = gallery.mean(0, keepdim=True)
    _, _, v = torch.pca_lowrank(gallery - mean, q=dim, center=False, niter=3)
    proj = v[:, :dim].contiguous()
    return (
        torch.nn.functional.normalize((queries - mean) @ proj, dim=1),
        torch.nn.functional.normalize((gallery - mean) @ proj, dim=1),
    )


def build(threads: int = 1) -> Path:
    if not CKPT.is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "vireid",
                "train",
                "--config",
                str(ROOT / "configs/synthetic.yaml"),
                "--out",
                str(RUN),
                "--quiet",
                "train.epochs=4",
                f"train.threads={threads}",
                "eval.every=4",
            ],
            check=True,
            cwd=ROOT,
        )
    from vireid.data.synth.generator import ensure_dataset

    ensure_dataset(
        SYNTH, "sysu", workers=max(1, threads), num_ids=NUM_IDS, seed=1, difficulty=0.0, images_per_id_per_cam=8
    )
    if CACHE.is_file():
        return CACHE
    import vireid
    from vireid.data.synth.layouts import cameras_of
    from vireid.utils.io import save_safetensors

    torch.set_num_threads(threads)
    paths = {
        m: sorted(str(p) for c, mm in cameras_of("sysu") if mm == m for p in (SYNTH / f"cam{c}").rglob("*.jpg"))
        for m in ("visible", "infrared")
    }
    pick = torch.randperm(len(paths["infrared"]), generator=torch.Generator().manual_seed(0))[:NUM_QUERIES]
    model = vireid.load_model(CKPT, batch_size=256)
    gallery = model.embed(paths["visible"], "visible", progress=True)
    queries = model.embed([paths["infrared"][i] for i in pick.sort().values], "infrared", progress=True)
    note = (
        f"DEEN trained 4 epochs on the synthetic benchmark; {len(queries)} infrared queries x "
        f"{len(gallery)} visible images of {NUM_IDS} unseen identities, {gallery.shape[1]}-d"
    )
    save_safetensors({"queries": queries, "gallery": gallery}, CACHE, metadata={"note": note})
    return CACHE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.search_real",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--threads", type=int, default=1, help="compute threads (and rendering processes)")
    print(build(ap.parse_args(argv).threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
