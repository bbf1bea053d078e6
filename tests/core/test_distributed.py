"""Two CPU processes (gloo): DDP equals averaged gradients; a tiny `train` run shards identities
and writes its checkpoint once; by default a 2-process step equals the 1-process step on the same
global batch (identities split over the ranks, global triplet/CPM, synchronised BatchNorm)."""

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from tests.engine.tiny import CONFIGS, TinyData, TinyReID, read_metrics, tiny_dataset
from vireid.objective import build_objective


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_step(model, batches, lr=0.1):
    """Plain SGD step; gradients averaged over ``batches`` computed separately."""
    crit = build_objective(model, global_batch=False)
    grads = [torch.zeros_like(p) for p in model.parameters()]
    for x_vis, x_ir, y_vis, y_ir in batches:
        model.zero_grad()
        sum(crit(model(x_vis, x_ir), y_vis, y_ir).values()).backward()
        for g, p in zip(grads, model.parameters(), strict=True):
            g += p.grad / len(batches)
    with torch.no_grad():
        for g, p in zip(grads, model.parameters(), strict=True):
            p -= lr * g


def worker(rank: int, world: int, port: int, out: str, data_root: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    from vireid.config import load_config
    from vireid.core import distributed as du
    from vireid.engine.checkpoint import CheckpointManager
    from vireid.engine.run import train
    from vireid.engine.trainer import Trainer

    info = du.init_distributed(torch.device("cpu"))
    assert info.world_size == world and info.rank == rank
    # 1) one DDP SGD step from identical weights, each rank's batch apart (per-rank batches)
    torch.manual_seed(0)
    model = TinyReID(dropout=0.0)
    ddp = du.wrap_ddp(model, torch.device("cpu"), info)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x_vis, x_ir, y_vis, y_ir = TinyData().batch(0, rank)
    loss = sum(build_objective(model, global_batch=False)(ddp(x_vis, x_ir), y_vis, y_ir).values())
    opt.zero_grad()
    loss.backward()
    opt.step()
    if rank == 0:
        torch.save({k: v.detach().clone() for k, v in model.named_parameters()}, Path(out) / "ddp.pt")

    # 2) a tiny training run: record the labels each rank trains on and who writes checkpoints
    seen = []
    run_step = Trainer.run_step

    def recording_step(self, batch):
        seen.append([batch[2].tolist(), batch[3].tolist(), max(g["lr"] for g in self.optimizer.param_groups)])
        return run_step(self, batch)

    save_last = CheckpointManager.save_last

    def counting_save(self, *a, **k):
        with open(Path(out) / f"saves-{rank}.txt", "a") as fh:
            fh.write("1\n")
        return save_last(self, *a, **k)

    Trainer.run_step = recording_step
    CheckpointManager.save_last = counting_save
    # per-rank batches (each rank its own 2 identities, LR x 2 -> lowered): the throughput option
    cfg = load_config(
        CONFIGS / "test_tiny.yaml", [f"data.root={data_root}", "data.per_rank_batch=true", "optim.lr=0.02"]
    )
    summary = train(cfg, Path(out) / "run", quiet=True).summary
    (Path(out) / f"labels-{rank}.json").write_text(json.dumps({"seen": seen, "rank1": summary["mean"]["rank1"]}))
    du.cleanup()


def test_two_process_ddp(tmp_path):
    data_root = tiny_dataset(tmp_path / "data")
    mp.spawn(worker, args=(2, free_port(), str(tmp_path), data_root), nprocs=2, join=True)

    # DDP step == one process averaging the two ranks' gradients
    torch.manual_seed(0)
    ref = TinyReID(dropout=0.0)
    one_step(ref, [TinyData().batch(0, 0), TinyData().batch(0, 1)])
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    for name, p in ref.named_parameters():
        assert torch.allclose(ddp[name], p, atol=1e-6, rtol=0), name

    # ranks train on disjoint identities, both modalities of an identity on the same rank
    r0, r1 = (json.loads((tmp_path / f"labels-{r}.json").read_text()) for r in (0, 1))
    assert len(r0["seen"]) == len(r1["seen"]) == 4
    for step, ((v0, i0, lr), (v1, i1, _)) in enumerate(zip(r0["seen"], r1["seen"], strict=True)):
        assert v0 == i0 and v1 == i1
        assert not set(v0) & set(v1) and len(set(v0)) == len(set(v1)) == 2  # P = 2 identities per rank
        # linear LR scaling, 0.02 x 2 processes; x 0.1 from epoch 2 (test_tiny's step schedule)
        assert lr == pytest.approx(0.04 if step < 2 else 0.004)
    assert r0["rank1"] == r1["rank1"]  # gathered features: both ranks evaluate the same
    # checkpoints are written by rank 0 only, once per epoch
    assert not (tmp_path / "saves-1.txt").exists()
    assert (tmp_path / "saves-0.txt").read_text().count("1") == 2
    assert (tmp_path / "run" / "checkpoints" / "best.safetensors").is_file()
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_world_size_one_launch_uses_ddp(monkeypatch):
    """``torchrun --nproc_per_node 1`` (RANK=0, WORLD_SIZE=1): a process group of one and DDP."""
    from torch.nn.parallel import DistributedDataParallel

    from vireid.core import distributed as du

    assert not du.launched_by_torchrun() and not du.DistInfo().enabled  # plain process: no DDP
    for k, v in dict(
        RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port())
    ).items():
        monkeypatch.setenv(k, v)
    try:
        info = du.init_distributed(torch.device("cpu"))
        assert (info.rank, info.world_size, info.process_group, info.enabled) == (0, 1, True, True)
        assert du.current() == info
        ddp = du.wrap_ddp(TinyReID(), torch.device("cpu"), info)
        assert isinstance(ddp, DistributedDataParallel)
        assert du.shard_range(10, info) == range(10)
        x = torch.arange(6.0).view(3, 2)
        assert torch.equal(du.all_gather_cat(x), x)
    finally:
        du.cleanup()
    assert not du.current().enabled


# one step of the tiny DEEN (3 embeddings, MFA, DEE, BatchNorm everywhere) through `vireid train`;
# no dropout so that the two runs draw nothing at random besides the shared batch
ONE_STEP = ["train.epochs=1", "train.steps_per_epoch=1", "eval.every=0", "model.args.dee_dropout=0.0", "data.num_ids=4"]


def one_step_worker(rank: int, world: int, port: int, out: str, data_root: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    from vireid.config import load_config
    from vireid.core import distributed as du
    from vireid.engine.run import train
    from vireid.engine.trainer import Trainer

    du.init_distributed(torch.device("cpu"))
    seen = []
    run_step = Trainer.run_step

    def recording_step(self, batch):
        seen.append(batch[2].tolist())
        return run_step(self, batch)

    Trainer.run_step = recording_step
    cfg = load_config(CONFIGS / "test_tiny.yaml", [f"data.root={data_root}", *ONE_STEP])
    train(cfg, Path(out) / "run2", quiet=True)
    (Path(out) / f"ids-{rank}.json").write_text(json.dumps(seen))
    du.cleanup()


def test_two_processes_equal_one_process_on_the_same_global_batch(tmp_path):
    """The default multi-process run is the one-process recipe: P = 4 identities split 2 + 2 over the
    ranks, triplet and CPM on the all-gathered embeddings, BatchNorm over both ranks' images, DDP's
    gradient average -- one step gives the same loss terms, weights and BN statistics."""
    from vireid.config import load_config
    from vireid.engine.checkpoint import read_weights
    from vireid.engine.run import train

    data_root = tiny_dataset(tmp_path / "data")
    mp.spawn(one_step_worker, args=(2, free_port(), str(tmp_path), data_root), nprocs=2, join=True)
    torch.set_num_threads(1)
    cfg = load_config(CONFIGS / "test_tiny.yaml", [f"data.root={data_root}", *ONE_STEP])
    train(cfg, tmp_path / "run1", quiet=True)

    ids = [json.loads((tmp_path / f"ids-{r}.json").read_text())[0] for r in (0, 1)]
    assert len(set(ids[0])) == len(set(ids[1])) == 2 and not set(ids[0]) & set(ids[1])

    def losses(run):
        rec = read_metrics(tmp_path / run / "metrics.jsonl")
        return {k: v for k, v in rec[0].items() if k.startswith("loss/")}

    one, two = losses("run1"), losses("run2")
    assert set(one) == {"loss/id", "loss/tri", "loss/cpm", "loss/ort", "loss/total"} == set(two)
    for k in one:  # relative: the tiny model's first losses are ~30, where float32 steps are ~2e-6
        assert abs(one[k] - two[k]) <= 1e-5 * max(1.0, abs(one[k])), (k, one[k], two[k])
    w1, _ = read_weights(tmp_path / "run1" / "checkpoints" / "best.safetensors")
    w2, _ = read_weights(tmp_path / "run2" / "checkpoints" / "best.safetensors")
    assert w1.keys() == w2.keys()
    for name in w1:
        assert torch.allclose(w1[name].float(), w2[name].float(), atol=1e-5, rtol=0), name
    # the BatchNorm statistics moved from their initial zeros: both runs trained in train mode
    assert w1["bottleneck.running_mean"].abs().max() > 1e-4
