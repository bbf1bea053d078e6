"""Run a case in its own copy of the world and check what every command owes its user.

For every case: an answer within the time limit; exit code 0, or 2 with exactly one line on
stderr (141 when the reader of stdout went away); no traceback; no file changed, added or removed
outside the command's outputs (the declared output options' paths, resolved against the working
folder, and what the case's config makes an output); the user's files intact; nothing left
running.  Where the case knows more: a certainly valid input accepted, a certainly wrong one
refused (or, where the protocol tolerates it, warned about), and a refusal naming the culprit.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tests.cli.fuzz.cases import CWD, Case, Command
from tests.cli.fuzz.mutation import ROOT, apply, unmount
from tests.cli.fuzz.server import Server
from tests.cli.fuzz.world import FuzzWorld, changes, snapshot
from tests.cli.world import World
from vireid.utils.paths import shown

TRACEBACK = "Traceback (most recent call last)"
#: a training that diverged (a seed, a schedule the tiny world's model does not survive): a true
#: report of the outcome, not a diagnosis of the input, so it need not name what the case changed
DIVERGED = re.compile(r"descriptors of \d+ of \d+ images are NaN or inf")


def _trains(cmd: Command) -> bool:
    return any(kind.id in ("run-folder", "demo-folder", "ablation-folder") for kind in cmd.decl.outputs.values())


def _special_files(folder: str, names: list[str]) -> list[str]:
    """The names in ``folder`` a kept case cannot copy (named pipes, sockets, devices): copying a
    pipe would block on it."""
    import stat

    skip = []
    for n in names:
        try:
            mode = os.lstat(os.path.join(folder, n)).st_mode
        except OSError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            skip.append(n)
    return skip


@dataclass
class Outcome:
    case: Case
    rc: int | None
    seconds: float
    stdout: str
    stderr: str
    problems: list[str] = field(default_factory=list)

    def report(self) -> str:
        err = self.stderr.strip().splitlines()
        tail = " | ".join(err[-3:])[:600]
        return f"{'; '.join(self.problems)}\n  case: {self.case.repro()}\n  exit {self.rc}, stderr: {tail}"


def _output_paths(cmd: Command, argv: list[str], cwd: Path) -> tuple[list[Path], bool]:
    """The paths the command's declared outputs name, and whether one was left to its default."""
    from vireid.cli.main import build_parser

    parser = build_parser()
    try:
        import contextlib
        import io

        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            ns, _ = parser.parse_known_args(argv)
    except SystemExit:
        return [], False
    paths, defaulted = [], False
    for dest in cmd.decl.outputs:
        value = getattr(ns, dest, None)
        given = any(w == o or w.startswith(o + "=") for w in argv for o in (cmd.action(dest).option_strings or ()))
        if value is None or not given:
            defaulted = True
        if value is not None and str(value) != "":
            paths.append(Path(os.path.normpath(cwd / os.fspath(value))))
    return paths, defaulted


def _under(p: Path, roots: list[Path]) -> bool:
    return any(p == r or r in p.parents for r in roots)


def scratch(fallback: Path) -> Path:
    """A folder for the cases: in memory (``/dev/shm``) where there is room -- a case copies and
    hashes the world twice, and a disk makes that the slowest part -- else ``fallback``."""
    import tempfile

    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and shutil.disk_usage(shm).free > 1 << 30:
            return Path(tempfile.mkdtemp(prefix="vireid-fuzz-", dir=shm))
    except OSError:
        pass
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


@contextlib.contextmanager
def session(base: World, tmp: Path, *, timeout: float = 120.0, keep: Path | None = None) -> Iterator[Harness]:
    """A :class:`Harness` over a fuzz world built from the commands' world ``base``; ``keep``: a
    folder to keep failing cases in (their world and a text with the case)."""
    from tests.cli.fuzz.world import build

    root = scratch(tmp)
    harness = None
    try:
        harness = Harness(build(base, root / "world"), root / "h", timeout=timeout, keep_dir=keep)
        yield harness
    finally:
        if harness is not None:
            harness.close()
        if root != tmp:
            shutil.rmtree(root, ignore_errors=True)


class Harness:
    """Runs cases of the fuzz world ``world`` under ``base`` (a scratch folder), one at a time."""

    def __init__(
        self, world: FuzzWorld, base: Path, *, timeout: float = 120.0, keep: int = 5, keep_dir: Path | None = None
    ) -> None:
        self.world, self.base, self.timeout, self.keep = world, base, timeout, keep
        self.keep_dir = keep_dir
        base.mkdir(parents=True, exist_ok=True)
        (base / "mpl").mkdir(exist_ok=True)
        self.server = Server(env={"MPLCONFIGDIR": str(base / "mpl"), "XDG_CACHE_HOME": str(base / "cache")})
        self.count = 0
        self.kept = 0

    def close(self) -> None:
        self.server.close()

    def run(self, cmd: Command, case: Case, *, python: str | None = None) -> Outcome:
        """Run ``case`` (``python``: code run instead of the command, for the harness's own tests)."""
        self.count += 1
        root = self.base / f"case{self.count % 1000:03d}"
        if os.path.lexists(root):
            shutil.rmtree(root)
        self.world.copy(root)
        writes = [o[1] for o in case.ops if o[0] == "write" and not o[1].startswith((ROOT, "/"))]
        inert = case.bad and bool(case.ops) and len(writes) == len(case.ops)
        prior = {rel: (root / rel).read_bytes() if inert and (root / rel).is_file() else None for rel in writes}
        mounts = apply(case.ops, root, self.world.root)
        # a wrong input that leaves every file as it was is the grammar's mistake, not vireid's
        inert = inert and all(prior[rel] is not None and (root / rel).read_bytes() == prior[rel] for rel in writes)
        try:
            outcome = self._run(cmd, case, root, python)
            if inert:
                outcome.problems.insert(0, "the case claims a wrong input but changes no file (a grammar's mistake)")
            return outcome
        finally:
            for m in mounts:
                unmount(m)
            if os.path.lexists(root):
                shutil.rmtree(root, ignore_errors=True)

    def _run(self, cmd: Command, case: Case, root: Path, python: str | None) -> Outcome:
        cwd = root / CWD
        cwd.mkdir(parents=True, exist_ok=True)
        (root / "home").mkdir(exist_ok=True)
        sub = lambda s: s.replace(ROOT, str(root)) if isinstance(s, str) else s  # noqa: E731
        argv = [sub(a) for a in case.argv]
        env = {"HOME": str(root / "home"), "TORCH_HOME": str(root / "torch_home")}
        env.update({k: sub(v) for k, v in case.env.items()})
        before = snapshot(root)
        out, err = self.base / "stdout", self.base / "stderr"
        result = self.server.run(
            argv,
            cwd=cwd,
            stdout=out,
            stderr=err,
            timeout=self.timeout,
            env=env,
            exec_=case.exec_,
            stdout_closed=case.stdout_closed,
            python=python,
        )
        after = snapshot(root)
        stdout = out.read_bytes().decode("utf-8", "replace") if out.exists() else ""
        stderr = err.read_bytes().decode("utf-8", "replace")
        outcome = Outcome(case, result.rc, result.seconds, stdout, stderr)
        outcome.problems = self.check(cmd, case, argv, root, cwd, before, after, result, stdout, stderr)
        log = os.environ.get("VIREID_FUZZ_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                first = (stderr.strip().splitlines() or [""])[-1][:160]
                fh.write(
                    f"{cmd.name}\t{','.join(case.classes)}\t{result.rc}\t{result.seconds:.2f}\t{case.note[:100]}\t{first}\n"
                )
        if outcome.problems and self.keep_dir is not None and self.kept < self.keep:
            self.kept += 1
            self.keep_dir.mkdir(parents=True, exist_ok=True)
            dest = self.keep_dir / f"failed{self.kept}"
            if os.path.lexists(dest):
                shutil.rmtree(dest)
            shutil.copytree(root, dest, symlinks=True, ignore_dangling_symlinks=True, ignore=_special_files)
            (dest.parent / f"failed{self.kept}.txt").write_text(outcome.report() + "\n")
        return outcome

    def check(self, cmd, case, argv, root, cwd, before, after, result, stdout, stderr) -> list[str]:
        problems = []
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        rc = result.rc
        if result.timed_out:
            problems.append(f"no answer in {self.timeout:.0f} s (a hang)")
        elif rc not in (0, 2) and not (case.stdout_closed and rc == 141):
            problems.append(f"exit code {rc}")
        if TRACEBACK in stderr:
            problems.append("a traceback")
        # a training that diverged is reported after the work began, below the notes it printed then
        if rc == 2 and len(lines) != 1 and not (lines and DIVERGED.search(lines[-1]) and _trains(cmd)):
            problems.append(f"{len(lines)} lines on stderr, not one")
        if result.leftover:
            problems.append("processes left running")
        if rc is not None and not result.timed_out and rc != 141:
            # a training that diverged (the tiny model's non-local blocks overflow on some data) is a
            # true report of the outcome, not a refusal of the input
            trained_out = rc == 2 and lines and DIVERGED.search(lines[-1]) and _trains(cmd)
            if case.ok and rc != 0 and not trained_out:
                problems.append("a valid input refused")
            if case.bad and rc == 0:
                warned = (
                    case.warn and any(b.lower() in stderr.lower() for b in case.blame) and "warning" in stderr.lower()
                )
                if not warned:
                    problems.append("a wrong input accepted")
            diverged = rc == 2 and lines and not case.bad and DIVERGED.search(lines[-1]) and _trains(cmd)
            if rc == 2 and case.blame and lines and not diverged:  # the one thing changed is what a refusal must name
                line = lines[-1].lower()
                if not any(b.lower() in line or shown(b).lower() in line for b in case.blame if b):
                    problems.append(f"the refusal names none of {list(dict.fromkeys(case.blame))[:4]}")
            said = [w for w in case.not_said if rc == 2 and lines and w.lower() in lines[-1].lower()]
            if said:
                problems.append(f"the refusal says {said[0]!r}, which is not the cause")
        for text in case.raw:
            if text in stdout or text in stderr:
                problems.append(f"printed {text!r} as it is")
        problems += self._world(cmd, case, argv, root, cwd, before, after, rc)
        return problems

    def _world(self, cmd, case, argv, root, cwd, before, after, rc) -> list[str]:
        outs, defaulted = _output_paths(cmd, argv, cwd)
        allowed = outs + [root / a for a in case.allow]
        if cmd.decl.writes:  # torch.hub's cache, wherever TORCH_HOME points
            allowed.append(Path((case.env.get("TORCH_HOME") or f"{ROOT}/torch_home").replace(ROOT, str(root))))
        problems = []
        changed = changes(before, after)
        for rel, how in sorted(changed.items()):
            p = root / rel
            if rel in case.sentinels:
                problems.append(f"{rel} {how}, which must stay as it was")
                continue
            if _under(p, allowed) or (how == "added" and any(p in a.parents for a in allowed)):
                continue  # an output, or a folder made to hold one
            if defaulted and how == "added" and not rel.startswith(("dataset/", "regdb/", "llcm/")):
                continue
            problems.append(f"{rel} {how} (not an output)")
            if len(problems) > 5:
                break
        for s in case.sentinels:
            if s not in changed and s not in after:
                problems.append(f"the user's file {s} is gone")
        if rc == 2:
            temps = [
                r for r, h in changed.items() if h == "added" and re.search(r"\.(tmp|partial)$|\.[0-9a-z_]{8}\.tmp", r)
            ]
            if temps:
                problems.append(f"temporary files left: {temps[:3]}")
        return problems
