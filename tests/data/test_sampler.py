import numpy as np
import pytest

from vireid.data.sampler import CrossModalIdentitySampler, PairIndex
from vireid.errors import CheckpointError, ConfigError

P, K = 3, 2
RNG = np.random.default_rng(0)
VIS = RNG.integers(0, 10, 120)  # 10 identities
IR = np.concatenate([np.arange(10), RNG.integers(0, 10, 70), [11, 11]])  # 11 has no visible image


def batches(sampler):
    items = list(sampler)
    bs = sampler.batch_size
    return [items[i : i + bs] for i in range(0, len(items), bs)]


def make(**kw):
    args = dict(num_ids=P, num_instances=K, seed=7)
    args.update(kw)
    return CrossModalIdentitySampler(VIS, IR, **args)


def test_composition_p_ids_times_k_pairs():
    s = make()
    assert s.batch_size == P * K and s.batches_per_epoch == len(VIS) // (P * K) + 1
    assert len(s) == s.batches_per_epoch * P * K
    for batch in batches(s):
        assert all(isinstance(b, PairIndex) for b in batch)
        vis_labels = VIS[[b.visible for b in batch]]
        ir_labels = IR[[b.infrared for b in batch]]
        assert np.array_equal(vis_labels, ir_labels)  # i-th visible and i-th infrared share the identity
        blocks = vis_labels.reshape(P, K)
        assert (blocks == blocks[:, :1]).all() and len(set(blocks[:, 0])) == P
        assert 11 not in ir_labels
    positions = [b.position for batch in batches(s) for b in batch]
    assert positions == list(range(len(s)))


def test_determinism_and_epochs():
    a, b = make(), make()
    assert list(a) == list(b)
    a.set_epoch(1)
    e1 = list(a)
    assert e1 != list(b) and all(p.epoch == 1 for p in e1)
    b.set_epoch(1)
    assert list(b) == e1
    assert list(make(seed=8)) != list(make())


def test_per_rank_batches_get_disjoint_identities():
    r0, r1 = make(rank=0, world_size=2, per_rank=True), make(rank=1, world_size=2, per_rank=True)
    assert r0.batches_per_epoch == r1.batches_per_epoch == len(VIS) // (P * K * 2) + 1
    for b0, b1 in zip(batches(r0), batches(r1), strict=True):
        ids0, ids1 = set(VIS[[b.visible for b in b0]]), set(VIS[[b.visible for b in b1]])
        assert len(ids0) == len(ids1) == P and ids0.isdisjoint(ids1)
        assert set(IR[[b.infrared for b in b0]]) == ids0  # both modalities on the same rank
    pos0 = {b.position for b in r0}
    pos1 = {b.position for b in r1}
    assert pos0.isdisjoint(pos1) and len(pos0 | pos1) == 2 * len(r0)
    with pytest.raises(ConfigError, match="at least 12 identities"):
        make(num_ids=6, world_size=2, per_rank=True)
    with pytest.raises(ConfigError, match="rank"):
        make(rank=2, world_size=2, per_rank=True)


def test_global_batch_is_split_over_ranks_and_equals_the_one_process_batch():
    """Default under torchrun: the one-process batch of every step, its P identities split over
    the ranks in order (same images, same augmentation positions), the authors' step count."""
    one = make(num_ids=4)
    r0, r1 = make(num_ids=4, rank=0, world_size=2), make(num_ids=4, rank=1, world_size=2)
    assert r0.batches_per_epoch == one.batches_per_epoch == len(VIS) // (4 * K) + 1
    assert r0.batch_size == r1.batch_size == 2 * K
    for b, b0, b1 in zip(batches(one), batches(r0), batches(r1), strict=True):
        assert b == b0 + b1  # rank 0 holds the first 2 identities, rank 1 the next 2
        assert set(VIS[[x.visible for x in b0]]).isdisjoint(VIS[[x.visible for x in b1]])
    with pytest.raises(ConfigError, match=r"data.num_ids=3 .* 2 processes.*per_rank_batch"):
        make(num_ids=3, world_size=2)
    state = r0.state_dict()
    with pytest.raises(CheckpointError, match="per_rank"):
        make(num_ids=2, rank=0, world_size=2, per_rank=True).load_state_dict({**state, "num_ids": 2})


def test_state_round_trip_resumes_mid_epoch():
    s = make()
    s.set_epoch(3)
    full = batches(s)
    state = s.state_dict(batches_done=4)
    t = make()
    t.load_state_dict(state)
    t.set_epoch(3)  # the training loop sets the epoch again after loading: still resumes
    assert batches(t) == full[4:]
    assert batches(t) == full  # the next pass over the same epoch is complete again
    t.set_epoch(4)
    s.set_epoch(4)
    assert list(t) == list(s)
    with pytest.raises(CheckpointError, match="num_ids=3, this run has 2"):
        make(num_ids=2).load_state_dict(state)
    with pytest.raises(CheckpointError, match="batches_done"):
        make().load_state_dict({**state, "batches_done": 10**6})
