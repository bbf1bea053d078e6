"""Seeded DEEN-shaped loss inputs, shared by the golden-parity tests and the fixture generator.

A batch as DEEN's ``train.py`` builds it: ``num_ids`` distinct random pids (unsorted, from
395 SYSU training ids), ``num_pos`` images per id and modality in contiguous blocks,
``feat1 = [e0_vis; e0_ir; e1_vis; e1_ir; e2_vis; e2_ir]`` (3 embeddings x 2 modalities),
``labels = cat(l1, l1, l1, l2, l2, l2)`` for the triplet loss, ``labs = cat(l1, l1, l2, l2)``
for CPM, fed with ``cat(ft1, ft2)`` and ``cat(ft1, ft3)`` where ``ft1, ft2, ft3 =
feat1.chunk(3)``.  Features are non-negative (DEEN's pooled features follow a ReLU) with an
identity component.  ``probe`` is a fixed direction for comparing gradients as scalars.
"""

from __future__ import annotations

import torch
from torch import Tensor


def make_deen_batch(seed: int, num_ids: int = 6, num_pos: int = 4, dim: int = 2048) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    pids = torch.randperm(395, generator=g)[:num_ids]
    label1 = pids.repeat_interleave(num_pos)
    label2 = label1.clone()
    b = num_ids * num_pos
    centres = torch.randn(num_ids, dim, generator=g).repeat_interleave(num_pos, dim=0)
    noise = torch.randn(3, 2, b, dim, generator=g)
    feat1 = torch.relu(0.5 * centres + noise).reshape(6 * b, dim)
    probe = torch.randn(6 * b, dim, generator=g)
    return {
        "feat1": feat1,
        "labels": torch.cat((label1, label1, label1, label2, label2, label2)),
        "labs": torch.cat((label1, label1, label2, label2)),
        "probe": probe,
    }


# (seed, num_ids, num_pos, dim): DEEN's SYSU batch (6 x 4, 2048-d) three times, then other
# valid shapes (the loss must match on any valid batch).
GOLDEN_CASES = [
    (0, 6, 4, 2048),
    (1, 6, 4, 2048),
    (2, 6, 4, 2048),
    (3, 4, 2, 64),
    (4, 8, 3, 256),
    (5, 2, 4, 32),
]
