"""Cross-modal identity sampler (DEEN / AGW ``IdentitySampler``), deterministic and DDP-aware.

The authors' sampler (``utils.py``) builds, per epoch, ``int(N / (P * K)) + 1``
batches with ``N = max(#visible, #infrared)``; each batch draws ``P``
identities without replacement and, for each, ``K`` visible and ``K`` infrared
images *with* replacement; the i-th visible and i-th infrared image of a batch
share the identity.  It uses numpy's global generator.

Here the same structure is drawn from ``numpy.random.default_rng([seed, epoch])``
so an epoch's batches are a pure function of (seed, epoch).  Under
``torch.distributed`` with ``world_size`` ranks:

* by default (``per_rank=False``) the authors' batch is the *global* batch: every rank draws
  the same ``P`` identities per step as one process would, and rank ``r`` takes the r-th block
  of ``P / world_size`` of them (``P`` must be divisible by the world size).  The union of the
  ranks' batches is exactly the one-process batch, the epoch has the authors' count of steps
  (``N // (P * K) + 1``), and the objective gathers the embeddings so that mining and centres
  see the global batch (:class:`vireid.objective.Objective`);
* with ``per_rank=True`` each step draws ``world_size * P`` distinct identities and rank ``r``
  takes the r-th block of ``P``: a global batch ``world_size`` times the authors', and
  ``N // (P * K * world_size) + 1`` steps per epoch.

Either way both modalities of an identity stay on one rank and no identity appears on two
ranks in the same step.

Only identities with images in both modalities are sampled.

Each item is a :class:`PairIndex` ``(epoch, position, visible, infrared)``;
``position`` is the sample's index in the global (all ranks) order of the
epoch, so the per-sample augmentation seed (seed, epoch, position) does not
depend on the number of DataLoader workers or ranks.
"""

from __future__ import annotations

from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np
from torch.utils.data import Sampler

from vireid.errors import CheckpointError, ConfigError


class PairIndex(NamedTuple):
    epoch: int
    position: int
    visible: int
    infrared: int


class CrossModalIdentitySampler(Sampler[PairIndex]):
    """P identities x (K visible + K infrared) per batch; use with ``batch_size=P*K, drop_last=True``.

    Args:
        visible_labels, infrared_labels: identity label of each visible / infrared training image.
        num_ids: P, identities per step: of the global batch (split over the ranks), or of each
            rank's batch with ``per_rank``.
        num_instances: K, images per identity and modality.
        seed: base seed; the epoch's batches depend only on (seed, epoch).
        rank, world_size: position of this process in the distributed job.
        per_rank: each rank draws its own ``P`` identities (see the module docstring).
        batches_per_epoch: batches per rank and epoch (default: the authors' count, see module doc).
    """

    def __init__(
        self,
        visible_labels: Sequence[int],
        infrared_labels: Sequence[int],
        *,
        num_ids: int = 6,
        num_instances: int = 4,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        per_rank: bool = False,
        batches_per_epoch: int | None = None,
    ) -> None:
        if num_ids < 1 or num_instances < 1:
            raise ConfigError(f"num_ids and num_instances must be >= 1, got {num_ids} and {num_instances}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}")
        if not per_rank and num_ids % world_size:
            raise ConfigError(
                f"data.num_ids={num_ids} identities per batch cannot be split evenly over "
                f"{world_size} processes; use a multiple of {world_size}, or "
                "data.per_rank_batch=true (each process draws its own identities)"
            )
        vis = np.asarray(visible_labels, dtype=np.int64)
        ir = np.asarray(infrared_labels, dtype=np.int64)
        self.identities = np.intersect1d(vis, ir)  # sorted
        self.per_rank = bool(per_rank)
        self.global_ids = num_ids * world_size if per_rank else num_ids  # identities drawn per step
        if len(self.identities) < self.global_ids:
            raise ConfigError(
                f"the identity sampler needs at least {self.global_ids} identities "
                f"with both visible and infrared images, found {len(self.identities)}"
            )
        self.num_ids, self.num_instances = int(num_ids), int(num_instances)
        self.rank_ids = self.global_ids // world_size  # identities of this rank's batch
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.num_visible, self.num_infrared = len(vis), len(ir)
        n = max(len(vis), len(ir))
        self.batches_per_epoch = (
            int(batches_per_epoch) if batches_per_epoch is not None else n // (self.global_ids * num_instances) + 1
        )
        if self.batches_per_epoch < 1:
            raise ConfigError(f"batches_per_epoch must be >= 1, got {batches_per_epoch}")
        # image positions of each sampled identity, as flat arrays + offsets
        self._vis_pos, self._vis_start, self._vis_count = self._positions(vis)
        self._ir_pos, self._ir_start, self._ir_count = self._positions(ir)
        self.epoch = 0
        self._resume: tuple[int, int] | None = None

    def _positions(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = np.isin(labels, self.identities)
        idx = np.flatnonzero(keep)
        order = np.argsort(labels[idx], kind="stable")
        flat = idx[order]
        sorted_labels = labels[flat]
        starts = np.searchsorted(sorted_labels, self.identities, side="left").astype(np.int64)
        counts = np.searchsorted(sorted_labels, self.identities, side="right").astype(np.int64) - starts
        return flat, starts, counts

    @property
    def batch_size(self) -> int:
        """Pairs per batch on this rank; each pair is one visible + one infrared image."""
        return self.rank_ids * self.num_instances

    def set_epoch(self, epoch: int, start_batch: int | None = None) -> None:
        """Select the epoch whose batches the next ``iter()`` yields.

        ``start_batch`` makes that next ``iter()`` start at this batch of the
        epoch (resume); without it, a pending :meth:`load_state_dict` position
        for the same epoch is kept.
        """
        self.epoch = int(epoch)
        if start_batch is not None:
            if not 0 <= int(start_batch) <= self.batches_per_epoch:
                raise ValueError(f"start_batch must be in 0..{self.batches_per_epoch}, got {start_batch}")
            self._resume = (self.epoch, int(start_batch))

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """``(batches, global identities * K, 2)`` visible/infrared indices of all ranks for ``epoch``."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        steps, p_all, k = self.batches_per_epoch, self.global_ids, self.num_instances
        # the step's distinct identities: first columns of a random permutation
        keys = rng.random((steps, len(self.identities)))
        ids = np.argsort(keys, axis=1, kind="stable")[:, :p_all]  # (steps, P*W) identity slots
        u = rng.random((2, steps, p_all, k))  # with replacement
        vis = self._vis_pos[
            self._vis_start[ids][..., None]
            + np.minimum((u[0] * self._vis_count[ids][..., None]).astype(np.int64), self._vis_count[ids][..., None] - 1)
        ]
        ir = self._ir_pos[
            self._ir_start[ids][..., None]
            + np.minimum((u[1] * self._ir_count[ids][..., None]).astype(np.int64), self._ir_count[ids][..., None] - 1)
        ]
        return np.stack([vis.reshape(steps, -1), ir.reshape(steps, -1)], axis=-1)

    def __iter__(self) -> Iterator[PairIndex]:
        epoch = self.epoch
        start = 0
        if self._resume is not None and self._resume[0] == epoch:
            start = self._resume[1]
        self._resume = None
        pairs = self.epoch_indices(epoch)
        per_rank = self.batch_size
        global_batch = pairs.shape[1]
        lo = self.rank * per_rank
        for step in range(start, self.batches_per_epoch):
            block = pairs[step, lo : lo + per_rank]
            base = step * global_batch + lo
            for j in range(per_rank):
                yield PairIndex(epoch, base + j, int(block[j, 0]), int(block[j, 1]))

    def __len__(self) -> int:
        return self.batches_per_epoch * self.batch_size

    def state_dict(self, batches_done: int = 0) -> dict[str, Any]:
        """State to resume after ``batches_done`` batches of the current epoch.

        The sampler cannot know how many batches the training loop consumed
        (the DataLoader prefetches), so the loop passes it.
        """
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "batches_done": int(batches_done),
            "num_ids": self.num_ids,
            "num_instances": self.num_instances,
            "world_size": self.world_size,
            "per_rank": self.per_rank,
            "batches_per_epoch": self.batches_per_epoch,
            "num_visible": self.num_visible,
            "num_infrared": self.num_infrared,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the next ``iter()`` for that epoch skips the done batches."""
        for key in (
            "seed",
            "num_ids",
            "num_instances",
            "world_size",
            "batches_per_epoch",
            "num_visible",
            "num_infrared",
        ):
            if key not in state:
                raise CheckpointError(f"sampler state lacks {key!r}")
            mine = getattr(self, key)
            if key != "seed" and int(state[key]) != mine:
                raise CheckpointError(f"sampler state was saved with {key}={state[key]}, this run has {mine}")
        if bool(state.get("per_rank", self.per_rank)) != self.per_rank:
            raise CheckpointError(
                f"sampler state was saved with per_rank={state['per_rank']}, this run has {self.per_rank}"
            )
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        done = int(state.get("batches_done", 0))
        if not 0 <= done <= self.batches_per_epoch:
            raise CheckpointError(f"sampler state batches_done={done} outside 0..{self.batches_per_epoch}")
        self._resume = (self.epoch, done)
