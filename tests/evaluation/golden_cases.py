"""Seeded evaluation inputs behind ``tests/fixtures/eval_golden.json``.

The fixture stores, for each case below, the numbers that the authors' published
``eval_sysu`` / ``eval_llcm`` / ``eval_regdb`` (AGW ``eval_metrics.py``, reused by DEEN)
returned on the inputs :func:`make_case` builds from the case's seed.  The authors'
functions were run outside this repository and called with our *distance* matrix as
their ``distmat`` argument (their scripts pass ``-similarity``, i.e. a distance too).

Ties are only ever between gallery entries of the same identity (duplicated images),
where any sort order gives the same numbers; ties across identities are ordered
arbitrarily by the authors' ``np.argsort`` and are tested separately.
"""

from __future__ import annotations

import numpy as np

CAMERAS = {  # (query cameras, gallery cameras)
    "sysu": ([3, 6], [1, 2, 4, 5]),
    "llcm": (list(range(1, 10)), list(range(1, 10))),
    "regdb": ([1], [2]),
}

CASES: list[dict] = [
    # protocol, seed, sizes; dist: uniform | features; dups: duplicated gallery columns;
    # absent: extra query identities absent from the gallery; per_id: every identity
    # has that many gallery images; q_cams / g_cams: override the cameras
    {
        "name": "sysu_uniform_absent",
        "protocol": "sysu",
        "seed": 1,
        "num_query": 60,
        "num_gallery": 150,
        "num_ids": 40,
        "dist": "uniform",
        "absent": 5,
    },
    {
        "name": "sysu_features",
        "protocol": "sysu",
        "seed": 2,
        "num_query": 120,
        "num_gallery": 200,
        "num_ids": 50,
        "dist": "features",
    },
    {
        "name": "sysu_same_id_ties",
        "protocol": "sysu",
        "seed": 3,
        "num_query": 80,
        "num_gallery": 120,
        "num_ids": 40,
        "dist": "features",
        "dups": 40,
    },
    # gallery smaller than max_rank: the authors' code fails on ragged per-query lists
    # when entries are discarded, so these two cases discard nothing (camera choice)
    {
        "name": "sysu_small_gallery",
        "protocol": "sysu",
        "seed": 4,
        "num_query": 30,
        "num_ids": 5,
        "per_id": 3,
        "dist": "features",
        "g_cams": [1, 4, 5],
    },
    {
        "name": "sysu_max_rank_5",
        "protocol": "sysu",
        "seed": 5,
        "num_query": 50,
        "num_gallery": 100,
        "num_ids": 30,
        "dist": "features",
        "max_rank": 5,
    },
    {
        "name": "llcm_uniform_absent",
        "protocol": "llcm",
        "seed": 11,
        "num_query": 60,
        "num_gallery": 150,
        "num_ids": 40,
        "dist": "uniform",
        "absent": 5,
    },
    {
        "name": "llcm_features",
        "protocol": "llcm",
        "seed": 12,
        "num_query": 120,
        "num_gallery": 200,
        "num_ids": 50,
        "dist": "features",
    },
    {
        "name": "llcm_same_id_ties",
        "protocol": "llcm",
        "seed": 13,
        "num_query": 80,
        "num_gallery": 120,
        "num_ids": 40,
        "dist": "features",
        "dups": 40,
    },
    {
        "name": "llcm_small_gallery",
        "protocol": "llcm",
        "seed": 14,
        "num_query": 30,
        "num_ids": 5,
        "per_id": 3,
        "dist": "features",
        "q_cams": [9],
        "g_cams": [1, 2, 3, 4],
    },
    {
        "name": "regdb_uniform_absent",
        "protocol": "regdb",
        "seed": 21,
        "num_query": 60,
        "num_gallery": 150,
        "num_ids": 40,
        "dist": "uniform",
        "absent": 5,
    },
    {
        "name": "regdb_features",
        "protocol": "regdb",
        "seed": 22,
        "num_query": 120,
        "num_gallery": 200,
        "num_ids": 50,
        "dist": "features",
    },
    {
        "name": "regdb_same_id_ties",
        "protocol": "regdb",
        "seed": 23,
        "num_query": 80,
        "num_gallery": 120,
        "num_ids": 40,
        "dist": "features",
        "dups": 40,
    },
    {
        "name": "regdb_small_gallery",
        "protocol": "regdb",
        "seed": 24,
        "num_query": 20,
        "num_ids": 4,
        "per_id": 2,
        "dist": "features",
    },
]


def make_case(spec: dict):
    """(distmat, q_pids, g_pids, q_camids, g_camids) of one case, from its seed."""
    rng = np.random.default_rng(spec["seed"])
    q_cam_choices, g_cam_choices = CAMERAS[spec["protocol"]]
    q_cam_choices = spec.get("q_cams", q_cam_choices)
    g_cam_choices = spec.get("g_cams", g_cam_choices)
    num_ids = spec["num_ids"]
    if "per_id" in spec:  # every identity in ``per_id`` distinct cameras
        per_id = spec["per_id"]
        g_pids = np.repeat(np.arange(num_ids), per_id)
        g_cams = np.concatenate(
            [rng.choice(g_cam_choices, per_id, replace=len(g_cam_choices) < per_id) for _ in range(num_ids)]
        )
    else:
        g_pids = rng.integers(0, num_ids, spec["num_gallery"])
        g_cams = rng.choice(g_cam_choices, spec["num_gallery"])
    num_q = spec["num_query"]
    q_pids = rng.integers(0, num_ids + spec.get("absent", 0), num_q)
    q_cams = rng.choice(q_cam_choices, num_q)
    if spec["dist"] == "uniform":
        dist = rng.random((num_q, len(g_pids)))
    else:
        protos = rng.standard_normal((num_ids + spec.get("absent", 0), 16))
        q = protos[q_pids] + 0.9 * rng.standard_normal((num_q, 16))
        g = protos[g_pids] + 0.9 * rng.standard_normal((len(g_pids), 16))
        dist = np.sqrt(((q[:, None, :] - g[None, :, :]) ** 2).sum(-1))
    if spec.get("dups"):  # duplicated gallery images: same pid, same distances, any camera
        dup = rng.choice(len(g_pids), spec["dups"], replace=False)
        dist = np.concatenate([dist, dist[:, dup]], axis=1)
        g_pids = np.concatenate([g_pids, g_pids[dup]])
        g_cams = np.concatenate([g_cams, rng.choice(g_cam_choices, len(dup))])
    return dist, q_pids, g_pids, q_cams, g_cams
