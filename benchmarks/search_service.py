"""Search as a service sees it (issue 30), for :mod:`benchmarks.bench_search`: what an index costs
before its first answer, and what one answer costs after.

Per shape, in one process, in paired rounds (round r starts with method r mod 2):

* **build**: vireid ``GalleryIndex`` (one pass: validation, bf16 copy, bounds) vs faiss
  ``IndexFlatIP`` + ``add``, from the same float32 array in memory;
* **build + one batch**: the build, then the first search of the batch on it;
* **latency**: one query and 16 queries on the built indexes, with the **memory-bandwidth floor**
  measured in the same rounds: one read of the bf16 copy (the faster of a bf16 sum and an int16
  max over it), the least any scan of it can cost;
* **peak memory**: RSS of a child process per method (:mod:`benchmarks.search_memory`) that loads
  the array (``np.load``), builds and searches one batch (its high-water mark above its RSS after
  imports, and the RSS it holds at the end);
  also vireid reading a saved index folder, in memory and with ``mmap=True``;
* **exactness**: every method's top-k against the float64 ranking (:func:`float64_topk`).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.search_memory import memory
from vireid.search import exact_topk

ROOT = Path(__file__).resolve().parent.parent
# (name, gallery rows, dimension, k, kind, batch sizes); kind: "clustered" (20 views of an
# identity, within-identity cosine 0.67) or "copies" (every vector 5 times)
SERVICE = [
    ("200k x 2048", 200_000, 2048, 10, "clustered", (1, 16)),
    ("1M x 256 clustered", 1_000_000, 256, 10, "clustered", (1000,)),
    ("200k x 768, every vector 5 times", 200_000, 768, 10, "copies", (1000,)),
    ("100k x 2048, k = 100", 100_000, 2048, 100, "clustered", (1000,)),
]
QUICK = [
    ("20k x 2048", 20_000, 2048, 10, "clustered", (1, 16)),
    ("100k x 256 clustered", 100_000, 256, 10, "clustered", (200,)),
    ("20k x 768, every vector 5 times", 20_000, 768, 10, "copies", (200,)),
    ("10k x 2048, k = 100", 10_000, 2048, 100, "clustered", (200,)),
]
MIB = 2.0**20


class Entries:
    """``n`` placeholder entries (a list of a million dicts would weigh more than the gallery)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"path": str(i), "pid": 0, "camid": 0}


def data(n: int, d: int, kind: str, nq: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(queries, gallery) unit vectors of a service shape."""
    from benchmarks.bench_search import descriptors

    if kind == "clustered":
        return descriptors(nq, n, d, 0.7, seed=seed)
    g = torch.Generator().manual_seed(seed)
    base = F.normalize(torch.randn(n // 5, d, generator=g), dim=1)
    gallery = base.repeat(5, 1)  # row i and row i + n/5 are the same vector
    pick = base[torch.randint(0, len(base), (nq,), generator=g)]
    return F.normalize(pick + 0.05 * torch.randn(nq, d, generator=g), dim=1), gallery


def float64_topk(qry: torch.Tensor, gal: torch.Tensor, k: int, block: int = 32768) -> torch.Tensor:
    """Indices of the k largest inner products, ranked by float64 scores with ties broken by the
    lower index: a float64 matrix product finds every row within 1e-9 of the k-th score (its own
    error is below 1e-12 for unit vectors), whose scores are then taken row by row (products
    summed per row, so equal rows get equal scores -- a matrix product may round them
    differently) and sorted stably."""
    k = min(k, gal.shape[0])
    q64 = qry.double()
    keep = min(gal.shape[0], k + 64)
    best_s = torch.full((len(q64), 0), -float("inf"), dtype=torch.float64)
    best_i = torch.zeros((len(q64), 0), dtype=torch.long)
    for a in range(0, gal.shape[0], block):
        s = q64 @ gal[a : a + block].double().T
        s, i = s.topk(min(keep, s.shape[1]), dim=1)
        best_s, pos = torch.cat([best_s, s], 1).topk(min(keep, best_s.shape[1] + s.shape[1]), dim=1)
        best_i = torch.cat([best_i, i + a], 1).gather(1, pos)
    out = torch.empty(len(q64), k, dtype=torch.long)
    for r in range(len(q64)):
        tau = float(best_s[r, k - 1]) - 1e-9
        if float(best_s[r, -1]) >= tau and keep < gal.shape[0]:  # more near-ties than kept: all rows
            cand = torch.cat(
                [
                    ((gal[a : a + block].double() @ q64[r]) >= tau).nonzero().flatten() + a
                    for a in range(0, len(gal), block)
                ]
            )
        else:
            cand = best_i[r][best_s[r] >= tau].sort().values
        exact = (gal[cand].double() * q64[r]).sum(1)
        order = torch.sort(exact, descending=True, stable=True).indices  # cand ascending: ties by index
        out[r] = cand[order[:k]]
    return out


def floor_seconds(copy: torch.Tensor) -> float:
    """Seconds of one read of ``copy``: the faster of two simple readers (bf16 sum, int16 max)."""
    t = []
    for fn in (lambda: copy.sum(), lambda: copy.view(torch.int16).max()):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def _load() -> str:
    return open("/proc/loadavg").read().split()[0]


def build_vireid(gal: torch.Tensor):
    from vireid.search import GalleryIndex

    return GalleryIndex(gal, Entries(len(gal)), modality="visible")


def build_faiss(gal: torch.Tensor):
    import faiss

    index = faiss.IndexFlatIP(gal.shape[1])
    index.add(gal.numpy())
    return index


def search_vireid(index, q: torch.Tensor, k: int) -> torch.Tensor:
    return torch.from_numpy(index.search(q, k).indices)


def search_faiss(index, q: torch.Tensor, k: int) -> torch.Tensor:
    return torch.from_numpy(index.search(q.numpy(), k)[1])


METHODS = {"vireid": (build_vireid, search_vireid), "faiss": (build_faiss, search_faiss)}


def timed_rounds(gal, qry, k, batches, rounds) -> tuple[dict, dict]:
    """Per method and round: build seconds and the first search of each batch after it."""
    t: dict = {m: {"build": [], **{b: [] for b in batches}} for m in METHODS}
    results: dict = {}
    names = list(METHODS)
    for r in range(rounds):
        for i in range(len(names)):
            m = names[(r + i) % len(names)]
            build, search = METHODS[m]
            t0 = time.perf_counter()
            index = build(gal)
            t[m]["build"].append(time.perf_counter() - t0)
            for b in batches:
                t0 = time.perf_counter()
                results[(m, b)] = search(index, qry[:b], k)
                t[m][b].append(time.perf_counter() - t0)
            del index
    return t, results


def latency_rounds(indexes: dict, qry, k, rounds) -> dict:
    """Seconds per call: the floor, then 1 and 16 queries per method, rotating the order."""
    copy = indexes["vireid"]._prepared()
    fns = {"floor": lambda: floor_seconds(copy.data)} if copy is not None else {}
    for m, index in indexes.items():
        for b in (1, 16):
            fns[f"{m} {b}"] = lambda m=m, index=index, b=b: METHODS[m][1](index, qry[:b], k)
    for fn in fns.values():
        fn()
    t: dict = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for i in range(len(names)):
            name = names[(r + i) % len(names)]
            t0 = time.perf_counter()
            got = fns[name]()
            t[name].append(got if name == "floor" else time.perf_counter() - t0)
    return t


def paired(ref: list, other: list) -> tuple[float, float, float]:
    """Median, min, max over rounds of ref[i] / other[i]."""
    r = sorted(a / b for a, b in zip(ref, other, strict=True))
    return statistics.median(r), r[0], r[-1]


def agreement(results: dict, ref: torch.Tensor) -> dict:
    """Per (method, batch): 'equal/queries' against the float64 ranking."""
    return {key: f"{int((idx == ref[: len(idx)]).all(1).sum())}/{len(idx)}" for key, idx in results.items()}


def _ok(a: str) -> bool:
    x, y = a.split("/")
    return x == y


def _work(st: dict) -> str:
    """The products' time and the Python work between them (selection, rescoring) of one call."""
    total = st["scan"] + st["select"] + st["rescore"] + st["fallback"]
    other = total - st["scan"]
    return (
        f"products {1000 * st['scan']:.1f} ms, other work {1000 * other:.1f} ms ({100 * other / total:.1f} %) "
        f"over {st['blocks']} gallery blocks"
    )


def run_case(name, n, d, k, kind, batches, rounds=3, lat_rounds=7, with_memory=True) -> tuple[list, dict]:
    """The rows of one service shape, and its summary for the targets."""
    from benchmarks.search_before import blocked_topk

    nq = max(max(batches), 16)
    qry, gal = data(n, d, kind, nq)
    ref = float64_topk(qry, gal, k)
    load0 = _load()
    t, results = timed_rounds(gal, qry, k, batches, rounds)
    indexes = {m: METHODS[m][0](gal) for m in METHODS}
    lat = latency_rounds(indexes, qry, k, lat_rounds)
    for m, index in indexes.items():
        for b in (1, 16):
            results[(m, f"latency {b}")] = METHODS[m][1](index, qry[:b], k)
    results[("torch", max(batches))] = blocked_topk(qry[: max(batches)], gal, k)[1]
    load = f"load {load0} -> {_load()} (1-min average, {os.cpu_count()} cores)"
    copy = indexes["vireid"]._prepared()
    copy_mib = copy.nbytes / MIB if copy is not None else 0.0
    split = {}
    for b in (1, 16):  # the time split of one more call: products vs the Python work between them
        st: dict = {}
        exact_topk(qry[:b], gal, k, bf16=copy is not None, gallery_bf16=copy, stats=st)
        split[b] = st
    del indexes
    agree = agreement(results, ref)
    mem = memory(gal, qry[: max(batches)], k) if with_memory else {}
    shape = f"{name} ({d}-d, top-{k})"
    med = {m: {key: statistics.median(v) for key, v in tm.items()} for m, tm in t.items()}
    bx = paired(t["faiss"]["build"], t["vireid"]["build"])
    rows = [
        {
            "name": f"{shape}: build",
            "value": round(med["vireid"]["build"], 3),
            "unit": "s",
            "note": f"vireid GalleryIndex (validation + bf16 copy + bounds, one pass) {med['vireid']['build']:.2f} s, "
            f"faiss IndexFlatIP + add {med['faiss']['build']:.2f} s: vireid takes **{1 / bx[0]:.2f}x** faiss's "
            f"time (paired rounds {1 / bx[2]:.2f}-{1 / bx[1]:.2f}); bf16 copy {copy_mib:.0f} MiB; {load}",
        }
    ]
    summary = {"case": name, "d": d, "k": k, "build": 1 / bx[0], "load": load, "copy": copy_mib}
    for b in batches:
        vb = [x + y for x, y in zip(t["vireid"]["build"], t["vireid"][b], strict=True)]
        fb = [x + y for x, y in zip(t["faiss"]["build"], t["faiss"][b], strict=True)]
        x, lo, hi = paired(fb, vb)
        sx = paired(t["faiss"][b], t["vireid"][b])[0]
        summary[f"build+{b}"] = x
        rows.append(
            {
                "name": f"{shape}: build + first search of {b} {'query' if b == 1 else 'queries'}",
                "value": round(statistics.median(vb), 3),
                "unit": "s",
                "note": f"**{x:.2f}x faiss** (paired rounds {lo:.2f}-{hi:.2f}; faiss {statistics.median(fb):.2f} s); "
                f"the search alone {med['vireid'][b]:.3f} s vs faiss {med['faiss'][b]:.3f} s ({sx:.2f}x); "
                f"= float64: vireid {agree[('vireid', b)]}, faiss {agree[('faiss', b)]}, "
                f"torch {agree.get(('torch', b), 'n/a')}",
            }
        )
    floor = statistics.median(lat["floor"]) if "floor" in lat else float("nan")
    for b in (1, 16):
        v, f = statistics.median(lat[f"vireid {b}"]), statistics.median(lat[f"faiss {b}"])
        x = paired(lat[f"faiss {b}"], lat[f"vireid {b}"])
        xf = paired(lat[f"vireid {b}"], lat["floor"])[0] if "floor" in lat else float("nan")
        summary[f"lat{b}"], summary[f"lat{b}_floor"], summary[f"lat{b}_faiss"] = v, xf, x[0]
        rows.append(
            {
                "name": f"{shape}: {b} {'query' if b == 1 else 'queries'}, built index",
                "value": round(v * 1000, 1),
                "unit": "ms",
                "note": f"**{xf:.2f}x the floor** ({floor * 1000:.1f} ms: one read of the {copy_mib:.0f} MiB bf16 "
                f"copy, {copy_mib / 1024 / floor:.1f} GiB/s, same rounds); faiss {f * 1000:.1f} ms: "
                f"**{x[0]:.2f}x faiss** (paired rounds {x[1]:.2f}-{x[2]:.2f}); = float64: vireid "
                f"{agree[('vireid', f'latency {b}')]}, faiss {agree[('faiss', f'latency {b}')]}; "
                f"one more call: {_work(split[b])}",
            }
        )
    if mem:
        v, fa = mem.get("vireid", {}), mem.get("faiss", {})
        summary["peak_vireid"], summary["peak_faiss"] = v.get("peak"), fa.get("peak")

        def fmt(m: str) -> str:
            x = mem.get(m, {})
            return f"{m} {x['peak']:.0f} peak / {x['held']:.0f} held" if "peak" in x else f"{m} failed: {x}"

        rows.append(
            {
                "name": f"{shape}: peak memory, build + first batch",
                "value": round(v.get("peak", float("nan"))),
                "unit": "MiB",
                "note": f"RSS above the process after imports, a child per method, the gallery loaded by np.load "
                f"({v.get('loaded', float('nan')):.0f} MiB) included: {fmt('vireid')}, {fmt('faiss')}; bound: "
                f"faiss + bf16 copy = {fa.get('peak', float('nan')) + copy_mib:.0f}; reading the saved index "
                f"folder (its JSON entries included): {fmt('vireid load')}, {fmt('vireid load mmap')}",
            }
        )
    summary["exact"] = all(_ok(a) for (m, _), a in agree.items() if m == "vireid")
    summary["agree"] = agree
    return rows, summary
