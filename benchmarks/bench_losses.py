"""Vectorised DEEN losses vs per-identity loop implementations (forward + backward).

One DEEN training step's metric losses on a DEEN-sized batch (6 ids x 4 images x 2
modalities x 3 embeddings = 144 rows, 2048-d): batch-hard triplet on all rows, CPM twice
(``cat(ft1, ft2)`` and ``cat(ft1, ft3)`` as DEEN's ``train.py``) and the orthogonal loss.
Baseline: the loop references of ``tests/losses/loop_reference.py`` plus a per-sample loop
for the orthogonal loss.  Target: vectorised >= 10x faster.

    python -m benchmarks.bench_losses [--quick] [--device cuda] [--no-write]
"""

from __future__ import annotations

from typing import Callable

import torch
from tests.losses.deen_batch import make_deen_batch
from tests.losses.loop_reference import loop_cpm, loop_triplet

from benchmarks._common import cli, interleaved_times
from vireid.losses import CPMLoss, TripletLoss, deen_orthogonal_loss


def _loop_ort(feat: torch.Tensor, num_embeddings: int = 3) -> torch.Tensor:
    b = feat.shape[0] // num_embeddings
    total = feat.new_zeros(())
    for i in range(b):
        total = total + feat[b + i] @ feat[2 * b + i]
    return total / feat.shape[0]


def _step(feat: torch.Tensor, labels: torch.Tensor, labs: torch.Tensor, vectorised: bool) -> None:
    f = feat.detach().requires_grad_(True)
    ft1, ft2, ft3 = f.chunk(3)
    if vectorised:
        cpm = CPMLoss(margin=0.2)
        loss = (
            TripletLoss(0.3)(f, labels)
            + cpm(torch.cat((ft1, ft2)), labs)
            + cpm(torch.cat((ft1, ft3)), labs)
            + deen_orthogonal_loss(f)
        )
    else:
        loss = (
            loop_triplet(f, labels, 0.3)
            + loop_cpm(torch.cat((ft1, ft2)), labs, 0.2)
            + loop_cpm(torch.cat((ft1, ft3)), labs, 0.2)
            + _loop_ort(f)
        )
    loss.backward()


def synced(fn: Callable[[], object], device: str) -> Callable[[], None]:
    """``fn`` followed by a CUDA synchronisation when ``device`` is a GPU (timing helper)."""
    dev = torch.device(device)

    def call() -> None:
        fn()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    return call


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    b = make_deen_batch(0, num_ids=6, num_pos=4, dim=2048)
    args = tuple(b[k].to(device) for k in ("feat1", "labels", "labs"))
    repeats = 3 if quick else 10
    t = interleaved_times(
        {
            "vectorised": synced(lambda: _step(*args, vectorised=True), device),
            "loop": synced(lambda: _step(*args, vectorised=False), device),
        },
        repeats=repeats,
    )
    note = f"144x2048 float32 on {device}, fwd+bwd, interleaved median of {repeats}"
    return [
        {"name": "losses_vectorised", "value": t["vectorised"] * 1e3, "unit": "ms", "note": note},
        {"name": "losses_loop", "value": t["loop"] * 1e3, "unit": "ms", "note": note},
        {"name": "losses_speedup", "value": t["loop"] / t["vectorised"], "unit": "x", "note": "target >= 10x"},
    ]


def main(argv: list[str] | None = None) -> int:
    return cli(
        "bench_losses",
        "Losses: vectorised vs per-identity loop",
        run,
        argv,
        __doc__,
        options={"--device": {"default": "cpu", "help": "torch device, e.g. cpu or cuda"}},
    )


if __name__ == "__main__":
    raise SystemExit(main())
