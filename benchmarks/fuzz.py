"""The fuzzer's long profile: ``python -m benchmarks.fuzz --minutes N [--seed S] [--timeout S]``.

Runs the generated cases of :mod:`tests.cli.fuzz` (the same grammars, world and checks as the
quick profile in ``make test``, ``tests/cli/test_fuzz.py``) for ``N`` minutes, every command of
``vireid``'s parser in turn, in batches drawn by hypothesis from seeds ``S``, ``S+1``, ...; a
failing case does not stop the run.  Writes the section "The fuzzer (long profile)" of
``benchmarks/RESULTS.md``: cases tried, failures and seconds per command, cases per class of
mutation, and every failure with the case that reproduces it (the files it changed and the
command line).  ``--keep DIR`` keeps the first failing cases' worlds.
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
import time
from pathlib import Path

from benchmarks._common import publish

BATCH = 4  # cases per command per turn


def run(minutes: float, seed: int, timeout: float, keep: Path | None, only: list[str]) -> dict:
    from hypothesis import seed as hseed
    from tests.cli.fuzz.cases import commands
    from tests.cli.fuzz.harness import session
    from tests.cli.world import make_world

    cmds = [c for c in commands() if not only or c.name in only]
    stats = {
        c.name: {"cases": 0, "failures": 0, "seconds": 0.0, "exit0": 0, "exit2": 0, "generator_errors": 0} for c in cmds
    }
    generator_errors: list[tuple[str, str]] = []
    by_class: collections.Counter = collections.Counter()
    failures: list[tuple[str, str]] = []
    deadline = time.monotonic() + 60 * minutes
    with tempfile.TemporaryDirectory(prefix="vireid-fuzz-") as tmp:
        world = make_world(Path(tmp) / "world")
        with session(world, Path(tmp) / "cases", timeout=timeout, keep=keep) as harness:
            turn = 0
            while time.monotonic() < deadline:
                for cmd in cmds:
                    if time.monotonic() >= deadline:
                        break
                    batch = _batch(cmd, harness, stats, by_class, failures, generator_errors, deadline)
                    hseed(seed + turn)(batch)()
                turn += 1
                done = sum(s["cases"] for s in stats.values())
                print(f"turn {turn}: {done} cases, {len(failures)} failures", flush=True)
    return {
        "stats": stats,
        "classes": by_class,
        "failures": failures,
        "generator_errors": generator_errors,
        "minutes": minutes,
        "seed": seed,
    }


def _batch(cmd, harness, stats, by_class, failures, generator_errors, deadline):
    """A hypothesis test of :data:`BATCH` cases of ``cmd`` that records every outcome (never fails)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from tests.cli.fuzz.cases import case

    @settings(
        max_examples=BATCH,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def batch(data):
        s = stats[cmd.name]  # no deadline check here: a batch that stops drawing midway is "flaky" to hypothesis
        try:
            drawn = data.draw(case(cmd, harness.world))
        except Exception as e:  # the fuzzer's own grammar failed to build a case: counted, not fatal
            s["generator_errors"] += 1
            generator_errors.append((cmd.name, f"{type(e).__name__}: {e}"))
            print(f"GENERATOR ERROR {cmd.name}: {type(e).__name__}: {e}", flush=True)
            return
        try:
            outcome = harness.run(cmd, drawn)
        except Exception as e:  # the harness could not set the case up: counted and shown, not fatal
            s["generator_errors"] += 1
            generator_errors.append((cmd.name, f"setting up {drawn.note!r}: {type(e).__name__}: {e}"))
            print(f"HARNESS ERROR {cmd.name}: {type(e).__name__}: {e}", flush=True)
            return
        s["cases"] += 1
        s["seconds"] += outcome.seconds
        s["exit0"] += outcome.rc == 0
        s["exit2"] += outcome.rc == 2
        by_class.update(outcome.case.classes)
        if outcome.problems:
            s["failures"] += 1
            failures.append((cmd.name, outcome.report()))
            print(f"FAILURE {cmd.name}: {outcome.report()}", flush=True)

    return batch


def body(result: dict) -> str:
    stats = result["stats"]
    total = sum(s["cases"] for s in stats.values())
    fails = sum(s["failures"] for s in stats.values())
    lines = [
        f"{total} cases in {result['minutes']:g} minutes (seeds from {result['seed']}), **{fails} failures**; load "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        "| command | cases | exit 0 | exit 2 | failures | s per case |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in stats.items():
        per = s["seconds"] / s["cases"] if s["cases"] else 0.0
        lines.append(f"| {name} | {s['cases']} | {s['exit0']} | {s['exit2']} | {s['failures']} | {per:.2f} |")
    lines += ["", "Cases per class of mutation (a case may draw two):", ""]
    lines += [f"- {k}: {v}" for k, v in sorted(result["classes"].items())]
    if result.get("generator_errors"):
        errors = len(result["generator_errors"])
        lines += ["", f"Cases the fuzzer's grammars could not build or set up ({errors}; not run):", ""]
        lines += [f"- `{name}`: {text}".replace("\n", " ") for name, text in result["generator_errors"][:20]]
    if result["failures"]:
        lines += ["", "Failures (the case reproduces it):", ""]
        lines += [f"- `{name}`: {text}".replace("\n", " ") for name, text in result["failures"][:50]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0, help="first hypothesis seed (one per turn)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds before a case counts as a hang")
    ap.add_argument("--keep", type=Path, default=None, help="keep the first failing cases' worlds here")
    ap.add_argument("--only", nargs="+", default=[], metavar="COMMAND", help="fuzz only these commands")
    ap.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    result = run(args.minutes, args.seed, args.timeout, args.keep, args.only)
    publish(
        "fuzz",
        "The fuzzer (long profile): generated inputs for every command",
        body(result),
        argv=argv,
        write=not args.no_write,
    )
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
