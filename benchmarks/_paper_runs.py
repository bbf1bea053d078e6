"""The paper configs as runs: their step counts, evaluations and image counts at the official
datasets' sizes, and the projection of a full run's hours from a step time.

Shared by ``benchmarks.rehearsal`` (which runs every paper config end to end on the CPU) and
``benchmarks.gpu_check`` (which times their steps on a GPU).  The counts come from
:mod:`vireid.data.synth.paper`; the step count per epoch is the authors' sampler's
(``IdentitySampler``: ``N // (P * K) + 1``, ``N = max(#visible, #infrared)``, as
:class:`vireid.data.sampler.CrossModalIdentitySampler` draws it); the evaluations follow
:class:`vireid.engine.hooks.EvalHook` (``eval.every`` / ``eval.start``, and after the last
epoch) plus the final full-protocol evaluation of the best checkpoint.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from vireid.config import Config, load_config

NUM_CLASSES = {"sysu": 395, "regdb": 206, "llcm": 713}


@dataclass(frozen=True)
class PaperRun:
    """One row of the papers' tables: a shipped config and the overrides that select its setting."""

    key: str
    config: str
    overrides: tuple[str, ...] = ()
    note: str = ""

    def load(self, extra: tuple[str, ...] | list[str] = ()) -> Config:
        return load_config(self.config, [*self.overrides, *extra])


RUNS: tuple[PaperRun, ...] = (
    PaperRun("deen_sysu", "deen_sysu", note="SYSU-MM01 all-search"),
    PaperRun("deen_sysu_indoor", "deen_sysu", ("data.mode=indoor",), "SYSU-MM01 indoor-search"),
    PaperRun("deen_regdb", "deen_regdb", ("data.trial=1",), "RegDB trial 1"),
    PaperRun("deen_llcm", "deen_llcm", note="LLCM"),
    PaperRun("agw_sysu", "agw_sysu", note="AGW, SYSU-MM01 all-search"),
    PaperRun("deen_vit_tmhee", "deen_vit_tmhee", note="DEEN-ViT-B/16 + T-MHEE, SYSU-MM01"),
    PaperRun("abd_sysu", "abd_sysu", note="DEEN + ABD-Net CAM, attentive branch, SVDO"),
)
BY_KEY = {r.key: r for r in RUNS}


def counts(cfg: Config):
    from vireid.data.synth.paper import paper_counts

    return paper_counts(cfg.data.dataset)


def steps_per_epoch(cfg: Config) -> int:
    """The authors' sampler count at the official training set (``train.steps_per_epoch``: None)."""
    c = counts(cfg)
    return max(c.train_visible, c.train_infrared) // (cfg.data.num_ids * cfg.data.num_pos) + 1


def eval_epochs(cfg: Config) -> list[int]:
    """1-based epochs after which the training run evaluates (``EvalHook._due``)."""
    e, every, start = cfg.train.epochs, cfg.eval.every, cfg.eval.start
    return [d for d in range(1, e + 1) if d == e or (every > 0 and d >= start and (d - start) % every == 0)]


@functools.lru_cache(maxsize=None)
def _pairs(layout: str) -> dict[tuple[str, int], list[int]]:
    """Test images per (modality, camera) as a list of per-identity counts (the synthetic plan)."""
    from collections import Counter

    from vireid.data.synth.paper import paper_plan

    plan = paper_plan(layout, 0, 1.0)
    test = set(plan.test_ids)
    per = Counter((j.modality, j.camid, j.pid) for j in plan.jobs if j.pid in test)
    out: dict[tuple[str, int], list[int]] = {}
    for (m, cam, _), n in per.items():
        out.setdefault((m, cam), []).append(n)
    return out


def _drawn(sizes: list[int], trials: int) -> float:
    """Expected distinct images when each of ``trials`` draws picks one per group of ``sizes``."""
    return sum(m * (1 - (1 - 1 / m) ** trials) for m in sizes)


def eval_images(cfg: Config, final: bool) -> int:
    """Distinct images one evaluation embeds (each once; with ``eval.flip`` twice as many forwards),
    expected over the gallery draws: selection (``final=False``) or the full protocol."""
    from vireid.config import build

    plan = build.final_eval(cfg) if final else build.selection_eval(cfg)
    ds = cfg.data.dataset
    c = counts(cfg)
    if ds == "regdb":  # the trial's test lists; one direction uses both
        return c.test_visible + c.test_infrared
    trials = len(plan["trials"] or [0])
    pairs = _pairs(ds)
    if ds == "sysu":
        cams = (1, 2) if cfg.data.mode == "indoor" else (1, 2, 4, 5)
        gallery = [n for (m, cam), sizes in pairs.items() if m == "visible" and cam in cams for n in sizes]
        return int(round(c.test_infrared + _drawn(gallery, trials)))
    # llcm: a direction's queries are every test image of one modality, its gallery one draw per
    # (identity, camera) of the other; the published VIS->IR orientation swaps the two roles
    roles = {
        "infrared_to_visible": ("infrared", "visible"),
        "visible_to_infrared": ("visible", "infrared"),
        "visible_to_infrared_paper": ("visible", "infrared"),  # all visible x drawn infrared
    }
    whole = {roles[d][0] for d in plan["directions"]}
    drawn = {roles[d][1] for d in plan["directions"]} - whole
    total = sum(c.test_visible if m == "visible" else c.test_infrared for m in whole)
    for m in drawn:
        total += _drawn([n for (mm, _), sizes in pairs.items() if mm == m for n in sizes], trials)
    return int(round(total))


def flip_factor(cfg: Config, final: bool) -> int:
    from vireid.config import build

    return 2 if (build.final_eval(cfg) if final else build.selection_eval(cfg))["flip"] else 1


def run_plan(cfg: Config) -> dict[str, Any]:
    """What a full run of ``cfg`` computes: training steps and evaluation forwards."""
    steps = steps_per_epoch(cfg) * cfg.train.epochs
    sel = eval_epochs(cfg)
    sel_fwd = len(sel) * eval_images(cfg, False) * flip_factor(cfg, False)
    fin_fwd = eval_images(cfg, True) * flip_factor(cfg, True)
    return {
        "steps_per_epoch": steps_per_epoch(cfg),
        "epochs": cfg.train.epochs,
        "steps": steps,
        "batch": 2 * cfg.data.num_ids * cfg.data.num_pos,
        "evaluations": len(sel),
        "eval_forwards": sel_fwd + fin_fwd,
        "selection_images": eval_images(cfg, False),
        "final_images": eval_images(cfg, True),
    }


def project_hours(cfg: Config, step_s: float, forward_s_per_image: float) -> dict[str, float]:
    """Hours of a full run: training steps x ``step_s`` (loader assumed to keep up) + evaluation
    forwards x ``forward_s_per_image`` (one forward of one image; flip doubles them)."""
    p = run_plan(cfg)
    train_h = p["steps"] * step_s / 3600
    eval_h = p["eval_forwards"] * forward_s_per_image / 3600
    return {"train_h": train_h, "eval_h": eval_h, "total_h": train_h + eval_h}


def scaled_size(cfg: Config, factor: float) -> tuple[int, int]:
    """``data.height`` x ``data.width`` divided by ``factor``, each side rounded to the model's
    granularity (a ViT's patch: 16; a CNN: 8), at least two units (ResNet stems need >= 16)."""
    unit = 16 if cfg.model.name == "deen_vit" else 8

    def side(n: int) -> int:
        return max(2 * unit, unit * int(round(n / factor / unit)))

    return side(cfg.data.height), side(cfg.data.width)


def size_overrides(cfg: Config, size: tuple[int, int]) -> list[str]:
    """Overrides that set the input size everywhere the config states it."""
    h, w = size
    out = [f"data.height={h}", f"data.width={w}"]
    if "img_size" in cfg.model.args:
        out.append(f"model.args.img_size=[{h},{w}]")
    return out
