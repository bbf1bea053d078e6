"""The distribution: ``python -m build`` makes an sdist and a wheel from a clean copy of the
checkout, and the wheel, installed into a fresh virtual environment that sees only its declared
dependencies, trains and tests a model from a folder with no ``configs/``.

Nothing is downloaded: the build runs without isolation (setuptools from the ``dev`` extra) and the
fresh venv reaches the installed torch & co. through links to exactly the distributions that the
wheel's ``Requires-Dist`` needs, transitively, so an undeclared import fails here as it would for a
user. This test never skips: in CI a missing ``build`` module is a failure.
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import sys
import tarfile
import zipfile
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests._project import REPO, package_files, project_version, run, source_files

pytestmark = pytest.mark.packaging
# the sdist's top level: what a build needs, the release notes, and what setuptools adds (PKG-INFO, setup.cfg)
SDIST_ROOT = {
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "CITATION.cff",
    "MANIFEST.in",
    "PKG-INFO",
    "setup.cfg",
}


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """sdist and wheel built by ``python -m build`` (the wheel from the unpacked sdist)."""
    tmp = tmp_path_factory.mktemp("build")
    clean = tmp / "checkout"  # a copy, so no build/ or egg-info of the checkout leaks in
    for rel in source_files():
        src, dst = REPO / rel, clean / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    out = tmp / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, clean], cwd=tmp)
    version = project_version()
    sdist, wheel = out / f"vireid-{version}.tar.gz", out / f"vireid-{version}-py3-none-any.whl"
    assert sorted(p.name for p in out.iterdir()) == sorted([sdist.name, wheel.name])
    return {"sdist": sdist, "wheel": wheel}


def test_sdist_holds_what_a_build_needs(dists):
    top = f"vireid-{project_version()}/"
    with tarfile.open(dists["sdist"]) as tar:
        names = {m.name[len(top) :] for m in tar.getmembers() if m.isfile()}
    assert {n for n in names if "/" not in n} == SDIST_ROOT
    shipped = {n[len("src/") :] for n in names if n.startswith("src/vireid/")}
    assert shipped == package_files(), f"sdist lacks {package_files() - shipped}, has extra {shipped - package_files()}"
    assert "vireid/py.typed" in shipped and "vireid/configs/test_tiny.yaml" in shipped
    stray = {n for n in names if "/" in n and not n.startswith(("src/vireid/", "src/vireid.egg-info/"))}
    assert not stray, f"unexpected files in the sdist: {sorted(stray)}"


def test_wheel_ships_every_package_file_and_its_metadata(dists):
    with zipfile.ZipFile(dists["wheel"]) as whl:
        names = set(whl.namelist())
        info = f"vireid-{project_version()}.dist-info/"
        meta = email.message_from_string(whl.read(info + "METADATA").decode())
        entry_points = whl.read(info + "entry_points.txt").decode()
        license_text = whl.read(info + "licenses/LICENSE").decode()
    shipped = {n for n in names if n.startswith("vireid/")}
    assert shipped == package_files(), f"wheel lacks {package_files() - shipped}, has extra {shipped - package_files()}"
    assert meta["Version"] == project_version() and meta["License-Expression"] == "Apache-2.0"
    assert license_text == (REPO / "LICENSE").read_text()
    assert re.search(r"^vireid = vireid\.cli\.main:main$", entry_points, re.MULTILINE)


def _closure(requirements: list[str]) -> dict[str, Distribution]:
    """The installed distributions ``requirements`` need, transitively (extras not followed)."""
    found: dict[str, Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(req.name)
        if key in found:
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            pytest.fail(f"{req} (a dependency of the wheel) is not installed in {sys.prefix}")
        assert req.specifier.contains(dist.version, prereleases=True), f"installed {req.name} {dist.version} !{req}"
        found[key] = dist
        todo += [Requirement(r) for r in dist.requires or []]
    return found


def _link_distributions(dists: dict[str, Distribution], into: Path) -> None:
    """Symlink each distribution's top-level files and folders (its package, its .dist-info) into ``into``."""
    into.mkdir()
    for name, dist in dists.items():
        tops = {f.parts[0] for f in dist.files or () if f.parts[0] != ".."}
        assert tops, f"{name}: no RECORD, cannot tell its files"
        for top in tops:
            target = Path(dist.locate_file(top))
            if target.exists() and not (into / top).exists():
                (into / top).symlink_to(target)


@pytest.fixture(scope="module")
def venv(dists, tmp_path_factory) -> dict:
    """A fresh venv with the wheel installed and only the wheel's declared dependencies visible."""
    tmp = tmp_path_factory.mktemp("venv")
    env_dir = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", env_dir])
    py = env_dir / "bin" / "python"
    purelib = Path(run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    with zipfile.ZipFile(dists["wheel"]) as whl:
        meta = email.message_from_string(whl.read(f"vireid-{project_version()}.dist-info/METADATA").decode())
    deps = _closure(meta.get_all("Requires-Dist") or [])
    assert "torch" in deps  # reused, never downloaded
    _link_distributions(deps, tmp / "deps")
    (purelib / "_vireid_deps.pth").write_text(f"{tmp / 'deps'}\n")
    run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", dists["wheel"]])
    work = tmp / "elsewhere"  # no configs/, no src/ here
    work.mkdir()
    return {
        "python": py,
        "vireid": env_dir / "bin" / "vireid",
        "purelib": purelib,
        "work": work,
        "metadata": meta,
        "deps": deps,
    }


def _in_venv(venv: dict, *args) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return run(list(args), cwd=venv["work"], env=env).stdout


PROBE = """
import importlib, importlib.util, json, pkgutil, sys, vireid
missing = {}
for m in pkgutil.walk_packages(vireid.__path__, "vireid."):
    try:
        importlib.import_module(m.name)
    except ModuleNotFoundError as exc:
        missing[m.name] = (exc.name or "?").split(".")[0]
visible = [name for name in sys.argv[1:] if importlib.util.find_spec(name) is not None]
print(json.dumps({"file": vireid.__file__, "version": vireid.__version__, "missing": missing, "visible": visible}))
"""


def _extra_modules(meta, core: dict[str, Distribution]) -> set[str]:
    """Top-level modules of the distributions that only an extra (``vireid[viz]`` ...) requires."""
    names = set()
    for req in map(Requirement, meta.get_all("Requires-Dist") or []):
        if req.marker is None or req.marker.evaluate({"extra": ""}) or canonicalize_name(req.name) in core:
            continue
        try:
            files = distribution(req.name).files or ()
        except PackageNotFoundError:
            files = ()
        tops = {f.parts[0].removesuffix(".py") for f in files if len(f.parts) > 1 or f.suffix == ".py"}
        tops = {t for t in tops if t.isidentifier() and not t.startswith("_")}
        names |= tops or {canonicalize_name(req.name).replace("-", "_")}
    return names


def test_every_module_imports_with_the_declared_dependencies_only(venv):
    """Each vireid module imports in the fresh venv, or lacks only an extra's module; extras are invisible."""
    extras = _extra_modules(venv["metadata"], venv["deps"])
    assert "matplotlib" in extras  # the viz extra, installed in the dev venv
    got = json.loads(_in_venv(venv, venv["python"], "-c", PROBE, *sorted(extras)))
    assert Path(got["file"]).is_relative_to(venv["purelib"]) and got["version"] == project_version()
    assert not got["visible"], f"extras' modules reachable from the fresh venv: {got['visible']}"
    undeclared = {m: name for m, name in got["missing"].items() if name not in extras}
    assert not undeclared, f"modules importing an undeclared dependency: {undeclared}"


def test_installed_wheel_lists_configs_trains_and_tests_from_another_folder(venv):
    assert _in_venv(venv, venv["vireid"], "--version").strip() == f"vireid {project_version()}"
    listed = [line.split()[0] for line in _in_venv(venv, venv["vireid"], "configs").splitlines()]
    assert sorted(listed) == sorted(Path(p).stem for p in package_files() if p.startswith("vireid/configs/"))
    _in_venv(
        venv,
        venv["vireid"],
        "train",
        "--config",
        "test_tiny",
        "--out",
        "run",
        "--quiet",
        "data.root=data",
        "train.epochs=1",
    )
    run = venv["work"] / "run"
    assert (run / "metrics.json").is_file() and (run / "checkpoints" / "best.safetensors").is_file()
    out = _in_venv(venv, venv["vireid"], "test", "--run", "run")
    assert (run / "test" / "metrics.json").is_file() and "mean" in out
