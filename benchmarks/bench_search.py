"""Exact cross-modal search over gallery shapes: vireid's exact index against faiss and torch.

Cases (top-10 by inner product of L2-normalised descriptors; a clustered gallery has
identities x 20 views, ``view = normalize(centre + s * unit noise)``, so two views of one
identity have cosine about ``1 / (1 + s^2)``; queries are views of random identities).  Every
shape at 2048-d and at 256-d (queries x gallery):

* tight:     s = 0.7 (within-identity cosine 0.67); 1000 x 100k at 2048-d, 1000 x 500k at 256-d
* isotropic: independent random directions; 1000 x 100k at 2048-d, 1000 x 500k at 256-d
* loose:     s = 1.0 (within-identity cosine 0.5); 300 x 50k at 2048-d, 1000 x 500k at 256-d

(sizes keep a full run near 30 minutes on 2 shared cores: 2 rounds where a case has over
1e11 multiply-adds, else 3; the float64 check uses 500 sampled queries)
* real:      descriptors of a DEEN trained on the synthetic benchmark (1000 infrared queries x
  86k visible images, 3072-d, see :mod:`benchmarks.search_real`), and the same descriptors
  projected to 256-d by PCA (fitted on the gallery, :func:`benchmarks.search_real.pca256`)
  and L2-normalised again; skipped until they are built.

Methods, timed in one process in interleaved rounds (round r starts with method r mod n):
vireid (``GalleryIndex`` exact backend: bf16 scan where the CPU has native bf16, float64
rescoring), vireid with ``scan="fp32"`` (one copy of the gallery), faiss ``IndexFlatIP``
(same thread count) and torch (float32 blocked matmul + topk), plus, once, the former
fixed-32-candidate certified scan (:mod:`benchmarks.search_before`) for its acceptance rate.
Every result is compared with a float64 reference (all queries, or a sample of 500).
``--quick`` runs smaller shapes.  Ratios are paired per round (median, min-max), by wall time
and by process CPU time (less sensitive to other load on a shared machine).  The time split
(scan = matrix products, selection, rescoring, fallback) is the vireid search's own, from one
extra run; "roofline now" is a bare matrix product of the same shape timed in the same run.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks import search_before as before
from benchmarks._common import cli, paired_ratio
from vireid.search import GalleryIndex, exact_topk

K = 10
FULL = [
    ("tight", 1000, 100_000, 2048, 0.7),
    ("isotropic", 1000, 100_000, 2048, None),
    ("loose", 300, 50_000, 2048, 1.0),
    ("tight", 1000, 500_000, 256, 0.7),
    ("isotropic", 1000, 500_000, 256, None),
    ("loose", 1000, 500_000, 256, 1.0),
]
QUICK = [
    ("tight", 200, 20_000, 2048, 0.7),
    ("isotropic", 200, 20_000, 2048, None),
    ("loose", 100, 10_000, 2048, 1.0),
    ("tight", 200, 100_000, 256, 0.7),
    ("isotropic", 200, 100_000, 256, None),
    ("loose", 200, 50_000, 256, 1.0),
]


def descriptors(nq: int, ng: int, d: int, spread: float | None, seed: int = 0, views: int = 20):
    """(queries, gallery): isotropic (``spread=None``) or identity-clustered unit vectors."""
    g = torch.Generator().manual_seed(seed)
    if spread is None:
        return (
            F.normalize(torch.randn(nq, d, generator=g), dim=1),
            F.normalize(torch.randn(ng, d, generator=g), dim=1),
        )
    centres = F.normalize(torch.randn(max(1, ng // views), d, generator=g), dim=1)

    def view(ids: torch.Tensor) -> torch.Tensor:
        out = torch.empty(len(ids), d)
        for a in range(0, len(ids), 65536):
            noise = F.normalize(torch.randn(min(65536, len(ids) - a), d, generator=g), dim=1)
            out[a : a + 65536] = F.normalize(centres[ids[a : a + 65536]] + spread * noise, dim=1)
        return out

    return view(torch.randint(0, len(centres), (nq,), generator=g)), view(torch.arange(ng) % len(centres))


def float64_agreement(qry: torch.Tensor, gal: torch.Tensor, results: dict, sample: int) -> dict[str, str]:
    """Per method: queries whose top-k list equals the float64 top-k (on ``sample`` queries)."""
    sel = torch.randperm(qry.shape[0], generator=torch.Generator().manual_seed(1))[:sample].sort().values
    ref = torch.cat(
        [(qry[sel[a : a + 64]].double() @ gal.double().T).topk(K, dim=1).indices for a in range(0, len(sel), 64)]
    )
    return {name: f"{int((idx[sel] == ref).all(1).sum())}/{len(sel)}" for name, idx in results.items()}


def gemm_roof(nq: int, d: int) -> tuple[float, float]:
    """GFLOP/s of a bare (queries x 8192 x d) product into a reused buffer now, best of 4:
    bf16 (torch), and float32 (the faster of torch and numpy's BLAS)."""
    m = min(nq, 4096)

    def best(fn) -> float:
        fn()
        t = min(_timed(fn) for _ in range(4))
        return 2 * m * 8192 * d / t / 1e9

    a, b = torch.randn(m, d), torch.randn(8192, d)
    ab, bb, out16, out = a.bfloat16(), b.bfloat16(), torch.empty(m, 8192, dtype=torch.bfloat16), torch.empty(m, 8192)
    an, bn, on = a.numpy(), b.numpy(), out.numpy()
    return (
        best(lambda: torch.mm(ab, bb.T, out=out16)),
        max(best(lambda: torch.mm(a, b.T, out=out)), best(lambda: np.matmul(an, bn.T, out=on))),
    )


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved(fns: dict, rounds: int) -> tuple[dict, dict]:
    """Wall and process CPU seconds per call, in rounds rotating the order (A B C, B C A, ...)."""
    wall: dict = {k: [] for k in fns}
    cpu: dict = {k: [] for k in fns}
    names = list(fns)
    for r in range(rounds):
        for i in range(len(names)):
            k = names[(r + i) % len(names)]
            t, c = time.perf_counter(), time.process_time()
            fns[k]()
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    return wall, cpu


def _split(s: dict) -> str:
    return (
        f"scan {s['scan']:.2f} s, selection {s['select']:.2f} s, rescoring {s['rescore']:.2f} s, "
        f"fallback {s['fallback']:.2f} s; candidates/query {s['candidates_mean']:.1f} mean, "
        f"{s['candidates_max']} max; resolved without fallback "
        f"{100 * (1 - s['fallback_queries'] / s['queries']):.1f} %"
    )


def run_case(name: str, qry: torch.Tensor, gal: torch.Tensor, rounds: int, sample: int) -> list[dict]:
    nq, ng, d = qry.shape[0], gal.shape[0], gal.shape[1]
    gflop = 2 * nq * ng * d / 1e9
    entries = [{"path": str(i), "pid": 0, "camid": 0} for i in range(ng)]
    index = GalleryIndex(gal, entries, modality="visible")
    index32 = GalleryIndex(gal, entries, modality="visible", scan="fp32")
    fns = {
        "vireid": lambda: index.search(qry, K),
        "vireid fp32 scan": lambda: index32.search(qry, K),
        "torch": lambda: before.blocked_topk(qry, gal, K),
    }
    results = {
        "vireid": torch.from_numpy(index.search(qry, K).indices),  # builds the bf16 copy
        "vireid fp32 scan": torch.from_numpy(index32.search(qry, K).indices),
        "torch": before.blocked_topk(qry, gal, K)[1],
    }
    try:
        import faiss

        faiss.omp_set_num_threads(torch.get_num_threads())
        flat = faiss.IndexFlatIP(d)
        flat.add(gal.numpy())
        fns["faiss"] = lambda: flat.search(qry.numpy(), K)
        results["faiss"] = torch.from_numpy(flat.search(qry.numpy(), K)[1])
    except ImportError:
        flat = None
    roof16, roof32 = gemm_roof(nq, d)
    load0 = os.getloadavg()[0]
    wall, cpu = interleaved(fns, rounds)
    load = f"1-min load average {load0:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores during the rounds"
    prepared = index._prepared()
    st: dict = {}
    exact_topk(qry, gal, K, bf16=prepared is not None, gallery_bf16=prepared, stats=st)
    st32: dict = {}
    exact_topk(qry, gal, K, bf16=False, gallery_bounds=(index32._norm, 0.0), stats=st32)
    old: dict = {}
    if prepared is not None:
        gb = gal.to(torch.bfloat16)
        bounds = before.bf16_bounds(gal, gb)
        t, c = time.perf_counter(), time.process_time()
        results["before"] = before.certified_topk(qry, gal, K, gb, bounds, stats=old)[1]
        old.update(wall=time.perf_counter() - t, cpu=time.process_time() - c)
        del gb
    agree = float64_agreement(qry, gal, results, sample)
    med = {k: statistics.median(v) for k, v in wall.items()}
    mcpu = {k: statistics.median(v) for k, v in cpu.items()}

    def vs_faiss(k: str) -> str:
        if "faiss" not in wall:
            return "faiss not installed; "
        r, lo, hi = paired_ratio(wall["faiss"], wall[k])
        rc = paired_ratio(cpu["faiss"], cpu[k])[0]
        return (
            f"**{r:.2f}x faiss** (paired rounds {lo:.2f}-{hi:.2f}; CPU time {rc:.2f}x), "
            f"{paired_ratio(wall['torch'], wall[k])[0]:.2f}x torch; "
        )

    copy = prepared.nbytes / 2**20 if prepared is not None else 0
    rows = [
        {
            "name": f"{name}, {nq} x {ng}: vireid exact ({st['precision']} scan)",
            "value": med["vireid"],
            "unit": "s",
            "note": vs_faiss("vireid") + f"{gflop / med['vireid']:.0f} GFLOP/s; {_split(st)}; "
            f"= float64 top-{K}: {agree['vireid']}; bf16 copy {copy:.0f} MiB; {load}",
        },
        {
            "name": f"{name}: vireid exact, scan=fp32 (one copy)",
            "value": med["vireid fp32 scan"],
            "unit": "s",
            "note": vs_faiss("vireid fp32 scan") + f"{gflop / med['vireid fp32 scan']:.0f} GFLOP/s; {_split(st32)}; "
            f"= float64: {agree['vireid fp32 scan']}",
        },
    ]
    if "faiss" in wall:
        rows.append(
            {
                "name": f"{name}: faiss IndexFlatIP",
                "value": med["faiss"],
                "unit": "s",
                "note": f"{gflop / med['faiss']:.0f} GFLOP/s, CPU {mcpu['faiss']:.2f} s; = float64: {agree['faiss']}",
            }
        )
    rows.append(
        {
            "name": f"{name}: torch float32 matmul + topk",
            "value": med["torch"],
            "unit": "s",
            "note": f"{gflop / med['torch']:.0f} GFLOP/s; = float64: {agree['torch']}",
        }
    )
    if old:
        rows.append(
            {
                "name": f"{name}: before (32 bf16 candidates, certificate, float32 rescan)",
                "value": old["wall"],
                "unit": "s",
                "note": f"one run (CPU {old['cpu']:.2f} s); certificate accepted {100 * old['accepted']:.1f} % "
                f"of queries; = float64: {agree['before']}",
            }
        )
    rows.append(
        {
            "name": f"{name}: roofline now",
            "value": round(roof16),
            "unit": "GFLOP/s",
            "note": f"bare bf16 matmul at this shape ({roof32:.0f} GFLOP/s float32): scan floor "
            f"{gflop / roof16:.2f} s, float32 floor {gflop / roof32:.2f} s; memory: descriptors "
            f"{gal.numel() * 4 / 2**20:.0f} MiB float32 + bf16 copy {copy:.0f} MiB (scan=fp32: none)",
        }
    )
    summary = {
        "case": name,
        "shape": f"{nq} x {ng} x {d}",
        "precision": st["precision"],
        "resolved": 100 * (1 - st["fallback_queries"] / st["queries"]),
        "before": 100 * old["accepted"] if old else None,
        "copy": copy,
        "load": load,
        "equal": all(agree[m].split("/")[0] == agree[m].split("/")[1] for m in ("vireid", "vireid fp32 scan")),
    }
    for key, method in (("x_faiss", "vireid"), ("x_faiss32", "vireid fp32 scan")):
        summary[key] = paired_ratio(wall["faiss"], wall[method])[0] if "faiss" in wall else None
    summary["x_torch"] = paired_ratio(wall["torch"], wall["vireid"])[0]
    return rows, summary


def summary_rows(cases: list[dict]) -> list[dict]:
    """One row per case: the speed-ups (paired medians) and the acceptance rates, first in the table."""

    def x(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}x"

    return [
        {
            "name": f"summary: {c['case']} ({c['shape']})",
            "value": x(c["x_faiss"]),
            "unit": "vs faiss",
            "note": f"exact {c['precision']} scan; scan=fp32 {x(c['x_faiss32'])} faiss; {x(c['x_torch'])} torch; "
            f"resolved without fallback {c['resolved']:.1f} %; fixed-32 certificate (before) accepted "
            + ("n/a" if c["before"] is None else f"{c['before']:.1f} %")
            + f"; = float64 (both scans): {'yes' if c['equal'] else 'NO'}; bf16 copy {c['copy']:.0f} MiB; {c['load']}",
        }
        for c in cases
    ]


def run(quick: bool = False) -> list[dict]:
    rows, cases = [], []
    for name, nq, ng, d, spread in QUICK if quick else FULL:
        qry, gal = descriptors(nq, ng, d, spread)
        big = nq * ng * d > 1e11
        case, summary = run_case(
            f"{name} {d}-d", qry, gal, rounds=2 if quick or big else 3, sample=min(nq, 100 if quick else 500)
        )
        rows, cases = rows + case, cases + [summary]
        del qry, gal
    from benchmarks import search_real

    real = search_real.load(quick)
    if real is None:
        rows.append(
            {
                "name": "real descriptors",
                "value": "n/a",
                "unit": "",
                "note": f"not built: run `python -m benchmarks.search_real` ({search_real.SUMMARY})",
            }
        )
        return summary_rows(cases) + rows
    qry, gal, note = real
    for qq, gg, how in ((qry, gal, note), (*search_real.pca256(qry, gal), "PCA of the above to 256-d")):
        label = f"real {gg.shape[1]}-d"
        case, summary = run_case(
            label, qq, gg, rounds=2 if quick else 3, sample=min(qq.shape[0], 100 if quick else 500)
        )
        case[0]["note"] += f"; {how}"
        rows, cases = rows + case, cases + [summary]
    return summary_rows(cases) + rows


def main(argv: list[str] | None = None) -> int:
    return cli("bench_search", "Cross-modal gallery search", run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
