"""What reading an index's descriptors by position costs, against a memory map (issue 24: a file
truncated while mapped kills the process with SIGBUS; :mod:`vireid.search.feats_file` reads by
position instead, so a truncation is an error).

    python -m benchmarks.search_storage [--quick]

On one saved index (200k x 2048 float32, 1.6 GB, read once before: in the page cache as far as
the machine's free memory allows), in paired rounds:

* the whole file into memory (``GalleryIndex.load``'s read): :class:`FeatsFile` chunks of 512 KiB
  by ``preadv`` vs ``safetensors`` (``safe_open`` + ``get_tensor``, copied: it may return the
  mapped file itself) vs one ``numpy.fromfile``;
* the rows an exact rescoring reads (35 per query, 1000 queries, repeats included):
  ``FeatsFile.take`` vs fancy indexing of an ``np.memmap`` vs ``index_select`` in memory;
* searches of an index left on disk (``load(..., mmap=True)``, bf16 scan: only candidate rows are
  read) vs the same index in memory, one query and 1000.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import cli, interleaved_samples, paired_ratio

ROOT = Path(__file__).resolve().parent.parent


def _ms(v: list[float]) -> float:
    return 1000 * statistics.median(v)


def run(quick: bool = False) -> list[dict]:
    from safetensors import safe_open

    from benchmarks.bench_search import descriptors
    from vireid.search import GalleryIndex
    from vireid.search.feats_file import FeatsFile, read_feats_header

    n, d, nq = (20_000, 2048, 200) if quick else (200_000, 2048, 1000)
    qry, gal = descriptors(nq, n, d, 0.7)
    rounds = 3 if quick else 5
    load = [open("/proc/loadavg").read().split()[0]]
    with tempfile.TemporaryDirectory(dir=ROOT / "runs" if (ROOT / "runs").is_dir() else None) as tmp:
        folder = Path(tmp) / "ix"
        GalleryIndex(gal, [{"path": "", "pid": 0, "camid": 0}] * n, modality="visible", scan="fp32").save(folder)
        path = folder / "feats.safetensors"
        header = read_feats_header(path)
        ff = FeatsFile(header)
        path.read_bytes()  # into the page cache

        def st_read():  # safetensors may hand out the mapped file itself: copy it, as a load must
            with safe_open(str(path), framework="pt") as fh:
                return fh.get_tensor("feats").clone()

        full = interleaved_samples(
            {
                "preadv chunks": ff.read,
                "safetensors": st_read,
                "numpy.fromfile": lambda: np.fromfile(path, dtype="<f4", offset=header.offset),
            },
            repeats=rounds,
        )
        g = torch.Generator().manual_seed(0)
        idx = torch.randint(0, n, (nq * 35,), generator=g)
        mm = np.memmap(path, dtype="<f4", mode="r", offset=header.offset, shape=(n, d))
        rows = interleaved_samples(
            {
                "preadv": lambda: ff.take(idx),
                "memmap": lambda: torch.from_numpy(mm[idx.numpy()]),
                "in memory": lambda: gal.index_select(0, idx),
            },
            repeats=rounds,
        )
        disk = GalleryIndex.load(folder, mmap=True, scan="bf16")
        memory = GalleryIndex.load(folder, scan="bf16")
        search = interleaved_samples(
            {
                "disk 1": lambda: disk.search(qry[:1], 10),
                "memory 1": lambda: memory.search(qry[:1], 10),
                "disk batch": lambda: disk.search(qry, 10),
                "memory batch": lambda: memory.search(qry, 10),
            },
            repeats=rounds,
        )
        same = np.array_equal(disk.search(qry, 10).indices, memory.search(qry, 10).indices)
        ff.close()
    load.append(open("/proc/loadavg").read().split()[0])
    note = f"1-min load {load[0]} -> {load[1]} on {os.cpu_count()} cores; paired rounds: {rounds}"
    gib = n * d * 4 / 2**30
    x = paired_ratio(full["safetensors"], full["preadv chunks"])
    y = paired_ratio(rows["memmap"], rows["preadv"])
    return [
        {
            "name": f"whole file ({gib:.2f} GiB, read once before) by 512 KiB preadv chunks",
            "value": round(_ms(full["preadv chunks"])),
            "unit": "ms",
            "note": f"{gib / statistics.median(full['preadv chunks']):.1f} GiB/s; safetensors (map + copy) "
            f"{_ms(full['safetensors']):.0f} ms (**{x[0]:.2f}x** the preadv time, paired), one numpy.fromfile "
            f"{_ms(full['numpy.fromfile']):.0f} ms; {note}",
        },
        {
            "name": f"{len(idx)} rescoring rows ({nq} queries x 35) by preadv",
            "value": round(_ms(rows["preadv"]), 1),
            "unit": "ms",
            "note": f"{1e6 * statistics.median(rows['preadv']) / len(idx):.2f} us per row; memmap fancy indexing "
            f"{_ms(rows['memmap']):.1f} ms (**{y[0]:.2f}x** the preadv time), in memory "
            f"{_ms(rows['in memory']):.1f} ms",
        },
        {
            "name": "one query, index on disk (mmap=True, bf16 scan)",
            "value": round(_ms(search["disk 1"]), 1),
            "unit": "ms",
            "note": f"in memory {_ms(search['memory 1']):.1f} ms "
            f"(on disk takes {1 / paired_ratio(search['memory 1'], search['disk 1'])[0]:.2f}x its time)",
        },
        {
            "name": f"{nq} queries, index on disk (mmap=True, bf16 scan)",
            "value": round(_ms(search["disk batch"])),
            "unit": "ms",
            "note": f"in memory {_ms(search['memory batch']):.0f} ms (on disk takes "
            f"{1 / paired_ratio(search['memory batch'], search['disk batch'])[0]:.2f}x its time); same results: "
            f"{'yes' if same else 'NO'}",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    return cli("search_storage", "Search index storage: reading by position vs a memory map", run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
