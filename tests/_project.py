"""The checkout as a clean clone has it: its files, its declared version (for the release tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# without git: what a clean clone lacks (.gitignore's entries; the top-level ones only at the top)
TOP_IGNORED = {".git", ".venv", "build", "dist", "data", "runs", ".pytest_cache", ".hypothesis", ".ruff_cache"}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd``; fail with its output if it exits non-zero."""
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def source_files(use_git: bool = True) -> list[str]:
    """The checkout's files relative to it: git's tracked and untracked-but-not-ignored files."""
    if use_git and (REPO / ".git").exists() and shutil.which("git"):
        cmd = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if done.returncode == 0:  # else (e.g. git refuses a checkout owned by another user): walk it
            return sorted(p for p in done.stdout.split("\0") if p and os.path.lexists(REPO / p))
    files = []
    for root, dirs, names in os.walk(REPO):
        skip = IGNORED(root, dirs + names) | (TOP_IGNORED if Path(root) == REPO else set())
        links = [d for d in dirs if Path(root, d).is_symlink()]  # kept as links, like git does
        dirs[:] = [d for d in dirs if d not in skip and d not in links]
        files += [os.path.relpath(Path(root, n), REPO) for n in names + links if n not in skip]
    return sorted(files)


def package_files() -> set[str]:
    """Files under src/vireid/, relative to src/ (what the sdist and the wheel must ship)."""
    return {p[len("src/") :] for p in source_files() if p.startswith("src/vireid/")}


def project_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert match, "pyproject.toml: no [project] version"
    return match.group(1)


def project_license() -> str:
    match = re.search(r'^license = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert match, "pyproject.toml: [project] license is not an SPDX expression string"
    return match.group(1)
