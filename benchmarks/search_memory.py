"""Peak memory of a search method, each in a child process (for :mod:`benchmarks.search_service`).

    python -m benchmarks.search_memory --child METHOD FOLDER K

The child loads the gallery the method's way (``np.load`` of the array, or ``GalleryIndex.load``
of the saved index folder, in memory or left on disk), builds, searches one batch and prints its
RSS figures in MiB above its RSS after imports: ``peak`` (``VmHWM``, its high-water mark since
exec -- not ``ru_maxrss``, which a child inherits from the parent it was forked from) and ``held``
(its RSS at the end).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def rss_mib(key: str = "VmRSS") -> float:
    """This process's resident memory (``VmHWM``: its peak since exec -- unlike ``ru_maxrss``,
    which a child inherits from the parent it was forked from)."""
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(method: str, folder: str, k: int) -> dict:
    """Run in a fresh process: load, build, search one batch; RSS figures in MiB."""
    import faiss  # noqa: F401 - both methods pay the same imports

    from benchmarks.search_service import METHODS, search_vireid
    from vireid.search import GalleryIndex

    folder_p = Path(folder)
    qry = torch.from_numpy(np.load(folder_p / "queries.npy"))
    base = rss_mib()
    if method in ("vireid", "faiss"):
        gal = torch.from_numpy(np.load(folder_p / "gallery.npy"))
        loaded = rss_mib()
        index = METHODS[method][0](gal)
        METHODS[method][1](index, qry, k)
    else:
        index = GalleryIndex.load(folder_p / "index", mmap=method == "vireid load mmap", scan="auto")
        loaded = base
        search_vireid(index, qry, k)
    peak = rss_mib("VmHWM")
    return {"base": base, "loaded": loaded - base, "peak": peak - base, "held": rss_mib() - base}


def memory(gal: torch.Tensor, qry: torch.Tensor, k: int) -> dict:
    """Peak and held RSS (MiB above the process after imports) per method, each in a child."""
    from vireid.search import GalleryIndex

    out = {}
    with tempfile.TemporaryDirectory(dir=ROOT / "runs" if (ROOT / "runs").is_dir() else None) as tmp:
        np.save(Path(tmp) / "gallery.npy", gal.numpy())
        np.save(Path(tmp) / "queries.npy", qry.numpy())
        entries = [{"path": "", "pid": 0, "camid": 0}] * len(gal)
        GalleryIndex(gal, entries, modality="visible", scan="fp32").save(Path(tmp) / "index")
        for method in ("faiss", "vireid", "vireid load", "vireid load mmap"):
            cmd = [sys.executable, "-m", "benchmarks.search_memory", "--child", method, tmp, str(k)]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ})
            if done.returncode != 0:
                out[method] = {"error": done.stderr.strip().splitlines()[-1:]}
                continue
            out[method] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
