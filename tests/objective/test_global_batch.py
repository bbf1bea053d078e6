"""The global-batch layout: every rank's embeddings in the order one process holds them (the
2-process training step is checked against 1 process in tests/engine/test_distributed.py)."""

import torch

from vireid.objective.global_batch import _regroup


def test_regroup_gives_the_one_process_layout():
    """One process: per embedding e, [visible of ids 0..3; infrared of ids 0..3]; rank r holds ids
    2r, 2r+1 in the same layout -- regrouping the ranks' tensors gives back the one-process tensor."""
    e, per_rank_vis, ranks = 3, 2, 2
    # row label: (embedding, modality, identity) encoded as e * 100 + modality * 10 + id
    one = torch.tensor([[i * 100 + m * 10 + p] for i in range(e) for m in (0, 1) for p in range(4)])
    parts = [
        torch.tensor(
            [
                [i * 100 + m * 10 + p]
                for i in range(e)
                for m in (0, 1)
                for p in range(r * per_rank_vis, (r + 1) * per_rank_vis)
            ]
        )
        for r in range(ranks)
    ]
    assert torch.equal(_regroup(parts, e, per_rank_vis), one)
    # a second dim (branch embeddings are (K, M, C)): samples along dim 1
    parts_k = [p.T.reshape(1, -1, 1).repeat(2, 1, 1) for p in (parts[0][:4], parts[1][:4])]
    assert torch.equal(_regroup(parts_k, 1, per_rank_vis, dim=1)[0, :, 0], one[:8, 0])
