"""End-to-end ``vireid train`` for ``benchmarks.gpu_check``: 20 steps (2 epochs x 10) of DEEN-R50
on a small synthetic SYSU-MM01-layout dataset (:mod:`vireid.data.synth`), with periodic and final
evaluation, checked for finite losses and a readable, finite checkpoint.

* DDP in one process: ``RANK=0 WORLD_SIZE=1`` (+ ``MASTER_ADDR/PORT``, ``LOCAL_RANK=0``) in the
  environment, so :func:`vireid.core.distributed.init_distributed` joins a process group of
  one (NCCL on the GPU, gloo in a dry run) and wraps the model in DDP; AMP fp16 + GradScaler.
* One process without DDP, bf16 autocast + channels_last (the single-GPU default).
* ``torchrun --nproc_per_node 2 -m vireid train`` when two GPUs are visible (or ``--ddp-procs 2``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
from pathlib import Path
from typing import Any, Iterator

import yaml

from benchmarks._gpu_common import REPO, Rows, Settings, fail_row, python, row, say, skip_row, stream

STEPS_PER_EPOCH, EPOCHS = 10, 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(s: Settings, path: Path, *, amp: str, channels_last: bool) -> Path:
    """A config on top of ``configs/deen_sysu.yaml`` (dry: tiny DEEN, 32x16 images)."""
    steps = 3 if s.dry else STEPS_PER_EPOCH
    cfg: dict[str, Any] = {
        "base": str(REPO / "configs" / "deen_sysu.yaml"),
        "data": {
            "root": str(s.work / "synth-sysu"),
            "workers": 0 if s.dry else 2,
            "test_batch_size": 64,
            "synth": {
                "num_ids": 10 if s.dry else 24,
                "num_test_ids": 3 if s.dry else 6,
                "images_per_id_per_cam": 1 if s.dry else 2,
                "seed": 0,
                "difficulty": 0.3,
            },
        },
        "model": {"pretrained": "none"},  # the GPU machine has no network; the step time is the same
        "optim": {"warmup_epochs": 1, "milestones": [1], "gammas": [0.1]},
        "train": {
            "epochs": EPOCHS,
            "steps_per_epoch": steps,
            "amp": amp,
            "channels_last": channels_last,
            "compile": False,
            "device": "cpu" if s.dry else "cuda",
            "threads": 1 if s.dry else 0,
            "log_every": 1,
            "progress": False,
            "tensorboard": True,
            "checkpoint_every": 0,
        },
        "eval": {"every": 1, "trials": 1},
    }
    if s.dry:
        cfg["data"].update(height=32, width=16, pad=2, num_ids=2, num_pos=2)
        cfg["model"]["args"] = {"base_channels": 4, "layers": [1, 1, 1, 1]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def check_run(run_dir: Path, steps: int) -> dict[str, Any]:
    """Finite losses for every step in ``metrics.jsonl``, a last and a best checkpoint whose
    tensors load and are finite; returns figures for the report or raises ``AssertionError``."""
    import torch
    from safetensors.torch import load_file

    recs = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    train = [r for r in recs if any(k.startswith("loss/") for k in r)]
    assert len(train) >= steps, f"{len(train)} training records in metrics.jsonl, expected {steps}"
    bad = [
        (r["step"], k, v)
        for r in train
        for k, v in r.items()
        if k.startswith("loss/") and not (isinstance(v, (int, float)) and math.isfinite(v))
    ]
    assert not bad, f"non-finite loss: step {bad[0][0]} {bad[0][1]} = {bad[0][2]}"
    ckpt = run_dir / "checkpoints"
    pointer = json.loads((ckpt / "last.json").read_text())
    assert int(pointer.get("step", -1)) == steps, f"last checkpoint at step {pointer.get('step')}, expected {steps}"
    files = [ckpt / str(pointer["dir"]) / "model.safetensors", ckpt / "best.safetensors"]
    for f in files:
        tensors = load_file(str(f))
        assert tensors, f"{f}: no tensors"
        assert all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point()), (
            f"{f}: non-finite weights"
        )
    assert (run_dir / "metrics.json").is_file(), "no metrics.json (final evaluation)"
    summary = json.loads((run_dir / "metrics.json").read_text())
    last = train[-1]
    return {
        "loss": last.get("loss/total", sum(v for k, v in last.items() if k.startswith("loss/"))),
        "images_per_s": float(last.get("images_per_s", float("nan"))),
        "rank1": float(summary["mean"]["rank1"]),
        "checkpoint": str(files[0].relative_to(run_dir)),
        "tensorboard": (run_dir / "tb").is_dir(),
    }


@contextlib.contextmanager
def env_vars(**values: str) -> Iterator[None]:
    """Set environment variables inside the block, restoring the previous values afterwards."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _report(rows: Rows, name: str, facts: dict[str, Any], extra: str = "") -> None:
    note = (
        f"losses finite, last total {facts['loss']:.3f}; checkpoint {facts['checkpoint']} + best written "
        f"and finite; Rank-1 {100 * facts['rank1']:.1f}% (synthetic); tensorboard "
        f"{'written' if facts['tensorboard'] else 'not installed (skipped)'}" + extra
    )
    rows.add(row("train", name, facts["images_per_s"], "img/s", note))


def run_in_process(s: Settings, rows: Rows, name: str, *, ddp: bool, amp: str, channels_last: bool) -> None:
    import torch.distributed as dist

    from vireid.config import load_config
    from vireid.core import distributed as dist_utils
    from vireid.engine.run import train

    tag = re.sub(r"[^a-z0-9]+", "-", name.split(",")[0].lower()).strip("-")
    cfg = load_config(write_config(s, s.work / f"{tag}.yaml", amp=amp, channels_last=channels_last))
    run_dir = s.work / f"run-{tag}"
    steps = EPOCHS * cfg.train.steps_per_epoch
    say(f"train: {name}: {steps} steps into {run_dir}")
    env = dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    backend = ""
    with env_vars(**env) if ddp else contextlib.nullcontext():
        try:
            train(cfg, run_dir, quiet=False)
            if ddp:
                assert dist.is_initialized(), "no process group after train(): DDP was not used"
                info = dist_utils.current()
                assert info.enabled and info.world_size == 1, f"DDP not enabled: {info}"
                backend = str(dist.get_backend())
        finally:
            dist_utils.cleanup()
    facts = check_run(run_dir, steps)
    _report(rows, name, facts, f"; process group backend {backend}, world size 1" if ddp else "")


def run_torchrun(s: Settings, rows: Rows, name: str, procs: int, timeout: float) -> None:
    """``python -m torch.distributed.run --standalone --nproc_per_node N -m vireid train``."""
    cfg = write_config(s, s.work / "torchrun.yaml", amp="none" if s.dry else "bf16", channels_last=not s.dry)
    run_dir = s.work / "run-torchrun"
    cmd = [
        python(),
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={procs}",
        "-m",
        "vireid",
        "train",
        "--config",
        str(cfg),
        "--out",
        str(run_dir),
    ]
    say(f"train: {name}: {' '.join(cmd[1:])}")
    rc, tail = stream(cmd, timeout, lambda line: say(f"  | {line}"))
    if rc != 0:
        what = "timed out" if rc is None else f"exited with {rc}"
        raise RuntimeError(f"torchrun {what}: " + " | ".join(tail[-3:])[-400:])
    steps = EPOCHS * (3 if s.dry else STEPS_PER_EPOCH)
    facts = check_run(run_dir, steps)
    _report(rows, name, facts, f"; {procs} processes")


def run(s: Settings, rows: Rows) -> None:
    """Section ``train``; each run is checked on its own (a failure does not stop the next)."""
    import torch

    backend = "gloo" if s.dry else "NCCL"
    runs = [
        (
            f"DDP world size 1 ({backend}), " + ("fp32 (fp16 is CUDA-only)" if s.dry else "AMP fp16 + GradScaler"),
            dict(ddp=True, amp="none" if s.dry else "fp16", channels_last=False),
        )
    ]
    if not s.quick or s.dry:
        runs.append(("one process, no DDP, bf16 + channels_last", dict(ddp=False, amp="bf16", channels_last=True)))
    for name, kw in runs:
        try:
            run_in_process(s, rows, name, **kw)
        except Exception as exc:  # noqa: BLE001 - next run
            rows.add(fail_row("train", name, exc))
    gpus = torch.cuda.device_count() if s.cuda else 0
    procs = s.ddp_procs or (2 if gpus >= 2 else 1)
    name = f"torchrun, {procs} processes ({backend})"
    if procs < 2:
        rows.add(skip_row("train", "torchrun, 2 processes", f"{gpus} GPU(s) visible; needs 2"))
        return
    try:
        run_torchrun(s, rows, name, procs, timeout=90 if s.dry else 100)
    except Exception as exc:  # noqa: BLE001
        rows.add(fail_row("train", name, exc))
